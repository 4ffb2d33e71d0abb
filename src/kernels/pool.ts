/**
 * Pooling over NHWC activations ([N, H, W, C]), forward and backward, PyTorch semantics:
 * - max pooling (window, stride, padding — symmetric, per side [top, bottom, left, right] or TF's 'same' —,
 *   ceil mode) with indices: i32, same shape as the output, each the
 *   flat position ih·W + iw of the winner within its image and channel (PyTorch's `return_indices` layout);
 * - average pooling with `countIncludePad` (default true, as PyTorch);
 * - global average / max over H×W → [N, C], or [N, 1, 1, C] with keepdim; max indices h·W + w;
 * - mean / max over channels → [N, H, W, 1] (CBAM's spatial branch); max indices are channels;
 * - adaptive average pooling to [N, OH, OW, C] (windows floor(o·H/OH) … ceil((o+1)·H/OH)).
 * Ties in max pooling go to the first element in scan order (window row-major; channels ascending). NaN
 * propagates as in PyTorch: window and global max take the last NaN (`val > max || isnan(val)`), the max over
 * channels the first (torch.max over a dimension).
 *
 * Every backward is a gather (each input element sums what it received), so there are no atomics. Kernels
 * read 4 channels as a vec4 when C % 4 == 0. The forward ops are differentiable under autograd (the max ones
 * recompute their indices in the backward from the saved input); `…WithIndices` multi-ops return values and
 * indices from one kernel for callers that drive the backward themselves.
 */
import { assert, fmtShape } from '../device/errors.js';
import { HostTensor, type TensorMeta } from '../graph/host.js';
import type { Tensor } from '../graph/tensor.js';
import windowWgsl from '../../shaders/pool_window.wgsl';
import windowBackwardWgsl from '../../shaders/pool_window_backward.wgsl';
import windowTiledWgsl from '../../shaders/pool_window_tiled.wgsl';
import globalWgsl from '../../shaders/pool_global.wgsl';
import channelWgsl from '../../shaders/pool_channel.wgsl';
import adaptiveWgsl from '../../shaders/pool_adaptive.wgsl';
import broadcastWgsl from '../../shaders/pool_broadcast_backward.wgsl';
import { nhwc, planColumns } from './batchnorm-kernels.js';
import { defineMultiOp, type MultiPlan } from './multi-op.js';
import { defineOp, type Plan } from './op.js';
import { Uniforms } from './uniforms.js';

const kernels = {
  window: { name: 'pool_window', code: windowWgsl },
  windowBackward: { name: 'pool_window_backward', code: windowBackwardWgsl },
  windowTiled: { name: 'pool_window_tiled', code: windowTiledWgsl },
  global: { name: 'pool_global', code: globalWgsl },
  channel: { name: 'pool_channel', code: channelWgsl },
  adaptive: { name: 'pool_adaptive', code: adaptiveWgsl },
  broadcast: { name: 'pool_broadcast_backward', code: broadcastWgsl },
};

const WG = 256;

export type Pair = number | readonly [number, number];

/**
 * Padding of a pooling window: n on every side, [h, w] (each on both sides), per side [top, bottom, left,
 * right], or TF's 'same' (output ⌈size/stride⌉, the odd extra row/column at the bottom/right) / 'valid' (none).
 */
export type PoolPadding = Pair | readonly [number, number, number, number] | 'same' | 'valid';

export interface Pool2dOptions {
  kernel: Pair;
  /** Default: the kernel size. */
  stride?: Pair;
  /** Zero (average) or −∞ (max) padding, each side at most half the window. Default 0. */
  padding?: PoolPadding;
  /** Output size rounds up (PyTorch's ceil_mode; a window starting in the right padding is dropped). */
  ceilMode?: boolean;
}

export interface AvgPool2dOptions extends Pool2dOptions {
  /** Divide by the window size including padding (default, as PyTorch) or by the in-bounds count. */
  countIncludePad?: boolean;
}

interface Dims {
  N: number;
  H: number;
  W: number;
  C: number;
  vec: 1 | 4;
  groups: number;
}

function dims(op: string, t: TensorMeta, what = 'input'): Dims {
  const d = nhwc(op, t, what);
  const vec = d.C % 4 === 0 ? 4 : 1;
  return { ...d, vec, groups: d.C / vec };
}

function shapeDims(op: string, shape: readonly number[]): Dims {
  assert(Array.isArray(shape) && shape.every((d) => Number.isInteger(d) && d >= 0), op, () => `input shape ${fmtShape(shape)} must hold non-negative integers`);
  return dims(op, { shape, dtype: 'f32' }, 'input shape');
}

function types(vec: 1 | 4): { T: string; I: string; B: string; VEC4: number } {
  return vec === 4 ? { T: 'vec4f', I: 'vec4i', B: 'vec4<bool>', VEC4: 1 } : { T: 'f32', I: 'i32', B: 'bool', VEC4: 0 };
}

/** n or [h, w]; any other length is refused rather than read as its first two entries. */
function pair(op: string, what: string, v: Pair): [number, number] {
  if (typeof v === 'number') return [v, v];
  assert(Array.isArray(v) && v.length === 2, op, () => `${what} must be a number or [h, w], got ${JSON.stringify(v)}`);
  return [v[0], v[1]];
}

// --------------------------------------------------------------------------------- windowed pooling

export interface WindowPlan extends Plan, Dims {
  OH: number;
  OW: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  /** Padding before (top, left) and after (bottom, right) the rows and columns. */
  pt: number;
  pb: number;
  pl: number;
  pr: number;
  includePad: boolean;
}

