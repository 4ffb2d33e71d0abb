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
 * Masks are additive f32, broadcastable to [B, H, n, m] (e.g. [n, m], or [B, 1, 1, m] for key padding), and
 * may hold -inf. A row whose every key is masked is defined as: output 0, lse -inf, and zero gradients
 * (PyTorch returns NaN there). The mask gets no gradient (an error says so if it requires one).
 */
import type { Engine } from '../device/engine.js';
import { assert, fmtShape, ShapeError } from '../device/errors.js';
import { isGradEnabled } from '../graph/autograd.js';
import { HostTensor, type TensorMeta } from '../graph/host.js';
import { broadcastStrides, sizeOf } from '../graph/shape.js';
import { Tensor, type Storage } from '../graph/tensor.js';
import commonWgsl from '../../shaders/sdpa_common.wgsl';
import forwardWgsl from '../../shaders/sdpa_forward.wgsl';
import backwardQueryWgsl from '../../shaders/sdpa_backward_query.wgsl';
import backwardKeyValueWgsl from '../../shaders/sdpa_backward_keyvalue.wgsl';
import forwardTextureWgsl from '../../shaders/sdpa_forward_texture.wgsl';
import backwardQueryTextureWgsl from '../../shaders/sdpa_backward_query_texture.wgsl';
import backwardKeyValueTextureWgsl from '../../shaders/sdpa_backward_keyvalue_texture.wgsl';
import packWgsl from '../../shaders/matmul_pack.wgsl';
import { defineMultiOp, type MultiOp, type MultiPlan } from './multi-op.js';
import { defineOp, type Op, type Plan } from './op.js';
import type { Binding } from './runtime.js';
import { texturePool, type PooledTexture } from './texture-pool.js';
import { Uniforms } from './uniforms.js';
import { registerTunable, type TunableKernel, type Variant } from './variants.js';

export interface SdpaOptions {
  /** Multiplies Q·Kᵀ; default 1/√d. */
  scale?: number;
  /** Additive mask broadcastable to [B, H, n, m] (rank 2 to 4); -inf entries exclude keys. */
  mask?: Tensor;
}

/** The same options with the mask on the host (CPU references). */
export interface HostSdpaOptions {
  scale?: number;
  mask?: HostTensor;
}

export interface SdpaPlan extends Plan {
  B: number;
  H: number;
  n: number;
  m: number;
  d: number;
  dv: number;
  scale: number;
  /** Element strides of the mask over (b, h, row, key), 0 where broadcast; null without a mask. */
  maskStrides: number[] | null;
}

const kernels = {
  forward: { name: 'sdpa_forward', code: `${forwardWgsl}\n${commonWgsl}` },
  query: { name: 'sdpa_backward_query', code: `${backwardQueryWgsl}\n${commonWgsl}` },
  keyValue: { name: 'sdpa_backward_keyvalue', code: `${backwardKeyValueWgsl}\n${commonWgsl}` },
  forwardTexture: { name: 'sdpa_forward_texture', code: `${forwardTextureWgsl}\n${commonWgsl}` },
  queryTexture: { name: 'sdpa_backward_query_texture', code: `${backwardQueryTextureWgsl}\n${commonWgsl}` },
  keyValueTexture: { name: 'sdpa_backward_keyvalue_texture', code: `${backwardKeyValueTextureWgsl}\n${commonWgsl}` },
  // The matmul operand packer: rows × cols of each layer into zero-padded rgba32float texels.
  pack: { name: 'matmul_pack', code: packWgsl },
};

// ------------------------------------------------------------------------------------------- checks

