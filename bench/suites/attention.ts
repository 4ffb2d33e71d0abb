/**
 * `attention`: fused scaled dot-product attention (forward, and forward + backward) against the same attention
 * composed in tfjs-webgpu (matMul(q, k, transposeB) · scale → softmax → matMul(·, v); tf.grads for the
 * gradients), and the memory-bound kernels of the attention modules (sigmoid gate, temporal softmax pooling,
 * LayerNorm) as GB/s against the copy ceiling, each against its composition in tfjs-webgpu.
 */
import type { Engine } from '../../src/device/engine.js';
import type { Tensor } from '../../src/graph/tensor.js';
import { sdpa, sdpaBackward, sdpaForward, sdpaKernel } from '../../src/kernels/attention.js';
import { sigmoidGate } from '../../src/kernels/gate.js';
import { layerNorm, layerNormKernel } from '../../src/kernels/layernorm.js';
import { temporalPoolKernel, temporalSoftmaxPool } from '../../src/kernels/temporal.js';
import type { TunableKernel } from '../../src/kernels/variants.js';
import { randomData, type Row, type Suite, type SuiteContext, type Tf } from '../harness.js';
import { opTiming, runOpCase, tfjsWithGradients, tuneFirst, type OpCase, type TfTensor } from './op-bench.js';

interface SdpaSpec {
  name: string;
  /** [B, H, n, d]; keys and values have the same shape (self-attention). */
  shape: [number, number, number, number];
}

// M5's frame self-attention (5 frames × 2048 features, one head) and M2-like 2-head attention over 16
// frames or 14×14 = 196 locations with 512 features per head.
const SDPA_CASES: SdpaSpec[] = [
  { name: 'sdpa n=5 d=2048', shape: [1, 1, 5, 2048] },
  { name: 'sdpa n=16 d=512 2 heads', shape: [1, 2, 16, 512] },
  { name: 'sdpa n=196 d=512 2 heads', shape: [1, 2, 196, 512] },
];
const SDPA_QUICK: SdpaSpec[] = [
  { name: 'sdpa n=5 d=64', shape: [1, 1, 5, 64] },
  { name: 'sdpa n=16 d=32 2 heads', shape: [1, 2, 16, 32] },
];

/** Memory-bound shapes: gate input [N, H, W, C], pooling scores [N, T, E], LayerNorm rows × features. */
const MEM = { gate: [16, 56, 56, 64], scores: [8192, 32, 7], ln: [2048, 2048] };
const MEM_QUICK = { gate: [2, 14, 14, 16], scores: [64, 8, 7], ln: [64, 256] };

const fmt = (s: readonly number[]) => s.join('x');
const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

interface Pair {
  ours: Tensor;
  tf: TfTensor;
}

function upload(engine: Engine, tf: Tf, shape: number[], seed: number, lo = -1, hi = 1): Pair {
  const data = randomData(size(shape), seed, lo, hi);
  return { ours: engine.tensor(data, shape), tf: tf.tensor(data, shape) };
}

async function readOurs(t: Tensor): Promise<Float32Array> {
  try {
    return (await t.engine.read(t)) as Float32Array;
  } finally {
    t.dispose();
  }
}

async function readTf(t: TfTensor): Promise<Float32Array> {
  try {
    return (await t.data()) as Float32Array;
  } finally {
    t.dispose();
  }
}

