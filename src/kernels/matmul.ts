/**
 * Batched matmul with NumPy batch broadcasting, optional transposes, bias and a fused activation, in four
 * variants chosen per device (src/kernels/variants.ts); each is tested against the float64 CPU reference:
 * - `buffer`: storage buffers, register-blocked 4 × 8 per invocation, vec4 loads where aligned; any shape.
 *   The fastest on SwiftShader (Chromium's CPU adapter).
 * - `buffer-tiled`: storage buffers through 64 × 64 workgroup-memory tiles: the usual fast path on real GPUs,
 *   slow on CPU adapters (barriers and workgroup loads).
 * - `texture`: operands staged by a small kernel into zero-padded rgba32float texture arrays, read with
 *   textureLoad (much faster on lavapipe, whose storage-buffer loads are scalarised per lane).
 * - `texture-subgroup`: the same textures, A shared across the 8 lanes of a subgroup with subgroupBroadcast.
 * The texture variants fall back to `buffer` for problems over the device's texture limits. */
import type { Engine } from '../device/engine.js';
import { assert, fmtShape } from '../device/errors.js';
import { HostTensor, type TensorMeta } from '../graph/host.js';
import { sizeOf, stridesOf } from '../graph/shape.js';
import type { Tensor } from '../graph/tensor.js';
import commonWgsl from '../../shaders/matmul_common.wgsl';
import bufferWgsl from '../../shaders/matmul_buffer.wgsl';
import packWgsl from '../../shaders/matmul_pack.wgsl';
import tiledWgsl from '../../shaders/matmul_tiled.wgsl';
import textureWgsl from '../../shaders/matmul_texture.wgsl';
import subgroupWgsl from '../../shaders/matmul_texture_subgroup.wgsl';
import { activationBackward, sumToShape } from './elementwise.js';
import { defineOp, type Op, type Plan } from './op.js';
import { sum } from './reduce.js';
import type { Binding } from './runtime.js';
import { texturePool, type PooledTexture } from './texture-pool.js';
import { Uniforms } from './uniforms.js';
import { registerTunable, type TunableKernel, type Variant } from './variants.js';

export type Activation = 'none' | 'relu' | 'sigmoid' | 'tanh';

export interface MatmulOptions {
  /** a is [..., K, M] instead of [..., M, K]. */
  transA?: boolean;
  /** b is [..., N, K] instead of [..., K, N]. */
  transB?: boolean;
  /** [N], added to every row before the activation. */
  bias?: Tensor;
  activation?: Activation;
}

export interface MatmulPlan extends Plan {
  M: number;
  N: number;
  K: number;
  transA: boolean;
  transB: boolean;
  /** Output batch shape (broadcast of both operands' batch axes) and its size. */
  batchShape: number[];
  batch: number;
  /** Matrices stored in each operand. */
  aMatrices: number;
  bMatrices: number;
  /** Per output batch axis, each operand's stride counted in matrices (0 where broadcast). */
  aBatchStrides: number[];
  bBatchStrides: number[];
  hasBias: boolean;
  activation: Activation;
}

const ACTIVATIONS: Record<Activation, number> = { none: 0, relu: 1, sigmoid: 2, tanh: 3 };
const MAX_BATCH_RANK = 8;

/** Strides (in matrices) for reading `shape`'s batch axes broadcast to `target`. */
function batchStrides(shape: readonly number[], target: readonly number[]): number[] {
  const s = stridesOf(shape);
  const off = target.length - shape.length;
  return target.map((_, i) => (i < off || shape[i - off] === 1 ? 0 : s[i - off]!));
}

