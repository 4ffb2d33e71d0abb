/**
 * LayerNorm over the trailing axes `normalizedShape` (default: the last axis) with affine γ, β shaped like them
 * (either may be left out: 1 and 0, PyTorch's elementwise_affine=False): y = (x − mean)/√(var + eps)·γ + β, biased
 * variance, eps 1e-5 by default (PyTorch's). Rows are the leading axes flattened, columns the normalised ones. One kernel per row pass (shaders/layernorm.wgsl; thread- or workgroup-per-row
 * like softmax); the backward's γ/β gradients are column sums over rows, done in row chunks and then summed
 * (shaders/layernorm_params.wgsl).
 */
import type { Engine } from '../device/engine.js';
import { assert, fmtShape } from '../device/errors.js';
import { HostTensor, type TensorMeta } from '../graph/host.js';
import { sizeOf } from '../graph/shape.js';
import type { Tensor } from '../graph/tensor.js';
import layerNormWgsl from '../../shaders/layernorm.wgsl';
import paramsWgsl from '../../shaders/layernorm_params.wgsl';
import { lineLaunch, lineLayout, THREAD_VARIANT, WORKGROUP_VARIANT, type LineGeom, type LineLayout } from './lines.js';
import { defineMultiOp, type MultiPlan } from './multi-op.js';
import { defineOp, type Plan } from './op.js';
import type { Binding } from './runtime.js';
import { registerTunable, type TunableKernel } from './variants.js';
import { Uniforms } from './uniforms.js';

const kernel = { name: 'layernorm', code: layerNormWgsl };
const paramsKernel = { name: 'layernorm_params', code: paramsWgsl };
export const LAYER_NORM_EPS = 1e-5;
/** Invocations to aim for in the γ/β column sums. */
const TARGET_INVOCATIONS = 4096;

interface LnProblem {
  x: Tensor;
  gamma: Tensor;
  beta: Tensor;
}

export interface LayerNormOptions {
  /** The trailing axes normalised over, as PyTorch's normalized_shape (γ and β take this shape); default the last axis. */
  normalizedShape?: number | readonly number[];
  /** Added to the variance; default 1e-5. */
  eps?: number;
}

/** Thread- vs workgroup-per-row for medium shapes, measured on 1024 rows of 1000. */
export const layerNormKernel: TunableKernel<LnProblem> = registerTunable<LnProblem>({
  name: 'layerNorm',
  variants: [
    { name: THREAD_VARIANT, supported: () => true, run: (_e, p) => runForward(planFor('layerNorm', p.x, p.gamma, p.beta, {}), p.x, p.gamma, p.beta, false, 'thread').y },
    { name: WORKGROUP_VARIANT, supported: () => true, run: (_e, p) => runForward(planFor('layerNorm', p.x, p.gamma, p.beta, {}), p.x, p.gamma, p.beta, false, 'workgroup').y },
  ],
  sample(engine) {
    const x = engine.tensor(new Float32Array(1024 * 1000).map((_, i) => Math.sin(i)), [1024, 1000]);
    const gamma = engine.tensor(new Float32Array(1000).fill(1), [1000]);
    const beta = engine.tensor(new Float32Array(1000), [1000]);
    return { problem: { x, gamma, beta }, dispose: () => [x, gamma, beta].forEach((t) => t.dispose()) };
  },
});

interface LnPlan extends Plan {
  rows: number;
  cols: number;
  eps: number;
  /** The normalised trailing axes (γ's and β's shape). */
  normShape: readonly number[];
}

