/**
 * Batch normalisation of NHWC activations ([N, H, W, C], statistics per channel over N·H·W) as differentiable
 * ops, with PyTorch's semantics (F.batch_norm): training mode normalises with the batch mean and biased
 * variance and updates the running statistics in place with the unbiased variance
 * (`running = (1 − momentum)·running + momentum·stat`); eval mode normalises with the running statistics.
 * gamma and beta may be left out (PyTorch's `affine=False`). `batchNorm2dWithStats` also returns the batch mean
 * and variance of a training step (what native_batch_norm saves), both differentiable. The kernels are in
 * batchnorm-kernels.ts; this file also folds eval-mode batch norm into the convolution before it.
 */
import { assert, fmtShape } from '../device/errors.js';
import { HostTensor, type TensorMeta } from '../graph/host.js';
import type { Tensor } from '../graph/tensor.js';
import {
  BN_EPS,
  batchNorm2dApply,
  batchNorm2dBackward,
  batchNorm2dSavedFromRunning,
  batchNorm2dStats,
  channelVector,
  checkScalars,
  launchBatchStats,
  nhwc,
  splitRows,
  type BatchNormApplyOptions,
  type BatchNormStatsOptions,
} from './batchnorm-kernels.js';
import { add, binaryOp, div, mul, sqrt, sub } from './elementwise.js';
import { expand } from './layout.js';
import { defineMultiOp, type MultiPlan } from './multi-op.js';
import { defineOp, type Plan } from './op.js';

export { BN_EPS, BN_MOMENTUM } from './batchnorm-kernels.js';

export interface BatchNormOptions extends BatchNormStatsOptions, BatchNormApplyOptions {
  training: boolean;
}

type ForwardArgs = [x: Tensor, gamma: Tensor | undefined, beta: Tensor | undefined, runningMean: Tensor | undefined, runningVar: Tensor | undefined, options: BatchNormOptions];

interface ForwardPlan extends Plan {
  C: number;
  count: number;
  training: boolean;
}

function checkForward(op: string, x: TensorMeta, gamma: TensorMeta | undefined, beta: TensorMeta | undefined, rm: TensorMeta | undefined, rv: TensorMeta | undefined, options: BatchNormOptions): ForwardPlan {
  const { N, H, W, C } = nhwc(op, x);
  assert(options && typeof options.training === 'boolean', op, () => 'options.training must be true or false');
  if (gamma) channelVector(op, gamma, C, 'gamma', x);
  if (beta) channelVector(op, beta, C, 'beta', x);
  assert(Boolean(rm) === Boolean(rv), op, () => 'give both running statistics or neither');
  if (rm) channelVector(op, rm, C, 'running mean', x);
  if (rv) channelVector(op, rv, C, 'running variance', x);
  if (options.training) assert(N * H * W > 1, op, () => `training needs more than one value per channel, got input ${fmtShape(x.shape)}`);
  else assert(rm, op, () => `eval mode needs the running statistics (input ${fmtShape(x.shape)})`);
  checkScalars(op, options.eps, options.momentum);
  return { shape: x.shape, dtype: 'f32', C, count: N * H * W, training: options.training };
}

/** y, saved [mean; invstd] and, when asked, the statistics normalised with: the batch's, or the running ones in eval mode. */
function forwardGpu(args: ForwardArgs, withStats: boolean): { y: Tensor; saved: Tensor; mean?: Tensor; variance?: Tensor } {
  const [x, gamma, beta, rm, rv, options] = args;
  let saved: Tensor;
  let mean: Tensor | undefined;
  let variance: Tensor | undefined;
  if (options.training) {
    ({ saved, variance } = launchBatchStats(x, rm, rv, options, withStats));
    if (withStats) {
      const [m, invstd] = splitRows(saved, 'batchNorm2dWithStats mean');
      invstd.dispose();
      mean = m;
    }
  } else {
    saved = batchNorm2dSavedFromRunning(rm!, rv!, options.eps);
    if (withStats) [mean, variance] = [x.engine.clone(rm!), x.engine.clone(rv!)];
  }
  const y = batchNorm2dApply(x, saved, gamma, beta, { relu: Boolean(options.relu) });
  return { y, saved, ...(withStats ? { mean: mean!, variance: variance! } : {}) };
}