function checkMatmul(a: TensorMeta, b: TensorMeta, options: MatmulOptions = {}): MatmulPlan {
  const op = 'matmul';
  const transA = Boolean(options.transA);
  const transB = Boolean(options.transB);
  const activation = options.activation ?? 'none';
  const desc = () => `${fmtShape(a.shape)}${transA ? 'ᵀ' : ''} × ${fmtShape(b.shape)}${transB ? 'ᵀ' : ''}`;
  assert(a.dtype === 'f32' && b.dtype === 'f32', op, () => `expects f32 operands, got ${a.dtype} ${fmtShape(a.shape)} and ${b.dtype} ${fmtShape(b.shape)}`);
  assert(a.shape.length >= 2 && b.shape.length >= 2, op, () => `operands need rank ≥ 2 ([..., M, K] and [..., K, N]); got ${desc()} (reshape vectors to [1, K] or [K, 1])`);
  assert(activation in ACTIVATIONS, op, () => `unknown activation '${activation}' (have ${Object.keys(ACTIVATIONS).join(', ')})`);
  const ra = a.shape.length;
  const rb = b.shape.length;
  const M = transA ? a.shape[ra - 1]! : a.shape[ra - 2]!;
  const Ka = transA ? a.shape[ra - 2]! : a.shape[ra - 1]!;
  const Kb = transB ? b.shape[rb - 1]! : b.shape[rb - 2]!;
  const N = transB ? b.shape[rb - 2]! : b.shape[rb - 1]!;
  assert(Ka === Kb, op, () => `inner dimensions differ: ${desc()} has K = ${Ka} for a but ${Kb} for b`);
  const aBatch = a.shape.slice(0, -2);
  const bBatch = b.shape.slice(0, -2);
  const rank = Math.max(aBatch.length, bBatch.length);
  const batchShape: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = aBatch[aBatch.length - rank + i] ?? 1;
    const db = bBatch[bBatch.length - rank + i] ?? 1;
    assert(da === db || da === 1 || db === 1, op, () => `batch axes ${fmtShape(aBatch)} and ${fmtShape(bBatch)} of ${desc()} do not broadcast (axis ${i}: ${da} vs ${db})`);
    batchShape.push(da === 1 ? db : da);
  }
  assert(rank <= MAX_BATCH_RANK, op, () => `supports up to ${MAX_BATCH_RANK} batch axes, got ${desc()}`);
  const bias = options.bias;
  if (bias) {
    assert(bias.dtype === 'f32', op, () => `bias must be f32, got ${bias.dtype} ${fmtShape(bias.shape)}`);
    assert(bias.shape.length === 1 && bias.shape[0] === N, op, () => `bias must have shape [${N}] (N of ${desc()}), got ${fmtShape(bias.shape)}`);
  }
  return {
    shape: [...batchShape, M, N],
    dtype: 'f32',
    M,
    N,
    K: Ka,
    transA,
    transB,
    batchShape,
    batch: sizeOf(batchShape),
    aMatrices: sizeOf(aBatch),
    bMatrices: sizeOf(bBatch),
    aBatchStrides: batchStrides(aBatch, batchShape),
    bBatchStrides: batchStrides(bBatch, batchShape),
    hasBias: Boolean(bias),
    activation,
  };
}

function activateRef(x: number, act: Activation): number {
  switch (act) {
    case 'relu':
      return Math.max(x, 0);
    case 'sigmoid':
      return 1 / (1 + Math.exp(-x));
    case 'tanh':
      return Math.tanh(x);
    default:
      return x;
  }
}

/** The CPU reference: float64 accumulation, rounded to f32 once at the end. */
function matmulRef(plan: MatmulPlan, a: HostTensor, b: HostTensor, bias: HostTensor | undefined): HostTensor {
  const { M, N, K, transA, transB, batch } = plan;
  const out = HostTensor.zeros(plan.shape);
  const row = new Float64Array(N);
  for (let bi = 0; bi < batch; bi++) {
    let rest = bi;
    let ao = 0;
    let bo = 0;
    for (let d = plan.batchShape.length - 1; d >= 0; d--) {
      const c = rest % plan.batchShape[d]!;
      rest = Math.floor(rest / plan.batchShape[d]!);
      ao += c * plan.aBatchStrides[d]!;
      bo += c * plan.bBatchStrides[d]!;
    }
    ao *= M * K;
    bo *= K * N;
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) row[n] = bias ? bias.data[n]! : 0;
      for (let k = 0; k < K; k++) {
        const x = a.data[ao + (transA ? k * M + m : m * K + k)]!;
        for (let n = 0; n < N; n++) row[n] += x * b.data[bo + (transB ? n * K + k : k * N + n)]!;
      }
      const o = (bi * M + m) * N;
      for (let n = 0; n < N; n++) out.data[o + n] = activateRef(row[n]!, plan.activation);
    }
  }
  return out;
}

