/** Every op, by name. */
export { abs, add, div, exp, log, maximum, minimum, mul, neg, pow, relu, sigmoid, sqrt, sub, tanh } from './elementwise.js';
export { fill } from './fill.js';
export type { BinaryOp, UnaryOp } from './elementwise.js';
export { matmul, matmulCpu, matmulKernel, type Activation, type HostMatmulOptions, type MatmulOptions, type MatmulPlan } from './matmul.js';
export { argmax, max, mean, min, reduceRowsKernel, sum, type ReduceKind, type ReduceOp, type ReducePlan } from './reduce.js';
export { concat, expand, permute, slice, transpose, transposeKernel, type ConcatPlan, type PermutePlan, type SlicePlan } from './layout.js';
export { batchNorm2d, batchNorm2dForward, batchNorm2dWithStats, foldBatchNormIntoConv, foldBatchNormIntoConvCpu, type BatchNormOptions } from './batchnorm.js';
export {
  batchNorm2dApply,
  batchNorm2dBackward,
  batchNorm2dBackwardInput,
  batchNorm2dBackwardReduce,
  batchNorm2dSavedFromRunning,
  batchNorm2dStats,
  type BatchNormApplyOptions,
  type BatchNormStatsOptions,
} from './batchnorm-kernels.js';
export { checkLabels, logSoftmax, logSoftmaxBackward, softmax, softmaxBackward, softmaxCrossEntropy, softmaxCrossEntropyBackward, softmaxCrossEntropyWithGrad, softmaxKernel, REGISTER_VARIANT as SOFTMAX_REGISTER_VARIANT, type Labels } from './softmax.js';
export { conv2d, conv2dFused, torchConvWeightToHWIO, type Conv2dOptions, type Conv2dFusedOptions, type ConvGeometryOptions, type Padding } from './conv.js';
export { conv2dBackwardBias, conv2dBackwardInput, conv2dBackwardWeight } from './conv-backward.js';
export {
  adaptiveAvgPool2d,
  adaptiveAvgPool2dBackward,
  avgPool2d,
  avgPool2dBackward,
  channelMax,
  channelMaxBackward,
  channelMaxIndices,
  channelMaxWithIndices,
  channelMean,
  channelMeanBackward,
  globalAvgPool2d,
  globalAvgPool2dBackward,
  globalMaxPool2d,
  globalMaxPool2dBackward,
  globalMaxPool2dIndices,
  globalMaxPool2dWithIndices,
  maxPool2d,
  maxPool2dBackward,
  maxPool2dIndices,
  maxPool2dWithIndices,
  type AvgPool2dOptions,
  type Pair,
  type Pool2dOptions,
  type GlobalPoolOptions,
  type PoolPadding,
} from './pool.js';
export { aSoftmaxLambda, aSoftmaxLogits, aSoftmaxLogitsBackward, aSoftmaxLoss, aSoftmaxLossWithGrad, aSoftmaxPsi, type ASoftmaxOptions, type LambdaSchedule } from './asoftmax.js';
export { defineMultiOp, type MultiOp, type MultiPlan } from './multi-op.js';
export { sigmoidGate, sigmoidGateBackward, type GateMode } from './gate.js';
export { LAYER_NORM_EPS, layerNorm, layerNormBackward, layerNormForward, layerNormKernel, type LayerNormOptions } from './layernorm.js';
export { dropout, dropoutBackward, pcgHash, type DropoutOptions } from './dropout.js';
export {
  sdpa,
  sdpaBackward,
  sdpaBackwardCpu,
  sdpaBackwardKey,
  sdpaBackwardQuery,
  sdpaBackwardValue,
  sdpaCpu,
  sdpaForward,
  sdpaForwardCpu,
  sdpaKernel,
  sdpaWithWeights,
  type HostSdpaOptions,
  type SdpaOptions,
  type SdpaPlan,
} from './attention.js';
export {
  affineGrid,
  affineGridBackward,
  gridSample,
  gridSampleBackward,
  gridSampleBackwardGrid,
  gridSampleBackwardInput,
  type GridSampleOptions,
  type GridSize,
} from './spatial-transformer.js';
export {
  temporalFrameWeights,
  temporalLogSoftmaxPool,
  temporalSoftmaxPool,
  temporalSoftmaxPoolBackward,
  temporalSoftmaxPooling,
  temporalSoftmaxPoolLoss,
  temporalPoolKernel,
  type PoolReduction,
  type TemporalPoolGrads,
  type TemporalPoolingOptions,
} from './temporal.js';
export { frameAttentionPool, frameAttentionPoolBackward, frameAttentionPoolBackwardFeatures, frameAttentionPoolBackwardWeights, frameAttentionPooling } from './frame-attention.js';