function forwardCpu(args: HostForwardArgs): { y: HostTensor; saved: HostTensor; mean: HostTensor; variance: HostTensor } {
  const [x, gamma, beta, rm, rv, options] = args;
  const saved = options.training ? batchNorm2dStats.cpu(x, rm, rv, options) : batchNorm2dSavedFromRunning.cpu(rm!, rv!, options.eps);
  const C = saved.shape[1]!;
  const mean = new HostTensor([C], saved.data.slice(0, C));
  let variance: HostTensor;
  if (options.training) {
    variance = HostTensor.zeros([C]);
    const count = x.size / C;
    for (let i = 0; i < x.size; i++) variance.data[i % C] += (x.data[i]! - mean.data[i % C]!) ** 2 / count;
  } else variance = HostTensor.from(rv!.data, [C]);
  return { y: batchNorm2dApply.cpu(x, saved, gamma, beta, { relu: Boolean(options.relu) }), saved, mean, variance };
}

type HostForwardArgs = [x: HostTensor, gamma: HostTensor | undefined, beta: HostTensor | undefined, runningMean: HostTensor | undefined, runningVar: HostTensor | undefined, options: BatchNormOptions];

/** dy where the fused ReLU's output was positive, else 0. */
const reluMask = binaryOp('batchNorm2dReluMask', 'select(0.0, x, y > 0.0)', (dy, y) => (y > 0 ? dy : 0));

/** What the backward keeps: x, gamma when given, the running statistics in eval mode, the output with a fused ReLU. */
function saveForBackward(args: ForwardArgs, y: Tensor): Tensor[] {
  const [x, gamma, , rm, rv, options] = args;
  return [x, ...(gamma ? [gamma] : []), ...(options.training ? [] : [rm!, rv!]), ...(options.relu ? [y] : [])];
}

/**
 * Gradients of x, gamma, beta (those given) and null for the running statistics, from dy and, in training mode,
 * the gradients of the batch mean and variance: dx += (dmean + 2·dvar·(x − mean)) / M with M = N·H·W. The batch
 * statistics are recomputed from x (one extra read) rather than kept.
 */
function forwardGrad(args: ForwardArgs, saved: Tensor[], needsGrad: readonly boolean[], dy: Tensor | undefined, dmean?: Tensor, dvar?: Tensor): (Tensor | null)[] {
  const [, gammaArg, betaArg, rmArg, , options] = args;
  let i = 0;
  const x = saved[i++]!;
  const gamma = gammaArg ? saved[i++] : undefined;
  const [rm, rv] = options.training ? [undefined, undefined] : [saved[i++]!, saved[i++]!];
  const y = options.relu ? saved[i++] : undefined;
  const stats = options.training ? batchNorm2dStats(x, undefined, undefined, options) : batchNorm2dSavedFromRunning(rm!, rv!, options.eps);
  let dx: Tensor | null = null;
  let dgamma: Tensor | null = null;
  let dbeta: Tensor | null = null;
  if (dy) {
    const dyM = y ? reluMask(dy, y) : dy;
    ({ dx, dgamma, dbeta } = batchNorm2dBackward(dyM, x, stats, gamma, { training: options.training }));
    if (dyM !== dy) dyM.dispose();
  }
  if (options.training && (dmean || dvar)) {
    const M = x.size / x.shape[3]!;
    const parts: Tensor[] = [];
    if (dvar) {
      const [mean, invstd] = splitRows(stats, 'batchNorm2d variance backward');
      invstd.dispose();
      const centred = sub(x, mean);
      const k = mul(dvar, 2 / M);
      parts.push(mul(centred, k));
      [mean, centred, k].forEach((t) => t.dispose());
    }
    if (dmean) {
      const k = mul(dmean, 1 / M);
      parts.push(expand(k, x.shape));
      k.dispose();
    }
    for (const p of parts) {
      const next: Tensor = dx ? add(dx, p) : p;
      if (dx) [dx, p].forEach((t) => t.dispose());
      dx = next;
    }
  }
  stats.dispose();
  const ifNeeded = (t: Tensor | null, k: number) => (t && needsGrad[k] ? t : (t?.dispose(), null));
  let k = 0;
  const grads = [ifNeeded(dx, k++)];
  if (gammaArg) grads.push(ifNeeded(dgamma, k++));
  else dgamma?.dispose();
  if (betaArg) grads.push(ifNeeded(dbeta, k++));
  else dbeta?.dispose();
  if (rmArg) grads.push(null, null); // running statistics: state, no gradient
  return grads;
}

