/**
 * Batch normalisation kernels over NHWC activations ([N, H, W, C], statistics per channel over N·H·W), PyTorch
 * semantics: training mode normalises with the batch mean and biased variance and updates the running
 * statistics in place with the unbiased variance (`running = (1 − momentum)·running + momentum·stat`);
 * eval mode normalises with the running statistics.
 *
 * What backward needs is one `[2, C]` tensor, `saved` = [mean; 1/sqrt(var + eps)] (rows 0 and 1): the batch
 * statistics in training mode, the running ones in eval mode. The differentiable ops built on these kernels
 * (batchNorm2d, batchNorm2dWithStats) live in batchnorm.ts. gamma and beta may be absent (affine: false).
 *
 * Kernels: the per-channel sums are column reductions of the tensor seen as [rows = N·H·W, C]; each invocation
 * sums one channel group (4 channels as a vec4 when C % 4 == 0) over a chunk of rows and a small second pass
 * folds the chunks (no atomics, no workgroup barriers). Forward in training = 3 dispatches (partials, fold,
 * normalise: the tensor is read twice and written once); backward = 3 (partials of dy and dy·x̂, fold, dx).
 */
import { assert, fmtShape } from '../device/errors.js';
import { HostTensor, type TensorMeta } from '../graph/host.js';
import { Tensor } from '../graph/tensor.js';
import reduceWgsl from '../../shaders/batchnorm_reduce.wgsl';
import finalizeWgsl from '../../shaders/batchnorm_finalize.wgsl';
import applyWgsl from '../../shaders/batchnorm_apply.wgsl';
import { fill } from './fill.js';
import { defineMultiOp, type MultiPlan } from './multi-op.js';
import { defineOp, type Plan } from './op.js';
import { Uniforms } from './uniforms.js';

export const BN_EPS = 1e-5;
export const BN_MOMENTUM = 0.1;

const kernels = {
  reduce: { name: 'batchnorm_reduce', code: reduceWgsl },
  finalize: { name: 'batchnorm_finalize', code: finalizeWgsl },
  apply: { name: 'batchnorm_apply', code: applyWgsl },
};

// ------------------------------------------------------------------------------------------- shapes

/** An NHWC activation's axes; throws naming the op unless `t` is a rank-4 f32 tensor. */
export function nhwc(op: string, t: TensorMeta, what = 'input'): { N: number; H: number; W: number; C: number } {
  assert(t.dtype === 'f32', op, () => `${what} must be f32, got ${t.dtype} ${fmtShape(t.shape)}`);
  assert(t.shape.length === 4, op, () => `${what} must be NHWC [N, H, W, C], got ${fmtShape(t.shape)}`);
  const [N, H, W, C] = t.shape as [number, number, number, number];
  return { N, H, W, C };
}

/** Throws unless `v` is an f32 [C] vector (gamma, beta, running statistics). */
export function channelVector(op: string, v: TensorMeta, C: number, what: string, x: TensorMeta): void {
  assert(v.dtype === 'f32', op, () => `${what} must be f32, got ${v.dtype} ${fmtShape(v.shape)}`);
  assert(v.shape.length === 1 && v.shape[0] === C, op, () => `${what} must have shape [${C}] (the channels of input ${fmtShape(x.shape)}), got ${fmtShape(v.shape)}`);
}

function savedTensor(op: string, s: TensorMeta, C: number, x: TensorMeta): void {
  assert(s.dtype === 'f32' && s.shape.length === 2 && s.shape[0] === 2 && s.shape[1] === C, op, () =>
    `saved statistics must be f32 [2, ${C}] ([mean; invstd] for input ${fmtShape(x.shape)}), got ${s.dtype} ${fmtShape(s.shape)}`,
  );
}

// ------------------------------------------------------------------------------------- column plans

export interface ColumnPlan {
  /** Rows per batch, channel groups, and the vector width (4 or 1). */
  rows: number;
  groups: number;
  vec: 1 | 4;
  /** Rows per invocation, chunks per batch, invocations in all. */
  chunk: number;
  chunks: number;
  items: number;
}