// ----------------------------------------------------------------------------------------- GPU variants

export interface MatmulProblem {
  plan: MatmulPlan;
  a: Tensor;
  b: Tensor;
  bias?: Tensor | undefined;
}

interface MatmulVariant extends Variant<MatmulProblem> {
  run(engine: Engine, p: MatmulProblem): Tensor;
}

const kernels = {
  buffer: { name: 'matmul_buffer', code: `${bufferWgsl}\n${commonWgsl}` },
  pack: { name: 'matmul_pack', code: packWgsl },
  tiled: { name: 'matmul_tiled', code: `${tiledWgsl}\n${commonWgsl}` },
  texture: { name: 'matmul_texture', code: `${textureWgsl}\n${commonWgsl}` },
  subgroup: { name: 'matmul_texture_subgroup', code: `${subgroupWgsl}\n${commonWgsl}` },
};

/** Per-engine 16-byte buffer bound in place of an absent bias (bindings cannot be left empty). */
const noBias = new WeakMap<Engine, GPUBuffer>();
function biasBinding(engine: Engine, bias: Tensor | undefined): Binding {
  if (bias) return bias.binding();
  let buf = noBias.get(engine);
  if (!buf) {
    buf = engine.device.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE, label: 'fergpu matmul no-bias' });
    noBias.set(engine, buf);
  }
  return { buffer: buf, offset: 0, size: 16 };
}

/** The output bound as vec4s (shaders/matmul_common.wgsl): its size rounded up to 16 bytes, which the pooled
 * buffer (≥ 256 bytes, in 64-byte steps) always has. */
function outBinding(out: Tensor): Binding {
  const size = Math.ceil(out.bytes / 16) * 16;
  if (size > out.buffer.size) throw new Error(`matmul: output buffer of ${out.buffer.size} bytes cannot be bound as ${size}`);
  return { buffer: out.buffer, offset: 0, size };
}

/** The uniform block of shaders/matmul_common.wgsl. */
function params(
  plan: MatmulPlan,
  o: { batchBase: number; batch: number; tilesM?: number; tilesN?: number; kq?: number; mBase?: number; stridesIn: 'elements' | 'layers' },
): Uniforms {
  const scaleA = o.stridesIn === 'elements' ? plan.M * plan.K : 1;
  const scaleB = o.stridesIn === 'elements' ? plan.K * plan.N : 1;
  return new Uniforms()
    .u32(plan.M, plan.N, plan.K, plan.hasBias ? 1 : 0)
    .u32(ACTIVATIONS[plan.activation], plan.batchShape.length, o.batchBase, o.batch)
    .u32(o.tilesM ?? 0, o.tilesN ?? 0, o.kq ?? 0, o.mBase ?? 0)
    .u32(plan.transA ? 1 : plan.K, plan.transA ? plan.M : 1, plan.transB ? 1 : plan.N, plan.transB ? plan.K : 1)
    .u32Array(plan.batchShape, 2)
    .u32Array(plan.aBatchStrides.map((s) => s * scaleA), 2)
    .u32Array(plan.bBatchStrides.map((s) => s * scaleB), 2);
}

function label(variant: string, p: MatmulProblem): string {
  const { plan } = p;
  const t = (x: boolean) => (x ? 'ᵀ' : '');
  return `matmul[${variant}] ${fmtShape(p.a.shape)}${t(plan.transA)}x${fmtShape(p.b.shape)}${t(plan.transB)}`;
}

