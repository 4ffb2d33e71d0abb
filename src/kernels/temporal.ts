/**
 * Pooling over the frames of a clip, fused, with backward:
 *
 * - Temporal softmax pooling (M2, eqs. 5–6 of Aminbeidokhti et al.): scores o [N, T, E] (frames × classes) go
 *   through ONE softmax over all T·E entries of a clip, p(c, f); its marginals are the clip's class
 *   distribution p(c) = Σ_f p(c, f) and the frame importances p(f) = Σ_c p(c, f), and the loss is −log p(y).
 *   log p(c) is computed as LSE_f(o[·, c]) − LSE(o), so it stays finite where p(c) underflows. One kernel
 *   (shaders/temporal_pool.wgsl) writes any subset of {p(c), log p(c), p(f), p(c, f), −log p(y)}; one backward
 *   kernel sums the gradients of whichever outputs have one.
 *   `temporalSoftmaxPooling` returns all of them from one launch and is differentiable in every output, its
 *   backward one launch of that kernel. (Frame attention pooling, M1's: frame-attention.ts.)
 *
 * Losses follow the cross-entropy op: labels are an i32 tensor [N] or a host array (range-checked on the host;
 * an out-of-range label in a tensor gives NaN), 'mean' gives a 0-d tensor (shape [], as PyTorch) and 'none' gives [N].
 */
import type { Engine } from '../device/engine.js';
import { assert, fmtShape } from '../device/errors.js';
import { HostTensor, type TensorMeta } from '../graph/host.js';
import type { Tensor } from '../graph/tensor.js';
import poolWgsl from '../../shaders/temporal_pool.wgsl';
import poolBackwardWgsl from '../../shaders/temporal_pool_backward.wgsl';
import poolStreamWgsl from '../../shaders/temporal_pool_stream.wgsl';
import { fitsLinearTexture, linearTexture } from './linear-texture.js';
import { defineMultiOp, type MultiOp, type MultiPlan } from './multi-op.js';
import { defineOp, type Op, type Plan } from './op.js';
import type { Binding } from './runtime.js';
import { checkLabelsArg, hostLabels, labelsBinding, type Labels } from './softmax.js';
import { Uniforms } from './uniforms.js';
import { registerTunable, type TunableKernel } from './variants.js';

const kernels = {
  pool: { name: 'temporal_pool', code: poolWgsl },
  poolBackward: { name: 'temporal_pool_backward', code: poolBackwardWgsl },
  stream: { name: 'temporal_pool_stream', code: poolStreamWgsl },
};

export type PoolReduction = 'mean' | 'none';

/** Workgroups of a pooling launch; more clips than that are walked with a stride. */
const MAX_WORKGROUPS = 256;
type LabelMeta = TensorMeta | readonly number[] | Int32Array;
type HostLabels = HostTensor | readonly number[] | Int32Array;

// ================================================================================ temporal softmax pooling

interface ScoresPlan extends Plan {
  N: number;
  T: number;
  E: number;
}

function checkScores(op: string, scores: TensorMeta): { N: number; T: number; E: number } {
  assert(scores.dtype === 'f32', op, () => `scores must be f32, got ${scores.dtype} ${fmtShape(scores.shape)}`);
  assert(scores.shape.length === 3, op, () => `scores must be [N, T, E] (clips, frames, classes), got ${fmtShape(scores.shape)}`);
  const [N, T, E] = scores.shape as [number, number, number];
  assert(T > 0 && E > 0, op, () => `scores ${fmtShape(scores.shape)} need at least one frame and one class`);
  return { N, T, E };
}

function checkReduction(op: string, reduction: PoolReduction): void {
  assert(reduction === 'mean' || reduction === 'none', op, () => `reduction must be 'mean' or 'none', got '${String(reduction)}'`);
}

/** Which outputs a launch of the forward kernel writes. */
interface PoolOutputs {
  probs?: Tensor;
  logProbs?: Tensor;
  frameWeights?: Tensor;
  joint?: Tensor;
  loss?: { tensor: Tensor; labels: Labels; mean: boolean };
}