function checkSdpa(op: string, q: TensorMeta, k: TensorMeta, v: TensorMeta, options: { scale?: number; mask?: TensorMeta } = {}): SdpaPlan {
  const all = () => `q ${fmtShape(q.shape)}, k ${fmtShape(k.shape)}, v ${fmtShape(v.shape)}`;
  for (const [t, what] of [[q, 'q'], [k, 'k'], [v, 'v']] as const) {
    assert(t.dtype === 'f32', op, () => `${what} must be f32, got ${t.dtype} ${fmtShape(t.shape)}`);
    assert(t.shape.length === 4, op, () => `expects rank-4 q [B, H, n, d], k [B, H, m, d], v [B, H, m, dv]; got ${all()} (reshape a single head to [B, 1, n, d])`);
  }
  const [B, H, n, d] = q.shape as [number, number, number, number];
  const m = k.shape[2]!;
  const dv = v.shape[3]!;
  assert(k.shape[0] === B && k.shape[1] === H && v.shape[0] === B && v.shape[1] === H, op, () => `batch and head axes differ: ${all()} (expected [${B}, ${H}, …] for all three)`);
  assert(k.shape[3] === d, op, () => `q and k feature sizes differ: ${all()} (q has d = ${d}, k has ${k.shape[3]})`);
  assert(v.shape[2] === m, op, () => `k and v key counts differ: ${all()} (k has m = ${m}, v has ${v.shape[2]})`);
  assert(d > 0, op, () => `feature size d must be positive: ${all()}`);
  const scale = options.scale ?? 1 / Math.sqrt(d);
  assert(typeof scale === 'number' && Number.isFinite(scale), op, () => `scale must be a finite number, got ${String(options.scale)}`);
  let maskStrides: number[] | null = null;
  const mask = options.mask;
  if (mask) {
    const target = [B, H, n, m];
    const ok = mask.shape.length >= 2 && mask.shape.length <= 4 && mask.shape.every((s, i) => s === 1 || s === target[target.length - mask.shape.length + i]);
    assert(mask.dtype === 'f32', op, () => `mask must be f32 (additive, -inf to exclude), got ${mask.dtype} ${fmtShape(mask.shape)}`);
    assert(ok, op, () => `mask ${fmtShape(mask.shape)} does not broadcast to [B, H, n, m] = ${fmtShape(target)} (rank 2 to 4, each axis 1 or equal) for ${all()}`);
    maskStrides = broadcastStrides(mask.shape, target);
  }
  return { shape: [B, H, n, dv], dtype: 'f32', B, H, n, m, d, dv, scale, maskStrides };
}

function checkBackward(op: string, dout: TensorMeta, q: TensorMeta, k: TensorMeta, v: TensorMeta, out: TensorMeta, lse: TensorMeta, options?: { scale?: number; mask?: TensorMeta }): SdpaPlan {
  const plan = checkSdpa(op, q, k, v, options);
  const want = fmtShape(plan.shape);
  assert(dout.dtype === 'f32' && dout.shape.join() === plan.shape.join(), op, () => `dout must be f32 ${want} (the output's shape), got ${dout.dtype} ${fmtShape(dout.shape)}`);
  assert(out.dtype === 'f32' && out.shape.join() === plan.shape.join(), op, () => `out must be f32 ${want} (the forward's output), got ${out.dtype} ${fmtShape(out.shape)}`);
  const lseShape = [plan.B, plan.H, plan.n];
  assert(lse.dtype === 'f32' && lse.shape.join() === lseShape.join(), op, () => `lse must be f32 ${fmtShape(lseShape)} (the forward's row log-sum-exp), got ${lse.dtype} ${fmtShape(lse.shape)}`);
  return plan;
}

// ------------------------------------------------------------------------------------------ planning

/**
 * The kernel family of one launch. `texture` and `single`: the workgroup is exactly one subgroup (devices
 * with a fixed subgroup size), each lane holds features/SG of every row or key it owns, tiles are reduced by
 * subgroupAdd alone (no workgroup memory, no barrier — on CPU adapters such as lavapipe barriers are the main
 * cost, and they make compiles slow); `texture` also reads its operands from textures. `subgroup`: about 8
 * features per invocation over 32–256 invocations, subgroupAdd then one row per subgroup in workgroup memory.
 * `workgroup`: the same with workgroup memory only.
 */
type Mode = 'texture' | 'single' | 'subgroup' | 'workgroup';
type VariantName = 'single-texture' | 'single' | 'subgroup' | 'workgroup';

