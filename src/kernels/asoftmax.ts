/**
 * A-Softmax (SphereFace, Liu et al. 2017; used by ../shared/papers/002_f3b0ec73f664feaa.txt eq. 3):
 * logits from features x [N, D] and class weights w — [D, K] by default (SphereFace's AngleLinear), or
 * [K, D] with `weightLayout: 'classes-features'` (nn.Linear's) — whose class vectors are L2-normalised in every call,
 * no bias: f_j = x·ŵ_j = ‖x‖cos θ_j, except the target class, which gets the angular margin
 *   f_y = (λ‖x‖cos θ_y + ‖x‖ψ(θ_y)) / (1 + λ),   ψ(θ) = (−1)^k cos(mθ) − 2k  for θ ∈ [kπ/m, (k+1)π/m],
 * with integer margin m ≥ 1 (m = 1: plain normalised-weight softmax) and λ ≥ 0 the annealing weight of the
 * SphereFace training recipe (λ = 0: the pure margin; decay it with `aSoftmaxLambda`). k is taken from the
 * detached angle, as in SphereFace. The loss is softmax cross-entropy over these logits (mean over the batch).
 * Without labels (null) the logits are the inference logits ‖x‖cos θ_j.
 */
import { assert, fmtShape } from '../device/errors.js';
import { HostTensor, type TensorMeta } from '../graph/host.js';
import type { Tensor } from '../graph/tensor.js';
import asoftmaxWgsl from '../../shaders/asoftmax.wgsl';
import colfixWgsl from '../../shaders/asoftmax_colfix.wgsl';
import { defineMultiOp, type MultiPlan } from './multi-op.js';
import { defineOp, type Plan } from './op.js';
import type { Binding } from './runtime.js';
import { checkLabelsArg, hostLabels, labelsBinding, softmaxCrossEntropy, softmaxCrossEntropyWithGrad, type Labels } from './softmax.js';
import { Uniforms } from './uniforms.js';

const kernel = { name: 'asoftmax', code: asoftmaxWgsl };
const colfixKernel = { name: 'asoftmax_colfix', code: colfixWgsl };

export interface ASoftmaxOptions {
  /** Integer angular margin m ≥ 1 (default 4), SphereFace's / AngleLinear's `m`. */
  m?: number;
  /** The same margin under its long name (give `m` or `margin`, not two different values). */
  margin?: number;
  /** Annealing weight λ ≥ 0 (default 0: the full margin). */
  lambda?: number;
  /** w as [D, classes] ('features-classes', default: SphereFace's AngleLinear) or [classes, D] ('classes-features': nn.Linear's). */
  weightLayout?: 'features-classes' | 'classes-features';
}

type LabelsArg = Labels | null;

interface ASoftmaxPlan extends Plan {
  n: number;
  d: number;
  k: number;
  m: number;
  /** f_y = a·‖x‖cos θ + b·‖x‖ψ(θ). */
  a: number;
  b: number;
  /** w is [K, D] (one row per class). */
  rows: boolean;
}

/** Offset of w[d, k] (and dw's) in either layout. */
function widx(p: ASoftmaxPlan, d: number, k: number): number {
  return p.rows ? k * p.d + d : d * p.k + k;
}