/** Classes up to which the streaming kernel keeps its column sums in registers. */
const STREAM_MAX_CLASSES = 32;
/**
 * Scores up to this size go through the linear texture in the `stream-texture` variant. Measured on lavapipe
 * (2 cores): at 7 MB the copy and the reads stay in cache and the texture path is 1.3× faster than the buffer
 * path; at 15 and 29 MB the copy costs more than it saves (the buffer path is 1.7× and 1.2× faster).
 */
const STREAM_TEXTURE_MAX_BYTES = 8 * 2 ** 20;

function launchPool(scores: Tensor, N: number, T: number, E: number, outs: PoolOutputs, layout?: string): void {
  const engine = scores.engine;
  const chosen = layout ?? engine.variants.pick(temporalPoolKernel).name;
  if (chosen.startsWith('stream') && !outs.loss && !outs.frameWeights && !outs.joint && E <= STREAM_MAX_CLASSES) {
    launchStream(scores, N, T, E, outs, chosen === 'stream-texture');
    return;
  }
  const bindings: Binding[] = [scores.binding()];
  const defines: Record<string, number> = { PROBS: 0, LOGP: 0, COLUMNS: 0, FRAMES: 0, JOINT: 0, LOSS: 0, MEAN: 0 };
  let release = () => {};
  if (outs.loss) {
    const l = labelsBinding(engine, outs.loss.labels, { classes: E, op: `temporalSoftmaxPoolLoss ${fmtShape(scores.shape)}` });
    release = l.release;
    bindings.push(l.binding, outs.loss.tensor.binding());
    Object.assign(defines, { LOSS: 1, MEAN: outs.loss.mean ? 1 : 0, B_LOSS: 3 });
  }
  const add = (key: string, bkey: string, t: Tensor | undefined) => {
    if (!t) return;
    bindings.push(t.binding());
    defines[key] = 1;
    defines[bkey] = bindings.length;
  };
  add('PROBS', 'B_PROBS', outs.probs);
  add('LOGP', 'B_LOGP', outs.logProbs);
  add('FRAMES', 'B_FRAMES', outs.frameWeights);
  add('JOINT', 'B_JOINT', outs.joint);
  defines.COLUMNS = defines.PROBS! || defines.LOGP!;
  // With a fixed subgroup size the workgroup is one subgroup and lanes combine by shuffles (no barrier);
  // TPC invocations per clip (a power of two ≥ E, capped by the workgroup), WG/TPC clips per workgroup.
  // The streaming variant hands what it does not serve to the shuffle layout where there is one.
  const sg = chosen === 'subgroup' || (chosen.startsWith('stream') && oneSubgroup(engine)) ? engine.fixedSubgroupSize! : undefined;
  const wg = sg ?? 64;
  const tpc = Math.min(wg, 2 ** Math.ceil(Math.log2(Math.max(1, E))));
  Object.assign(defines, { SG: wg === sg ? 1 : 0, WG: wg, TPC: tpc });
  const groups = Math.ceil(N / (wg / tpc));
  // A batch-mean loss is summed by one workgroup walking every clip. Otherwise workgroups walk groups of clips
  // with a stride: a CPU adapter pays a fixed cost per workgroup, so thousands of tiny ones cost more than the work.
  const grid = outs.loss?.mean ? 1 : Math.min(groups, MAX_WORKGROUPS);
  engine.runtime.dispatch({
    kernel: kernels.pool,
    defines,
    label: `temporalSoftmaxPool ${fmtShape([N, T, E])}`,
    uniforms: new Uniforms().u32(N, T, E, groups, grid).f32(NaN),
    bindings,
    grid,
  });
  release();
}