/**
 * Launches a storage-buffer kernel over a grid of (N tiles, M tiles, batch) workgroups. Grids over the
 * per-dimension limit are split into several dispatches, with row and batch offsets in the uniforms.
 */
function runBuffers(engine: Engine, p: MatmulProblem, name: string, kernel: { name: string; code: string }, tileM: number, tileN: number, defines?: Record<string, number>): Tensor {
  const { plan } = p;
  const out = engine.empty(plan.shape);
  if (out.size === 0) return out;
  const max = engine.limits.maxComputeWorkgroupsPerDimension;
  const gx = Math.ceil(plan.N / tileN);
  const gyTotal = Math.ceil(plan.M / tileM);
  const bindings = [p.a.binding(), p.b.binding(), biasBinding(engine, p.bias), outBinding(out)];
  for (let bBase = 0; bBase < plan.batch; bBase += max) {
    const gz = Math.min(max, plan.batch - bBase);
    for (let gyBase = 0; gyBase < gyTotal; gyBase += max) {
      engine.runtime.dispatch({
        kernel,
        ...(defines ? { defines } : {}),
        label: label(name, p),
        uniforms: params(plan, { batchBase: bBase, batch: gz, mBase: gyBase * tileM, stridesIn: 'elements' }),
        bindings,
        grid: [gx, Math.min(max, gyTotal - gyBase), gz],
      });
    }
  }
  return out;
}

// shaders/matmul_buffer.wgsl: 8 × 8 invocations of 4 × 8 outputs, so a workgroup covers 32 rows × 64 columns.
const bufferVariant: MatmulVariant = {
  name: 'buffer',
  supported: () => true,
  run(engine, p) {
    const { M, N, K, transA, transB } = p.plan;
    return runBuffers(engine, p, 'buffer', kernels.buffer, 32, 64, {
      TRANS_A: transA ? 1 : 0,
      TRANS_B: transB ? 1 : 0,
      // vec4 loads need the operand's contiguous axis to be a multiple of 4 (rows then start aligned), and a
      // non-empty operand (a vec4 binding needs 16 bytes).
      VEC_A: K > 0 && (transA ? M : K) % 4 === 0 ? 1 : 0,
      VEC_B: K > 0 && (transB ? K : N) % 4 === 0 ? 1 : 0,
    });
  },
};

// shaders/matmul_tiled.wgsl: 64 × 64 workgroup-memory tiles, 16 × 16 invocations of 4 × 4 outputs.
const tiledVariant: MatmulVariant = {
  name: 'buffer-tiled',
  supported: (engine) => engine.limits.maxComputeInvocationsPerWorkgroup >= 256 && engine.limits.maxComputeWorkgroupStorageSize >= 8192,
  run: (engine, p) => runBuffers(engine, p, 'buffer-tiled', kernels.tiled, 64, 64),
};

/** Padding of M and N in the staged textures: the tile of a subgroup (32 × 32), which the smaller
 * invocation tiles divide. */
const PAD_MN = 32;

/** Whether the operands fit the device's texture limits (else the texture variants fall back to buffers).
 * Tall A needs no check: it is staged in chunks of rows. */
function fitsTextures(engine: Engine, plan: MatmulPlan): boolean {
  const dim = engine.limits.maxTextureDimension2D;
  const layers = engine.limits.maxTextureArrayLayers;
  const kP = Math.ceil(plan.K / 4) * 4;
  const nP = Math.ceil(plan.N / PAD_MN) * PAD_MN;
  return plan.K > 0 && kP <= dim && nP / 4 <= dim && dim >= PAD_MN && plan.aMatrices <= layers && plan.bMatrices <= layers;
}

interface TextureKernel {
  name: string;
  kernel: { name: string; code: string };
  /** Output tile of one invocation (texture) or one subgroup (texture-subgroup); both divide PAD_MN. */
  tileM: number;
  tileN: number;
  /** Tiles per workgroup. */
  tilesPerGroup: number;
}