function planFor(op: string, x: TensorMeta, w: TensorMeta, labels: TensorMeta | readonly number[] | Int32Array | null, options: ASoftmaxOptions = {}): ASoftmaxPlan {
  assert(options.m === undefined || options.margin === undefined || options.m === options.margin, op, () => `m (${options.m}) and margin (${options.margin}) name the same option; give one`);
  const m = options.m ?? options.margin ?? 4;
  const lambda = options.lambda ?? 0;
  const layout = options.weightLayout ?? 'features-classes';
  assert(Number.isInteger(m) && m >= 1, op, () => `margin m must be an integer ≥ 1, got ${m}`);
  assert(Number.isFinite(lambda) && lambda >= 0, op, () => `lambda must be a finite number ≥ 0, got ${lambda}`);
  assert(layout === 'features-classes' || layout === 'classes-features', op, () => `weightLayout must be 'features-classes' ([D, classes]) or 'classes-features' ([classes, D]), got '${String(layout)}'`);
  const rows = layout === 'classes-features';
  for (const [t, what] of [[x, 'x'], [w, 'w']] as const) assert(t.dtype === 'f32', op, () => `${what} must be f32, got ${t.dtype} ${fmtShape(t.shape)}`);
  assert(x.shape.length === 2, op, () => `x must be [N, D] features, got ${fmtShape(x.shape)}`);
  const want = rows ? '[classes, D]' : '[D, classes]';
  assert(w.shape.length === 2, op, () => `w must be ${want} (weightLayout '${layout}'), got ${fmtShape(w.shape)}`);
  const [n, d] = x.shape as [number, number];
  const [dw, k] = (rows ? [w.shape[1], w.shape[0]] : w.shape) as [number, number];
  assert(dw === d, op, () => `x ${fmtShape(x.shape)} and w ${fmtShape(w.shape)} (${want}, weightLayout '${layout}'): the feature sizes ${d} and ${dw} differ`);
  assert(k > 0 && d > 0, op, () => `w ${fmtShape(w.shape)} needs at least one feature and one class`);
  if (labels !== null) checkLabelsArg(op, labels, n, k);
  return { shape: [n, k], dtype: 'f32', n, d, k, m, a: lambda / (1 + lambda), b: 1 / (1 + lambda), rows };
}

function uniforms(p: ASoftmaxPlan, useLabels: boolean): Uniforms {
  return new Uniforms().u32(p.n, p.d, p.k, p.m).f32(p.a, p.b).u32(useLabels ? 1 : 0);
}

/** 1/‖w_k‖ per column, on the GPU. */
function invNorms(p: ASoftmaxPlan, w: Tensor): Tensor {
  const inv = w.engine.empty([p.k]);
  w.engine.runtime.dispatch({ kernel, defines: { WNORM: 1, ROWS: p.rows ? 1 : 0 }, label: `aSoftmax column norms ${fmtShape(w.shape)}`, uniforms: uniforms(p, false), bindings: [w.binding(), inv.binding()], grid: Math.ceil(p.k / 64) });
  return inv;
}

/** The labels binding; without labels any read-only buffer stands in (the kernel never reads it). */
function labelsFor(x: Tensor, labels: LabelsArg): { binding: Binding; release(): void } {
  return labels === null ? { binding: x.binding(), release: () => {} } : labelsBinding(x.engine, labels);
}

// ------------------------------------------------------------------------------------------ CPU reference

/** cos θ → (ψ, dψ/dcos θ), float64: ψ from cos(mθ) directly, the derivative from Chebyshev U_{m−1}. */
export function aSoftmaxPsi(c: number, m: number): [number, number] {
  const cc = Math.min(1, Math.max(-1, c));
  const theta = Math.acos(cc);
  const k = Math.min(Math.floor((m * theta) / Math.PI), m - 1);
  const sign = k % 2 === 0 ? 1 : -1;
  let up = 0;
  let u = 1;
  for (let j = 1; j < m; j++) [up, u] = [u, 2 * cc * u - up];
  return [sign * Math.cos(m * theta) - 2 * k, sign * m * u];
}

interface RowGeom {
  xn: number[];
  wInv: number[];
  /** cos θ of every (row, class) times ‖x‖: x·ŵ. */
  dot: number[];
  target: number[];
}

function cpuGeom(p: ASoftmaxPlan, x: HostTensor, w: HostTensor, labels: HostTensor | readonly number[] | Int32Array | null): RowGeom {
  const lab = labels === null ? null : hostLabels(labels);
  const wInv = Array.from({ length: p.k }, (_, k) => {
    let s = 0;
    for (let d = 0; d < p.d; d++) s += w.data[widx(p, d, k)]! ** 2;
    return 1 / Math.max(Math.sqrt(s), 1e-12);
  });
  const xn: number[] = [];
  const dot: number[] = [];
  const target: number[] = [];
  for (let r = 0; r < p.n; r++) {
    let s = 0;
    for (let d = 0; d < p.d; d++) s += x.data[r * p.d + d]! ** 2;
    xn.push(Math.sqrt(s));
    for (let k = 0; k < p.k; k++) {
      let v = 0;
      for (let d = 0; d < p.d; d++) v += x.data[r * p.d + d]! * w.data[widx(p, d, k)]!;
      dot.push(v * wInv[k]!);
    }
    const y = lab ? lab[r]! : -1;
    target.push(Number.isInteger(y) && y >= 0 && y < p.k ? y : -1);
  }
  return { xn, wInv, dot, target };
}