/** p(c) and/or log p(c) alone: one invocation per clip, one pass over its scores (temporal_pool_stream.wgsl). */
function launchStream(scores: Tensor, N: number, T: number, E: number, outs: PoolOutputs, texture: boolean): void {
  const engine = scores.engine;
  const label = `temporalSoftmaxPool ${fmtShape([N, T, E])} (stream)`;
  // Every clip starts on a texel when T·E is a multiple of 4: then 4 frames load as E texels.
  const vec = (T * E) % 4 === 0;
  const staged = vec && texture && scores.bytes <= STREAM_TEXTURE_MAX_BYTES && fitsLinearTexture(engine, scores) ? linearTexture(engine, scores, label) : undefined;
  const bindings: Binding[] = [staged ? { view: staged.texture.view } : scores.binding()];
  const defines: Record<string, number> = { E, VEC: vec ? 1 : 0, TEXTURE: staged ? 1 : 0, PROBS: 0, LOGP: 0 };
  if (outs.probs) bindings.push(outs.probs.binding());
  defines.PROBS = outs.probs ? 1 : 0;
  defines.B_PROBS = bindings.length;
  if (outs.logProbs) bindings.push(outs.logProbs.binding());
  defines.LOGP = outs.logProbs ? 1 : 0;
  defines.B_LOGP = bindings.length;
  engine.runtime.dispatch({ kernel: kernels.stream, defines, label, uniforms: new Uniforms().u32(N, T), bindings, grid: Math.ceil(N / 64) });
  staged?.release();
}

/** p(c) with a given layout (the tuner times each). */
function poolWith(engine: Engine, x: Tensor, layout: string): Tensor {
  const [N, T, E] = x.shape as [number, number, number];
  const out = engine.empty([N, E]);
  launchPool(x, N, T, E, { probs: out }, layout);
  return out;
}

const oneSubgroup = (e: Engine) => e.features.has('subgroups') && e.fixedSubgroupSize !== undefined && e.fixedSubgroupSize >= 4 && e.fixedSubgroupSize <= 64;

/**
 * The forward's layouts: one clip per invocation streaming its scores once (p(c) and log p(c) alone, up to 32
 * classes, from the buffer or from a linear texture; other outputs go to `subgroup` or `workgroup`), lanes per
 * class column combining by shuffles within one subgroup, or the same with 64 invocations and barriers.
 */
export const temporalPoolKernel: TunableKernel<Tensor> = registerTunable<Tensor>({
  name: 'temporal-pool',
  variants: [
    { name: 'stream-texture', supported: () => true, run: (e, x) => poolWith(e, x, 'stream-texture') },
    { name: 'stream', supported: () => true, run: (e, x) => poolWith(e, x, 'stream') },
    { name: 'subgroup', supported: oneSubgroup, run: (e, x) => poolWith(e, x, 'subgroup') },
    { name: 'workgroup', supported: () => true, run: (e, x) => poolWith(e, x, 'workgroup') },
  ],
  sample(engine) {
    const x = engine.tensor(Float32Array.from({ length: 4096 * 16 * 7 }, (_, i) => Math.sin(i)), [4096, 16, 7]);
    return { problem: x, dispose: () => x.dispose() };
  },
});

/** Upstream gradients of the pooled outputs (any subset). */
export interface TemporalPoolGrads {
  probs?: Tensor;
  logProbs?: Tensor;
  frameWeights?: Tensor;
  /** Gradient of the joint distribution p(c, f) [N, T, E]. */
  joint?: Tensor;
  /** Gradient of the loss ([] for 'mean', [N] for 'none'); needs `labels`. */
  loss?: Tensor;
}

interface HostTemporalPoolGrads {
  probs?: HostTensor;
  logProbs?: HostTensor;
  frameWeights?: HostTensor;
  joint?: HostTensor;
  loss?: HostTensor;
}