/** Invocations wanted for one column pass: several per core and SIMD lane, few partials to fold. */
const TARGET_INVOCATIONS = 4096;
const MIN_CHUNK = 32;

/** Splits `batches` × [rows, channels] into per-invocation runs of rows over one channel group. */
export function planColumns(rows: number, channels: number, batches = 1, target = TARGET_INVOCATIONS): ColumnPlan {
  const vec = channels % 4 === 0 ? 4 : 1;
  const groups = channels / vec;
  const perBatch = Math.max(1, Math.ceil(target / Math.max(1, groups * batches)));
  const chunk = Math.max(1, Math.min(rows, Math.max(MIN_CHUNK, Math.ceil(rows / perBatch))));
  const chunks = rows === 0 ? 0 : Math.ceil(rows / chunk);
  return { rows, groups, vec, chunk, chunks, items: batches * chunks * groups };
}

function typeOf(p: ColumnPlan): string {
  return p.vec === 4 ? 'vec4f' : 'f32';
}

function columnUniforms(p: ColumnPlan): Uniforms {
  return new Uniforms().u32(p.rows, p.groups, p.chunk, p.items);
}

// ------------------------------------------------------------------------------------------ forward

export interface BatchNormStatsOptions {
  momentum?: number;
  eps?: number;
}

interface StatsPlan extends Plan {
  C: number;
  count: number;
  running: boolean;
}

function statsPlan(op: string, x: TensorMeta, runningMean: TensorMeta | undefined, runningVar: TensorMeta | undefined, options: BatchNormStatsOptions = {}): StatsPlan {
  const { N, H, W, C } = nhwc(op, x);
  const count = N * H * W;
  assert(count > 1, op, () => `training needs more than one value per channel, got input ${fmtShape(x.shape)} (N·H·W = ${count})`);
  assert(Boolean(runningMean) === Boolean(runningVar), op, () => 'give both running statistics or neither');
  if (runningMean) channelVector(op, runningMean, C, 'running mean', x);
  if (runningVar) channelVector(op, runningVar, C, 'running variance', x);
  checkScalars(op, options.eps, options.momentum);
  return { shape: [2, C], dtype: 'f32', C, count, running: Boolean(runningMean) };
}

/**
 * The training statistics of x: saved [mean; invstd] and, with `withVariance`, the biased batch variance [C]
 * from the same pass; updates the running statistics when given. (The launch behind batchNorm2dStats.)
 */
export function launchBatchStats(x: Tensor, runningMean: Tensor | undefined, runningVar: Tensor | undefined, options: BatchNormStatsOptions, withVariance: boolean): { saved: Tensor; variance?: Tensor } {
  const plan = statsPlan('batchNorm2dStats', x, runningMean, runningVar, options);
  const engine = x.engine;
  const cp = planColumns(plan.count, plan.C);
  const T = typeOf(cp);
  const part = engine.empty([cp.chunks, 2, plan.C]);
  const saved = engine.empty(plan.shape);
  const variance = withVariance ? engine.empty([plan.C]) : undefined;
  engine.runtime.dispatch({
    kernel: kernels.reduce,
    defines: { T, BWD: 0 },
    label: `batchNorm2dStats partials ${fmtShape(x.shape)}`,
    uniforms: columnUniforms(cp),
    bindings: [x.binding(), part.binding()],
    grid: Math.ceil(cp.items / 256),
  });
  const momentum = options.momentum ?? BN_MOMENTUM;
  const running = plan.running ? [runningMean!.binding(), runningVar!.binding()] : [];
  engine.runtime.dispatch({
    kernel: kernels.finalize,
    defines: { T, RUNNING: plan.running ? 1 : 0, VARIANCE: variance ? 1 : 0, B_VAR: 4 + running.length },
    label: `batchNorm2dStats ${fmtShape(x.shape)}`,
    uniforms: new Uniforms().u32(cp.groups, cp.chunks).f32(plan.count, options.eps ?? BN_EPS, momentum, plan.count / (plan.count - 1)),
    bindings: [part.binding(), x.binding(), saved.binding(), ...running, ...(variance ? [variance.binding()] : [])],
    grid: Math.ceil(cp.groups / 64),
  });
  part.dispose();
  return variance ? { saved, variance } : { saved };
}

