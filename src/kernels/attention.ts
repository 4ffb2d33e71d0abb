/**
 * Scaled dot-product attention, out = softmax(scale·Q·Kᵀ + mask)·V over [B, H, rows, features], in one fused
 * kernel: a workgroup owns a block of query rows and streams the keys in tiles with an online softmax, so no
 * n × m matrix is ever stored, whatever the sequence lengths. Its invocations split the feature axes and reduce
 * each tile's dot products across the workgroup, which keeps every invocation busy when n is tiny and d large
 * (5 frames × 2048 features, M5).
 *
 * Kernel families (one per launch; see `Mode`), chosen through the variants of `sdpaKernel`:
 * - `subgroup`: 32–256 invocations, ~8 features each; subgroupAdd, then one row per subgroup in workgroup
 *   memory and a barrier (any subgroup size). The usual choice on GPUs.
 * - `workgroup`: the same reduction in workgroup memory only, for devices without subgroups.
 * - `single` / `texture`: the workgroup is ONE subgroup (devices with a fixed subgroup size), so subgroupAdd
 *   alone reduces: no workgroup memory, no barrier. On CPU adapters (lavapipe) barriers dominate the run time
 *   and the compile time of the other two; `texture` also stages Q, K, V (and dO) into rgba32float textures,
 *   whose loads serve all lanes in one vector call there. A lane's state grows with features/subgroup size, so
 *   these give way to the next family for very wide rows, and staging is skipped for small problems.
 *
 * The forward also writes the row log-sum-exp. `sdpa` (the autograd-recorded op) keeps it in a hidden tail of
 * the output's own buffer, so it lives exactly as long as the output and its views; `sdpaForward` returns it
 * as a tensor. The backward is FlashAttention-2's recomputation in two kernels: the query side (row deltas
 * Σ dO·O and dQ) and the key/value side (dK and dV), each streaming the other side in tiles.
 *
 * Masks broadcast to [B, H, n, m] (e.g. [n, m], or [B, 1, 1, m] for key padding): additive f32 (may hold
 * -inf) or integer keep masks (PyTorch's boolean attn_mask: nonzero attends). A row whose every key is masked
 * is defined as: output 0, lse -inf, weights 0 and zero gradients (PyTorch returns NaN there). An additive
 * mask may require a gradient: the query kernel then also writes dS, summed over the mask's broadcast axes.
 * `sdpaWithWeights` also returns the attention probabilities (need_weights), from one more small kernel; its
 * backward takes the gradients of both outputs in one call (the fused kernels for dO, a softmax backward of
 * the weights' gradient), giving dq, dk, dv and dmask together. Plans and references: attention-plan.ts,
 * attention-reference.ts.
 */
import type { Engine } from '../device/engine.js';
import { fmtShape, ShapeError } from '../device/errors.js';
import type { HostTensor } from '../graph/host.js';
import { sizeOf } from '../graph/shape.js';
import { Tensor, type Storage } from '../graph/tensor.js';
import commonWgsl from '../../shaders/sdpa_common.wgsl';
import forwardWgsl from '../../shaders/sdpa_forward.wgsl';
import backwardQueryWgsl from '../../shaders/sdpa_backward_query.wgsl';
import backwardKeyValueWgsl from '../../shaders/sdpa_backward_keyvalue.wgsl';
import forwardTextureWgsl from '../../shaders/sdpa_forward_texture.wgsl';
import backwardQueryTextureWgsl from '../../shaders/sdpa_backward_query_texture.wgsl';
import backwardKeyValueTextureWgsl from '../../shaders/sdpa_backward_keyvalue_texture.wgsl';
import weightsWgsl from '../../shaders/sdpa_weights.wgsl';
import packWgsl from '../../shaders/matmul_pack.wgsl';
import { checkBackward, checkSdpa, choose, defines, padRows, shapeLabel, uniforms, type HostSdpaOptions, type SdpaOptions, type SdpaPlan, type Tiles, type VariantName } from './attention-plan.js';
import { backwardRef, forwardRef, hostMask, weightsRef } from './attention-reference.js';
import { add, mul, sub, sumToShape } from './elementwise.js';
import { matmul } from './matmul.js';
import { defineMultiOp, type MultiOp, type MultiPlan } from './multi-op.js';
import { defineOp, type Op } from './op.js';
import { sum } from './reduce.js';
import type { Binding } from './runtime.js';
import { texturePool, type PooledTexture } from './texture-pool.js';
import { Uniforms } from './uniforms.js';
import { registerTunable, type TunableKernel, type Variant } from './variants.js';