/** The families a variant tries in order: the single-subgroup ones step aside when a lane's state or the textures would be too large. */
const FAMILIES: Record<VariantName, Mode[]> = {
  'single-texture': ['texture', 'single', 'subgroup', 'workgroup'],
  single: ['single', 'subgroup', 'workgroup'],
  subgroup: ['subgroup', 'workgroup'],
  workgroup: ['workgroup'],
};

interface Tiles {
  mode: Mode;
  WG: number;
  BR: number;
  BC: number;
  /** Features per invocation (buffer kernels) or feature quads per lane (texture kernels). */
  QPT: number;
  CPT: number;
  NP: number;
  SLOTS: number;
}

type Kind = 'forward' | 'query' | 'keyValue';

function pow2Ceil(x: number): number {
  return 2 ** Math.ceil(Math.log2(Math.max(1, x)));
}

/**
 * Floats a lane of a single-subgroup kernel keeps for its rows (or keys): tiles grow while they fit. The buffer
 * forward takes more: with 8 rows instead of 2 per workgroup it reads K and V a quarter as often (lavapipe,
 * n = 16, d = 512: 0.52 ms against 0.87 ms); the texture kernels and the backward ones measured slower with
 * larger tiles (n = 196: the texture forward 3× slower).
 */
const SINGLE_BUDGET = 256;
const SINGLE_FORWARD_BUDGET = 1024;
/**
 * Beyond this for one row (or key), a single-subgroup kernel gives way to the next family. The texture kernels'
 * loops are unrolled by the compiler, and past this size compiles take many seconds; the buffer kernels' loops
 * then stay rolled, so they take wide features (M5's 2048) and compile quickly.
 */
const SINGLE_MAX = { texture: 512, single: 2048 };
/** Staging pays off only when the kernel reads each K/V (or Q/dO) row at least this many times, */
const MIN_REUSE = 4;
/**
 * and, for the forward, when the problem is big enough (multiply-adds per (batch, head)) that three more
 * dispatches do not dominate (measured on lavapipe: at n = 16, d = 512 the buffer forward takes 1.0 ms against
 * 2.3 ms staged, while the staged backward takes 1.4 ms against 3.6 ms).
 */
const MIN_TEXTURE_WORK = 2 ** 20;