function planFor(op: string, x: TensorMeta, gamma: TensorMeta | undefined, beta: TensorMeta | undefined, options: LayerNormOptions = {}): LnPlan {
  assert(options !== null && typeof options === 'object', op, () => `options must be { normalizedShape?, eps? }, got ${JSON.stringify(options)} (eps is an option, not a positional argument)`);
  const given = [[x, 'x'], ...(gamma ? [[gamma, 'gamma'] as const] : []), ...(beta ? [[beta, 'beta'] as const] : [])] as const;
  for (const [t, what] of given) assert(t.dtype === 'f32', op, () => `${what} must be f32, got ${t.dtype} ${fmtShape(t.shape)}`);
  assert(x.shape.length >= 1, op, () => `x must have at least one axis, got ${fmtShape(x.shape)}`);
  const ns = options.normalizedShape;
  const normShape = ns === undefined ? [x.shape[x.shape.length - 1]!] : typeof ns === 'number' ? [ns] : [...ns];
  const k = normShape.length;
  const trailing = x.shape.slice(x.shape.length - k);
  assert(k >= 1 && k <= x.shape.length && normShape.every((d, i) => d === trailing[i]), op, () => `normalizedShape ${fmtShape(normShape)} must be the trailing axes of x ${fmtShape(x.shape)} (1 to ${x.shape.length} of them)`);
  const cols = sizeOf(normShape);
  assert(cols > 0, op, () => `the normalised axes ${fmtShape(normShape)} of x ${fmtShape(x.shape)} are empty`);
  for (const [t, what] of given.slice(1)) {
    assert(t.shape.join() === normShape.join(), op, () => `${what} must be ${fmtShape(normShape)} (normalizedShape) for x ${fmtShape(x.shape)}, got ${fmtShape(t.shape)}`);
  }
  const eps = options.eps ?? LAYER_NORM_EPS;
  assert(Number.isFinite(eps) && eps > 0, op, () => `eps must be a positive number, got ${eps}`);
  return { shape: x.shape, dtype: 'f32', rows: sizeOf(x.shape) / cols, cols, eps, normShape };
}

/** γ and β for a launch: the given ones, or ones / zeros; `done` frees the stand-ins. */
function affineOrIdentity(engine: Engine, p: LnPlan, gamma: Tensor | undefined, beta: Tensor | undefined): { gamma: Tensor; beta: Tensor; done(): void } {
  const g = gamma ?? engine.ones([p.cols]);
  const b = beta ?? engine.zeros([p.cols]);
  return { gamma: g, beta: b, done: () => [g !== gamma ? g : null, b !== beta ? b : null].forEach((t) => t?.dispose()) };
}

function layoutFor(engine: Engine, p: LnPlan): LineLayout {
  return lineLayout(engine, layerNormKernel as TunableKernel<unknown>, geom(p));
}

function geom(p: LnPlan): LineGeom {
  return { outer: p.rows, len: p.cols, inner: 1 };
}

function launch(p: LnPlan, layout: LineLayout) {
  const l = lineLaunch(geom(p), layout, p.cols % 4 === 0 ? 'row' : 'none');
  return { ...l, uniforms: new Uniforms().u32(p.rows, l.len).f32(p.cols, p.eps) };
}

/**
 * γ (and β) bound as uniform buffers of ⌈cols / 4⌉ vec4 where they fit and their buffers allow it (UBO in
 * layernorm.wgsl); otherwise as storage buffers.
 */
function paramBindings(engine: Engine, p: LnPlan, params: Tensor[]): { defines: Record<string, number>; bindings: Binding[] } {
  const gb = Math.ceil(p.cols / 4);
  const bytes = gb * 16;
  const ubo = bytes <= engine.limits.maxUniformBufferBindingSize && params.every((t) => (t.buffer.usage & GPUBufferUsage.UNIFORM) !== 0 && t.buffer.size >= bytes);
  if (!ubo) return { defines: { UBO: 0 }, bindings: params.map((t) => t.binding()) };
  return { defines: { UBO: 1, GB: gb }, bindings: params.map((t) => ({ buffer: t.buffer, offset: 0, size: bytes })) };
}

/**
 * Whether the thread layout shares γ/β columns across a subgroup (SHARE in layernorm.wgsl): needs subgroups of 8
 * to 64 lanes, so that lanes 0 … 7 exist and the 64-lane workgroup holds whole subgroups.
 */
