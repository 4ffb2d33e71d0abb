/** Pooling layers over NHWC activations. */
import type { Tensor } from '../../graph/tensor.js';
import { adaptiveAvgPool2d, avgPool2d, globalAvgPool2d, globalMaxPool2d, maxPool2d, type AvgPool2dOptions, type GlobalPoolOptions, type Pair, type Pool2dOptions } from '../../kernels/pool.js';
import type { Engine } from '../../device/engine.js';
import { Layer } from './basic.js';

export class MaxPool2d extends Layer {
  constructor(
    engine: Engine,
    readonly options: Pool2dOptions,
  ) {
    super(engine);
  }

  forward(x: Tensor): Tensor {
    return maxPool2d(x, this.options);
  }
}

export class AvgPool2d extends Layer {
  constructor(
    engine: Engine,
    readonly options: AvgPool2dOptions,
  ) {
    super(engine);
  }

  forward(x: Tensor): Tensor {
    return avgPool2d(x, this.options);
  }
}

/** PyTorch's AdaptiveAvgPool2d: output size [h, w]; (1, 1) takes the global-average fast path. */
export class AdaptiveAvgPool2d extends Layer {
  constructor(
    engine: Engine,
    readonly outputSize: Pair,
  ) {
    super(engine);
  }

  forward(x: Tensor): Tensor {
    const size = this.outputSize;
    // Only a well-formed (1, 1) takes the fast path; anything else goes to the op, which checks it.
    if (size === 1 || (Array.isArray(size) && size.length === 2 && size[0] === 1 && size[1] === 1)) return globalAvgPool2d(x, { keepdim: true });
    return adaptiveAvgPool2d(x, this.outputSize);
  }
}

/** Global max over H×W: [N, H, W, C] → [N, C], or [N, 1, 1, C] with keepdim. */
export class GlobalMaxPool2d extends Layer {
  constructor(
    engine: Engine,
    readonly options: GlobalPoolOptions = {},
  ) {
    super(engine);
  }

  forward(x: Tensor): Tensor {
    return globalMaxPool2d(x, this.options);
  }
}