function planTiles(engine: Engine, mode: Mode, kind: Kind, plan: SdpaPlan): Tiles | null {
  const { d, dv } = plan;
  const minSg = Math.max(1, engine.adapter.subgroupMinSize ?? 4);
  if (mode === 'texture' || mode === 'single') {
    const WG = engine.fixedSubgroupSize;
    if (WG === undefined || !engine.features.has('subgroups')) return null;
    const tex = mode === 'texture';
    // Per-lane floats for one query row's q (and dO) or one key's k and v slices.
    const QPT = tex ? Math.ceil(Math.ceil(d / 4) / WG) : Math.ceil(d / WG);
    const CPT = tex ? Math.ceil(Math.ceil(dv / 4) / WG) : Math.ceil(dv / WG);
    const qf = tex ? 4 * QPT : QPT;
    const cf = tex ? 4 * CPT : CPT;
    const unit = kind === 'forward' ? qf + cf : kind === 'query' ? 2 * qf + cf : 2 * (qf + cf) + (tex ? qf + cf : 0);
    if (unit > SINGLE_MAX[mode]) return null;
    const fit = (perUnit: number, len: number) => {
      let t = Math.min(8, pow2Ceil(len));
      const budget = !tex && kind === 'forward' ? SINGLE_FORWARD_BUDGET : SINGLE_BUDGET;
      while (t > 1 && t * perUnit > budget) t /= 2;
      return t;
    };
    let BR: number;
    let BC: number;
    // Texture kernels take 2 keys a tile (lavapipe, n = 196, d = 512: the forward 10.3 ms against 11.9 with 4; the
    // query kernel, which keeps its tile's k quads for dQ, 14 ms against 22 with 4 keys and K read twice).
    if (kind === 'forward') [BR, BC] = [fit(qf + cf, plan.n), tex ? 2 : 4];
    else if (kind === 'query') [BR, BC] = [fit(2 * qf + cf, plan.n), tex ? 2 : 4];
    else [BR, BC] = [tex ? 1 : 4, fit(2 * (qf + cf), plan.m)];
    const NP = kind === 'forward' ? BR * BC : 2 * BR * BC;
    return { mode, WG, BR, BC, QPT, CPT, NP, SLOTS: 1 };
  }
  if (mode === 'subgroup' && !engine.features.has('subgroups')) return null;
  const maxInv = Math.min(256, engine.limits.maxComputeInvocationsPerWorkgroup);
  let WG = Math.min(mode === 'workgroup' ? 64 : maxInv, Math.max(32, pow2Ceil(Math.ceil(Math.max(d, dv) / 8))));
  let BR: number;
  let BC: number;
  let NP: number;
  if (kind === 'forward') [BR, BC] = [Math.min(4, pow2Ceil(plan.n)), mode === 'workgroup' ? 4 : 8];
  else if (kind === 'query') [BR, BC] = [Math.min(4, pow2Ceil(plan.n)), 4];
  else [BR, BC] = [4, Math.min(4, pow2Ceil(plan.m))];
  NP = kind === 'forward' ? BR * BC : 2 * BR * BC;
  const budget = engine.limits.maxComputeWorkgroupStorageSize;
  const bytes = (wg: number) => 4 * NP * ((mode === 'subgroup' ? Math.ceil(wg / minSg) : wg) + 1) + 16;
  while (bytes(WG) > budget && WG > 8) WG /= 2;
  return { mode, WG, BR, BC, QPT: Math.ceil(d / WG), CPT: Math.ceil(dv / WG), NP, SLOTS: Math.max(1, Math.ceil(WG / minSg)) };
}

/** Rows of the staging textures: a multiple of every tile height (≤ 8). */
function padRows(x: number): number {
  return Math.max(8, Math.ceil(x / 8) * 8);
}

/** Whether the texture kernel fits the texture limits and re-reads its operands enough to repay the staging. */
function texturesFit(engine: Engine, t: Tiles, kind: Kind, plan: SdpaPlan): boolean {
  const dim = engine.limits.maxTextureDimension2D;
  const layers = plan.B * plan.H;
  const reuse = kind === 'keyValue' ? Math.ceil(plan.m / t.BC) : Math.ceil(plan.n / t.BR);
  return (
    reuse >= MIN_REUSE &&
    (kind !== 'forward' || plan.n * plan.m * (plan.d + plan.dv) >= MIN_TEXTURE_WORK) &&
    engine.limits.maxStorageTexturesPerShaderStage >= 4 &&
    Math.max(t.QPT, t.CPT) * t.WG <= dim &&
    padRows(Math.max(plan.n, plan.m)) <= dim &&
    layers > 0 &&
    layers <= engine.limits.maxTextureArrayLayers
  );
}

/** The first family of the variant that can run this kernel on this problem. */
function choose(engine: Engine, variant: VariantName, kind: Kind, plan: SdpaPlan): Tiles {
  for (const mode of FAMILIES[variant]) {
    const t = planTiles(engine, mode, kind, plan);
    if (t && (mode !== 'texture' || texturesFit(engine, t, kind, plan))) return t;
  }
  throw new Error(`sdpa: no kernel family of variant '${variant}' runs ${shapeLabel(plan)} on this device`);
}

function uniforms(plan: SdpaPlan, blocks: number, t?: Tiles): Uniforms {
  return new Uniforms()
    .u32(plan.B, plan.H, plan.n, plan.m, plan.d, plan.dv, blocks, 0)
    .f32(plan.scale, -Infinity)
    .u32(t?.QPT ?? 0, t?.CPT ?? 0)
    .u32Array(plan.maskStrides ?? [0, 0, 0, 0], 1);
}