function outSize(size: number, k: number, s: number, before: number, after: number, ceil: boolean): number {
  const span = size + before + after - k;
  let o = (ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
  // PyTorch: with ceil mode the last window must start inside the input or its leading padding.
  if (ceil && (o - 1) * s >= size + before) o--;
  return o;
}

/** [top, bottom, left, right] from a PoolPadding, for an input of h × w. */
function sides(op: string, padding: PoolPadding, h: number, w: number, k: [number, number], s: [number, number]): number[] {
  if (padding === 'valid') return [0, 0, 0, 0];
  if (padding === 'same') {
    const total = (size: number, kk: number, ss: number) => Math.max((Math.ceil(size / ss) - 1) * ss + kk - size, 0);
    const [th, tw] = [total(h, k[0], s[0]), total(w, k[1], s[1])];
    return [th >> 1, th - (th >> 1), tw >> 1, tw - (tw >> 1)];
  }
  if (Array.isArray(padding) && padding.length === 4) return [...padding];
  assert(typeof padding === 'number' || (Array.isArray(padding) && padding.length === 2), op, () => `padding must be n, [h, w], [top, bottom, left, right], 'same' or 'valid', got ${JSON.stringify(padding)}`);
  const [ph, pw] = pair(op, 'padding', padding as Pair);
  return [ph, ph, pw, pw];
}

function planWindow(op: string, d: Dims, inputShape: readonly number[], o: AvgPool2dOptions): WindowPlan {
  assert(o && o.kernel !== undefined, op, () => 'options need a kernel size');
  const [kh, kw] = pair(op, 'kernel', o.kernel);
  const [sh, sw] = pair(op, 'stride', o.stride ?? o.kernel);
  const [pt, pb, pl, pr] = sides(op, o.padding ?? 0, d.H, d.W, [kh, kw], [sh, sw]);
  const desc = () => `input ${fmtShape(inputShape)}, kernel ${kh}×${kw}, stride ${sh}×${sw}, padding ${padLabel(pt, pb, pl, pr)}`;
  assert([kh, kw].every((k) => Number.isInteger(k) && k >= 1), op, () => `kernel sizes must be positive integers (${desc()})`);
  assert([sh, sw].every((s) => Number.isInteger(s) && s >= 1), op, () => `strides must be positive integers (${desc()})`);
  assert([pt, pb, pl, pr].every((p) => Number.isInteger(p) && p >= 0), op, () => `padding must be non-negative integers (${desc()})`);
  assert(2 * Math.max(pt, pb) <= kh && 2 * Math.max(pl, pr) <= kw, op, () => `padding must be at most half the kernel size on each side (${desc()})`);
  assert(kh <= d.H + pt + pb && kw <= d.W + pl + pr, op, () => `the window is larger than the padded input (${desc()}: padded ${d.H + pt + pb}×${d.W + pl + pr})`);
  const ceil = Boolean(o.ceilMode);
  const OH = outSize(d.H, kh, sh, pt, pb, ceil);
  const OW = outSize(d.W, kw, sw, pl, pr, ceil);
  return { ...d, shape: [d.N, OH, OW, d.C], dtype: 'f32', OH, OW, kh, kw, sh, sw, pt, pb, pl, pr, includePad: o.countIncludePad ?? true };
}

/** h×w when symmetric, else top,bottom,left,right. */
function padLabel(pt: number, pb: number, pl: number, pr: number): string {
  return pt === pb && pl === pr ? `${pt}×${pl}` : `[${pt}, ${pb}, ${pl}, ${pr}]`;
}

/** The shaders' uniform block; `a` and `b` are each kernel's own two launch fields. */
function windowUniforms(p: WindowPlan, items: number, a: number, b: number): Uniforms {
  return new Uniforms().u32(items, p.groups, p.H, p.W, p.OH, p.OW, p.kh, p.kw, p.sh, p.sw, p.pt, p.pl, p.includePad ? 1 : 0, a, b, p.pb, p.pr);
}

/** Invocations wanted per dispatch: enough for every core's SIMD lanes; each walks a run along a row. */
const TARGET_INVOCATIONS = 8192;

/** Splits rows of `length` items into runs so that about TARGET_INVOCATIONS invocations share the work. */
function runs(length: number, parallel: number): { segs: number; seg: number } {
  const segs = Math.max(1, Math.min(length, Math.ceil(TARGET_INVOCATIONS / Math.max(1, parallel))));
  const seg = Math.max(1, Math.ceil(length / segs));
  return { segs: Math.ceil(length / seg), seg };
}

/** Output tile of the compile-time-window kernel, and the largest input patch it unrolls. */
const TILE = 2;
const MAX_PATCH = 49;

/**
 * Forward launch. Small windows use shaders/pool_window_tiled.wgsl (window and stride compiled in, a 2×2
 * output tile per invocation sharing its loads: about a quarter fewer instructions for 3×3/2 on lavapipe);
 * larger ones the general kernel, where each invocation walks a run of outputs along a row.
 */
function launchWindow(p: WindowPlan, x: Tensor, max: boolean, indices: boolean, label: string): { y: Tensor; indices?: Tensor } {
  const engine = x.engine;
  const y = engine.empty(p.shape);
  const idx = indices ? engine.empty(p.shape, 'i32') : undefined;
  const bindings = [x.binding(), y.binding(), ...(idx ? [idx.binding()] : [])];
  const desc = `${label} ${fmtShape(x.shape)} k${p.kh}×${p.kw} s${p.sh}×${p.sw} p${padLabel(p.pt, p.pb, p.pl, p.pr)}`;
  const patch = ((TILE - 1) * p.sh + p.kh) * ((TILE - 1) * p.sw + p.kw);
  if (patch <= MAX_PATCH) {
    const tilesW = Math.ceil(p.OW / TILE);
    const tilesH = Math.ceil(p.OH / TILE);
    const items = p.N * tilesH * tilesW * p.groups;
    engine.runtime.dispatch({
      kernel: kernels.windowTiled,
      defines: { ...types(p.vec), MAX: max ? 1 : 0, INDICES: indices ? 1 : 0, KH: p.kh, KW: p.kw, SH: p.sh, SW: p.sw, TH: TILE, TW: TILE },
      label: desc,
      uniforms: windowUniforms(p, items, tilesW, tilesH),
      bindings,
      grid: Math.ceil(items / WG),
    });
  } else {
    const r = runs(p.OW, p.N * p.OH * p.groups);
    const items = p.N * p.OH * r.segs * p.groups;
    engine.runtime.dispatch({
      kernel: kernels.window,
      defines: { ...types(p.vec), MAX: max ? 1 : 0, INDICES: indices ? 1 : 0 },
      label: desc,
      uniforms: windowUniforms(p, items, r.segs, r.seg),
      bindings,
      grid: Math.ceil(items / WG),
    });
  }
  return idx ? { y, indices: idx } : { y };
}

/** Plain-loop max pooling: values and first-maximum indices. */
function maxPoolRef(p: WindowPlan, x: HostTensor): { y: HostTensor; indices: HostTensor } {
  const { N, H, W, C, OH, OW } = p;
  const y = HostTensor.zeros(p.shape);
  const indices = HostTensor.zeros(p.shape, 'i32');
  for (let n = 0; n < N; n++)
    for (let oh = 0; oh < OH; oh++)
      for (let ow = 0; ow < OW; ow++)
        for (let c = 0; c < C; c++) {
          let best = -Infinity;
          let bi = -1;
          for (let ky = 0; ky < p.kh; ky++) {
            const ih = oh * p.sh - p.pt + ky;
            if (ih < 0 || ih >= H) continue;
            for (let kx = 0; kx < p.kw; kx++) {
              const iw = ow * p.sw - p.pl + kx;
              if (iw < 0 || iw >= W) continue;
              const v = x.data[((n * H + ih) * W + iw) * C + c]!;
              if (bi < 0 || v > best || Number.isNaN(v)) {
                best = v;
                bi = ih * W + iw;
              }
            }
          }
          const o = ((n * OH + oh) * OW + ow) * C + c;
          y.data[o] = best;
          indices.data[o] = bi;
        }
  return { y, indices };
}

/** PyTorch's average-pool divisor for output (oh, ow). */
function avgDivisor(p: WindowPlan, oh: number, ow: number): number {
  const hs = oh * p.sh - p.pt;
  const ws = ow * p.sw - p.pl;
  const he = Math.min(hs + p.kh, p.H + p.pb);
  const we = Math.min(ws + p.kw, p.W + p.pr);
  if (p.includePad) return (he - hs) * (we - ws);
  return (Math.min(he, p.H) - Math.max(hs, 0)) * (Math.min(we, p.W) - Math.max(ws, 0));
}

/** Max pooling (differentiable: the backward recomputes the indices from the saved input). */
export const maxPool2d = defineOp<[x: Tensor, options: Pool2dOptions], WindowPlan>({
  name: 'maxPool2d',
  check: (x, o) => planWindow('maxPool2d', dims('maxPool2d', x), x.shape, o),
  gpu: (p, x) => launchWindow(p, x, true, false, 'maxPool2d').y,
  cpu: (p, x) => maxPoolRef(p, x).y,
  backward: {
    save: ([x]) => [x],
    grad({ args, saved }, dy) {
      const x = saved[0]!;
      const indices = maxPool2dIndices(x, args[1]);
      const dx = maxPool2dBackward(dy, indices, x.shape, args[1]);
      indices.dispose();
      return [dx];
    },
  },
});

/** The indices maxPool2d's values come from (i32, ih·W + iw per image and channel). */
export const maxPool2dIndices = defineOp<[x: Tensor, options: Pool2dOptions], WindowPlan>({
  name: 'maxPool2dIndices',
  differentiable: false,
  check: (x, o) => ({ ...planWindow('maxPool2dIndices', dims('maxPool2dIndices', x), x.shape, o), dtype: 'i32' }),
  gpu(p, x) {
    const r = launchWindow(p, x, true, true, 'maxPool2dIndices');
    r.y.dispose();
    return r.indices!;
  },
  cpu: (p, x) => maxPoolRef(p, x).indices,
});

type Pair2<P> = P & MultiPlan<'y' | 'indices'>;

function withIndicesPlan<P extends Plan>(p: P): Pair2<P> {
  return { ...p, outputs: { y: { shape: p.shape, dtype: 'f32' }, indices: { shape: p.shape, dtype: 'i32' } } };
}

/** Max pooling's values and indices from one kernel (for an explicit maxPool2dBackward; not recorded by autograd). */
export const maxPool2dWithIndices = defineMultiOp<[x: Tensor, options: Pool2dOptions], 'y' | 'indices', Pair2<WindowPlan>>({
  name: 'maxPool2dWithIndices',
  check: (x, o) => withIndicesPlan(planWindow('maxPool2dWithIndices', dims('maxPool2dWithIndices', x), x.shape, o)),
  gpu: (p, x) => launchWindow(p, x, true, true, 'maxPool2dWithIndices') as { y: Tensor; indices: Tensor },
  cpu: (p, x) => maxPoolRef(p, x),
});

function checkBackward(op: string, dy: TensorMeta, indices: TensorMeta | undefined, inputShape: readonly number[], o: AvgPool2dOptions): WindowPlan {
  const p = planWindow(op, shapeDims(op, inputShape), inputShape, o);
  nhwc(op, dy, 'dy');
  assert(dy.shape.join() === p.shape.join(), op, () => `dy ${fmtShape(dy.shape)} must have the pooled shape ${fmtShape(p.shape)} of input ${fmtShape(inputShape)}`);
  if (indices) assert(indices.dtype === 'i32' && indices.shape.join() === p.shape.join(), op, () => `indices must be i32 ${fmtShape(p.shape)}, got ${indices.dtype} ${fmtShape(indices.shape)}`);
  return { ...p, shape: [...inputShape] };
}

/** Input pixels per backward invocation: a stride-sized block (capped), see shaders/pool_window_backward.wgsl. */
const MAX_BLOCK = 16;

function launchWindowBackward(p: WindowPlan, dy: Tensor, indices: Tensor | undefined, label: string): Tensor {
  const engine = dy.engine;
  const dx = engine.empty(p.shape);
  let [bh, bw] = [p.sh, p.sw];
  if (bh * bw > MAX_BLOCK) [bh, bw] = [1, 1];
  const bhCount = Math.ceil(p.H / bh);
  const bwCount = Math.ceil(p.W / bw);
  const items = p.N * bhCount * bwCount * p.groups;
  engine.runtime.dispatch({
    kernel: kernels.windowBackward,
    defines: { ...types(p.vec), MAX: indices ? 1 : 0, BH: bh, BW: bw },
    label: `${label} ${fmtShape(p.shape)} k${p.kh}×${p.kw} s${p.sh}×${p.sw} p${padLabel(p.pt, p.pb, p.pl, p.pr)}`,
    uniforms: windowUniforms(p, items, bwCount, bhCount),
    bindings: [dy.binding(), ...(indices ? [indices.binding()] : []), dx.binding()],
    grid: Math.ceil(items / WG),
  });
  return dx;
}

/** Gradient of max pooling: each input element collects dy from the windows whose index names it. */
export const maxPool2dBackward = defineOp<[dy: Tensor, indices: Tensor, inputShape: readonly number[], options: Pool2dOptions], WindowPlan>({
  name: 'maxPool2dBackward',
  check: (dy, indices, inputShape, o) => checkBackward('maxPool2dBackward', dy, indices, inputShape, o),
  gpu: (p, dy, indices) => launchWindowBackward(p, dy, indices, 'maxPool2dBackward'),
  cpu(p, dy, indices) {
    const dx = HostTensor.zeros(p.shape);
    const { H, W, C, OH, OW } = p;
    for (let o = 0; o < dy.size; o++) {
      const c = o % C;
      const n = Math.floor(o / (C * OW * OH));
      dx.data[(n * H * W + indices.data[o]!) * C + c] += dy.data[o]!;
    }
    return dx;
  },
});

export const avgPool2d = defineOp<[x: Tensor, options: AvgPool2dOptions], WindowPlan>({
  name: 'avgPool2d',
  check: (x, o) => planWindow('avgPool2d', dims('avgPool2d', x), x.shape, o),
  gpu: (p, x) => launchWindow(p, x, false, false, 'avgPool2d').y,
  cpu(p, x) {
    const { N, H, W, C, OH, OW } = p;
    const y = HostTensor.zeros(p.shape);
    for (let n = 0; n < N; n++)
      for (let oh = 0; oh < OH; oh++)
        for (let ow = 0; ow < OW; ow++)
          for (let c = 0; c < C; c++) {
            let s = 0;
            for (let ky = 0; ky < p.kh; ky++) {
              const ih = oh * p.sh - p.pt + ky;
              if (ih < 0 || ih >= H) continue;
              for (let kx = 0; kx < p.kw; kx++) {
                const iw = ow * p.sw - p.pl + kx;
                if (iw >= 0 && iw < W) s += x.data[((n * H + ih) * W + iw) * C + c]!;
              }
            }
            y.data[((n * OH + oh) * OW + ow) * C + c] = s / avgDivisor(p, oh, ow);
          }
    return y;
  },
  backward: { grad: ({ args }, dy) => [avgPool2dBackward(dy, args[0].shape, args[1])] },
});

export const avgPool2dBackward = defineOp<[dy: Tensor, inputShape: readonly number[], options: AvgPool2dOptions], WindowPlan>({
  name: 'avgPool2dBackward',
  check: (dy, inputShape, o) => checkBackward('avgPool2dBackward', dy, undefined, inputShape, o),
  gpu: (p, dy) => launchWindowBackward(p, dy, undefined, 'avgPool2dBackward'),
  cpu(p, dy) {
    const { N, H, W, C, OH, OW } = p;
    const dx = HostTensor.zeros(p.shape);
    for (let n = 0; n < N; n++)
      for (let oh = 0; oh < OH; oh++)
        for (let ow = 0; ow < OW; ow++)
          for (let c = 0; c < C; c++) {
            const g = dy.data[((n * OH + oh) * OW + ow) * C + c]! / avgDivisor(p, oh, ow);
            for (let ky = 0; ky < p.kh; ky++) {
              const ih = oh * p.sh - p.pt + ky;
              if (ih < 0 || ih >= H) continue;
              for (let kx = 0; kx < p.kw; kx++) {
                const iw = ow * p.sw - p.pl + kx;
                if (iw >= 0 && iw < W) dx.data[((n * H + ih) * W + iw) * C + c] += g;
              }
            }
          }
    return dx;
  },
});

// ----------------------------------------------------------------------------------- global pooling

export interface GlobalPoolOptions {
  /** Keep the pooled axes as size 1: [N, 1, 1, C] (PyTorch's keepdim; AdaptiveAvgPool2d(1) in NHWC). Default [N, C]. */
  keepdim?: boolean;
}

interface GlobalPlan extends Plan, Dims {}

function planGlobal(op: string, x: TensorMeta, options: GlobalPoolOptions = {}): GlobalPlan {
  const d = dims(op, x);
  assert(d.H * d.W > 0, op, () => `cannot pool an empty image: input ${fmtShape(x.shape)}`);
  assert(options !== null && typeof options === 'object', op, () => `options must be { keepdim? }, got ${JSON.stringify(options)}`);
  return { ...d, shape: options.keepdim ? [d.N, 1, 1, d.C] : [d.N, d.C], dtype: 'f32' };
}

/** dy of a keepdim pool as the [N, C] the backward kernels take (a view). */
function flatDy(dy: Tensor): Tensor {
  return dy.rank === 4 ? dy.reshape([dy.shape[0]!, dy.shape[3]!]) : dy;
}

function withFlatDy(dy: Tensor, fn: (d: Tensor) => Tensor): Tensor {
  const d = flatDy(dy);
  try {
    return fn(d);
  } finally {
    if (d !== dy) d.dispose();
  }
}

function launchGlobal(p: GlobalPlan, x: Tensor, max: boolean, label: string): { y: Tensor; indices?: Tensor } {
  const engine = x.engine;
  const rows = p.H * p.W;
  const cp = planColumns(rows, p.C, p.N);
  const t = types(p.vec);
  const y = engine.empty(p.shape);
  const idx = max ? engine.empty(p.shape, 'i32') : undefined;
  const direct = cp.chunks === 1;
  const part = direct ? y : engine.empty([p.N, cp.chunks, p.C]);
  const partIdx = max ? (direct ? idx! : engine.empty([p.N, cp.chunks, p.C], 'i32')) : undefined;
  const desc = `${label} ${fmtShape(x.shape)}`;
  const scale = direct ? 1 / rows : 1;
  engine.runtime.dispatch({
    kernel: kernels.global,
    defines: { T: t.T, I: t.I, MAX: max ? 1 : 0, FOLD: 0 },
    label: direct ? desc : `${desc} partials`,
    uniforms: new Uniforms().u32(rows, cp.groups, cp.chunk, cp.chunks, cp.items).f32(scale),
    bindings: [x.binding(), part.binding(), ...(partIdx ? [partIdx.binding()] : [])],
    grid: Math.ceil(cp.items / WG),
  });
  if (!direct) {
    const items = p.N * cp.groups;
    engine.runtime.dispatch({
      kernel: kernels.global,
      defines: { T: t.T, I: t.I, MAX: max ? 1 : 0, FOLD: 1 },
      label: desc,
      uniforms: new Uniforms().u32(rows, cp.groups, cp.chunk, cp.chunks, items).f32(1 / rows),
      bindings: [part.binding(), y.binding(), ...(max ? [partIdx!.binding(), idx!.binding()] : [])],
      grid: Math.ceil(items / WG),
    });
    part.dispose();
    partIdx?.dispose();
  }
  return idx ? { y, indices: idx } : { y };
}

function globalRef(p: GlobalPlan, x: HostTensor, max: boolean): { y: HostTensor; indices: HostTensor } {
  const { N, C } = p;
  const rows = p.H * p.W;
  const y = HostTensor.zeros(p.shape);
  const indices = HostTensor.zeros(p.shape, 'i32');
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++) {
      let s = 0;
      let best = -Infinity;
      let bi = -1;
      for (let r = 0; r < rows; r++) {
        const v = x.data[(n * rows + r) * C + c]!;
        s += v;
        if (bi < 0 || v > best || Number.isNaN(v)) {
          best = v;
          bi = r;
        }
      }
      y.data[n * C + c] = max ? best : s / rows;
      indices.data[n * C + c] = bi;
    }
  return { y, indices };
}