export type { HostSdpaOptions, SdpaOptions, SdpaPlan } from './attention-plan.js';

const kernels = {
  forward: { name: 'sdpa_forward', code: `${forwardWgsl}\n${commonWgsl}` },
  query: { name: 'sdpa_backward_query', code: `${backwardQueryWgsl}\n${commonWgsl}` },
  keyValue: { name: 'sdpa_backward_keyvalue', code: `${backwardKeyValueWgsl}\n${commonWgsl}` },
  forwardTexture: { name: 'sdpa_forward_texture', code: `${forwardTextureWgsl}\n${commonWgsl}` },
  queryTexture: { name: 'sdpa_backward_query_texture', code: `${backwardQueryTextureWgsl}\n${commonWgsl}` },
  keyValueTexture: { name: 'sdpa_backward_keyvalue_texture', code: `${backwardKeyValueTextureWgsl}\n${commonWgsl}` },
  weights: { name: 'sdpa_weights', code: `${weightsWgsl}\n${commonWgsl}` },
  // The matmul operand packer: rows × cols of each layer into zero-padded rgba32float texels.
  pack: { name: 'matmul_pack', code: packWgsl },
};

// ------------------------------------------------------------------------------------ the lse tail

const lseTails = new WeakMap<Storage, { offset: number; count: number }>();

/** An output tensor whose buffer carries `count` more floats after it, at an aligned offset (the lse). */
function emptyWithTail(engine: Engine, shape: readonly number[], count: number): { out: Tensor; tail: Binding } {
  const align = engine.limits.minStorageBufferOffsetAlignment;
  const offset = Math.ceil(Math.max(sizeOf(shape) * 4, 1) / align) * align;
  const whole = engine.empty([offset / 4 + Math.max(count, 1)]);
  const out = new Tensor(engine, whole.storage.retain(), shape, 'f32');
  whole.dispose();
  lseTails.set(out.storage, { offset, count });
  return { out, tail: { buffer: out.buffer, offset, size: Math.max(count, 1) * 4 } };
}

/** The lse written into an `sdpa` output's buffer (shared by its views and autograd's saved alias). */
function lseTail(out: Tensor, op: string): { buffer: GPUBuffer; offset: number; size: number } {
  const t = lseTails.get(out.storage);
  if (!t) throw new ShapeError(op, `tensor ${fmtShape(out.shape)} was not produced by sdpa, so it carries no log-sum-exp; use sdpaForward to get one`);
  return { buffer: out.buffer, offset: t.offset, size: Math.max(t.count, 1) * 4 };
}

// -------------------------------------------------------------------------------------- GPU launches

interface Problem {
  plan: SdpaPlan;
  q: Tensor;
  k: Tensor;
  v: Tensor;
  mask?: Tensor | undefined;
}

function variantOf(engine: Engine): VariantName {
  return engine.variants.pick(sdpaKernel).name as VariantName;
}

/** Copies [layers, rows, cols] into a texture array padded with zeros to rowsP × colsQ texels. */
function stageTexture(engine: Engine, src: Tensor, layers: number, rows: number, cols: number, colsQ: number, label: string): PooledTexture {
  const rowsP = padRows(rows);
  const tex = texturePool(engine).acquire(colsQ, rowsP, layers);
  engine.runtime.dispatch({
    kernel: kernels.pack,
    label: `${label} stage`,
    uniforms: new Uniforms().u32(rows, cols, rowsP, colsQ, cols, 1, rows * cols, 0),
    bindings: [src.binding(), { view: tex.view }],
    grid: [Math.ceil(colsQ / 8), Math.ceil(rowsP / 8), layers],
  });
  return tex;
}