/** CPU adapters (lavapipe, SwiftShader), where the buffer kernels' feature loops stay rolled. */
function cpuAdapter(engine: Engine): boolean {
  return engine.adapter.isFallbackAdapter || engine.adapter.architecture === 'software';
}

function defines(engine: Engine, t: Tiles, plan: SdpaPlan): Record<string, number | string> {
  const tex = t.mode === 'texture';
  const rolled = !tex && cpuAdapter(engine);
  return {
    QB: rolled ? 'params.qpt' : 'QPT',
    CB: rolled ? 'params.cpt' : 'CPT',
    WG: t.WG,
    BR: t.BR,
    BC: t.BC,
    ...(tex ? { QQ: t.QPT, CQ: t.CPT } : { QPT: t.QPT, CPT: t.CPT }),
    NP: t.NP,
    SLOTS: t.SLOTS,
    SUBGROUPS: t.mode === 'workgroup' ? 0 : 1,
    SINGLE: t.mode === 'single' || tex ? 1 : 0,
    MASK: plan.maskStrides ? 1 : 0,
  };
}

function shapeLabel(plan: SdpaPlan): string {
  return `[${plan.B}, ${plan.H}] n ${plan.n} m ${plan.m} d ${plan.d} dv ${plan.dv}${plan.maskStrides ? ' masked' : ''}`;
}

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

/** The backward kernels: the query side always (it computes the row deltas), the key/value side when asked. */
function launchBackward(engine: Engine, b: BackwardInputs, want: { kv: boolean }): { dq: Tensor; dk: Tensor | null; dv: Tensor | null } {
  const { plan } = b;
  const variant = variantOf(engine);
  const dq = engine.empty(b.q.shape);
  const delta = engine.empty([plan.B, plan.H, plan.n]);
  const tq = choose(engine, variant, 'query', plan);
  const tk = want.kv ? choose(engine, variant, 'keyValue', plan) : null;
  const label = `sdpaBackward ${shapeLabel(plan)}`;
  // Both kernels read the same staged textures when both are texture kernels.
  const needTex = tq.mode === 'texture' || tk?.mode === 'texture';
  const staged = needTex ? stageAll(engine, tq.mode === 'texture' ? tq : tk!, plan, label, [[b.q, plan.n, 'q'], [b.k, plan.m, 'q'], [b.v, plan.m, 'v'], [b.dout, plan.n, 'v']]) : null;
  try {
    const rowBlocks = Math.ceil(plan.n / tq.BR);
    const qBindings = tq.mode === 'texture' ? [...staged!.views, b.out.binding()] : [b.q.binding(), b.k.binding(), b.v.binding(), b.out.binding(), b.dout.binding()];
    engine.runtime.dispatch({
      kernel: tq.mode === 'texture' ? kernels.queryTexture : kernels.query,
      defines: defines(engine, tq, plan),
      label: `${label} query[${tq.mode}]`,
      uniforms: uniforms(plan, rowBlocks, tq),
      bindings: [...qBindings, b.lse, delta.binding(), dq.binding(), ...maskBindings(b.mask)],
      grid: plan.B * plan.H * rowBlocks,
    });
    if (!tk) return { dq, dk: null, dv: null };
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
    return { dq, dk, dv };
  } finally {
    delta.dispose();
    staged?.release();
  }
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

// ------------------------------------------------------------------------------------- CPU references

function hostMask(op: string, options: { mask?: unknown } | undefined): HostTensor | undefined {
  const mask = options?.mask;
  assert(mask === undefined || mask instanceof HostTensor, op, () => 'the CPU reference needs the mask as a HostTensor');
  return mask;
}

/** Scaled, masked scores of one (b, h) row in float64. */
function scoresRow(plan: SdpaPlan, q: HostTensor, k: HostTensor, mask: HostTensor | undefined, b: number, h: number, r: number, into: Float64Array): void {
  const { H, n, m, d } = plan;
  const bh = b * H + h;
  const qo = (bh * n + r) * d;
  const ms = plan.maskStrides;
  for (let c = 0; c < m; c++) {
    const ko = (bh * m + c) * d;
    let s = 0;
    for (let i = 0; i < d; i++) s += q.data[qo + i]! * k.data[ko + i]!;
    s *= plan.scale;
    if (mask && ms) s += mask.data[b * ms[0]! + h * ms[1]! + r * ms[2]! + c * ms[3]!]!;
    into[c] = s;
  }
}

function forwardRef(plan: SdpaPlan, q: HostTensor, k: HostTensor, v: HostTensor, mask: HostTensor | undefined): { out: HostTensor; lse: HostTensor } {
  const { B, H, n, m, dv } = plan;
  const out = HostTensor.zeros(plan.shape);
  const lse = HostTensor.zeros([B, H, n]);
  const s = new Float64Array(m);
  const acc = new Float64Array(dv);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const bh = b * H + h;
      for (let r = 0; r < n; r++) {
        scoresRow(plan, q, k, mask, b, h, r, s);
        const mx = s.reduce((a, x) => Math.max(a, x), -Infinity);
        if (mx === -Infinity) {
          lse.data[bh * n + r] = -Infinity;
          continue; // every key masked: output stays 0
        }
        acc.fill(0);
        let sum = 0;
        for (let c = 0; c < m; c++) {
          const p = Math.exp(s[c]! - mx);
          sum += p;
          const vo = (bh * m + c) * dv;
          for (let j = 0; j < dv; j++) acc[j] += p * v.data[vo + j]!;
        }
        const oo = (bh * n + r) * dv;
        for (let j = 0; j < dv; j++) out.data[oo + j] = acc[j]! / sum;
        lse.data[bh * n + r] = mx + Math.log(sum);
      }
    }
  }
  return { out, lse };
}