/**
 * Stages both operands into zero-padded textures (A texel (q, m) = A[m, 4q..], B texel (q, k) = B[k, 4q..])
 * with the pack kernel, then runs the texture kernel. A is staged in chunks of at most
 * maxTextureDimension2D rows, each followed by its share of the product.
 */
function runTextured(engine: Engine, p: MatmulProblem, v: TextureKernel): Tensor {
  const { plan } = p;
  if (!fitsTextures(engine, plan)) return bufferVariant.run(engine, p);
  const out = engine.empty(plan.shape);
  if (out.size === 0) return out;
  const { M, N, K, transA, transB } = plan;
  const kq = Math.ceil(K / 4);
  const nP = Math.ceil(N / PAD_MN) * PAD_MN;
  const chunk = Math.floor(engine.limits.maxTextureDimension2D / PAD_MN) * PAD_MN;
  const pool = texturePool(engine);
  const at = pool.acquire(kq, Math.min(chunk, Math.ceil(M / PAD_MN) * PAD_MN), plan.aMatrices);
  const pack = (src: Tensor, dst: PooledTexture, u: { rows: number; cols: number; rowsP: number; colsQ: number; sRow: number; sCol: number; stride: number; r0: number }, layers: number, what: string) =>
    engine.runtime.dispatch({
      kernel: kernels.pack,
      label: `${label(v.name, p)} stage ${what}`,
      uniforms: new Uniforms().u32(u.rows, u.cols, u.rowsP, u.colsQ, u.sRow, u.sCol, u.stride, u.r0),
      bindings: [src.binding(), { view: dst.view }],
      grid: [Math.ceil(u.colsQ / 8), Math.ceil(u.rowsP / 8), layers],
    });
  // B of a frozen tensor (an inference model's weight) is staged once and kept with it.
  const stageB = (): PooledTexture => {
    const t = pool.acquire(nP / 4, 4 * kq, plan.bMatrices);
    pack(p.b, t, { rows: K, cols: N, rowsP: 4 * kq, colsQ: nP / 4, sRow: transB ? 1 : N, sCol: transB ? K : 1, stride: K * N, r0: 0 }, plan.bMatrices, 'b');
    return t;
  };
  const kept = engine.isFrozen(p.b) ? engine.derived(p.b, `matmul b ${K} ${N} ${transB} ${plan.bMatrices}`, stageB, (t) => pool.release(t)) : undefined;
  const bt = kept ?? stageB();
  const tilesN = nP / v.tileN;
  for (let m0 = 0; m0 < M; m0 += chunk) {
    const rows = Math.min(chunk, M - m0);
    const rowsP = Math.ceil(rows / PAD_MN) * PAD_MN;
    const a = { rows, cols: K, rowsP, colsQ: kq, sRow: transA ? 1 : K, sCol: transA ? M : 1, stride: M * K, r0: m0 };
    pack(p.a, at, a, plan.aMatrices, m0 ? `a rows ${m0}…` : 'a');
    const tilesM = rowsP / v.tileM;
    engine.runtime.dispatch({
      kernel: v.kernel,
      label: label(v.name, p),
      uniforms: params(plan, { batchBase: 0, batch: plan.batch, tilesM, tilesN, kq, mBase: m0, stridesIn: 'layers' }),
      bindings: [{ view: at.view }, { view: bt.view }, biasBinding(engine, p.bias), outBinding(out)],
      grid: Math.ceil((plan.batch * tilesM * tilesN) / v.tilesPerGroup),
    });
  }
  pool.release(at);
  if (!kept) pool.release(bt);
  return out;
}

// Invocation tile of the texture kernel (shaders/matmul_texture.wgsl): 4 × 8, 64 per workgroup.
const textureVariant: MatmulVariant = {
  name: 'texture',
  supported: (engine) => engine.limits.maxStorageTexturesPerShaderStage >= 2,
  run: (engine, p) => runTextured(engine, p, { name: 'texture', kernel: kernels.texture, tileM: 4, tileN: 8, tilesPerGroup: 64 }),
};

