/**
 * Gradients of conv2d, as ops (autograd attaches them by name): to the input (a transposed convolution run
 * directly, one stride phase at a time, without a col2im buffer), to the weights (a GEMM reducing over
 * output pixels) and to the bias (Σ dy over N, H, W). They take the forward's geometry options (stride,
 * padding, dilation, groups). When the forward fused a ReLU, dy must already be masked by the output's sign
 * (and a fused residual's gradient is dy itself): these ops differentiate the convolution alone.
 */
import { assert, fmtShape } from '../device/errors.js';
import type { Tensor } from '../graph/tensor.js';
import { checkF32, checkShapeIs, convGeometry, isDepthwise, outShape, type ConvGeometryOptions } from './conv-geometry.js';
import { columnSum, conv2dBackwardWeightKernel, conv2dDepthwiseKernel, conv2dKernel, type ConvProblem } from './conv-gpu.js';
import { channelSumReference, conv2dBackwardInputReference, conv2dBackwardWeightReference } from './conv-reference.js';
import type { ConvPlan } from './conv.js';
import { defineOp, type Plan } from './op.js';

/** dx [N, H, W, C_in] from dy [N, H_out, W_out, C_out] and the weights; `xShape` is the forward input's shape. */
export const conv2dBackwardInput = defineOp<[dy: Tensor, w: Tensor, xShape: readonly number[], options?: ConvGeometryOptions], ConvPlan>({
  name: 'conv2dBackwardInput',
  check(dy, w, xShape, options = {}) {
    const op = 'conv2dBackwardInput';
    checkF32(op, ['output gradient', dy], ['weights', w]);
    const geometry = convGeometry(op, xShape, w.shape, options);
    checkShapeIs(op, 'output gradient', dy, outShape(geometry), `the forward output of input ${fmtShape(xShape)} * weights ${fmtShape(w.shape)}:`);
    return { shape: [...xShape], dtype: 'f32', geometry, relu: false };
  },
  gpu(plan, dy, w) {
    const g = plan.geometry;
    const problem: ConvProblem = { kind: 'backward-input', g, dy, w };
    const kernel = isDepthwise(g) ? conv2dDepthwiseKernel : conv2dKernel;
    return dy.engine.variants.pick(kernel).run(dy.engine, problem) as Tensor;
  },
  cpu(plan, dy, w) {
    return conv2dBackwardInputReference(plan.geometry, dy, w);
  },
});

/** dw [kH, kW, C_in / groups, C_out] from the forward input x and dy; `wShape` is the weights' shape. */
export const conv2dBackwardWeight = defineOp<[x: Tensor, dy: Tensor, wShape: readonly number[], options?: ConvGeometryOptions], ConvPlan>({
  name: 'conv2dBackwardWeight',
  check(x, dy, wShape, options = {}) {
    const op = 'conv2dBackwardWeight';
    checkF32(op, ['input', x], ['output gradient', dy]);
    const geometry = convGeometry(op, x.shape, wShape, options);
    checkShapeIs(op, 'output gradient', dy, outShape(geometry), `the forward output of input ${fmtShape(x.shape)} * weights ${fmtShape(wShape)}:`);
    return { shape: [...wShape], dtype: 'f32', geometry, relu: false };
  },
  gpu(plan, x, dy) {
    const g = plan.geometry;
    const problem: ConvProblem = { kind: 'backward-weight', g, x, dy };
    const kernel = isDepthwise(g) ? conv2dDepthwiseKernel : conv2dBackwardWeightKernel;
    return x.engine.variants.pick(kernel).run(x.engine, problem) as Tensor;
  },
  cpu(plan, x, dy) {
    return conv2dBackwardWeightReference(plan.geometry, x, dy);
  },
});

/** The bias gradient [C_out]: dy [N, H_out, W_out, C_out] summed over N, H and W. */
export const conv2dBackwardBias = defineOp<[dy: Tensor], Plan>({
  name: 'conv2dBackwardBias',
  check(dy) {
    const op = 'conv2dBackwardBias';
    checkF32(op, ['output gradient', dy]);
    assert(dy.shape.length === 4, op, () => `expects the output gradient as NHWC [N, H, W, C], got ${fmtShape(dy.shape)}`);
    return { shape: [dy.shape[3]!], dtype: 'f32' };
  },
  gpu(plan, dy) {
    const c = plan.shape[0]!;
    const out = dy.engine.empty([c]);
    if (c > 0) columnSum(dy.engine, dy, dy.size / c, c, out, `conv2dBackwardBias ${fmtShape(dy.shape)}`);
    return out;
  },
  cpu(_plan, dy) {
    return channelSumReference(dy);
  },
});