function launchPoolBackward(scores: Tensor, N: number, T: number, E: number, g: TemporalPoolGrads, labels: Labels | undefined, mean: boolean): Tensor {
  const engine = scores.engine;
  const dscores = engine.empty([N, T, E]);
  const bindings: Binding[] = [scores.binding(), dscores.binding()];
  const defines: Record<string, number> = { GP: 0, GL: 0, GF: 0, GJ: 0, LOSS: 0, MEAN: 0 };
  const add = (key: string, t: Tensor | undefined) => {
    if (!t) return;
    bindings.push(t.binding());
    defines[key] = 1;
    defines[`B_${key}`] = bindings.length;
  };
  add('GP', g.probs);
  add('GL', g.logProbs);
  add('GF', g.frameWeights);
  add('GJ', g.joint);
  let release = () => {};
  if (g.loss) {
    const l = labelsBinding(engine, labels!);
    release = l.release;
    add('GLOSS', g.loss);
    bindings.push(l.binding);
    Object.assign(defines, { LOSS: 1, MEAN: mean ? 1 : 0, B_LABELS: bindings.length });
  }
  engine.runtime.dispatch({
    kernel: kernels.poolBackward,
    defines,
    label: `temporalSoftmaxPoolBackward ${fmtShape([N, T, E])}`,
    uniforms: new Uniforms().u32(N, T, E, N),
    bindings,
    grid: N,
  });
  release();
  return dscores;
}

// ---------------------------------------------------------------------------------- CPU reference

interface PoolRef {
  probs: HostTensor;
  logProbs: HostTensor;
  frameWeights: HostTensor;
  joint: HostTensor;
  /** Per clip −log p(y), when labels were given. */
  losses?: Float64Array;
  lse: Float64Array;
  colLse: Float64Array;
}

function poolRef(scores: HostTensor, labels?: ArrayLike<number>): PoolRef {
  const [N, T, E] = scores.shape as [number, number, number];
  const r: PoolRef = {
    probs: HostTensor.zeros([N, E]),
    logProbs: HostTensor.zeros([N, E]),
    frameWeights: HostTensor.zeros([N, T]),
    joint: HostTensor.zeros([N, T, E]),
    lse: new Float64Array(N),
    colLse: new Float64Array(N * E),
  };
  const o = (n: number, f: number, c: number) => scores.data[(n * T + f) * E + c]!;
  for (let n = 0; n < N; n++) {
    let mx = -Infinity;
    for (let i = 0; i < T * E; i++) mx = Math.max(mx, scores.data[n * T * E + i]!);
    let z = 0;
    for (let i = 0; i < T * E; i++) z += Math.exp(scores.data[n * T * E + i]! - mx);
    const lse = mx + Math.log(z);
    r.lse[n] = lse;
    for (let c = 0; c < E; c++) {
      let cm = -Infinity;
      for (let f = 0; f < T; f++) cm = Math.max(cm, o(n, f, c));
      let s = 0;
      for (let f = 0; f < T; f++) s += Math.exp(o(n, f, c) - cm);
      const cl = cm + Math.log(s);
      r.colLse[n * E + c] = cl;
      r.logProbs.data[n * E + c] = cl - lse;
      r.probs.data[n * E + c] = Math.exp(cl - lse);
    }
    for (let f = 0; f < T; f++) {
      let s = 0;
      for (let c = 0; c < E; c++) {
        const j = Math.exp(o(n, f, c) - lse);
        r.joint.data[(n * T + f) * E + c] = j;
        s += j;
      }
      r.frameWeights.data[n * T + f] = s;
    }
  }
  if (labels) {
    r.losses = new Float64Array(N);
    for (let n = 0; n < N; n++) {
      const y = labels[n]!;
      r.losses[n] = Number.isInteger(y) && y >= 0 && y < E ? r.lse[n]! - r.colLse[n * E + y]! : NaN;
    }
  }
  return r;
}

function lossTensor(losses: Float64Array, mean: boolean): HostTensor {
  if (!mean) return HostTensor.from(losses, [losses.length]);
  return HostTensor.from([losses.reduce((a, b) => a + b, 0) / losses.length], []);
}

