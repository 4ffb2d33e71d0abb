/**
 * Frame attention pooling (M1, eqs. 3–4 of Meng et al.): positive frame weights w [N, T] (sigmoid outputs),
 * normalised weights a_i = w_i / Σ_j w_j, and the pooled feature out = Σ_i a_i f_i [N, D] of the frame features
 * f [N, T, D], in one pass (shaders/frame_attention_pool.wgsl). `frameAttentionPooling` returns both the pooled
 * feature and a, each differentiable; its backward takes both gradients in one call (dw in one launch).
 */
import type { Engine } from '../device/engine.js';
import { assert, fmtShape } from '../device/errors.js';
import { HostTensor, type TensorMeta } from '../graph/host.js';
import type { Tensor } from '../graph/tensor.js';
import framePoolWgsl from '../../shaders/frame_attention_pool.wgsl';
import frameBackwardFeaturesWgsl from '../../shaders/frame_attention_backward_features.wgsl';
import frameBackwardWeightsWgsl from '../../shaders/frame_attention_backward_weights.wgsl';
import { defineMultiOp, type MultiOp, type MultiPlan } from './multi-op.js';
import { defineOp, type Plan } from './op.js';
import type { Binding } from './runtime.js';
import { Uniforms } from './uniforms.js';

const kernels = {
  frame: { name: 'frame_attention_pool', code: framePoolWgsl },
  frameFeatures: { name: 'frame_attention_backward_features', code: frameBackwardFeaturesWgsl },
  frameWeights: { name: 'frame_attention_backward_weights', code: frameBackwardWeightsWgsl },
};

interface FramePlan extends Plan {
  N: number;
  T: number;
  D: number;
}

function checkFrames(op: string, w: TensorMeta, f: TensorMeta): FramePlan {
  assert(w.dtype === 'f32' && f.dtype === 'f32', op, () => `expects f32 weights and features, got ${w.dtype} ${fmtShape(w.shape)} and ${f.dtype} ${fmtShape(f.shape)}`);
  assert(w.shape.length === 2 && f.shape.length === 3, op, () => `expects weights [N, T] and features [N, T, D], got ${fmtShape(w.shape)} and ${fmtShape(f.shape)}`);
  const [N, T, D] = f.shape as [number, number, number];
  assert(w.shape[0] === N && w.shape[1] === T, op, () => `weights ${fmtShape(w.shape)} do not match features ${fmtShape(f.shape)} (expected [${N}, ${T}])`);
  assert(T > 0, op, () => `needs at least one frame, got features ${fmtShape(f.shape)}`);
  return { shape: [N, D], dtype: 'f32', N, T, D };
}

function frameUniforms(plan: FramePlan, stride = 0): Uniforms {
  return new Uniforms().u32(plan.N, plan.T, plan.D, stride);
}

function frameElementwise(engine: Engine, kernel: { name: string; code: string }, plan: FramePlan, bindings: Binding[], label: string, defines?: Record<string, number>): void {
  engine.runtime.dispatch({ kernel, ...(defines ? { defines } : {}), label: `${label} ${fmtShape([plan.N, plan.T, plan.D])}`, uniforms: frameUniforms(plan), bindings, grid: Math.ceil((plan.N * Math.max(plan.D, 1)) / 64) });
}

/** The pooled feature and, with `withWeights`, the normalised weights a = w / Σw, from one launch. */
function launchPool(plan: FramePlan, w: Tensor, f: Tensor, withWeights: boolean, label: string): { out: Tensor; a?: Tensor } {
  const engine = w.engine;
  const out = engine.empty([plan.N, plan.D]);
  const a = withWeights ? engine.empty([plan.N, plan.T]) : undefined;
  if (plan.N > 0 && (plan.D > 0 || a)) frameElementwise(engine, kernels.frame, plan, [w.binding(), f.binding(), out.binding(), ...(a ? [a.binding()] : [])], label, { WEIGHTS: a ? 1 : 0 });
  return a ? { out, a } : { out };
}