/** Mean over H×W: [N, H, W, C] → [N, C] (keepdim: [N, 1, 1, C]). */
export const globalAvgPool2d = defineOp<[x: Tensor, options?: GlobalPoolOptions], GlobalPlan>({
  name: 'globalAvgPool2d',
  check: (x, o) => planGlobal('globalAvgPool2d', x, o),
  gpu: (p, x) => launchGlobal(p, x, false, 'globalAvgPool2d').y,
  cpu: (p, x) => globalRef(p, x, false).y,
  backward: { grad: ({ args }, dy) => [withFlatDy(dy, (d) => globalAvgPool2dBackward(d, args[0].shape))] },
});

/** Max over H×W: [N, H, W, C] → [N, C] (keepdim: [N, 1, 1, C]). */
export const globalMaxPool2d = defineOp<[x: Tensor, options?: GlobalPoolOptions], GlobalPlan>({
  name: 'globalMaxPool2d',
  check: (x, o) => planGlobal('globalMaxPool2d', x, o),
  gpu: (p, x) => launchGlobal(p, x, true, 'globalMaxPool2d').y,
  cpu: (p, x) => globalRef(p, x, true).y,
  backward: {
    save: ([x]) => [x],
    grad({ saved }, dy) {
      const x = saved[0]!;
      const indices = globalMaxPool2dIndices(x);
      const dx = withFlatDy(dy, (d) => globalMaxPool2dBackward(d, indices, x.shape));
      indices.dispose();
      return [dx];
    },
  },
});

