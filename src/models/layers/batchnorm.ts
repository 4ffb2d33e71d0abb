/** BatchNorm2d over NHWC activations with PyTorch's state (weight, bias, running_mean, running_var). */
import type { Engine } from '../../device/engine.js';
import type { Tensor } from '../../graph/tensor.js';
import { BN_EPS, BN_MOMENTUM, batchNorm2d, batchNorm2dWithStats, type BatchNormOptions } from '../../kernels/batchnorm.js';
import { Layer } from './basic.js';

export interface BatchNorm2dOptions {
  eps?: number;
  momentum?: number;
  /** Learnable per-channel weight and bias (default true); false: no parameters, as PyTorch's affine=False. */
  affine?: boolean;
  /** Fuse a ReLU after the normalisation. */
  relu?: boolean;
}

/**
 * Training mode normalises with the batch statistics and updates the running statistics in place
 * (momentum 0.1, unbiased variance, as PyTorch); eval mode uses the running statistics.
 */
export class BatchNorm2d extends Layer {
  /** Absent with affine: false (and then not in the state dict, as PyTorch). */
  readonly weight: Tensor | undefined;
  readonly bias: Tensor | undefined;
  readonly runningMean: Tensor;
  readonly runningVar: Tensor;

  constructor(
    engine: Engine,
    readonly channels: number,
    readonly options: BatchNorm2dOptions = {},
  ) {
    super(engine);
    if (options.affine !== false) {
      this.weight = this.addParameter('weight', engine.ones([channels]));
      this.bias = this.addParameter('bias', engine.zeros([channels]));
    }
    this.runningMean = this.addBuffer('running_mean', engine.zeros([channels]));
    this.runningVar = this.addBuffer('running_var', engine.ones([channels]));
  }

  private opOptions(): BatchNormOptions {
    return { training: this.training, eps: this.options.eps ?? BN_EPS, momentum: this.options.momentum ?? BN_MOMENTUM, relu: Boolean(this.options.relu) };
  }

  forward(x: Tensor): Tensor {
    return batchNorm2d(x, this.weight, this.bias, this.runningMean, this.runningVar, this.opOptions());
  }

  /**
   * The output and the statistics it was normalised with, each [C]: in training mode the batch mean and biased
   * variance (differentiable; the running statistics are updated as by forward), in eval mode the running ones.
   */
  forwardWithStats(x: Tensor): { y: Tensor; mean: Tensor; variance: Tensor } {
    return batchNorm2dWithStats(x, this.weight, this.bias, this.runningMean, this.runningVar, this.opOptions());
  }
}