// ------------------------------------------------------------------------------------------ ops

/** The A-Softmax logits [N, K] (see the module comment); feed them to softmaxCrossEntropy for the loss. */
export const aSoftmaxLogits = defineOp<[x: Tensor, w: Tensor, labels: LabelsArg, options?: ASoftmaxOptions], ASoftmaxPlan>({
  name: 'aSoftmaxLogits',
  check: (x, w, labels, options) => planFor('aSoftmaxLogits', x, w, labels, options),
  gpu(p, x, w, labels) {
    const engine = x.engine;
    const f = engine.empty(p.shape);
    const inv = invNorms(p, w);
    const lab = labelsFor(x, labels);
    engine.runtime.dispatch({
      kernel,
      defines: { LOGITS: 1, ROWS: p.rows ? 1 : 0 },
      label: `aSoftmaxLogits ${fmtShape(x.shape)}x${fmtShape(w.shape)} m=${p.m}`,
      uniforms: uniforms(p, labels !== null),
      bindings: [x.binding(), w.binding(), inv.binding(), lab.binding, f.binding()],
      grid: Math.ceil((p.n * p.k) / 64),
    });
    lab.release();
    inv.dispose();
    return f;
  },
  cpu(p, x, w, labels) {
    const g = cpuGeom(p, x, w, labels);
    const f = HostTensor.from(g.dot, p.shape);
    for (let r = 0; r < p.n; r++) {
      const y = g.target[r]!;
      if (y < 0) continue;
      const xn = g.xn[r]!;
      const c = g.dot[r * p.k + y]! / Math.max(xn, 1e-12);
      f.data[r * p.k + y] = p.a * g.dot[r * p.k + y]! + p.b * xn * aSoftmaxPsi(c, p.m)[0];
    }
    return f;
  },
  backward: {
    save: ([x, w, labels]) => [x, w, ...(labels !== null && !Array.isArray(labels) && !ArrayBuffer.isView(labels) ? [labels as Tensor] : [])],
    grad({ args, saved }, df) {
      const labels = saved[2] ?? args[2];
      const { dx, dw } = aSoftmaxLogitsBackward(df, saved[0]!, saved[1]!, labels, args[3]);
      return [dx, dw, ...(saved[2] ? [null] : [])];
    },
  },
});

type BwdPlan = ASoftmaxPlan & MultiPlan<'dx' | 'dw'>;