/** Where globalMaxPool2d's values come from: i32 [N, C] (keepdim: [N, 1, 1, C]), h·W + w of the first maximum. */
export const globalMaxPool2dIndices = defineOp<[x: Tensor, options?: GlobalPoolOptions], GlobalPlan>({
  name: 'globalMaxPool2dIndices',
  differentiable: false,
  check: (x, o) => ({ ...planGlobal('globalMaxPool2dIndices', x, o), dtype: 'i32' }),
  gpu(p, x) {
    const r = launchGlobal(p, x, true, 'globalMaxPool2dIndices');
    r.y.dispose();
    return r.indices!;
  },
  cpu: (p, x) => globalRef(p, x, true).indices,
});

/** globalMaxPool2d's values and indices from one pass (not recorded by autograd). */
export const globalMaxPool2dWithIndices = defineMultiOp<[x: Tensor, options?: GlobalPoolOptions], 'y' | 'indices', Pair2<GlobalPlan>>({
  name: 'globalMaxPool2dWithIndices',
  check: (x, o) => withIndicesPlan(planGlobal('globalMaxPool2dWithIndices', x, o)),
  gpu: (p, x) => launchGlobal(p, x, true, 'globalMaxPool2dWithIndices') as { y: Tensor; indices: Tensor },
  cpu: (p, x) => globalRef(p, x, true),
});