function sharesColumns(engine: Engine, layout: LineLayout): boolean {
  const { subgroupMinSize: lo, subgroupMaxSize: hi } = engine.adapter;
  return layout === 'thread' && engine.features.has('subgroups') && lo !== undefined && hi !== undefined && lo >= 8 && hi <= 64;
}

/** Register slots for a row of `len` loaded units (0: too long, stream it twice). */
function regSize(len: number): number {
  return len <= 4 ? 4 : len <= 8 ? 8 : len <= 16 ? 16 : 0;
}

/** One statistic per row: x's shape without the normalised axes. */
function statsShape(p: LnPlan): number[] {
  return p.shape.slice(0, p.shape.length - p.normShape.length);
}

function runForward(p: LnPlan, x: Tensor, gammaArg: Tensor | undefined, betaArg: Tensor | undefined, save: boolean, layout?: LineLayout): { y: Tensor; mean?: Tensor; invstd?: Tensor } {
  const engine = x.engine;
  const y = engine.empty(x.shape);
  const mean = save ? engine.empty(statsShape(p)) : undefined;
  const invstd = save ? engine.empty(statsShape(p)) : undefined;
  if (p.rows === 0) return { y, mean, invstd };
  const chosen = layout ?? layoutFor(engine, p);
  const l = launch(p, chosen);
  const params = affineOrIdentity(engine, p, gammaArg, betaArg);
  const affine = paramBindings(engine, p, [params.gamma, params.beta]);
  const reg = chosen === 'thread' ? regSize(l.len) : 0;
  engine.runtime.dispatch({
    kernel,
    defines: { ...l.defines, ...affine.defines, FWD: 1, SAVE: save ? 1 : 0, REG: reg, SHARE: !reg && sharesColumns(engine, chosen) ? 1 : 0 },
    label: `layerNorm ${fmtShape(x.shape)}`,
    uniforms: l.uniforms,
    bindings: [x.binding(), ...affine.bindings, y.binding(), ...(mean && invstd ? [mean.binding(), invstd.binding()] : [])],
    grid: l.grid,
  });
  params.done();
  return { y, mean, invstd };
}

function cpuStats(p: LnPlan, x: HostTensor): { mean: Float64Array; invstd: Float64Array } {
  const mean = new Float64Array(p.rows);
  const invstd = new Float64Array(p.rows);
  for (let r = 0; r < p.rows; r++) {
    let s = 0;
    for (let c = 0; c < p.cols; c++) s += x.data[r * p.cols + c]!;
    const m = s / p.cols;
    let v = 0;
    for (let c = 0; c < p.cols; c++) v += (x.data[r * p.cols + c]! - m) ** 2;
    mean[r] = m;
    invstd[r] = 1 / Math.sqrt(v / p.cols + p.eps);
  }
  return { mean, invstd };
}

function cpuForward(p: LnPlan, x: HostTensor, gamma: HostTensor | undefined, beta: HostTensor | undefined): { y: HostTensor; mean: HostTensor; invstd: HostTensor } {
  const { mean, invstd } = cpuStats(p, x);
  const y = HostTensor.zeros(x.shape);
  for (let r = 0; r < p.rows; r++) {
    for (let c = 0; c < p.cols; c++) {
      const i = r * p.cols + c;
      y.data[i] = (x.data[i]! - mean[r]!) * invstd[r]! * (gamma ? gamma.data[c]! : 1) + (beta ? beta.data[c]! : 0);
    }
  }
  return { y, mean: HostTensor.from(mean, statsShape(p)), invstd: HostTensor.from(invstd, statsShape(p)) };
}

type LnArgs = [x: Tensor, gamma: Tensor | undefined, beta: Tensor | undefined, options?: LayerNormOptions];