function poolBackwardRef(scores: HostTensor, g: HostTemporalPoolGrads, labels: ArrayLike<number> | undefined, mean: boolean): HostTensor {
  const [N, T, E] = scores.shape as [number, number, number];
  const r = poolRef(scores, labels);
  const d = HostTensor.zeros([N, T, E]);
  for (let n = 0; n < N; n++) {
    let sumGp = 0;
    let sumGl = 0;
    let sumGf = 0;
    let sumGj = 0;
    if (g.joint) for (let i = 0; i < T * E; i++) sumGj += g.joint.data[n * T * E + i]! * r.joint.data[n * T * E + i]!;
    for (let c = 0; c < E; c++) {
      if (g.probs) sumGp += g.probs.data[n * E + c]! * r.probs.data[n * E + c]!;
      if (g.logProbs) sumGl += g.logProbs.data[n * E + c]!;
    }
    if (g.frameWeights) for (let f = 0; f < T; f++) sumGf += g.frameWeights.data[n * T + f]! * r.frameWeights.data[n * T + f]!;
    const gLoss = g.loss ? (mean ? g.loss.data[0]! / N : g.loss.data[n]!) : 0;
    const y = labels?.[n];
    for (let f = 0; f < T; f++) {
      for (let c = 0; c < E; c++) {
        const i = (n * T + f) * E + c;
        const o = scores.data[i]!;
        const J = Math.exp(o - r.lse[n]!);
        let v = 0;
        if (g.probs) v += J * (g.probs.data[n * E + c]! - sumGp);
        if (g.logProbs) v += Math.exp(o - r.colLse[n * E + c]!) * g.logProbs.data[n * E + c]! - J * sumGl;
        if (g.frameWeights) v += J * (g.frameWeights.data[n * T + f]! - sumGf);
        if (g.joint) v += J * (g.joint.data[i]! - sumGj);
        if (g.loss) v += gLoss * (J - (c === y ? Math.exp(o - r.colLse[n * E + c]!) : 0));
        d.data[i] = v;
      }
    }
  }
  return d;
}

// ------------------------------------------------------------------------------------------- ops

type PoolOutput = 'probs' | 'logProbs' | 'frameWeights';

function pooledOp(name: string, output: PoolOutput): Op<[scores: Tensor], ScoresPlan> {
  return defineOp<[scores: Tensor], ScoresPlan>({
    name,
    check(scores) {
      const { N, T, E } = checkScores(name, scores);
      return { shape: output === 'frameWeights' ? [N, T] : [N, E], dtype: 'f32', N, T, E };
    },
    gpu(plan, scores) {
      const out = scores.engine.empty(plan.shape);
      if (plan.N > 0) launchPool(scores, plan.N, plan.T, plan.E, { [output]: out });
      return out;
    },
    cpu: (_plan, scores) => poolRef(scores)[output],
    backward: {
      save: ([scores]) => [scores],
      grad: ({ plan, saved }, dy) => [launchPoolBackward(saved[0]!, plan.N, plan.T, plan.E, { [output]: dy }, undefined, false)],
    },
  });
}

/** p(c | clip) = Σ_f softmax over all T·E scores: [N, T, E] → [N, E]. */
export const temporalSoftmaxPool = pooledOp('temporalSoftmaxPool', 'probs');
/** log p(c | clip), via log-sum-exp (M2's logits): [N, T, E] → [N, E]. */
export const temporalLogSoftmaxPool = pooledOp('temporalLogSoftmaxPool', 'logProbs');
/** p(f | clip) = Σ_c p(c, f), the frame importances: [N, T, E] → [N, T]. */
export const temporalFrameWeights = pooledOp('temporalFrameWeights', 'frameWeights');

interface LossPlan extends ScoresPlan {
  mean: boolean;
}

function checkLoss(op: string, scores: TensorMeta, labels: LabelMeta, reduction: PoolReduction): LossPlan {
  const { N, T, E } = checkScores(op, scores);
  checkReduction(op, reduction);
  assert(N > 0, op, () => `scores ${fmtShape(scores.shape)} need at least one clip for a loss`);
  checkLabelsArg(op, labels, N, E);
  const mean = reduction === 'mean';
  return { shape: mean ? [] : [N], dtype: 'f32', N, T, E, mean };
}