interface SpreadPlan extends Plan, Dims {}

function checkGlobalBackward(op: string, dy: TensorMeta, indices: TensorMeta | undefined, inputShape: readonly number[]): SpreadPlan {
  const d = shapeDims(op, inputShape);
  const want = [d.N, d.C];
  assert(dy.dtype === 'f32' && dy.shape.join() === want.join(), op, () => `dy must be f32 ${fmtShape(want)} for input ${fmtShape(inputShape)}, got ${dy.dtype} ${fmtShape(dy.shape)}`);
  if (indices) assert(indices.dtype === 'i32' && indices.shape.join() === want.join(), op, () => `indices must be i32 ${fmtShape(want)}, got ${indices.dtype} ${fmtShape(indices.shape)}`);
  return { ...d, shape: [...inputShape], dtype: 'f32' };
}

function launchSpread(p: SpreadPlan, global: boolean, dy: Tensor, indices: Tensor | undefined, scale: number, label: string): Tensor {
  const engine = dy.engine;
  const dx = engine.empty(p.shape);
  const items = p.N * p.H * p.W * p.groups;
  engine.runtime.dispatch({
    kernel: kernels.broadcast,
    defines: { ...types(p.vec), GLOBAL: global ? 1 : 0, MAX: indices ? 1 : 0 },
    label: `${label} ${fmtShape(p.shape)}`,
    uniforms: new Uniforms().u32(items, p.groups, p.H * p.W).f32(scale),
    bindings: [dy.binding(), ...(indices ? [indices.binding()] : []), dx.binding()],
    grid: Math.ceil(items / WG),
  });
  return dx;
}