/** LayerNorm of x over its trailing axes `normalizedShape` (PyTorch's F.layer_norm), γ and β shaped like them or absent. */
export const layerNorm = defineOp<LnArgs, LnPlan>({
  name: 'layerNorm',
  check: (x, gamma, beta, options) => planFor('layerNorm', x, gamma, beta, options),
  gpu: (p, x, gamma, beta) => runForward(p, x, gamma, beta, false).y,
  cpu: (p, x, gamma, beta) => cpuForward(p, x, gamma, beta).y,
  backward: {
    save: ([x, gamma]) => [x, ...(gamma ? [gamma] : [])],
    grad({ plan, args, saved }, dy) {
      const [, gammaArg, betaArg] = args;
      const { dx, dgamma, dbeta } = layerNormBackward(dy, saved[0]!, gammaArg ? saved[1] : undefined, null, null, { normalizedShape: plan.normShape, eps: plan.eps });
      const grads: (Tensor | null)[] = [dx];
      if (gammaArg) grads.push(dgamma);
      else dgamma.dispose();
      if (betaArg) grads.push(dbeta);
      else dbeta.dispose();
      return grads;
    },
  },
});

/** The forward that also returns the per-row mean and 1/√(var + eps) (shape x.shape without the normalised axes). */
export const layerNormForward = defineMultiOp<LnArgs, 'y' | 'mean' | 'invstd', LnPlan & MultiPlan<'y' | 'mean' | 'invstd'>>({
  name: 'layerNormForward',
  check(x, gamma, beta, options) {
    const p = planFor('layerNormForward', x, gamma, beta, options);
    const stats = { shape: statsShape(p), dtype: 'f32' as const };
    return { ...p, outputs: { y: { shape: x.shape, dtype: 'f32' }, mean: stats, invstd: stats } };
  },
  gpu(p, x, gamma, beta) {
    const { y, mean, invstd } = runForward(p, x, gamma, beta, true);
    return { y, mean: mean!, invstd: invstd! };
  },
  cpu: (p, x, gamma, beta) => cpuForward(p, x, gamma, beta),
});

type BwdPlan = LnPlan & MultiPlan<'dx' | 'dgamma' | 'dbeta'>;

/**
 * Gradients w.r.t. x, γ and β (dγ, dβ shaped like the normalised axes; γ absent: 1). `mean`/`invstd` are the
 * forward's saved statistics; pass null for both to recompute them from x (one more read of x), with the
 * forward's options.
 */