/** Concatenated reads (several gradients compared as one vector). */
async function readAll<T>(ts: T[], read: (t: T) => Promise<Float32Array>): Promise<Float32Array> {
  const parts: Float32Array[] = [];
  for (const t of ts) parts.push(await read(t));
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function sdpaCases(engine: Engine, tf: Tf, s: SdpaSpec): { cases: OpCase[]; dispose(): void } {
  const [B, H, n, d] = s.shape;
  const scale = 1 / Math.sqrt(d);
  const q = upload(engine, tf, s.shape, 21);
  const k = upload(engine, tf, s.shape, 22);
  const v = upload(engine, tf, s.shape, 23);
  const dout = upload(engine, tf, s.shape, 24);
  const composed = (qq: TfTensor, kk: TfTensor, vv: TfTensor): TfTensor => tf.matMul(tf.softmax(tf.mul(tf.matMul(qq, kk, false, true), scale)), vv) as TfTensor;
  const tfForward = () => tf.tidy(() => composed(q.tf, k.tf, v.tf)) as TfTensor;
  const grads = tf.grads((qq, kk, vv) => composed(qq as TfTensor, kk as TfTensor, vv as TfTensor) as never);
  const tfBoth = () => tf.tidy(() => grads([q.tf, k.tf, v.tf] as never, dout.tf as never)) as TfTensor[];
  const oursForward = () => sdpa(q.ours, k.ours, v.ours, { scale });
  const oursBoth = () => {
    const f = sdpaForward(q.ours, k.ours, v.ours, { scale });
    const g = sdpaBackward(dout.ours, q.ours, k.ours, v.ours, f.out, f.lse, { scale });
    return [f.out, f.lse, g.dq, g.dk, g.dv];
  };
  const forwardFlops = 4 * B * H * n * n * d;
  const shape = `q,k,v ${fmt(s.shape)}`;
  const kernels = [sdpaKernel] as TunableKernel<never>[];
  const cases: OpCase[] = [
    {
      name: `${s.name} forward`,
      shape,
      flops: forwardFlops,
      kernels,
      ours: oursForward,
      anchor: { name: 'tfjs-webgpu matMul+softmax+matMul', call: tfForward },
      check: async () => [await readOurs(oursForward()), await readTf(tfForward())],
      extra: { direction: 'forward' },
    },
    {
      name: `${s.name} forward+backward`,
      shape,
      // Forward 4·n·m·d plus the backward's four products (dP, dS·K, dSᵀ·Q, Pᵀ·dO): 12·n·m·d per head, the
      // model FLOPs whatever the recomputation (ours recomputes Q·Kᵀ; tfjs keeps P).
      flops: 3 * forwardFlops,
      kernels,
      ours: oursBoth,
      anchor: { name: 'tfjs-webgpu tf.grads(matMul+softmax+matMul)', call: tfBoth },
      check: async () => {
        const [out, lse, dq, dk, dv] = oursBoth();
        out!.dispose();
        lse!.dispose();
        return [await readAll([dq!, dk!, dv!], readOurs), await readAll(tfBoth(), readTf)];
      },
      extra: { direction: 'forward+backward' },
    },
  ];
  return {
    cases,
    dispose() {
      for (const t of [q, k, v, dout]) {
        t.ours.dispose();
        t.tf.dispose();
      }
    },
  };
}

function memoryCases(engine: Engine, tf: Tf, m: typeof MEM): { cases: OpCase[]; dispose(): void } {
  const owned: Pair[] = [];
  const up = (shape: number[], seed: number, lo = -1, hi = 1) => {
    const p = upload(engine, tf, shape, seed, lo, hi);
    owned.push(p);
    return p;
  };
  const cases: OpCase[] = [];
  // Sigmoid gates on NHWC activations: a per-channel gate (SE / CBAM channel) and a spatial map (CBAM spatial).
  const [N, Hh, W, C] = m.gate as [number, number, number, number];
  const x = up(m.gate, 31);
  for (const [mode, aShape] of [
    ['channel', [N, 1, 1, C]],
    ['spatial', [N, Hh, W, 1]],
  ] as const) {
    const a = up([...aShape], mode === 'channel' ? 32 : 33, -3, 3);
    const ours = () => sigmoidGate(x.ours, a.ours);
    const anchor = () => tf.tidy(() => tf.mul(x.tf, tf.sigmoid(a.tf))) as TfTensor;
    cases.push({
      name: `sigmoid gate (${mode})`,
      shape: `${fmt(m.gate)} * σ(${fmt(aShape)})`,
      bytes: 4 * (2 * size(m.gate) + size(aShape)),
      kernels: [],
      ours,
      anchor: { name: 'tfjs-webgpu mul(x, sigmoid(a))', call: anchor },
      check: async () => [await readOurs(ours()), await readTf(anchor())],
    });
  }
  // Temporal softmax pooling: one softmax over a clip's T·E scores, summed over frames → p(class | clip).
  const [Ns, T, E] = m.scores as [number, number, number];
  const scores = up(m.scores, 34, -4, 4);
  const pool = () => temporalSoftmaxPool(scores.ours);
  const tfPool = () => tf.tidy(() => tf.sum(tf.reshape(tf.softmax(tf.reshape(scores.tf, [Ns, T * E])), [Ns, T, E]), 1)) as TfTensor;
  cases.push({
    name: 'temporal softmax pooling',
    shape: `${fmt(m.scores)} -> ${Ns}x${E}`,
    bytes: 4 * (size(m.scores) + Ns * E),
    kernels: [temporalPoolKernel] as TunableKernel<never>[],
    ours: pool,
    anchor: { name: 'tfjs-webgpu reshape+softmax+sum', call: tfPool },
    check: async () => [await readOurs(pool()), await readTf(tfPool())],
  });
  // LayerNorm over the last axis with γ, β.
  const [R, F] = m.ln as [number, number];
  const lx = up(m.ln, 35);
  const gamma = up([F], 36, 0.5, 1.5);
  const beta = up([F], 37);
  const ln = () => layerNorm(lx.ours, gamma.ours, beta.ours);
  const tfLn = () =>
    tf.tidy(() => {
      const { mean, variance } = tf.moments(lx.tf, -1, true);
      return tf.add(tf.mul(tf.mul(tf.sub(lx.tf, mean), tf.rsqrt(tf.add(variance, 1e-5))), gamma.tf), beta.tf);
    }) as TfTensor;
  cases.push({
    name: 'layerNorm',
    shape: `${R}x${F}`,
    bytes: 4 * (2 * R * F + 2 * F),
    kernels: [layerNormKernel] as TunableKernel<never>[],
    ours: ln,
    anchor: { name: 'tfjs-webgpu moments+sub+mul+rsqrt+add', call: tfLn },
    check: async () => [await readOurs(ln()), await readTf(tfLn())],
  });
  return {
    cases,
    dispose() {
      for (const p of owned) {
        p.ours.dispose();
        p.tf.dispose();
      }
    },
  };
}

export async function runAttention(ctx: SuiteContext): Promise<Row[]> {
  const { engine } = ctx;
  const tuned = await tuneFirst(ctx, [sdpaKernel, layerNormKernel, temporalPoolKernel] as TunableKernel<never>[]);
  const tf = await tfjsWithGradients();
  const rows: Row[] = [];
  const groups = [...(ctx.quick ? SDPA_QUICK : SDPA_CASES).map((s) => () => sdpaCases(engine, tf, s)), () => memoryCases(engine, tf, ctx.quick ? MEM_QUICK : MEM)];
  for (const make of groups) {
    const g = make();
    try {
      for (const c of g.cases) rows.push(...(await runOpCase(ctx, tf, c, opTiming(ctx.quick), 'attention', tuned)));
    } finally {
      g.dispose();
    }
  }
  return rows;
}

export const attentionSuite: Suite = {
  name: 'attention',
  description: 'fused sdpa (forward, forward+backward) vs composed tfjs-webgpu; sigmoid gate, temporal softmax pooling, layerNorm as GB/s',
  flags: { retune: 'measure the variants again even if a choice is remembered' },
  run: runAttention,
};