export const globalAvgPool2dBackward = defineOp<[dy: Tensor, inputShape: readonly number[]], SpreadPlan>({
  name: 'globalAvgPool2dBackward',
  check: (dy, inputShape) => checkGlobalBackward('globalAvgPool2dBackward', dy, undefined, inputShape),
  gpu: (p, dy) => launchSpread(p, true, dy, undefined, 1 / (p.H * p.W), 'globalAvgPool2dBackward'),
  cpu(p, dy) {
    const dx = HostTensor.zeros(p.shape);
    const rows = p.H * p.W;
    for (let i = 0; i < dx.size; i++) {
      const c = i % p.C;
      const n = Math.floor(i / (rows * p.C));
      dx.data[i] = dy.data[n * p.C + c]! / rows;
    }
    return dx;
  },
});

export const globalMaxPool2dBackward = defineOp<[dy: Tensor, indices: Tensor, inputShape: readonly number[]], SpreadPlan>({
  name: 'globalMaxPool2dBackward',
  check: (dy, indices, inputShape) => checkGlobalBackward('globalMaxPool2dBackward', dy, indices, inputShape),
  gpu: (p, dy, indices) => launchSpread(p, true, dy, indices, 1, 'globalMaxPool2dBackward'),
  cpu(p, dy, indices) {
    const dx = HostTensor.zeros(p.shape);
    const rows = p.H * p.W;
    for (let n = 0; n < p.N; n++)
      for (let c = 0; c < p.C; c++) dx.data[(n * rows + indices.data[n * p.C + c]!) * p.C + c] = dy.data[n * p.C + c]!;
    return dx;
  },
});

// ---------------------------------------------------------------------------------- channel pooling

interface ChannelPlan extends Plan, Dims {}

function planChannel(op: string, x: TensorMeta): ChannelPlan {
  const d = dims(op, x);
  assert(d.C > 0, op, () => `cannot pool over zero channels: input ${fmtShape(x.shape)}`);
  return { ...d, shape: [d.N, d.H, d.W, 1], dtype: 'f32' };
}