/**
 * Training-mode statistics: returns saved = [mean; 1/sqrt(biased var + eps)] as [2, C] and, when running
 * statistics are given, updates them in place (unbiased variance, PyTorch's momentum convention).
 */
export const batchNorm2dStats = defineOp<[x: Tensor, runningMean: Tensor | undefined, runningVar: Tensor | undefined, options?: BatchNormStatsOptions], StatsPlan>({
  name: 'batchNorm2dStats',
  check: (x, runningMean, runningVar, options) => statsPlan('batchNorm2dStats', x, runningMean, runningVar, options),
  gpu: (_plan, x, runningMean, runningVar, options = {}) => launchBatchStats(x, runningMean, runningVar, options, false).saved,
  cpu(plan, x, runningMean, runningVar, options = {}) {
    const { C, count } = plan;
    const eps = options.eps ?? BN_EPS;
    const m = options.momentum ?? BN_MOMENTUM;
    const saved = HostTensor.zeros(plan.shape);
    for (let c = 0; c < C; c++) {
      let s = 0;
      for (let r = 0; r < count; r++) s += x.data[r * C + c]!;
      const mean = s / count;
      let q = 0;
      for (let r = 0; r < count; r++) q += (x.data[r * C + c]! - mean) ** 2;
      const v = q / count;
      saved.data[c] = mean;
      saved.data[C + c] = 1 / Math.sqrt(v + eps);
      if (runningMean && runningVar) {
        runningMean.data[c] = (1 - m) * runningMean.data[c]! + m * mean;
        runningVar.data[c] = (1 - m) * runningVar.data[c]! + (m * q) / (count - 1);
      }
    }
    return saved;
  },
});

export function checkScalars(op: string, eps: number | undefined, momentum: number | undefined): void {
  assert(eps === undefined || (Number.isFinite(eps) && eps >= 0), op, () => `eps must be a finite number ≥ 0, got ${eps}`);
  assert(momentum === undefined || (Number.isFinite(momentum) && momentum >= 0 && momentum <= 1), op, () => `momentum must lie in [0, 1], got ${momentum}`);
}

interface VectorPlan extends Plan {
  C: number;
}

/** Eval-mode `saved` from the running statistics: [runningMean; 1/sqrt(runningVar + eps)]. */
export const batchNorm2dSavedFromRunning = defineOp<[runningMean: Tensor, runningVar: Tensor, eps?: number], VectorPlan>({
  name: 'batchNorm2dSavedFromRunning',
  check(runningMean, runningVar, eps) {
    const op = 'batchNorm2dSavedFromRunning';
    assert(runningMean.dtype === 'f32' && runningMean.shape.length === 1, op, () => `running mean must be an f32 [C] vector, got ${runningMean.dtype} ${fmtShape(runningMean.shape)}`);
    const C = runningMean.shape[0]!;
    channelVector(op, runningVar, C, 'running variance', runningMean);
    checkScalars(op, eps, undefined);
    return { shape: [2, C], dtype: 'f32', C };
  },
  gpu(plan, runningMean, runningVar, eps = BN_EPS) {
    const engine = runningMean.engine;
    const saved = engine.empty(plan.shape);
    const vec = plan.C % 4 === 0 ? 4 : 1;
    const groups = plan.C / vec;
    engine.runtime.dispatch({
      kernel: kernels.finalize,
      defines: { T: vec === 4 ? 'vec4f' : 'f32', EVAL: 1 },
      label: `batchNorm2dSavedFromRunning [${plan.C}]`,
      uniforms: new Uniforms().u32(groups, 0).f32(0, eps, 0, 0),
      bindings: [runningMean.binding(), runningVar.binding(), saved.binding()],
      grid: Math.ceil(groups / 64),
    });
    return saved;
  },
  cpu(plan, runningMean, runningVar, eps = BN_EPS) {
    const saved = HostTensor.zeros(plan.shape);
    for (let c = 0; c < plan.C; c++) {
      saved.data[c] = runningMean.data[c]!;
      saved.data[plan.C + c] = 1 / Math.sqrt(runningVar.data[c]! + eps);
    }
    return saved;
  },
});

