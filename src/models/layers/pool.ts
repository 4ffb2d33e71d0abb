/** Pooling layers over NHWC activations. */
import type { Tensor } from '../../graph/tensor.js';
import { adaptiveAvgPool2d, avgPool2d, globalAvgPool2d, globalMaxPool2d, maxPool2d, type AvgPool2dOptions, type Pair, type Pool2dOptions } from '../../kernels/pool.js';
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
    const [h, w] = typeof this.outputSize === 'number' ? [this.outputSize, this.outputSize] : this.outputSize;
    if (h === 1 && w === 1) {
      const g = globalAvgPool2d(x); // [N, C]
      const out = g.reshape([x.shape[0]!, 1, 1, x.shape[3]!]);
      g.dispose();
      return out;
    }
    return adaptiveAvgPool2d(x, this.outputSize);
  }
}

/** Global max over H×W: [N, H, W, C] → [N, C]. */
export class GlobalMaxPool2d extends Layer {
  forward(x: Tensor): Tensor {
    return globalMaxPool2d(x);
  }
}