function launchChannel(p: ChannelPlan, x: Tensor, max: boolean, label: string): { y: Tensor; indices?: Tensor } {
  const engine = x.engine;
  const pixels = p.N * p.H * p.W;
  const y = engine.empty(p.shape);
  const idx = max ? engine.empty(p.shape, 'i32') : undefined;
  engine.runtime.dispatch({
    kernel: kernels.channel,
    defines: { ...types(p.vec), MAX: max ? 1 : 0 },
    label: `${label} ${fmtShape(x.shape)}`,
    uniforms: new Uniforms().u32(pixels, p.groups).f32(1 / p.C),
    bindings: [x.binding(), y.binding(), ...(idx ? [idx.binding()] : [])],
    grid: Math.ceil(pixels / WG),
  });
  return idx ? { y, indices: idx } : { y };
}

function channelRef(p: ChannelPlan, x: HostTensor, max: boolean): { y: HostTensor; indices: HostTensor } {
  const y = HostTensor.zeros(p.shape);
  const indices = HostTensor.zeros(p.shape, 'i32');
  for (let i = 0; i < y.size; i++) {
    let s = 0;
    let best = -Infinity;
    let bi = -1;
    for (let c = 0; c < p.C; c++) {
      const v = x.data[i * p.C + c]!;
      s += v;
      if (bi < 0 || (!Number.isNaN(best) && (v > best || Number.isNaN(v)))) {
        best = v;
        bi = c;
      }
    }
    y.data[i] = max ? best : s / p.C;
    indices.data[i] = bi;
  }
  return { y, indices };
}

/** Mean over channels: [N, H, W, C] → [N, H, W, 1]. */
export const channelMean = defineOp<[x: Tensor], ChannelPlan>({
  name: 'channelMean',
  check: (x) => planChannel('channelMean', x),
  gpu: (p, x) => launchChannel(p, x, false, 'channelMean').y,
  cpu: (p, x) => channelRef(p, x, false).y,
  backward: { grad: ({ args }, dy) => [channelMeanBackward(dy, args[0].shape)] },
});

/** Max over channels: [N, H, W, C] → [N, H, W, 1]. */
export const channelMax = defineOp<[x: Tensor], ChannelPlan>({
  name: 'channelMax',
  check: (x) => planChannel('channelMax', x),
  gpu: (p, x) => launchChannel(p, x, true, 'channelMax').y,
  cpu: (p, x) => channelRef(p, x, true).y,
  backward: {
    save: ([x]) => [x],
    grad({ saved }, dy) {
      const x = saved[0]!;
      const indices = channelMaxIndices(x);
      const dx = channelMaxBackward(dy, indices, x.shape);
      indices.dispose();
      return [dx];
    },
  },
});

/** The channel of each pixel's first maximum (i32 [N, H, W, 1]). */
export const channelMaxIndices = defineOp<[x: Tensor], ChannelPlan>({
  name: 'channelMaxIndices',
  differentiable: false,
  check: (x) => ({ ...planChannel('channelMaxIndices', x), dtype: 'i32' }),
  gpu(p, x) {
    const r = launchChannel(p, x, true, 'channelMaxIndices');
    r.y.dispose();
    return r.indices!;
  },
  cpu: (p, x) => channelRef(p, x, true).indices,
});

/** channelMax's values and indices from one pass (not recorded by autograd). */
export const channelMaxWithIndices = defineMultiOp<[x: Tensor], 'y' | 'indices', Pair2<ChannelPlan>>({
  name: 'channelMaxWithIndices',
  check: (x) => withIndicesPlan(planChannel('channelMaxWithIndices', x)),
  gpu: (p, x) => launchChannel(p, x, true, 'channelMaxWithIndices') as { y: Tensor; indices: Tensor },
  cpu: (p, x) => channelRef(p, x, true),
});

function checkChannelBackward(op: string, dy: TensorMeta, indices: TensorMeta | undefined, inputShape: readonly number[]): SpreadPlan {
  const d = shapeDims(op, inputShape);
  const want = [d.N, d.H, d.W, 1];
  assert(d.C > 0, op, () => `input shape ${fmtShape(inputShape)} has no channels`);
  assert(dy.dtype === 'f32' && dy.shape.join() === want.join(), op, () => `dy must be f32 ${fmtShape(want)} for input ${fmtShape(inputShape)}, got ${dy.dtype} ${fmtShape(dy.shape)}`);
  if (indices) assert(indices.dtype === 'i32' && indices.shape.join() === want.join(), op, () => `indices must be i32 ${fmtShape(want)}, got ${indices.dtype} ${fmtShape(indices.shape)}`);
  return { ...d, shape: [...inputShape], dtype: 'f32' };
}

export const channelMeanBackward = defineOp<[dy: Tensor, inputShape: readonly number[]], SpreadPlan>({
  name: 'channelMeanBackward',
  check: (dy, inputShape) => checkChannelBackward('channelMeanBackward', dy, undefined, inputShape),
  gpu: (p, dy) => launchSpread(p, false, dy, undefined, 1 / p.C, 'channelMeanBackward'),
  cpu(p, dy) {
    const dx = HostTensor.zeros(p.shape);
    for (let i = 0; i < dx.size; i++) dx.data[i] = dy.data[Math.floor(i / p.C)]! / p.C;
    return dx;
  },
});

