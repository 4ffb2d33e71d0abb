/** The A-Softmax (SphereFace) classifier as a module, with its weight in PyTorch's layouts. */
import type { Engine } from '../../device/engine.js';
import type { Tensor } from '../../graph/tensor.js';
import { aSoftmaxLogits, aSoftmaxLoss, type ASoftmaxOptions } from '../../kernels/asoftmax.js';
import type { Labels } from '../../kernels/softmax.js';
import { Module } from '../module.js';
import { kaimingUniformDefault, Rng } from '../random.js';

export interface ASoftmaxLinearOptions {
  /** Integer angular margin m ≥ 1 (default 4). */
  m?: number;
  /**
   * How `weight` is stored, and so its state-dict shape: 'classes-features' [classes, D] (default: nn.Linear's) or
   * 'features-classes' [D, classes] (SphereFace's AngleLinear, for its checkpoints).
   */
  weightLayout?: ASoftmaxOptions['weightLayout'];
  /** Initialisation seed (U(±1/√D), as nn.Linear's weight). */
  seed?: number;
}

/** Class weights without bias; every call normalises each class vector (see kernels/asoftmax.ts). */
export class ASoftmaxLinear extends Module {
  readonly weight: Tensor;
  readonly m: number;
  readonly weightLayout: NonNullable<ASoftmaxOptions['weightLayout']>;

  constructor(
    engine: Engine,
    readonly inFeatures: number,
    readonly classes: number,
    options: ASoftmaxLinearOptions = {},
  ) {
    super(engine);
    this.m = options.m ?? 4;
    this.weightLayout = options.weightLayout ?? 'classes-features';
    const rng = new Rng(options.seed ?? 0).fork(`asoftmax${inFeatures}x${classes}`);
    const shape = this.weightLayout === 'classes-features' ? [classes, inFeatures] : [inFeatures, classes];
    this.weight = this.addParameter('weight', engine.tensor(kaimingUniformDefault(rng, classes * inFeatures, inFeatures), shape));
  }

  private opts(lambda = 0): ASoftmaxOptions {
    return { m: this.m, lambda, weightLayout: this.weightLayout };
  }

  /** Inference logits ‖x‖cos θ_j, x [N, D] → [N, classes] (no margin: that belongs to training). */
  forward(x: Tensor): Tensor {
    return aSoftmaxLogits(x, this.weight, null, this.opts());
  }

  /** The training logits: the target class of each row gets the angular margin, annealed by λ. */
  marginLogits(x: Tensor, labels: Labels, lambda = 0): Tensor {
    return aSoftmaxLogits(x, this.weight, labels, this.opts(lambda));
  }

  /** The A-Softmax loss (0-d, mean over the batch). */
  loss(x: Tensor, labels: Labels, lambda = 0): Tensor {
    return aSoftmaxLoss(x, this.weight, labels, this.opts(lambda));
  }
}