interface ApplyPlan extends Plan {
  C: number;
  count: number;
}

export interface BatchNormApplyOptions {
  /** Fuse a ReLU: y = max(bn(x), 0) (inference; for training, mask dy by y > 0 before the backward). */
  relu?: boolean;
}

/** gamma and beta for a launch: the given ones, or ones / zeros (affine: false); `done` frees the stand-ins. */
function affineOrIdentity(engine: Tensor['engine'], C: number, gamma: Tensor | undefined, beta: Tensor | undefined): { gamma: Tensor; beta: Tensor; done(): void } {
  const g = gamma ?? fill(engine, [C], 1);
  const b = beta ?? fill(engine, [C], 0);
  return { gamma: g, beta: b, done: () => [g !== gamma ? g : null, b !== beta ? b : null].forEach((t) => t?.dispose()) };
}

/** y = (x − mean)·invstd·gamma + beta, per channel, from `saved` (either mode); optionally ReLU'd. No gamma/beta: 1 and 0. */
export const batchNorm2dApply = defineOp<[x: Tensor, saved: Tensor, gamma: Tensor | undefined, beta: Tensor | undefined, options?: BatchNormApplyOptions], ApplyPlan>({
  name: 'batchNorm2dApply',
  check(x, saved, gamma, beta) {
    const op = 'batchNorm2dApply';
    const { N, H, W, C } = nhwc(op, x);
    savedTensor(op, saved, C, x);
    if (gamma) channelVector(op, gamma, C, 'gamma', x);
    if (beta) channelVector(op, beta, C, 'beta', x);
    return { shape: x.shape, dtype: 'f32', C, count: N * H * W };
  },
  gpu(plan, x, saved, gamma, beta, options = {}) {
    const engine = x.engine;
    const y = engine.empty(plan.shape);
    const cp = planColumns(plan.count, plan.C);
    const aff = affineOrIdentity(engine, plan.C, gamma, beta);
    engine.runtime.dispatch({
      kernel: kernels.apply,
      defines: { T: typeOf(cp), BWD: 0, RELU: options.relu ? 1 : 0 },
      label: `batchNorm2dApply ${fmtShape(x.shape)}`,
      uniforms: columnUniforms(cp).f32(plan.count),
      bindings: [x.binding(), saved.binding(), aff.gamma.binding(), aff.beta.binding(), y.binding()],
      grid: Math.ceil(cp.items / 256),
    });
    aff.done();
    return y;
  },
  cpu(plan, x, saved, gamma, beta, options = {}) {
    const { C } = plan;
    const y = HostTensor.zeros(plan.shape);
    for (let i = 0; i < x.size; i++) {
      const c = i % C;
      const v = (x.data[i]! - saved.data[c]!) * saved.data[C + c]! * (gamma ? gamma.data[c]! : 1) + (beta ? beta.data[c]! : 0);
      y.data[i] = options.relu ? Math.max(v, 0) : v;
    }
    return y;
  },
});

// ----------------------------------------------------------------------------------------- backward

interface BackwardReducePlan extends Plan {
  C: number;
  count: number;
}