export const channelMaxBackward = defineOp<[dy: Tensor, indices: Tensor, inputShape: readonly number[]], SpreadPlan>({
  name: 'channelMaxBackward',
  check: (dy, indices, inputShape) => checkChannelBackward('channelMaxBackward', dy, indices, inputShape),
  gpu: (p, dy, indices) => launchSpread(p, false, dy, indices, 1, 'channelMaxBackward'),
  cpu(p, dy, indices) {
    const dx = HostTensor.zeros(p.shape);
    for (let i = 0; i < dy.size; i++) dx.data[i * p.C + indices.data[i]!] = dy.data[i]!;
    return dx;
  },
});

// ---------------------------------------------------------------------------------- adaptive pooling

interface AdaptivePlan extends Plan, Dims {
  OH: number;
  OW: number;
}

function planAdaptive(op: string, d: Dims, inputShape: readonly number[], size: Pair): AdaptivePlan {
  const [OH, OW] = pair(op, 'output size', size);
  assert([OH, OW].every((s) => Number.isInteger(s) && s >= 1), op, () => `output size must be positive integers, got ${JSON.stringify(size)} for input ${fmtShape(inputShape)}`);
  assert(d.H > 0 && d.W > 0, op, () => `cannot pool an empty image: input ${fmtShape(inputShape)}`);
  return { ...d, shape: [d.N, OH, OW, d.C], dtype: 'f32', OH, OW };
}

function adaptiveWindows(size: number, out: number): [number, number][] {
  return Array.from({ length: out }, (_, o) => [Math.floor((o * size) / out), Math.ceil(((o + 1) * size) / out)]);
}

function launchAdaptive(p: AdaptivePlan, src: Tensor, bwd: boolean, label: string): Tensor {
  const engine = src.engine;
  const outShape = bwd ? [p.N, p.H, p.W, p.C] : p.shape;
  const dst = engine.empty(outShape);
  const items = (bwd ? p.N * p.H * p.W : p.N * p.OH * p.OW) * p.groups;
  engine.runtime.dispatch({
    kernel: kernels.adaptive,
    defines: { T: types(p.vec).T, BWD: bwd ? 1 : 0 },
    label: `${label} ${fmtShape([p.N, p.H, p.W, p.C])} → ${p.OH}×${p.OW}`,
    uniforms: new Uniforms().u32(items, p.groups, p.H, p.W, p.OH, p.OW),
    bindings: [src.binding(), dst.binding()],
    grid: Math.ceil(items / WG),
  });
  return dst;
}

/** Adaptive average pooling to [N, OH, OW, C] (PyTorch's window bounds). */
export const adaptiveAvgPool2d = defineOp<[x: Tensor, outputSize: Pair], AdaptivePlan>({
  name: 'adaptiveAvgPool2d',
  check: (x, size) => planAdaptive('adaptiveAvgPool2d', dims('adaptiveAvgPool2d', x), x.shape, size),
  gpu: (p, x) => launchAdaptive(p, x, false, 'adaptiveAvgPool2d'),
  backward: { grad: ({ args }, dy) => [adaptiveAvgPool2dBackward(dy, args[0].shape)] },
  cpu(p, x) {
    const { N, H, W, C, OH, OW } = p;
    const y = HostTensor.zeros(p.shape);
    const hw = adaptiveWindows(H, OH);
    const ww = adaptiveWindows(W, OW);
    for (let n = 0; n < N; n++)
      for (let oh = 0; oh < OH; oh++)
        for (let ow = 0; ow < OW; ow++) {
          const [h0, h1] = hw[oh]!;
          const [w0, w1] = ww[ow]!;
          for (let c = 0; c < C; c++) {
            let s = 0;
            for (let ih = h0; ih < h1; ih++) for (let iw = w0; iw < w1; iw++) s += x.data[((n * H + ih) * W + iw) * C + c]!;
            y.data[((n * OH + oh) * OW + ow) * C + c] = s / ((h1 - h0) * (w1 - w0));
          }
        }
    return y;
  },
});

export const adaptiveAvgPool2dBackward = defineOp<[dy: Tensor, inputShape: readonly number[]], AdaptivePlan>({
  name: 'adaptiveAvgPool2dBackward',
  check(dy, inputShape) {
    const op = 'adaptiveAvgPool2dBackward';
    const d = shapeDims(op, inputShape);
    const g = nhwc(op, dy, 'dy');
    assert(g.N === d.N && g.C === d.C, op, () => `dy ${fmtShape(dy.shape)} must have the batch and channels of input ${fmtShape(inputShape)}`);
    const p = planAdaptive(op, d, inputShape, [g.H, g.W]);
    return { ...p, shape: [...inputShape] };
  },
  gpu: (p, dy) => launchAdaptive(p, dy, true, 'adaptiveAvgPool2dBackward'),
  cpu(p, dy) {
    const { N, H, W, C, OH, OW } = p;
    const dx = HostTensor.zeros(p.shape);
    const hw = adaptiveWindows(H, OH);
    const ww = adaptiveWindows(W, OW);
    for (let n = 0; n < N; n++)
      for (let oh = 0; oh < OH; oh++)
        for (let ow = 0; ow < OW; ow++) {
          const [h0, h1] = hw[oh]!;
          const [w0, w1] = ww[ow]!;
          const area = (h1 - h0) * (w1 - w0);
          for (let c = 0; c < C; c++) {
            const g = dy.data[((n * OH + oh) * OW + ow) * C + c]! / area;
            for (let ih = h0; ih < h1; ih++) for (let iw = w0; iw < w1; iw++) dx.data[((n * H + ih) * W + iw) * C + c] += g;
          }
        }
    return dx;
  },
});
