/** BatchNorm2d over NHWC activations with PyTorch's state (weight, bias, running_mean, running_var). */
import type { Engine } from '../../device/engine.js';
import type { Tensor } from '../../graph/tensor.js';
import { BN_EPS, BN_MOMENTUM, batchNorm2d } from '../../kernels/batchnorm.js';
import { Layer } from './basic.js';

export interface BatchNorm2dOptions {
  eps?: number;
  momentum?: number;
  /** Fuse a ReLU after the normalisation. */
  relu?: boolean;
}

/**
 * Training mode normalises with the batch statistics and updates the running statistics in place
 * (momentum 0.1, unbiased variance, as PyTorch); eval mode uses the running statistics.
 */
export class BatchNorm2d extends Layer {
  readonly weight: Tensor;
  readonly bias: Tensor;
  readonly runningMean: Tensor;
  readonly runningVar: Tensor;

  constructor(
    engine: Engine,
    readonly channels: number,
    readonly options: BatchNorm2dOptions = {},
  ) {
    super(engine);
    this.weight = this.addParameter('weight', engine.ones([channels]));
    this.bias = this.addParameter('bias', engine.zeros([channels]));
    this.runningMean = this.addBuffer('running_mean', engine.zeros([channels]));
    this.runningVar = this.addBuffer('running_var', engine.ones([channels]));
  }

  forward(x: Tensor): Tensor {
    return batchNorm2d(x, this.weight, this.bias, this.runningMean, this.runningVar, {
      training: this.training,
      eps: this.options.eps ?? BN_EPS,
      momentum: this.options.momentum ?? BN_MOMENTUM,
      relu: Boolean(this.options.relu),
    });
  }
}