/** dq, dk, dv from the given out and lse (as the kernels use them), in float64. */
function backwardRef(plan: SdpaPlan, dout: HostTensor, q: HostTensor, k: HostTensor, v: HostTensor, out: HostTensor, lse: HostTensor, mask: HostTensor | undefined): { dq: HostTensor; dk: HostTensor; dv: HostTensor } {
  const { B, H, n, m, d, dv } = plan;
  const dq = new Float64Array(q.size);
  const dk = new Float64Array(k.size);
  const dvv = new Float64Array(v.size);
  const s = new Float64Array(m);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const bh = b * H + h;
      for (let r = 0; r < n; r++) {
        scoresRow(plan, q, k, mask, b, h, r, s);
        const l = lse.data[bh * n + r]!;
        const oo = (bh * n + r) * dv;
        let delta = 0;
        for (let j = 0; j < dv; j++) delta += dout.data[oo + j]! * out.data[oo + j]!;
        for (let c = 0; c < m; c++) {
          const p = l === -Infinity || s[c] === -Infinity ? 0 : Math.exp(s[c]! - l);
          if (p === 0) continue;
          const vo = (bh * m + c) * dv;
          let dp = 0;
          for (let j = 0; j < dv; j++) {
            dp += dout.data[oo + j]! * v.data[vo + j]!;
            dvv[vo + j] += p * dout.data[oo + j]!;
          }
          const ds = p * (dp - delta) * plan.scale;
          const qo = (bh * n + r) * d;
          const ko = (bh * m + c) * d;
          for (let i = 0; i < d; i++) {
            dq[qo + i] += ds * k.data[ko + i]!;
            dk[ko + i] += ds * q.data[qo + i]!;
          }
        }
      }
    }
  }
  return { dq: HostTensor.from(dq, q.shape), dk: HostTensor.from(dk, k.shape), dv: HostTensor.from(dvv, v.shape) };
}

// ------------------------------------------------------------------------------------------------ ops

type SdpaArgs = [q: Tensor, k: Tensor, v: Tensor, options?: SdpaOptions];
type BackwardArgs = [dout: Tensor, q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor, options?: SdpaOptions];