/** dw from the gradient of the pooled feature (dy, with f) and/or of the normalised weights (da), in one launch. */
function launchWeightsGrad(plan: FramePlan, w: Tensor, f: Tensor, dy: Tensor | undefined, da: Tensor | undefined, label: string): Tensor {
  const engine = w.engine;
  const dw = engine.empty([plan.N, plan.T]);
  if (plan.N === 0) return dw;
  const bindings = [w.binding(), dw.binding(), ...(dy ? [dy.binding(), f.binding()] : []), ...(da ? [da.binding()] : [])];
  engine.runtime.dispatch({
    kernel: kernels.frameWeights,
    defines: { DY: dy ? 1 : 0, DA: da ? 1 : 0, B_DA: dy ? 5 : 3 },
    label: `${label} ${fmtShape(f.shape)}`,
    uniforms: frameUniforms(plan, plan.N),
    bindings,
    grid: plan.N,
  });
  return dw;
}

/** dw_i = (u_i − Σ_j a_j u_j) / S with u_i = dy·f_i + da_i, in float64. */
function weightsGradRef(plan: FramePlan, w: HostTensor, f: HostTensor, dy: HostTensor | undefined, da: HostTensor | undefined): HostTensor {
  const { N, T, D } = plan;
  const dw = HostTensor.zeros([N, T]);
  for (let n = 0; n < N; n++) {
    let S = 0;
    for (let i = 0; i < T; i++) S += w.data[n * T + i]!;
    const u = new Float64Array(T);
    for (let i = 0; i < T; i++) {
      let v = da ? da.data[n * T + i]! : 0;
      if (dy) for (let d = 0; d < D; d++) v += dy.data[n * D + d]! * f.data[(n * T + i) * D + d]!;
      u[i] = v;
    }
    let mean = 0;
    for (let i = 0; i < T; i++) mean += (w.data[n * T + i]! / S) * u[i]!;
    for (let i = 0; i < T; i++) dw.data[n * T + i] = (u[i]! - mean) / S;
  }
  return dw;
}

function frameRef(w: HostTensor, f: HostTensor, plan: FramePlan): { out: HostTensor; sums: Float64Array; a: HostTensor } {
  const { N, T, D } = plan;
  const out = HostTensor.zeros([N, D]);
  const sums = new Float64Array(N);
  const a = HostTensor.zeros([N, T]);
  for (let n = 0; n < N; n++) {
    let s = 0;
    for (let i = 0; i < T; i++) s += w.data[n * T + i]!;
    sums[n] = s;
    for (let i = 0; i < T; i++) a.data[n * T + i] = w.data[n * T + i]! / s;
    for (let d = 0; d < D; d++) {
      let acc = 0;
      for (let i = 0; i < T; i++) acc += w.data[n * T + i]! * f.data[(n * T + i) * D + d]!;
      out.data[n * D + d] = acc / s;
    }
  }
  return { out, sums, a };
}

export const frameAttentionPoolBackwardWeights = defineOp<[dy: Tensor, w: Tensor, f: Tensor], FramePlan>({
  name: 'frameAttentionPoolBackwardWeights',
  check(dy, w, f) {
    const plan = checkFrames('frameAttentionPoolBackwardWeights', w, f);
    assert(dy.dtype === 'f32' && dy.shape.join() === plan.shape.join(), 'frameAttentionPoolBackwardWeights', () => `dy must be f32 ${fmtShape(plan.shape)}, got ${dy.dtype} ${fmtShape(dy.shape)}`);
    return { ...plan, shape: [plan.N, plan.T] };
  },
  gpu: (plan, dy, w, f) => launchWeightsGrad(plan, w, f, dy, undefined, 'frameAttentionPoolBackwardWeights'),
  cpu: (plan, dy, w, f) => weightsGradRef(plan, w, f, dy, undefined),
});

export const frameAttentionPoolBackwardFeatures = defineOp<[dy: Tensor, w: Tensor, f: Tensor], FramePlan>({
  name: 'frameAttentionPoolBackwardFeatures',
  check(dy, w, f) {
    const plan = checkFrames('frameAttentionPoolBackwardFeatures', w, f);
    assert(dy.dtype === 'f32' && dy.shape.join() === plan.shape.join(), 'frameAttentionPoolBackwardFeatures', () => `dy must be f32 ${fmtShape(plan.shape)}, got ${dy.dtype} ${fmtShape(dy.shape)}`);
    return { ...plan, shape: [plan.N, plan.T, plan.D] };
  },
  gpu(plan, dy, w) {
    const df = w.engine.empty(plan.shape);
    frameElementwise(w.engine, kernels.frameFeatures, plan, [dy.binding(), w.binding(), df.binding()], 'frameAttentionPoolBackwardFeatures');
    return df;
  },
  cpu(plan, dy, w) {
    const { N, T, D } = plan;
    const df = HostTensor.zeros([N, T, D]);
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let i = 0; i < T; i++) s += w.data[n * T + i]!;
      for (let i = 0; i < T; i++) for (let d = 0; d < D; d++) df.data[(n * T + i) * D + d] = (w.data[n * T + i]! / s) * dy.data[n * D + d]!;
    }
    return df;
  },
});