/** Stages the given [B, H, rows, features] tensors for the texture kernels; `release` returns them to the pool. */
function stageAll(engine: Engine, t: Tiles, plan: SdpaPlan, label: string, list: [Tensor, number, 'q' | 'v'][]): { views: Binding[]; release(): void } {
  const layers = plan.B * plan.H;
  const texs = list.map(([x, rows, kind]) => stageTexture(engine, x, layers, rows, kind === 'q' ? plan.d : plan.dv, (kind === 'q' ? t.QPT : t.CPT) * t.WG, label));
  return {
    views: texs.map((x) => ({ view: x.view })),
    release: () => texs.forEach((x) => texturePool(engine).release(x)),
  };
}

const maskBindings = (mask: Tensor | undefined): Binding[] => (mask ? [mask.binding()] : []);

function launchForward(engine: Engine, p: Problem, variant: VariantName, out: Tensor, lse: Binding): void {
  const { plan } = p;
  const t = choose(engine, variant, 'forward', plan);
  const blocks = Math.ceil(plan.n / t.BR);
  const label = `sdpa[${t.mode}] ${shapeLabel(plan)}`;
  const common = { defines: defines(engine, t, plan), label, uniforms: uniforms(plan, blocks, t), grid: plan.B * plan.H * blocks };
  if (t.mode === 'texture') {
    const s = stageAll(engine, t, plan, label, [[p.q, plan.n, 'q'], [p.k, plan.m, 'q'], [p.v, plan.m, 'v']]);
    engine.runtime.dispatch({ ...common, kernel: kernels.forwardTexture, bindings: [...s.views, out.binding(), lse, ...maskBindings(p.mask)] });
    s.release();
    return;
  }
  engine.runtime.dispatch({ ...common, kernel: kernels.forward, bindings: [p.q.binding(), p.k.binding(), p.v.binding(), out.binding(), lse, ...maskBindings(p.mask)] });
}

interface BackwardInputs extends Problem {
  dout: Tensor;
  out: Tensor;
  lse: Binding;
}

/**
 * The backward kernels: the query side always (it computes the row deltas, and with `dmask` writes dS over
 * [B, H, n, m]), the key/value side when asked.
 */