/** −log p(y | clip) (eq. 6), the mean over clips (0-d) or per clip ([N]). */
export const temporalSoftmaxPoolLoss = defineOp<[scores: Tensor, labels: Labels, reduction?: PoolReduction], LossPlan>({
  name: 'temporalSoftmaxPoolLoss',
  check: (scores, labels, reduction = 'mean') => checkLoss('temporalSoftmaxPoolLoss', scores, labels, reduction),
  gpu(plan, scores, labels) {
    const loss = scores.engine.empty(plan.shape);
    launchPool(scores, plan.N, plan.T, plan.E, { loss: { tensor: loss, labels, mean: plan.mean } });
    return loss;
  },
  cpu(plan, scores, labels) {
    return lossTensor(poolRef(scores, hostLabels(labels as unknown as HostLabels)).losses!, plan.mean);
  },
  backward: {
    save: ([scores, labels]) => [scores, ...(isTensor(labels) ? [labels] : [])],
    grad({ plan, args, saved }, dy) {
      const labels = isTensor(args[1]) ? saved[1]! : args[1];
      const d = launchPoolBackward(saved[0]!, plan.N, plan.T, plan.E, { loss: dy }, labels, plan.mean);
      return isTensor(args[1]) ? [d, null] : [d];
    },
  },
});

function isTensor(x: unknown): x is Tensor {
  return typeof x === 'object' && x !== null && 'storage' in x && 'shape' in x;
}

interface BackwardPlan extends ScoresPlan {
  mean: boolean;
}

function checkGrads(op: string, scores: TensorMeta, g: { probs?: TensorMeta; logProbs?: TensorMeta; frameWeights?: TensorMeta; joint?: TensorMeta; loss?: TensorMeta }, labels: LabelMeta | undefined, reduction: PoolReduction): BackwardPlan {
  const { N, T, E } = checkScores(op, scores);
  checkReduction(op, reduction);
  const expect: [keyof typeof g, number[]][] = [
    ['probs', [N, E]],
    ['logProbs', [N, E]],
    ['frameWeights', [N, T]],
    ['joint', [N, T, E]],
    ['loss', reduction === 'mean' ? [] : [N]],
  ];
  for (const [key, shape] of expect) {
    const t = g[key];
    if (t) assert(t.dtype === 'f32' && t.shape.join() === shape.join(), op, () => `gradient of ${key} must be f32 ${fmtShape(shape)} for scores ${fmtShape(scores.shape)} (reduction '${reduction}'), got ${t.dtype} ${fmtShape(t.shape)}`);
  }
  assert(g.probs || g.logProbs || g.frameWeights || g.joint || g.loss, op, () => 'needs at least one output gradient (probs, logProbs, frameWeights, joint or loss)');
  if (g.loss) {
    assert(labels !== undefined, op, () => 'a loss gradient needs the labels');
    checkLabelsArg(op, labels, N, E);
  }
  return { shape: [N, T, E], dtype: 'f32', N, T, E, mean: reduction === 'mean' };
}

/** Gradient to the scores from the gradients of any of p(c), log p(c), p(f), p(c, f) and the loss, in one kernel. */
export const temporalSoftmaxPoolBackward = defineOp<[scores: Tensor, grads: TemporalPoolGrads, labels?: Labels, reduction?: PoolReduction], BackwardPlan>({
  name: 'temporalSoftmaxPoolBackward',
  check: (scores, grads, labels, reduction = 'mean') => checkGrads('temporalSoftmaxPoolBackward', scores, grads, labels, reduction),
  gpu: (plan, scores, grads, labels) => launchPoolBackward(scores, plan.N, plan.T, plan.E, grads, labels, plan.mean),
  cpu: (plan, scores, grads, labels) => poolBackwardRef(scores, grads as unknown as HostTemporalPoolGrads, labels === undefined ? undefined : hostLabels(labels as unknown as HostLabels), plan.mean),
});

