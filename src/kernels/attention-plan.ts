/**
 * SDPA's option types, shape checks and launch planning: which kernel family (see attention.ts) runs a launch,
 * its tile sizes, defines and uniforms.
 */
import type { Engine } from '../device/engine.js';
import { assert, fmtShape } from '../device/errors.js';
import type { HostTensor, TensorMeta } from '../graph/host.js';
import { broadcastStrides } from '../graph/shape.js';
import type { Tensor } from '../graph/tensor.js';
import type { Plan } from './op.js';
import { Uniforms } from './uniforms.js';

export interface SdpaOptions {
  /** Multiplies Q·Kᵀ; default 1/√d. */
  scale?: number;
  /**
   * A mask broadcastable to [B, H, n, m] (rank 2 to 4): f32 and additive (-inf excludes a key; it may require a
   * gradient, which is summed over its broadcast axes), or i32 / u32 and a keep mask (nonzero: attend; PyTorch's
   * boolean attn_mask).
   */
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
  /** 'add': an f32 additive mask; 'keep': an integer keep mask; null: none. */
  maskKind: 'add' | 'keep' | null;
}

// ------------------------------------------------------------------------------------------- checks

export function checkSdpa(op: string, q: TensorMeta, k: TensorMeta, v: TensorMeta, options: { scale?: number; mask?: TensorMeta } = {}): SdpaPlan {
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
    assert(mask.dtype === 'f32' || mask.dtype === 'i32' || mask.dtype === 'u32', op, () => `mask must be f32 (additive, -inf to exclude) or i32 / u32 (keep where nonzero), got ${mask.dtype} ${fmtShape(mask.shape)}`);
    assert(ok, op, () => `mask ${fmtShape(mask.shape)} does not broadcast to [B, H, n, m] = ${fmtShape(target)} (rank 2 to 4, each axis 1 or equal) for ${all()}`);
    maskStrides = broadcastStrides(mask.shape, target);
  }
  const maskKind = mask ? (mask.dtype === 'f32' ? 'add' : 'keep') : null;
  return { shape: [B, H, n, dv], dtype: 'f32', B, H, n, m, d, dv, scale, maskStrides, maskKind };
}

export function checkBackward(op: string, dout: TensorMeta, q: TensorMeta, k: TensorMeta, v: TensorMeta, out: TensorMeta, lse: TensorMeta, options?: { scale?: number; mask?: TensorMeta }): SdpaPlan {
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
export type Mode = 'texture' | 'single' | 'subgroup' | 'workgroup';
export type VariantName = 'single-texture' | 'single' | 'subgroup' | 'workgroup';

/** The families a variant tries in order: the single-subgroup ones step aside when a lane's state or the textures would be too large. */
export const FAMILIES: Record<VariantName, Mode[]> = {
  'single-texture': ['texture', 'single', 'subgroup', 'workgroup'],
  single: ['single', 'subgroup', 'workgroup'],
  subgroup: ['subgroup', 'workgroup'],
  workgroup: ['workgroup'],
};

export interface Tiles {
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

export type Kind = 'forward' | 'query' | 'keyValue';

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
export function padRows(x: number): number {
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
export function choose(engine: Engine, variant: VariantName, kind: Kind, plan: SdpaPlan): Tiles {
  for (const mode of FAMILIES[variant]) {
    const t = planTiles(engine, mode, kind, plan);
    if (t && (mode !== 'texture' || texturesFit(engine, t, kind, plan))) return t;
  }
  throw new Error(`sdpa: no kernel family of variant '${variant}' runs ${shapeLabel(plan)} on this device`);
}

export function uniforms(plan: SdpaPlan, blocks: number, t?: Tiles): Uniforms {
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

/** The kernel defines of one launch; DMASK: the query kernel also writes dS (the additive mask's gradient). */
export function defines(engine: Engine, t: Tiles, plan: SdpaPlan, dmask = false): Record<string, number | string> {
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
    KEEP: plan.maskKind === 'keep' ? 1 : 0,
    MASK_T: plan.maskKind === 'keep' ? 'u32' : 'f32',
    DMASK: dmask ? 1 : 0,
  };
}

export function shapeLabel(plan: SdpaPlan): string {
  return `[${plan.B}, ${plan.H}] n ${plan.n} m ${plan.m} d ${plan.d} dv ${plan.dv}${plan.maskKind === 'keep' ? ' keep-masked' : plan.maskKind ? ' masked' : ''}`;
}