/** [dgamma; dbeta] ([2, C]): Σ dy·(x − mean)·invstd and Σ dy over N·H·W. */
export const batchNorm2dBackwardReduce = defineOp<[dy: Tensor, x: Tensor, saved: Tensor], BackwardReducePlan>({
  name: 'batchNorm2dBackwardReduce',
  check(dy, x, saved) {
    const op = 'batchNorm2dBackwardReduce';
    const { N, H, W, C } = nhwc(op, x);
    nhwc(op, dy, 'dy');
    assert(dy.shape.join() === x.shape.join(), op, () => `dy ${fmtShape(dy.shape)} must match input ${fmtShape(x.shape)}`);
    savedTensor(op, saved, C, x);
    return { shape: [2, C], dtype: 'f32', C, count: N * H * W };
  },
  gpu(plan, dy, x, saved) {
    const engine = x.engine;
    const cp = planColumns(plan.count, plan.C);
    const T = typeOf(cp);
    const part = engine.empty([cp.chunks, 2, plan.C]);
    const grads = engine.empty(plan.shape);
    engine.runtime.dispatch({
      kernel: kernels.reduce,
      defines: { T, BWD: 1 },
      label: `batchNorm2dBackwardReduce partials ${fmtShape(x.shape)}`,
      uniforms: columnUniforms(cp),
      bindings: [x.binding(), dy.binding(), saved.binding(), part.binding()],
      grid: Math.ceil(cp.items / 256),
    });
    engine.runtime.dispatch({
      kernel: kernels.finalize,
      defines: { T, BWD: 1 },
      label: `batchNorm2dBackwardReduce ${fmtShape(x.shape)}`,
      uniforms: new Uniforms().u32(cp.groups, cp.chunks).f32(plan.count, 0, 0, 0),
      bindings: [part.binding(), saved.binding(), grads.binding()],
      grid: Math.ceil(cp.groups / 64),
    });
    part.dispose();
    return grads;
  },
  cpu(plan, dy, x, saved) {
    const { C, count } = plan;
    const out = HostTensor.zeros(plan.shape);
    for (let c = 0; c < C; c++) {
      let sg = 0;
      let sb = 0;
      for (let r = 0; r < count; r++) {
        const i = r * C + c;
        sg += dy.data[i]! * (x.data[i]! - saved.data[c]!) * saved.data[C + c]!;
        sb += dy.data[i]!;
      }
      out.data[c] = sg;
      out.data[C + c] = sb;
    }
    return out;
  },
});

interface BackwardInputPlan extends Plan {
  C: number;
  count: number;
  training: boolean;
}

/**
 * Gradient to the input. Training mode (the statistics depend on x):
 * dx = gamma·invstd·(dy − dbeta/M − x̂·dgamma/M) with x̂ = (x − mean)·invstd and M = N·H·W;
 * eval mode: dx = gamma·invstd·dy. `grads` is batchNorm2dBackwardReduce's [dgamma; dbeta].
 */