export interface TemporalPoolingOptions {
  /** With labels, the loss −log p(y) is computed too. */
  labels?: Labels;
  reduction?: PoolReduction;
}

type AllOutputs = 'probs' | 'logProbs' | 'frameWeights' | 'joint' | 'loss';
interface AllPlan extends MultiPlan<AllOutputs> {
  N: number;
  T: number;
  E: number;
  mean: boolean;
  withLoss: boolean;
}

/**
 * Every output of temporal softmax pooling from ONE kernel launch: probs [N, E], logProbs [N, E],
 * frameWeights [N, T], joint [N, T, E] and, with labels, loss (0-d for 'mean', [N] for 'none'; without labels an
 * empty [0]). Differentiable in every output: the backward is one launch of the backward kernel, whatever
 * subset of the outputs got a gradient.
 */
export const temporalSoftmaxPooling: MultiOp<[scores: Tensor, options?: TemporalPoolingOptions], AllOutputs, AllPlan> = defineMultiOp<[scores: Tensor, options?: TemporalPoolingOptions], AllOutputs, AllPlan>({
  name: 'temporalSoftmaxPooling',
  check(scores, options = {}) {
    const op = 'temporalSoftmaxPooling';
    const { N, T, E } = checkScores(op, scores);
    const reduction = options.reduction ?? 'mean';
    checkReduction(op, reduction);
    const withLoss = options.labels !== undefined;
    if (withLoss) {
      assert(N > 0, op, () => `scores ${fmtShape(scores.shape)} need at least one clip for a loss`);
      checkLabelsArg(op, options.labels as LabelMeta, N, E);
    }
    const mean = reduction === 'mean';
    const f32 = (shape: number[]) => ({ shape, dtype: 'f32' as const });
    return {
      N,
      T,
      E,
      mean,
      withLoss,
      outputs: { probs: f32([N, E]), logProbs: f32([N, E]), frameWeights: f32([N, T]), joint: f32([N, T, E]), loss: f32(withLoss ? (mean ? [] : [N]) : [0]) },
    };
  },
  gpu(plan, scores, options = {}) {
    const engine = scores.engine;
    const o = plan.outputs;
    const r = { probs: engine.empty(o.probs.shape), logProbs: engine.empty(o.logProbs.shape), frameWeights: engine.empty(o.frameWeights.shape), joint: engine.empty(o.joint.shape), loss: engine.empty(o.loss.shape) };
    if (plan.N > 0) launchPool(scores, plan.N, plan.T, plan.E, { ...r, loss: plan.withLoss ? { tensor: r.loss, labels: options.labels!, mean: plan.mean } : undefined });
    return r;
  },
  cpu(plan, scores, options = {}) {
    const labels = options.labels === undefined ? undefined : hostLabels(options.labels as unknown as HostLabels);
    const r = poolRef(scores, labels);
    return { probs: r.probs, logProbs: r.logProbs, frameWeights: r.frameWeights, joint: r.joint, loss: r.losses ? lossTensor(r.losses, plan.mean) : HostTensor.zeros([0]) };
  },
  backward: {
    save: ([scores, options]) => [scores, ...(isTensor(options?.labels) ? [options!.labels as Tensor] : [])],
    grad({ plan, args, saved }, d) {
      const labels = isTensor(args[1]?.labels) ? saved[1] : args[1]?.labels;
      const grads: TemporalPoolGrads = { probs: d.probs, logProbs: d.logProbs, frameWeights: d.frameWeights, joint: d.joint, ...(plan.withLoss ? { loss: d.loss } : {}) };
      const given = Object.values(grads).some(Boolean);
      const ds = given ? launchPoolBackward(saved[0]!, plan.N, plan.T, plan.E, grads, labels, plan.mean) : null;
      return isTensor(args[1]?.labels) ? [ds, null] : [ds];
    },
  },
});
