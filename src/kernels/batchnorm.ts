/**
 * Batch normalisation over NHWC activations ([N, H, W, C], statistics per channel over N·H·W), PyTorch
 * semantics: training mode normalises with the batch mean and biased variance and updates the running
 * statistics in place with the unbiased variance (`running = (1 − momentum)·running + momentum·stat`);
 * eval mode normalises with the running statistics.
 *
 * What backward needs is one `[2, C]` tensor, `saved` = [mean; 1/sqrt(var + eps)] (rows 0 and 1): the batch
 * statistics in training mode, the running ones in eval mode.
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
import { add, binaryOp, div, mul, sqrt, sub } from './elementwise.js';
import { defineMultiOp, type MultiPlan } from './multi-op.js';
import { defineOp, type MetaArgs, type Op, type Plan } from './op.js';
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
function channelVector(op: string, v: TensorMeta, C: number, what: string, x: TensorMeta): void {
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

/**
 * Training-mode statistics: returns saved = [mean; 1/sqrt(biased var + eps)] as [2, C] and, when running
 * statistics are given, updates them in place (unbiased variance, PyTorch's momentum convention).
 */
export const batchNorm2dStats = defineOp<[x: Tensor, runningMean: Tensor | undefined, runningVar: Tensor | undefined, options?: BatchNormStatsOptions], StatsPlan>({
  name: 'batchNorm2dStats',
  check(x, runningMean, runningVar, options = {}) {
    const op = 'batchNorm2dStats';
    const { N, H, W, C } = nhwc(op, x);
    const count = N * H * W;
    assert(count > 1, op, () => `training needs more than one value per channel, got input ${fmtShape(x.shape)} (N·H·W = ${count})`);
    assert(Boolean(runningMean) === Boolean(runningVar), op, () => 'give both running statistics or neither');
    if (runningMean) channelVector(op, runningMean, C, 'running mean', x);
    if (runningVar) channelVector(op, runningVar, C, 'running variance', x);
    checkScalars(op, options.eps, options.momentum);
    return { shape: [2, C], dtype: 'f32', C, count, running: Boolean(runningMean) };
  },
  gpu(plan, x, runningMean, runningVar, options = {}) {
    const engine = x.engine;
    const cp = planColumns(plan.count, plan.C);
    const T = typeOf(cp);
    const part = engine.empty([cp.chunks, 2, plan.C]);
    const saved = engine.empty(plan.shape);
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
      defines: { T, RUNNING: plan.running ? 1 : 0 },
      label: `batchNorm2dStats ${fmtShape(x.shape)}`,
      uniforms: new Uniforms().u32(cp.groups, cp.chunks).f32(plan.count, options.eps ?? BN_EPS, momentum, plan.count / (plan.count - 1)),
      bindings: [part.binding(), x.binding(), saved.binding(), ...running],
      grid: Math.ceil(cp.groups / 64),
    });
    part.dispose();
    return saved;
  },
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