export const batchNorm2dBackwardInput = defineOp<[dy: Tensor, x: Tensor, saved: Tensor, gamma: Tensor | undefined, grads: Tensor, training: boolean], BackwardInputPlan>({
  name: 'batchNorm2dBackwardInput',
  check(dy, x, saved, gamma, grads, training) {
    const op = 'batchNorm2dBackwardInput';
    const { N, H, W, C } = nhwc(op, x);
    nhwc(op, dy, 'dy');
    assert(dy.shape.join() === x.shape.join(), op, () => `dy ${fmtShape(dy.shape)} must match input ${fmtShape(x.shape)}`);
    savedTensor(op, saved, C, x);
    if (gamma) channelVector(op, gamma, C, 'gamma', x);
    assert(grads.dtype === 'f32' && grads.shape.join() === `2,${C}`, op, () => `grads must be f32 [2, ${C}] ([dgamma; dbeta]), got ${grads.dtype} ${fmtShape(grads.shape)}`);
    return { shape: x.shape, dtype: 'f32', C, count: N * H * W, training };
  },
  gpu(plan, dy, x, saved, gamma, grads) {
    const engine = x.engine;
    const dx = engine.empty(plan.shape);
    const cp = planColumns(plan.count, plan.C);
    const g = gamma ?? fill(engine, [plan.C], 1);
    engine.runtime.dispatch({
      kernel: kernels.apply,
      defines: { T: typeOf(cp), BWD: 1, EVAL: plan.training ? 0 : 1 },
      label: `batchNorm2dBackwardInput ${fmtShape(x.shape)}`,
      uniforms: columnUniforms(cp).f32(plan.count),
      bindings: plan.training
        ? [dy.binding(), x.binding(), saved.binding(), g.binding(), grads.binding(), dx.binding()]
        : [dy.binding(), saved.binding(), g.binding(), dx.binding()],
      grid: Math.ceil(cp.items / 256),
    });
    if (g !== gamma) g.dispose();
    return dx;
  },
  cpu(plan, dy, x, saved, gamma, grads) {
    const { C, count } = plan;
    const dx = HostTensor.zeros(plan.shape);
    for (let i = 0; i < x.size; i++) {
      const c = i % C;
      const inv = saved.data[C + c]!;
      const a = (gamma ? gamma.data[c]! : 1) * inv;
      if (!plan.training) {
        dx.data[i] = a * dy.data[i]!;
        continue;
      }
      const xhat = (x.data[i]! - saved.data[c]!) * inv;
      dx.data[i] = a * (dy.data[i]! - grads.data[C + c]! / count - (xhat * grads.data[c]!) / count);
    }
    return dx;
  },
});

/** Splits a [2, C] tensor into its rows (two small buffer copies). */
export function splitRows(t: Tensor, label: string): [Tensor, Tensor] {
  const C = t.shape[1]!;
  const a = t.engine.empty([C]);
  const b = t.engine.empty([C]);
  if (C > 0) {
    t.engine.runtime.copyBuffer(t.buffer, 0, a.buffer, 0, C * 4, `${label} row 0`);
    t.engine.runtime.copyBuffer(t.buffer, C * 4, b.buffer, 0, C * 4, `${label} row 1`);
  }
  return [a, b];
}

interface BackwardPlan extends Plan, MultiPlan<'dx' | 'dgamma' | 'dbeta'> {}

/**
 * The gradients of batchNorm2d to its input, gamma and beta, from `saved` (training or eval mode as in the
 * forward): 3 dispatches (partial sums of dy and dy·x̂, their fold, dx) and two row copies.
 */
export const batchNorm2dBackward = defineMultiOp<[dy: Tensor, x: Tensor, saved: Tensor, gamma: Tensor | undefined, options: { training: boolean }], 'dx' | 'dgamma' | 'dbeta', BackwardPlan>({
  name: 'batchNorm2dBackward',
  check(dy, x, saved, gamma, options) {
    const plan = batchNorm2dBackwardReduce.decl.check(dy, x, saved);
    batchNorm2dBackwardInput.decl.check(dy, x, saved, gamma, { shape: [2, plan.C], dtype: 'f32' }, options.training);
    const vec = { shape: [plan.C], dtype: 'f32' } as const;
    return { shape: x.shape, dtype: 'f32', outputs: { dx: { shape: x.shape, dtype: 'f32' }, dgamma: vec, dbeta: vec } };
  },
  gpu(_plan, dy, x, saved, gamma, options) {
    const grads = batchNorm2dBackwardReduce(dy, x, saved);
    try {
      const dx = batchNorm2dBackwardInput(dy, x, saved, gamma, grads, options.training);
      const [dgamma, dbeta] = splitRows(grads, 'batchNorm2dBackward');
      return { dx, dgamma, dbeta };
    } finally {
      grads.dispose();
    }
  },
  cpu(_plan, dy, x, saved, gamma, options) {
    const grads = batchNorm2dBackwardReduce.cpu(dy, x, saved);
    const dx = batchNorm2dBackwardInput.cpu(dy, x, saved, gamma, grads, options.training);
    const C = grads.shape[1]!;
    return { dx, dgamma: new HostTensor([C], grads.data.slice(0, C)), dbeta: new HostTensor([C], grads.data.slice(C)) };
  },
});
