/** LayerNorm and Dropout layers. */
import type { Engine } from '../../device/engine.js';
import type { Tensor } from '../../graph/tensor.js';
import { dropout } from '../../kernels/dropout.js';
import { LAYER_NORM_EPS, layerNorm } from '../../kernels/layernorm.js';
import { Layer } from './basic.js';

export interface LayerNormLayerOptions {
  /** Added to the variance; default 1e-5. */
  eps?: number;
  /** Learnable weight (1) and bias (0) shaped like normalizedShape (default true; false: none, as PyTorch). */
  elementwiseAffine?: boolean;
}

/** nn.LayerNorm over the trailing axes `normalizedShape` (a number: the last axis), with affine weight and bias. */
export class LayerNorm extends Layer {
  readonly weight: Tensor | undefined;
  readonly bias: Tensor | undefined;
  readonly normalizedShape: readonly number[];

  constructor(
    engine: Engine,
    normalizedShape: number | readonly number[],
    readonly options: LayerNormLayerOptions = {},
  ) {
    super(engine);
    this.normalizedShape = typeof normalizedShape === 'number' ? [normalizedShape] : [...normalizedShape];
    if (options.elementwiseAffine !== false) {
      this.weight = this.addParameter('weight', engine.ones(this.normalizedShape));
      this.bias = this.addParameter('bias', engine.zeros(this.normalizedShape));
    }
  }

  get eps(): number {
    return this.options.eps ?? LAYER_NORM_EPS;
  }

  forward(x: Tensor): Tensor {
    return layerNorm(x, this.weight, this.bias, { normalizedShape: this.normalizedShape, eps: this.eps });
  }
}

/**
 * nn.Dropout: a fresh mask every training call (seed, seed+1, …, so a run is reproducible from its seed);
 * the identity in eval mode.
 */
export class Dropout extends Layer {
  private calls = 0;

  constructor(
    engine: Engine,
    readonly p = 0.5,
    readonly seed = 0,
  ) {
    super(engine);
  }

  forward(x: Tensor): Tensor {
    // A view in eval mode, so the caller owns (and may dispose) the result as with any other layer.
    if (!this.training || this.p === 0) return x.reshape(x.shape);
    return dropout(x, { p: this.p, seed: (this.seed + this.calls++) >>> 0 });
  }

  protected override ownExtraState(): number {
    return this.calls;
  }

  protected override setOwnExtraState(calls: number): void {
    this.calls = calls;
  }
}