// One subgroup of 8 lanes owns a 32 × 32 tile; 16 subgroups per workgroup (shaders/matmul_texture_subgroup.wgsl).
const subgroupVariant: MatmulVariant = {
  name: 'texture-subgroup',
  supported: (engine) => engine.features.has('subgroups') && engine.fixedSubgroupSize === 8 && textureVariant.supported(engine),
  run: (engine, p) => runTextured(engine, p, { name: 'texture-subgroup', kernel: kernels.subgroup, tileM: 32, tileN: 32, tilesPerGroup: 16 }),
};

/** Random f32 values in [-1, 1) for the tuning sample. */
function randomData(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

// Before tuning, the first supported variant serves: texture-subgroup where it runs (lavapipe, where it is
// 4–6× faster than buffers), else the register-blocked buffer kernel (best on SwiftShader; on real GPUs
// tune() decides between it and buffer-tiled).
export const matmulKernel: TunableKernel<MatmulProblem> = registerTunable<MatmulProblem>({
  name: 'matmul',
  variants: [subgroupVariant, bufferVariant, tiledVariant, textureVariant],
  sample(engine) {
    // 512³: large enough for steady-state tiling behaviour, small enough to time in well under a second here.
    const n = 512;
    const a = engine.tensor(randomData(n * n, 1), [n, n]);
    const b = engine.tensor(randomData(n * n, 2), [n, n]);
    return {
      problem: { plan: checkMatmul(a, b), a, b },
      dispose() {
        a.dispose();
        b.dispose();
      },
    };
  },
});

export const matmul: Op<[a: Tensor, b: Tensor, options?: MatmulOptions], MatmulPlan> = defineOp<[a: Tensor, b: Tensor, options?: MatmulOptions], MatmulPlan>({
  name: 'matmul',
  check: (a, b, options) => checkMatmul(a, b, options),
  gpu(plan, a, b, options) {
    const engine = a.engine;
    const variant = engine.variants.pick(matmulKernel) as MatmulVariant;
    return variant.run(engine, { plan, a, b, bias: options?.bias });
  },
  cpu(plan, a, b, options) {
    // The options object is passed through unchanged, so for the reference its bias is a HostTensor.
    const bias = options?.bias as unknown;
    assert(bias === undefined || bias instanceof HostTensor, 'matmul', () => 'the CPU reference needs the bias as a HostTensor');
    return matmulRef(plan, a, b, bias);
  },
  backward: {
    save: ([a, b, options], y) => [a, b, ...(options?.activation && options.activation !== 'none' ? [y] : [])],
    grad({ plan, args: [a, b], saved: [sa, sb, y], needsGrad }, dy) {
      // C = op(A)·op(B) (+ bias, then the activation). With dZ the gradient before the activation:
      // dop(A) = dZ·op(B)ᵀ and dop(B) = op(A)ᵀ·dZ, each written in the operand's own layout.
      const dz = y ? activationBackward(dy, y, plan.activation) : dy.detach();
      const { transA, transB } = plan;
      const ga = needsGrad[0]
        ? sumToShape(transA ? matmul(sb!, dz, { transA: transB, transB: true }) : matmul(dz, sb!, { transB: !transB }), a.shape)
        : null;
      const gb = needsGrad[1]
        ? sumToShape(transB ? matmul(dz, sa!, { transA: true, transB: transA }) : matmul(sa!, dz, { transA: !transA }), b.shape)
        : null;
      const grads = [ga, gb];
      if (plan.hasBias) grads.push(needsGrad[2] ? sum(dz, [...Array(dz.rank - 1).keys()]) : null);
      dz.dispose();
      return grads;
    },
  },
});

/** Options for the CPU reference, with the bias on the host. */
export interface HostMatmulOptions extends Omit<MatmulOptions, 'bias'> {
  bias?: HostTensor;
}

/** The CPU reference with a host bias (typed wrapper over `matmul.cpu`). */
export function matmulCpu(a: HostTensor, b: HostTensor, options: HostMatmulOptions = {}): HostTensor {
  return matmul.cpu(a, b, options as unknown as MatmulOptions);
}