function checkScalars(op: string, eps: number | undefined, momentum: number | undefined): void {
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

/** y = (x − mean)·invstd·gamma + beta, per channel, from `saved` (either mode); optionally ReLU'd. */
export const batchNorm2dApply = defineOp<[x: Tensor, saved: Tensor, gamma: Tensor, beta: Tensor, options?: BatchNormApplyOptions], ApplyPlan>({
  name: 'batchNorm2dApply',
  check(x, saved, gamma, beta) {
    const op = 'batchNorm2dApply';
    const { N, H, W, C } = nhwc(op, x);
    savedTensor(op, saved, C, x);
    channelVector(op, gamma, C, 'gamma', x);
    channelVector(op, beta, C, 'beta', x);
    return { shape: x.shape, dtype: 'f32', C, count: N * H * W };
  },
  gpu(plan, x, saved, gamma, beta, options = {}) {
    const engine = x.engine;
    const y = engine.empty(plan.shape);
    const cp = planColumns(plan.count, plan.C);
    engine.runtime.dispatch({
      kernel: kernels.apply,
      defines: { T: typeOf(cp), BWD: 0, RELU: options.relu ? 1 : 0 },
      label: `batchNorm2dApply ${fmtShape(x.shape)}`,
      uniforms: columnUniforms(cp).f32(plan.count),
      bindings: [x.binding(), saved.binding(), gamma.binding(), beta.binding(), y.binding()],
      grid: Math.ceil(cp.items / 256),
    });
    return y;
  },
  cpu(plan, x, saved, gamma, beta, options = {}) {
    const { C } = plan;
    const y = HostTensor.zeros(plan.shape);
    for (let i = 0; i < x.size; i++) {
      const c = i % C;
      const v = (x.data[i]! - saved.data[c]!) * saved.data[C + c]! * gamma.data[c]! + beta.data[c]!;
      y.data[i] = options.relu ? Math.max(v, 0) : v;
    }
    return y;
  },
});

export interface BatchNormOptions extends BatchNormStatsOptions, BatchNormApplyOptions {
  training: boolean;
}

/** An op's launch without autograd recording (the differentiable op around it records once). */
function direct<A extends unknown[], P extends Plan>(op: Op<A, P>, ...args: A): Tensor {
  return op.decl.gpu(op.decl.check(...(args as unknown as MetaArgs<A>)), ...args);
}

interface ForwardPlan extends Plan, MultiPlan<'y' | 'saved'> {
  C: number;
  training: boolean;
}

type ForwardArgs = [x: Tensor, gamma: Tensor, beta: Tensor, runningMean: Tensor | undefined, runningVar: Tensor | undefined, options: BatchNormOptions];

function checkForward(op: string, x: TensorMeta, gamma: TensorMeta, beta: TensorMeta, rm: TensorMeta | undefined, rv: TensorMeta | undefined, options: BatchNormOptions): ForwardPlan {
  const { N, H, W, C } = nhwc(op, x);
  assert(options && typeof options.training === 'boolean', op, () => 'options.training must be true or false');
  channelVector(op, gamma, C, 'gamma', x);
  channelVector(op, beta, C, 'beta', x);
  assert(Boolean(rm) === Boolean(rv), op, () => 'give both running statistics or neither');
  if (rm) channelVector(op, rm, C, 'running mean', x);
  if (rv) channelVector(op, rv, C, 'running variance', x);
  if (options.training) assert(N * H * W > 1, op, () => `training needs more than one value per channel, got input ${fmtShape(x.shape)}`);
  else assert(rm, op, () => `eval mode needs the running statistics (input ${fmtShape(x.shape)})`);
  checkScalars(op, options.eps, options.momentum);
  return { shape: x.shape, dtype: 'f32', C, training: options.training, outputs: { y: { shape: x.shape, dtype: 'f32' }, saved: { shape: [2, C], dtype: 'f32' } } };
}

function forwardGpu(x: Tensor, gamma: Tensor, beta: Tensor, rm: Tensor | undefined, rv: Tensor | undefined, options: BatchNormOptions): { y: Tensor; saved: Tensor } {
  const saved = options.training ? direct(batchNorm2dStats, x, rm, rv, options) : direct(batchNorm2dSavedFromRunning, rm!, rv!, options.eps);
  return { y: direct(batchNorm2dApply, x, saved, gamma, beta, { relu: Boolean(options.relu) }), saved };
}

function forwardCpu(x: HostTensor, gamma: HostTensor, beta: HostTensor, rm: HostTensor | undefined, rv: HostTensor | undefined, options: BatchNormOptions): { y: HostTensor; saved: HostTensor } {
  const saved = options.training ? batchNorm2dStats.cpu(x, rm, rv, options) : batchNorm2dSavedFromRunning.cpu(rm!, rv!, options.eps);
  return { y: batchNorm2dApply.cpu(x, saved, gamma, beta, { relu: Boolean(options.relu) }), saved };
}

/** dy where the fused ReLU's output was positive, else 0. */
const reluMask = binaryOp('batchNorm2dReluMask', 'select(0.0, x, y > 0.0)', (dy, y) => (y > 0 ? dy : 0));

/**
 * Batch norm of an NHWC tensor, differentiable (gradients to x, gamma and beta; the running statistics are
 * state, without gradients). Training mode normalises with the batch statistics and updates the running
 * statistics in place (give both or neither); eval mode needs them. The backward recomputes the batch
 * statistics from x (one extra read) rather than keeping them.
 */
export const batchNorm2d = defineOp<ForwardArgs, ForwardPlan>({
  name: 'batchNorm2d',
  check: (x, gamma, beta, rm, rv, options) => checkForward('batchNorm2d', x, gamma, beta, rm, rv, options),
  gpu(_plan, ...args) {
    const { y, saved } = forwardGpu(...args);
    saved.dispose();
    return y;
  },
  cpu: (_plan, ...args) => forwardCpu(...args).y,
  backward: {
    save: ([x, gamma, , rm, rv, options], out) => [x, gamma, ...(options.training ? [] : [rm!, rv!]), ...(options.relu ? [out] : [])],
    grad({ args, saved, needsGrad }, dy) {
      const options = args[5];
      const [x, gamma] = saved as [Tensor, Tensor];
      const y = options.relu ? saved[saved.length - 1]! : undefined;
      const stats = options.training ? batchNorm2dStats(x, undefined, undefined, options) : batchNorm2dSavedFromRunning(saved[2]!, saved[3]!, options.eps);
      const dyM = y ? reluMask(dy, y) : dy;
      const g = batchNorm2dBackward(dyM, x, stats, gamma, { training: options.training });
      stats.dispose();
      if (dyM !== dy) dyM.dispose();
      const keep = (t: Tensor, i: number) => (needsGrad[i] ? t : (t.dispose(), null));
      // x, gamma, beta, then the running statistics when given (state: no gradient).
      return [keep(g.dx, 0), keep(g.dgamma, 1), keep(g.dbeta, 2), ...(args[3] ? [null, null] : [])];
    },
  },
});

/** batchNorm2d that also returns `saved` ([mean; invstd], [2, C]) for an explicit batchNorm2dBackward (not recorded by autograd). */
export const batchNorm2dForward = defineMultiOp<ForwardArgs, 'y' | 'saved', ForwardPlan>({
  name: 'batchNorm2dForward',
  check: (x, gamma, beta, rm, rv, options) => checkForward('batchNorm2dForward', x, gamma, beta, rm, rv, options),
  gpu: (_plan, ...args) => forwardGpu(...args),
  cpu: (_plan, ...args) => forwardCpu(...args),
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
export const batchNorm2dBackwardInput = defineOp<[dy: Tensor, x: Tensor, saved: Tensor, gamma: Tensor, grads: Tensor, training: boolean], BackwardInputPlan>({
  name: 'batchNorm2dBackwardInput',
  check(dy, x, saved, gamma, grads, training) {
    const op = 'batchNorm2dBackwardInput';
    const { N, H, W, C } = nhwc(op, x);
    nhwc(op, dy, 'dy');
    assert(dy.shape.join() === x.shape.join(), op, () => `dy ${fmtShape(dy.shape)} must match input ${fmtShape(x.shape)}`);
    savedTensor(op, saved, C, x);
    channelVector(op, gamma, C, 'gamma', x);
    assert(grads.dtype === 'f32' && grads.shape.join() === `2,${C}`, op, () => `grads must be f32 [2, ${C}] ([dgamma; dbeta]), got ${grads.dtype} ${fmtShape(grads.shape)}`);
    return { shape: x.shape, dtype: 'f32', C, count: N * H * W, training };
  },
  gpu(plan, dy, x, saved, gamma, grads) {
    const engine = x.engine;
    const dx = engine.empty(plan.shape);
    const cp = planColumns(plan.count, plan.C);
    engine.runtime.dispatch({
      kernel: kernels.apply,
      defines: { T: typeOf(cp), BWD: 1, EVAL: plan.training ? 0 : 1 },
      label: `batchNorm2dBackwardInput ${fmtShape(x.shape)}`,
      uniforms: columnUniforms(cp).f32(plan.count),
      bindings: plan.training
        ? [dy.binding(), x.binding(), saved.binding(), gamma.binding(), grads.binding(), dx.binding()]
        : [dy.binding(), saved.binding(), gamma.binding(), dx.binding()],
      grid: Math.ceil(cp.items / 256),
    });
    return dx;
  },
  cpu(plan, dy, x, saved, gamma, grads) {
    const { C, count } = plan;
    const dx = HostTensor.zeros(plan.shape);
    for (let i = 0; i < x.size; i++) {
      const c = i % C;
      const inv = saved.data[C + c]!;
      const a = gamma.data[c]! * inv;
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
function splitRows(t: Tensor, label: string): [Tensor, Tensor] {
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
export const batchNorm2dBackward = defineMultiOp<[dy: Tensor, x: Tensor, saved: Tensor, gamma: Tensor, options: { training: boolean }], 'dx' | 'dgamma' | 'dbeta', BackwardPlan>({
  name: 'batchNorm2dBackward',
  check(dy, x, saved, gamma, options) {
    const plan = batchNorm2dBackwardReduce.decl.check(dy, x, saved);
    batchNorm2dBackwardInput.decl.check(dy, x, saved, gamma, { shape: [2, plan.C], dtype: 'f32' }, options.training);
    const vec = { shape: [plan.C], dtype: 'f32' } as const;
    return { shape: x.shape, dtype: 'f32', outputs: { dx: { shape: x.shape, dtype: 'f32' }, dgamma: vec, dbeta: vec } };
  },
  gpu(_plan, dy, x, saved, gamma, options) {
    const grads = direct(batchNorm2dBackwardReduce, dy, x, saved);
    try {
      const dx = direct(batchNorm2dBackwardInput, dy, x, saved, gamma, grads, options.training);
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

// ------------------------------------------------------------------------------------------ folding

function checkFold(op: string, w: TensorMeta, bias: TensorMeta | undefined, gamma: TensorMeta, beta: TensorMeta, mean: TensorMeta, variance: TensorMeta): number {
  assert(w.dtype === 'f32' && w.shape.length === 4, op, () => `conv weight must be f32 HWIO [kH, kW, C_in/groups, C_out], got ${w.dtype} ${fmtShape(w.shape)}`);
  const C = w.shape[3]!;
  const vecs: [TensorMeta | undefined, string][] = [[bias, 'conv bias'], [gamma, 'gamma'], [beta, 'beta'], [mean, 'running mean'], [variance, 'running variance']];
  for (const [v, what] of vecs) if (v) channelVector(op, v, C, what, w);
  return C;
}

/**
 * Folds eval-mode batch norm into the convolution before it (inference): with s = gamma/sqrt(var + eps),
 * w' = w·s over the output-channel axis (HWIO's last) and b' = (b − mean)·s + beta. Returns new tensors.
 */
export function foldBatchNormIntoConv(
  w: Tensor,
  bias: Tensor | undefined,
  gamma: Tensor,
  beta: Tensor,
  mean: Tensor,
  variance: Tensor,
  eps = BN_EPS,
): { weight: Tensor; bias: Tensor } {
  checkFold('foldBatchNormIntoConv', w, bias, gamma, beta, mean, variance);
  const tmp: Tensor[] = [];
  const keep = (t: Tensor) => (tmp.push(t), t);
  try {
    const scale = keep(div(gamma, keep(sqrt(keep(add(variance, eps))))));
    const weight = mul(w, scale);
    const centred = keep(bias ? sub(bias, mean) : mul(mean, -1));
    const newBias = add(keep(mul(centred, scale)), beta);
    return { weight, bias: newBias };
  } finally {
    tmp.forEach((t) => t.dispose());
  }
}

/** CPU reference of foldBatchNormIntoConv. */
export function foldBatchNormIntoConvCpu(
  w: HostTensor,
  bias: HostTensor | undefined,
  gamma: HostTensor,
  beta: HostTensor,
  mean: HostTensor,
  variance: HostTensor,
  eps = BN_EPS,
): { weight: HostTensor; bias: HostTensor } {
  const C = checkFold('foldBatchNormIntoConv', w, bias, gamma, beta, mean, variance);
  const scale = Array.from({ length: C }, (_, c) => gamma.data[c]! / Math.sqrt(variance.data[c]! + eps));
  const weight = HostTensor.zeros(w.shape);
  for (let i = 0; i < w.size; i++) weight.data[i] = w.data[i]! * scale[i % C]!;
  const b = HostTensor.zeros([C]);
  for (let c = 0; c < C; c++) b.data[c] = ((bias ? bias.data[c]! : 0) - mean.data[c]!) * scale[c]! + beta.data[c]!;
  return { weight, bias: b };
}