function launchBackward(engine: Engine, b: BackwardInputs, want: { kv: boolean; dmask?: boolean }): { dq: Tensor; dk: Tensor | null; dv: Tensor | null; dmask: Tensor | null } {
  const { plan } = b;
  const variant = variantOf(engine);
  const dq = engine.empty(b.q.shape);
  const delta = engine.empty([plan.B, plan.H, plan.n]);
  const tq = choose(engine, variant, 'query', plan);
  const tk = want.kv ? choose(engine, variant, 'keyValue', plan) : null;
  const label = `sdpaBackward ${shapeLabel(plan)}`;
  const dmask = want.dmask && b.mask ? engine.empty([plan.B, plan.H, plan.n, plan.m]) : null;
  // Both kernels read the same staged textures when both are texture kernels.
  const needTex = tq.mode === 'texture' || tk?.mode === 'texture';
  const staged = needTex ? stageAll(engine, tq.mode === 'texture' ? tq : tk!, plan, label, [[b.q, plan.n, 'q'], [b.k, plan.m, 'q'], [b.v, plan.m, 'v'], [b.dout, plan.n, 'v']]) : null;
  try {
    const rowBlocks = Math.ceil(plan.n / tq.BR);
    const qBindings = tq.mode === 'texture' ? [...staged!.views, b.out.binding()] : [b.q.binding(), b.k.binding(), b.v.binding(), b.out.binding(), b.dout.binding()];
    engine.runtime.dispatch({
      kernel: tq.mode === 'texture' ? kernels.queryTexture : kernels.query,
      defines: defines(engine, tq, plan, Boolean(dmask)),
      label: `${label} query[${tq.mode}]${dmask ? ' +dmask' : ''}`,
      uniforms: uniforms(plan, rowBlocks, tq),
      bindings: [...qBindings, b.lse, delta.binding(), dq.binding(), ...maskBindings(b.mask), ...(dmask ? [dmask.binding()] : [])],
      grid: plan.B * plan.H * rowBlocks,
    });
    if (!tk) return { dq, dk: null, dv: null, dmask };
    const dk = engine.empty(b.k.shape);
    const dv = engine.empty(b.v.shape);
    const keyBlocks = Math.ceil(plan.m / tk.BC);
    const kvBindings = tk.mode === 'texture' ? staged!.views : [b.q.binding(), b.k.binding(), b.v.binding(), b.dout.binding()];
    engine.runtime.dispatch({
      kernel: tk.mode === 'texture' ? kernels.keyValueTexture : kernels.keyValue,
      defines: defines(engine, tk, plan),
      label: `${label} key/value[${tk.mode}]`,
      uniforms: uniforms(plan, keyBlocks, tk),
      bindings: [...kvBindings, b.lse, delta.binding(), dk.binding(), dv.binding(), ...maskBindings(b.mask)],
      grid: plan.B * plan.H * keyBlocks,
    });
    return { dq, dk, dv, dmask };
  } finally {
    delta.dispose();
    staged?.release();
  }
}

/** The attention probabilities [B, H, n, m] from q, k and the forward's lse (shaders/sdpa_weights.wgsl). */
function launchWeights(engine: Engine, plan: SdpaPlan, q: Tensor, k: Tensor, lse: Binding, mask: Tensor | undefined): Tensor {
  const p = engine.empty([plan.B, plan.H, plan.n, plan.m]);
  if (p.size === 0) return p;
  engine.runtime.dispatch({
    kernel: kernels.weights,
    defines: { WG: 64, NP: 1, SLOTS: 1, SUBGROUPS: 0, SINGLE: 0, QB: 'QPT', CB: 'CPT', MASK: mask ? 1 : 0, KEEP: plan.maskKind === 'keep' ? 1 : 0, MASK_T: plan.maskKind === 'keep' ? 'u32' : 'f32' },
    label: `sdpa weights ${shapeLabel(plan)}`,
    uniforms: uniforms(plan, 0),
    bindings: [q.binding(), k.binding(), lse, p.binding(), ...maskBindings(mask)],
    grid: Math.ceil(p.size / 64),
  });
  return p;
}

function variant(name: VariantName, supported: (e: Engine) => boolean): Variant<Problem> {
  return {
    name,
    supported,
    run(engine, p) {
      const { out, tail } = emptyWithTail(engine, p.plan.shape, p.plan.B * p.plan.H * p.plan.n);
      launchForward(engine, p, name, out, tail);
      return out;
    },
  };
}

const singleSupported = (e: Engine) => e.features.has('subgroups') && e.fixedSubgroupSize !== undefined && e.fixedSubgroupSize >= 4 && e.fixedSubgroupSize <= e.limits.maxComputeInvocationsPerWorkgroup;

