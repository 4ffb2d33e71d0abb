/// <reference types="@webgpu/types" preserve="true" />
/** fergpu: the engine core. Platform-neutral: runs in browsers as is; Node adds Dawn via src/node. */
export { createEngine, describeAdapter, Engine, NO_ADAPTER_HELP, type AdapterReport, type EngineOptions } from './device/engine.js';
export { GpuError, ShapeError } from './device/errors.js';
export { busyWaiter, type Waiter, type WaitMode } from './device/waiter.js';
export type { DType, HostData } from './graph/dtype.js';
export { isGradEnabled, noGrad } from './graph/autograd.js';
export { HostTensor } from './graph/host.js';
export { keep, tidy } from './graph/scope.js';
export type { PoolStats } from './graph/pool.js';
import './graph/tensor-methods.js'; // installs x.add(y), x.sum(), … on Tensor
export { Tensor } from './graph/tensor.js';
export { tunableKernels, type TuningStore, type TuneResult } from './kernels/variants.js';
export { gpuObjects, type GpuObjects } from './kernels/objects.js';
export { record, type InputSpec as RecordInput, type Recording } from './kernels/recording.js';
export { defineOp, type Op, type OpDecl, type Plan } from './kernels/op.js';
export * from './kernels/ops.js';
export { Optimizer, type BaseHyperParams, type OptimizerStateDict, type ParamGroup, type ParamGroupInput, type ParamState } from './optim/optimizer.js';
export { SGD, sgdUpdate, sgdUpdateCpu, type SGDOptions } from './optim/sgd.js';
export { Adam, AdamW, adamUpdate, adamUpdateCpu, type AdamBuffers, type AdamOptions } from './optim/adam.js';
export { CosineAnnealingWarmRestarts, LRScheduler, ReduceLROnPlateau, StepLR, type LrGroups, type ReduceLROnPlateauOptions } from './optim/schedulers.js';
export { loadOptimizerState, saveOptimizerState } from './optim/checkpoint.js';
export {
  CheckpointMismatchError, checkpointMismatches, CheckpointValueError, decodeSafetensors, encodeSafetensors, engineDTypeOf, loadTensors, parseSafetensorsHeader, safetensorsMetadata, saveTensors, SafetensorsError,
  type ExpectedTensor, type LoadTensorsOptions, type SafetensorsData, type SafetensorsDType, type SafetensorsEntry, type SafetensorsHeader, type SafetensorsTensorInfo,
} from './io/safetensors.js';
export { Module, type StateEntry, type TorchLayout } from './models/module.js';
export { Flatten, Layer, Linear, ReLU, Sequential, Sigmoid, Tanh, type LinearOptions } from './models/layers/basic.js';
export { Conv2d, type Conv2dLayerOptions } from './models/layers/conv.js';
export { BatchNorm2d, type BatchNorm2dOptions } from './models/layers/batchnorm.js';
export { AdaptiveAvgPool2d, AvgPool2d, GlobalMaxPool2d, MaxPool2d } from './models/layers/pool.js';
export { Dropout, LayerNorm, type LayerNormLayerOptions } from './models/layers/norm.js';
export { ASoftmaxLinear, type ASoftmaxLinearOptions } from './models/layers/asoftmax.js';
export { kaimingUniformDefault, Rng } from './models/random.js';
export { attentionPenalty, l2Penalty } from './models/losses.js';
export { loadModule, saveModule, type LoadModuleOptions } from './models/checkpoint.js';
export { M1_ABLATIONS, M1MultiAttentionResNet, type M1Options } from './models/m1-multi-attention.js';
export { TemporalSoftmaxNet, type TemporalSoftmaxOptions, type TemporalSoftmaxOutput } from './models/m2-temporal-softmax.js';
export { M3CbamResNet, type M3Options } from './models/m3-cbam.js';
export { DeepEmotion, type DeepEmotionOptions, type DeepEmotionOutput } from './models/m4-deep-emotion.js';
export { EcnnFsa, type EcnnFsaOptions, type EcnnFsaOutput } from './models/m5-ecnn-fsa.js';
export { loadResNetBackbone } from './models/resnet.js';