export const layerNormBackward = defineMultiOp<[dy: Tensor, x: Tensor, gamma: Tensor | undefined, mean: Tensor | null, invstd: Tensor | null, options?: LayerNormOptions], 'dx' | 'dgamma' | 'dbeta', BwdPlan>({
  name: 'layerNormBackward',
  check(dy, x, gamma, mean, invstd, options) {
    const op = 'layerNormBackward';
    const p = planFor(op, x, gamma, undefined, options);
    assert(dy.dtype === 'f32' && dy.shape.join() === x.shape.join(), op, () => `dy ${dy.dtype} ${fmtShape(dy.shape)} must be f32 shaped like x ${fmtShape(x.shape)}`);
    assert((mean === null) === (invstd === null), op, () => 'pass both mean and invstd, or neither');
    for (const [t, what] of [[mean, 'mean'], [invstd, 'invstd']] as const) {
      if (t) assert(t.dtype === 'f32' && sizeOf(t.shape) === p.rows, op, () => `${what} must be f32 with one value per row (${p.rows}), got ${t.dtype} ${fmtShape(t.shape)}`);
    }
    const vec = { shape: p.normShape, dtype: 'f32' as const };
    return { ...p, outputs: { dx: { shape: x.shape, dtype: 'f32' }, dgamma: vec, dbeta: vec } };
  },
  gpu(p, dy, x, gammaArg, mean, invstd) {
    const engine = x.engine;
    const label = `layerNormBackward ${fmtShape(x.shape)}`;
    const dx = engine.empty(x.shape);
    const dgamma = engine.empty(p.normShape);
    const dbeta = engine.empty(p.normShape);
    if (p.rows === 0) {
      engine.write(dgamma, new Float32Array(p.cols));
      engine.write(dbeta, new Float32Array(p.cols));
      return { dx, dgamma, dbeta };
    }
    const saved = mean !== null && invstd !== null;
    const m = saved ? mean : engine.empty([p.rows]);
    const s = saved ? invstd : engine.empty([p.rows]);
    const layout = layoutFor(engine, p);
    const l = launch(p, layout);
    const gamma = gammaArg ?? engine.ones([p.cols]);
    const affine = paramBindings(engine, p, [gamma]);
    engine.runtime.dispatch({
      kernel,
      defines: { ...l.defines, ...affine.defines, BWD: 1, SAVED: saved ? 1 : 0, SHARE: sharesColumns(engine, layout) ? 1 : 0 },
      label: `${label} (dx)`,
      uniforms: l.uniforms,
      bindings: [dy.binding(), x.binding(), ...affine.bindings, m.binding(), s.binding(), dx.binding()],
      grid: l.grid,
    });
    const vec = p.cols % 4 === 0;
    const cols = vec ? p.cols / 4 : p.cols;
    const chunks = Math.max(1, Math.min(p.rows, Math.ceil(TARGET_INVOCATIONS / cols)));
    const chunkLen = Math.ceil(p.rows / chunks);
    const used = Math.ceil(p.rows / chunkLen);
    const u = new Uniforms().u32(p.rows, cols, used, chunkLen);
    const pg = used > 1 ? engine.empty([used, p.cols]) : dgamma;
    const pb = used > 1 ? engine.empty([used, p.cols]) : dbeta;
    engine.runtime.dispatch({
      kernel: paramsKernel,
      defines: { VEC: vec ? 1 : 0, PARTIAL: 1 },
      label: `${label} (dgamma, dbeta)`,
      uniforms: u,
      bindings: [dy.binding(), x.binding(), m.binding(), s.binding(), pg.binding(), pb.binding()],
      grid: Math.ceil((used * cols) / 64),
    });
    if (used > 1) {
      engine.runtime.dispatch({
        kernel: paramsKernel,
        defines: { VEC: vec ? 1 : 0, PARTIAL: 0 },
        label: `${label} (dgamma, dbeta sum)`,
        uniforms: u,
        bindings: [pg.binding(), pb.binding(), dgamma.binding(), dbeta.binding()],
        grid: Math.ceil(cols / 64),
      });
      pg.dispose();
      pb.dispose();
    }
    if (!saved) {
      m.dispose();
      s.dispose();
    }
    if (gamma !== gammaArg) gamma.dispose();
    return { dx, dgamma, dbeta };
  },
  cpu(p, dy, x, gamma, mean, invstd) {
    const st = mean && invstd ? { mean: mean.data, invstd: invstd.data } : cpuStats(p, x);
    const dx = HostTensor.zeros(x.shape);
    const dgamma = new Float64Array(p.cols);
    const dbeta = new Float64Array(p.cols);
    for (let r = 0; r < p.rows; r++) {
      const m = st.mean[r]!;
      const is = st.invstd[r]!;
      let s1 = 0;
      let s2 = 0;
      for (let c = 0; c < p.cols; c++) {
        const i = r * p.cols + c;
        const g = dy.data[i]! * (gamma ? gamma.data[c]! : 1);
        const xh = (x.data[i]! - m) * is;
        s1 += g;
        s2 += g * xh;
        dgamma[c] += dy.data[i]! * xh;
        dbeta[c] += dy.data[i]!;
      }
      for (let c = 0; c < p.cols; c++) {
        const i = r * p.cols + c;
        const xh = (x.data[i]! - m) * is;
        dx.data[i] = is * (dy.data[i]! * (gamma ? gamma.data[c]! : 1) - s1 / p.cols - (xh * s2) / p.cols);
      }
    }
    return { dx, dgamma: HostTensor.from(dgamma, p.normShape), dbeta: HostTensor.from(dbeta, p.normShape) };
  },
});