/** Σ_i (w_i / Σ_j w_j) f_i: weights [N, T] (positive), features [N, T, D] → [N, D]. */
export const frameAttentionPool = defineOp<[w: Tensor, f: Tensor], FramePlan>({
  name: 'frameAttentionPool',
  check: (w, f) => checkFrames('frameAttentionPool', w, f),
  gpu: (plan, w, f) => launchPool(plan, w, f, false, 'frameAttentionPool').out,
  cpu: (plan, w, f) => frameRef(w, f, plan).out,
  backward: {
    save: ([w, f]) => [w, f],
    grad({ saved, needsGrad }, dy) {
      const [w, f] = saved as [Tensor, Tensor];
      return [needsGrad[0] ? frameAttentionPoolBackwardWeights(dy, w, f) : null, needsGrad[1] ? frameAttentionPoolBackwardFeatures(dy, w, f) : null];
    },
  },
});

/** Both gradients of frameAttentionPool. */
export const frameAttentionPoolBackward: MultiOp<[dy: Tensor, w: Tensor, f: Tensor], 'dw' | 'df'> = defineMultiOp<[dy: Tensor, w: Tensor, f: Tensor], 'dw' | 'df', MultiPlan<'dw' | 'df'>>({
  name: 'frameAttentionPoolBackward',
  check(dy, w, f) {
    const dw = frameAttentionPoolBackwardWeights.decl.check(dy, w, f);
    const df = frameAttentionPoolBackwardFeatures.decl.check(dy, w, f);
    return { outputs: { dw: { shape: dw.shape, dtype: 'f32' }, df: { shape: df.shape, dtype: 'f32' } } };
  },
  gpu: (_plan, dy, w, f) => ({ dw: frameAttentionPoolBackwardWeights(dy, w, f), df: frameAttentionPoolBackwardFeatures(dy, w, f) }),
  cpu: (_plan, dy, w, f) => ({ dw: frameAttentionPoolBackwardWeights.cpu(dy, w, f), df: frameAttentionPoolBackwardFeatures.cpu(dy, w, f) }),
});

interface PoolingPlan extends FramePlan, MultiPlan<'pooled' | 'weights'> {}

/**
 * The pooled feature Σ_i a_i f_i [N, D] and the normalised weights a = w / Σw [N, T] from one launch, both
 * differentiable: the backward takes both gradients in one call (dw in one launch, df from the pooled one).
 */
export const frameAttentionPooling: MultiOp<[w: Tensor, f: Tensor], 'pooled' | 'weights', PoolingPlan> = defineMultiOp<[w: Tensor, f: Tensor], 'pooled' | 'weights', PoolingPlan>({
  name: 'frameAttentionPooling',
  check(w, f) {
    const p = checkFrames('frameAttentionPooling', w, f);
    return { ...p, outputs: { pooled: { shape: [p.N, p.D], dtype: 'f32' }, weights: { shape: [p.N, p.T], dtype: 'f32' } } };
  },
  gpu(plan, w, f) {
    const r = launchPool(plan, w, f, true, 'frameAttentionPooling');
    return { pooled: r.out, weights: r.a! };
  },
  cpu(plan, w, f) {
    const r = frameRef(w, f, plan);
    return { pooled: r.out, weights: r.a };
  },
  backward: {
    save: ([w, f]) => [w, f],
    grad({ plan, saved, needsGrad }, d) {
      const [w, f] = saved as [Tensor, Tensor];
      const dw = needsGrad[0] ? launchWeightsGrad(plan, w, f, d.pooled, d.weights, 'frameAttentionPooling backward') : null;
      const df = needsGrad[1] && d.pooled ? frameAttentionPoolBackwardFeatures(d.pooled, w, f) : null;
      return [dw, df];
    },
  },
});