/**
 * Batch norm of an NHWC tensor, differentiable (gradients to x, gamma and beta; the running statistics are
 * state, without gradients). Training mode normalises with the batch statistics and updates the running
 * statistics in place (give both or neither); eval mode needs them. Without gamma and beta: affine=False.
 */
export const batchNorm2d = defineOp<ForwardArgs, ForwardPlan>({
  name: 'batchNorm2d',
  check: (...args) => checkForward('batchNorm2d', ...args),
  gpu(_plan, ...args) {
    const { y, saved } = forwardGpu(args, false);
    saved.dispose();
    return y;
  },
  cpu: (_plan, ...args) => forwardCpu(args).y,
  backward: {
    save: (args, out) => saveForBackward(args, out),
    grad: ({ args, saved, needsGrad }, dy) => forwardGrad(args, saved, needsGrad, dy),
  },
});

interface StatsPlan extends ForwardPlan, MultiPlan<'y' | 'mean' | 'variance'> {}

/**
 * batchNorm2d that also returns the statistics it normalised with, each [C]: in training mode the batch mean and
 * biased variance (the running update uses the unbiased one), in eval mode copies of the running statistics.
 * All three outputs are differentiable (the batch statistics with respect to x).
 */
export const batchNorm2dWithStats = defineMultiOp<ForwardArgs, 'y' | 'mean' | 'variance', StatsPlan>({
  name: 'batchNorm2dWithStats',
  check(...args) {
    const p = checkForward('batchNorm2dWithStats', ...args);
    const vec = { shape: [p.C], dtype: 'f32' } as const;
    return { ...p, outputs: { y: { shape: p.shape, dtype: 'f32' }, mean: vec, variance: vec } };
  },
  gpu(_plan, ...args) {
    const { y, saved, mean, variance } = forwardGpu(args, true);
    saved.dispose();
    return { y, mean: mean!, variance: variance! };
  },
  cpu(_plan, ...args) {
    const { y, mean, variance } = forwardCpu(args);
    return { y, mean, variance };
  },
  backward: {
    save: (args, outs) => saveForBackward(args, outs.y),
    grad: ({ args, saved, needsGrad }, d) => forwardGrad(args, saved, needsGrad, d.y, d.mean, d.variance),
  },
});

interface SavedPlan extends ForwardPlan, MultiPlan<'y' | 'saved'> {}

/** batchNorm2d that also returns `saved` ([mean; invstd], [2, C]) for an explicit batchNorm2dBackward (not recorded by autograd). */
export const batchNorm2dForward = defineMultiOp<ForwardArgs, 'y' | 'saved', SavedPlan>({
  name: 'batchNorm2dForward',
  check(...args) {
    const p = checkForward('batchNorm2dForward', ...args);
    return { ...p, outputs: { y: { shape: p.shape, dtype: 'f32' }, saved: { shape: [2, p.C], dtype: 'f32' } } };
  },
  gpu(_plan, ...args) {
    const { y, saved } = forwardGpu(args, false);
    return { y, saved };
  },
  cpu(_plan, ...args) {
    const { y, saved } = forwardCpu(args);
    return { y, saved };
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