/** Random values in [-1, 1) for the tuning sample. */
function randomData(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

/** The reduction variant serves the forward and both backward kernels. */
export const sdpaKernel: TunableKernel<Problem> = registerTunable<Problem>({
  name: 'sdpa',
  variants: [
    variant('single-texture', (e) => singleSupported(e) && e.limits.maxStorageTexturesPerShaderStage >= 3),
    variant('single', singleSupported),
    variant('subgroup', (e) => e.features.has('subgroups')),
    variant('workgroup', () => true),
  ],
  sample(engine) {
    const [B, H, n, d] = [1, 2, 128, 256];
    const q = engine.tensor(randomData(B * H * n * d, 1), [B, H, n, d]);
    const k = engine.tensor(randomData(B * H * n * d, 2), [B, H, n, d]);
    const v = engine.tensor(randomData(B * H * n * d, 3), [B, H, n, d]);
    return {
      problem: { plan: checkSdpa('sdpa', q, k, v), q, k, v },
      dispose() {
        q.dispose();
        k.dispose();
        v.dispose();
      },
    };
  },
});

// ------------------------------------------------------------------------------------------------ ops

type SdpaArgs = [q: Tensor, k: Tensor, v: Tensor, options?: SdpaOptions];
type BackwardArgs = [dout: Tensor, q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor, options?: SdpaOptions];

/** The fused forward's output, carrying its lse in the buffer's tail. */
function forwardGpu(plan: SdpaPlan, q: Tensor, k: Tensor, v: Tensor, options: SdpaOptions | undefined): Tensor {
  const engine = q.engine;
  return engine.variants.pick(sdpaKernel).run(engine, { plan, q, k, v, mask: options?.mask }) as Tensor;
}

/** What the backward keeps: q, k, v, the output (its buffer carries the lse), the mask, the weights if returned. */
function saveForBackward(args: SdpaArgs, out: Tensor, weights?: Tensor): Tensor[] {
  const [q, k, v, options] = args;
  return [q, k, v, out, ...(options?.mask ? [options.mask] : []), ...(weights ? [weights] : [])];
}

/** acc + t, disposing both (t when acc is null). */
function plus(acc: Tensor | null, t: Tensor): Tensor {
  if (!acc) return t;
  const s = add(acc, t);
  acc.dispose();
  t.dispose();
  return s;
}

/**
 * All gradients of attention in one call: dO through the fused kernels (query side with dS for an additive
 * mask, key/value side when k or v need one), and the weights' gradient dP through the softmax backward
 * dS = P ⊙ (dP − Σ_c P·dP) into dq = scale·dS·K, dk = scale·dSᵀ·Q and dmask = dS (summed to the mask's shape).
 */
function attentionGrad(plan: SdpaPlan, args: SdpaArgs, saved: Tensor[], needsGrad: readonly boolean[], dout: Tensor | undefined, dweights: Tensor | undefined): (Tensor | null)[] {
  const [q, k, v, out] = saved as [Tensor, Tensor, Tensor, Tensor];
  const maskArg = args[3]?.mask;
  const mask = maskArg ? saved[4] : undefined;
  const weights = dweights ? saved[maskArg ? 5 : 4] : undefined;
  const wantMask = Boolean(maskArg && plan.maskKind === 'add' && needsGrad[3]);
  const [wantQ, wantK, wantV] = needsGrad;
  let dq: Tensor | null = null;
  let dk: Tensor | null = null;
  let dv: Tensor | null = null;
  let dmask: Tensor | null = null;
  if (dout) {
    const g = launchBackward(q.engine, { plan, q, k, v, mask, dout, out, lse: lseTail(out, 'sdpa backward') }, { kv: Boolean(wantK || wantV), dmask: wantMask });
    ({ dq, dk, dv, dmask } = g);
  }
  if (dweights && weights) {
    const pd = mul(weights, dweights);
    const rows = sum(pd, -1, true);
    const centred = sub(dweights, rows);
    const ds = mul(weights, centred);
    [pd, rows, centred].forEach((t) => t.dispose());
    const scaled = (x: Tensor) => {
      const y = mul(x, plan.scale);
      x.dispose();
      return y;
    };
    if (wantQ) dq = plus(dq, scaled(matmul(ds, k)));
    if (wantK) dk = plus(dk, scaled(matmul(ds, q, { transA: true })));
    if (wantMask) dmask = plus(dmask, ds);
    else ds.dispose();
  }
  const keepIf = (t: Tensor | null, want: boolean | undefined) => (want ? t : (t?.dispose(), null));
  const grads = [keepIf(dq, wantQ), keepIf(dk, wantK), keepIf(dv, wantV)];
  if (maskArg) grads.push(dmask && wantMask ? sumToShape(dmask, maskArg.shape) : keepIf(dmask, false));
  return grads;
}

/**
 * softmax(scale·Q·Kᵀ + mask)·V: q [B, H, n, d], k [B, H, m, d], v [B, H, m, dv] → [B, H, n, dv]
 * (PyTorch's scaled_dot_product_attention). Gradients to q, k, v and an additive mask that requires one.
 */
export const sdpa: Op<SdpaArgs, SdpaPlan> = defineOp<SdpaArgs, SdpaPlan>({
  name: 'sdpa',
  check: (q, k, v, options) => checkSdpa('sdpa', q, k, v, options),
  gpu: (plan, q, k, v, options) => forwardGpu(plan, q, k, v, options),
  cpu: (plan, q, k, v, options) => forwardRef(plan, q, k, v, hostMask('sdpa', options)).out,
  backward: {
    save: (args, out) => saveForBackward(args, out),
    grad: ({ plan, args, saved, needsGrad }, dy) => attentionGrad(plan, args, saved, needsGrad, dy, undefined),
  },
});

interface WeightsPlan extends SdpaPlan, MultiPlan<'out' | 'weights'> {}

/**
 * sdpa that also returns the attention probabilities `weights` [B, H, n, m] (nn.MultiheadAttention's
 * need_weights, per head); both outputs are differentiable, through one backward call.
 */
export const sdpaWithWeights: MultiOp<SdpaArgs, 'out' | 'weights', WeightsPlan> = defineMultiOp<SdpaArgs, 'out' | 'weights', WeightsPlan>({
  name: 'sdpaWithWeights',
  check(q, k, v, options) {
    const p = checkSdpa('sdpaWithWeights', q, k, v, options);
    return { ...p, outputs: { out: { shape: p.shape, dtype: 'f32' }, weights: { shape: [p.B, p.H, p.n, p.m], dtype: 'f32' } } };
  },
  gpu(plan, q, k, v, options) {
    const out = forwardGpu(plan, q, k, v, options);
    return { out, weights: launchWeights(q.engine, plan, q, k, lseTail(out, 'sdpaWithWeights'), options?.mask) };
  },
  cpu(plan, q, k, v, options) {
    const mask = hostMask('sdpaWithWeights', options);
    return { out: forwardRef(plan, q, k, v, mask).out, weights: weightsRef(plan, q, k, mask) };
  },
  backward: {
    save: (args, outs) => saveForBackward(args, outs.out, outs.weights),
    grad: ({ plan, args, saved, needsGrad }, d) => attentionGrad(plan, args, saved, needsGrad, d.out, d.weights),
  },
});

/** The output and its row log-sum-exp [B, H, n] (-inf where every key is masked), from one fused kernel. */
export function sdpaForward(q: Tensor, k: Tensor, v: Tensor, options?: SdpaOptions): { out: Tensor; lse: Tensor } {
  const out = sdpa(q, k, v, options);
  const tail = lseTail(out, 'sdpaForward');
  const [B, H, n] = q.shape as [number, number, number];
  const lse = q.engine.empty([B, H, n]);
  if (lse.size > 0) q.engine.runtime.copyBuffer(tail.buffer, tail.offset, lse.buffer, 0, lse.size * 4, `sdpaForward lse ${fmtShape(lse.shape)}`);
  return { out, lse };
}

/** CPU reference of sdpaForward. */
export function sdpaForwardCpu(q: HostTensor, k: HostTensor, v: HostTensor, options?: HostSdpaOptions): { out: HostTensor; lse: HostTensor } {
  return forwardRef(checkSdpa('sdpaForward', q, k, v, options), q, k, v, options?.mask);
}

/** CPU reference of sdpa with a host mask (typed wrapper over `sdpa.cpu`). */
export function sdpaCpu(q: HostTensor, k: HostTensor, v: HostTensor, options?: HostSdpaOptions): HostTensor {
  return sdpa.cpu(q, k, v, options as unknown as SdpaOptions);
}

function backwardOp(name: string, pick: 'dq' | 'dk' | 'dv'): Op<BackwardArgs, SdpaPlan> {
  return defineOp<BackwardArgs, SdpaPlan>({
    name,
    check(dout, q, k, v, out, lse, options) {
      const plan = checkBackward(name, dout, q, k, v, out, lse, options);
      const shape = pick === 'dq' ? q.shape : pick === 'dk' ? k.shape : v.shape;
      return { ...plan, shape };
    },
    gpu(plan, dout, q, k, v, out, lse, options) {
      const base = { ...plan, shape: [plan.B, plan.H, plan.n, plan.dv] };
      const g = launchBackward(q.engine, { plan: base, q, k, v, mask: options?.mask, dout, out, lse: lse.binding() }, { kv: pick !== 'dq' });
      const keep = g[pick]!;
      for (const t of [g.dq, g.dk, g.dv]) if (t && t !== keep) t.dispose();
      return keep;
    },
    cpu(plan, dout, q, k, v, out, lse, options) {
      return backwardRef(plan, dout, q, k, v, out, lse, hostMask(name, options))[pick];
    },
  });
}

/** Gradient of sdpa to q, from the forward's out and lse (all of them at once: `sdpaBackward`). */
export const sdpaBackwardQuery = backwardOp('sdpaBackwardQuery', 'dq');
/** Gradient of sdpa to k. */
export const sdpaBackwardKey = backwardOp('sdpaBackwardKey', 'dk');
/** Gradient of sdpa to v. */
export const sdpaBackwardValue = backwardOp('sdpaBackwardValue', 'dv');

type Grads = 'dq' | 'dk' | 'dv' | 'dmask';
interface BackwardMultiPlan extends MultiPlan<Grads> {
  plan: SdpaPlan;
}

/**
 * Every gradient of sdpa in two kernels (query side, then key/value side), from the forward's out and lse:
 * dq, dk, dv and, for an additive mask, dmask (its shape; [0] without one).
 */
export const sdpaBackward: MultiOp<BackwardArgs, Grads, BackwardMultiPlan> = defineMultiOp<BackwardArgs, Grads, BackwardMultiPlan>({
  name: 'sdpaBackward',
  check(dout, q, k, v, out, lse, options) {
    const plan = checkBackward('sdpaBackward', dout, q, k, v, out, lse, options);
    const dmask = plan.maskKind === 'add' ? options!.mask!.shape : [0];
    return { plan, outputs: { dq: { shape: q.shape, dtype: 'f32' }, dk: { shape: k.shape, dtype: 'f32' }, dv: { shape: v.shape, dtype: 'f32' }, dmask: { shape: dmask, dtype: 'f32' } } };
  },
  gpu({ plan }, dout, q, k, v, out, lse, options) {
    const additive = plan.maskKind === 'add';
    const g = launchBackward(q.engine, { plan, q, k, v, mask: options?.mask, dout, out, lse: lse.binding() }, { kv: true, dmask: additive });
    return { dq: g.dq, dk: g.dk!, dv: g.dv!, dmask: g.dmask ? sumToShape(g.dmask, options!.mask!.shape) : q.engine.empty([0]) };
  },
  cpu: ({ plan }, dout, q, k, v, out, lse, options) => backwardRef(plan, dout, q, k, v, out, lse, hostMask('sdpaBackward', options)),
});

/** CPU reference of sdpaBackward with a host mask (typed wrapper over `sdpaBackward.cpu`). */
export function sdpaBackwardCpu(dout: HostTensor, q: HostTensor, k: HostTensor, v: HostTensor, out: HostTensor, lse: HostTensor, options?: HostSdpaOptions): { dq: HostTensor; dk: HostTensor; dv: HostTensor; dmask: HostTensor } {
  return sdpaBackward.cpu(dout, q, k, v, out, lse, options as unknown as SdpaOptions);
}