/** Gradients of Σ df ⊙ aSoftmaxLogits(x, w, labels) w.r.t. x and w (through the column normalisation). */
export const aSoftmaxLogitsBackward = defineMultiOp<[df: Tensor, x: Tensor, w: Tensor, labels: LabelsArg, options?: ASoftmaxOptions], 'dx' | 'dw', BwdPlan>({
  name: 'aSoftmaxLogitsBackward',
  check(df, x, w, labels, options) {
    const p = planFor('aSoftmaxLogitsBackward', x, w, labels, options);
    assert(df.dtype === 'f32' && df.shape.length === 2 && df.shape[0] === p.n && df.shape[1] === p.k, 'aSoftmaxLogitsBackward', () => `df must be f32 [${p.n}, ${p.k}] like the logits, got ${df.dtype} ${fmtShape(df.shape)}`);
    return { ...p, outputs: { dx: { shape: x.shape, dtype: 'f32' }, dw: { shape: w.shape, dtype: 'f32' } } };
  },
  gpu(p, df, x, w, labels) {
    const engine = x.engine;
    const label = `aSoftmaxLogitsBackward ${fmtShape(x.shape)}x${fmtShape(w.shape)} m=${p.m}`;
    const inv = invNorms(p, w);
    const lab = labelsFor(x, labels);
    const u = uniforms(p, labels !== null);
    const stats = engine.empty([p.n, 2]);
    const dx = engine.empty(x.shape);
    const dw = engine.empty(w.shape);
    const common = [x.binding(), w.binding(), inv.binding(), lab.binding];
    const ROWS = p.rows ? 1 : 0;
    engine.runtime.dispatch({ kernel, defines: { STATS: 1, ROWS }, label: `${label} (row terms)`, uniforms: u, bindings: [...common, stats.binding()], grid: Math.ceil(p.n / 64) });
    engine.runtime.dispatch({ kernel, defines: { DX: 1, ROWS }, label: `${label} (dx)`, uniforms: u, bindings: [df.binding(), ...common, stats.binding(), dx.binding()], grid: Math.ceil((p.n * p.d) / 64) });
    engine.runtime.dispatch({ kernel, defines: { DW: 1, ROWS }, label: `${label} (dŵ)`, uniforms: u, bindings: [df.binding(), x.binding(), lab.binding, stats.binding(), dw.binding()], grid: Math.ceil((p.d * p.k) / 64) });
    engine.runtime.dispatch({ kernel: colfixKernel, defines: { ROWS }, label: `${label} (dw)`, uniforms: new Uniforms().u32(p.d, p.k), bindings: [w.binding(), inv.binding(), dw.binding()], grid: p.k });
    lab.release();
    inv.dispose();
    stats.dispose();
    return { dx, dw };
  },
  cpu(p, df, x, w, labels) {
    const g = cpuGeom(p, x, w, labels);
    const dx = HostTensor.zeros(x.shape);
    const dwHat = new Float64Array(p.d * p.k);
    for (let r = 0; r < p.n; r++) {
      const y = g.target[r]!;
      let coefG = 1;
      let coefR = 0;
      if (y >= 0) {
        const xn = Math.max(g.xn[r]!, 1e-12);
        const c = g.dot[r * p.k + y]! / xn;
        const [psi, dpsi] = aSoftmaxPsi(c, p.m);
        coefG = p.a + p.b * dpsi;
        coefR = (p.b * (psi - c * dpsi)) / xn;
      }
      for (let k = 0; k < p.k; k++) {
        const gk = df.data[r * p.k + k]! * (k === y ? coefG : 1);
        for (let d = 0; d < p.d; d++) {
          dx.data[r * p.d + d] += gk * w.data[widx(p, d, k)]! * g.wInv[k]!;
          dwHat[d * p.k + k] += gk * x.data[r * p.d + d]!;
        }
      }
      if (y >= 0) for (let d = 0; d < p.d; d++) dx.data[r * p.d + d] += coefR * df.data[r * p.k + y]! * x.data[r * p.d + d]!;
    }
    const dw = HostTensor.zeros(w.shape);
    for (let k = 0; k < p.k; k++) {
      const inv = g.wInv[k]!;
      let dot = 0;
      for (let d = 0; d < p.d; d++) dot += w.data[widx(p, d, k)]! * inv * dwHat[d * p.k + k]!;
      for (let d = 0; d < p.d; d++) dw.data[widx(p, d, k)] = (dwHat[d * p.k + k]! - w.data[widx(p, d, k)]! * inv * dot) * inv;
    }
    return { dx, dw };
  },
});

/** The A-Softmax loss (0-d, mean over the batch), differentiable through autograd. */
export function aSoftmaxLoss(x: Tensor, w: Tensor, labels: Labels, options?: ASoftmaxOptions): Tensor {
  const f = aSoftmaxLogits(x, w, labels, options);
  const loss = softmaxCrossEntropy(f, labels);
  f.dispose();
  return loss;
}

/** The loss and its gradients w.r.t. x and w in one go (dloss = 1), without autograd. */
export function aSoftmaxLossWithGrad(x: Tensor, w: Tensor, labels: Labels, options?: ASoftmaxOptions): { loss: Tensor; dx: Tensor; dw: Tensor } {
  const f = aSoftmaxLogits(x, w, labels, options);
  const { loss, dlogits } = softmaxCrossEntropyWithGrad(f, labels);
  const { dx, dw } = aSoftmaxLogitsBackward(dlogits, x, w, labels, options);
  f.dispose();
  dlogits.dispose();
  return { loss, dx, dw };
}

export interface LambdaSchedule {
  base?: number;
  gamma?: number;
  power?: number;
  min?: number;
}

/**
 * SphereFace's annealing of λ by training iteration: max(min, base·(1 + gamma·iteration)^(−power)); its
 * reference settings (the defaults) start at 1000 and reach the floor of 5 after ~1700 iterations.
 */
export function aSoftmaxLambda(iteration: number, s: LambdaSchedule = {}): number {
  const { base = 1000, gamma = 0.12, power = 1, min = 5 } = s;
  return Math.max(min, base * Math.pow(1 + gamma * iteration, -power));
}