function refuseMaskGrad(op: string, options: SdpaOptions | undefined): void {
  const mask = options?.mask;
  if (mask && mask.requiresGrad && isGradEnabled()) throw new ShapeError(op, `the mask ${fmtShape(mask.shape)} requires a gradient, which sdpa does not compute; detach() it`);
}

/** softmax(scale·Q·Kᵀ + mask)·V: q [B, H, n, d], k [B, H, m, d], v [B, H, m, dv] → [B, H, n, dv]. */
export const sdpa: Op<SdpaArgs, SdpaPlan> = defineOp<SdpaArgs, SdpaPlan>({
  name: 'sdpa',
  check(q, k, v, options) {
    refuseMaskGrad('sdpa', options as SdpaOptions | undefined);
    return checkSdpa('sdpa', q, k, v, options);
  },
  gpu(plan, q, k, v, options) {
    const engine = q.engine;
    return (engine.variants.pick(sdpaKernel).run(engine, { plan, q, k, v, mask: options?.mask }) as Tensor);
  },
  cpu: (plan, q, k, v, options) => forwardRef(plan, q, k, v, hostMask('sdpa', options)).out,
  backward: {
    save: ([q, k, v, options], out) => [q, k, v, out, ...(options?.mask ? [options.mask] : [])],
    grad({ plan, saved, needsGrad }, dy) {
      const [q, k, v, out, mask] = saved as [Tensor, Tensor, Tensor, Tensor, Tensor | undefined];
      const engine = q.engine;
      const wantKv = Boolean(needsGrad[1] || needsGrad[2]);
      const g = launchBackward(engine, { plan, q, k, v, mask, dout: dy, out, lse: lseTail(out, 'sdpa backward') }, { kv: wantKv });
      const grads: (Tensor | null)[] = [g.dq, g.dk, g.dv];
      if (mask) grads.push(null);
      return grads;
    },
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

/** Gradient of sdpa to q, from the forward's out and lse (the fused pair is `sdpaBackward`). */
export const sdpaBackwardQuery = backwardOp('sdpaBackwardQuery', 'dq');
/** Gradient of sdpa to k. */
export const sdpaBackwardKey = backwardOp('sdpaBackwardKey', 'dk');
/** Gradient of sdpa to v. */
export const sdpaBackwardValue = backwardOp('sdpaBackwardValue', 'dv');

type Grads = 'dq' | 'dk' | 'dv';
interface BackwardMultiPlan extends MultiPlan<Grads> {
  plan: SdpaPlan;
}

/** All three gradients of sdpa in two kernels (query side, then key/value side), from the forward's out and lse. */
export const sdpaBackward: MultiOp<BackwardArgs, Grads, BackwardMultiPlan> = defineMultiOp<BackwardArgs, Grads, BackwardMultiPlan>({
  name: 'sdpaBackward',
  check(dout, q, k, v, out, lse, options) {
    const plan = checkBackward('sdpaBackward', dout, q, k, v, out, lse, options);
    return { plan, outputs: { dq: { shape: q.shape, dtype: 'f32' }, dk: { shape: k.shape, dtype: 'f32' }, dv: { shape: v.shape, dtype: 'f32' } } };
  },
  gpu({ plan }, dout, q, k, v, out, lse, options) {
    const g = launchBackward(q.engine, { plan, q, k, v, mask: options?.mask, dout, out, lse: lse.binding() }, { kv: true });
    return { dq: g.dq, dk: g.dk!, dv: g.dv! };
  },
  cpu: ({ plan }, dout, q, k, v, out, lse, options) => backwardRef(plan, dout, q, k, v, out, lse, hostMask('sdpaBackward', options)),
});

/** CPU reference of sdpaBackward with a host mask (typed wrapper over `sdpaBackward.cpu`). */
export function sdpaBackwardCpu(dout: HostTensor, q: HostTensor, k: HostTensor, v: HostTensor, out: HostTensor, lse: HostTensor, options?: HostSdpaOptions): { dq: HostTensor; dk: HostTensor; dv: HostTensor } {
  return sdpaBackward.cpu(dout, q, k, v, out, lse, options as unknown as SdpaOptions);
}
