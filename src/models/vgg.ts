/**
 * VGG16's 13 convolutions (3×3, pad 1, bias, ReLU) with torchvision's `features.{i}` names, so torchvision's
 * vgg16 backbone weights load. NHWC activations. Shared by M2 and M5.
 */
import type { Engine } from '../device/engine.js';
import { tidy } from '../graph/scope.js';
import type { Tensor } from '../graph/tensor.js';
import { maxPool2d } from '../kernels/pool.js';
import { scaled } from './containers.js';
import { Conv2d } from './layers/conv.js';
import { Module } from './module.js';

/** torchvision's cfg 'D': channel counts, 'M' = 2×2 max-pool. */
const VGG16_CFG: readonly (number | 'M')[] = [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512, 'M'];

/** torchvision indices of the 13 convs (each followed by its ReLU at index + 1). */
export const VGG16_CONV_INDICES = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28] as const;

export interface Vgg16Options {
  /** Channel multiplier (rounded, at least 1). */
  width?: number;
  inChannels?: number;
  /** How many of the five max-pools to keep (5: torchvision's features; 4: M2 drops the last). */
  pools?: number;
  seed?: number;
  /** Conv initialisation (see Conv2dLayerOptions.init); torchvision's vgg16 uses 'kaiming-fan-out'. */
  init?: 'default' | 'kaiming-fan-out';
}

export class Vgg16Features extends Module {
  readonly convs: Conv2d[] = [];
  readonly outChannels: number;
  /** The layer sequence with torchvision indices. */
  private readonly layers: { index: number; kind: 'conv' | 'pool'; conv?: Conv2d }[] = [];

  constructor(engine: Engine, opts: Vgg16Options = {}) {
    super(engine);
    const width = opts.width ?? 1;
    const pools = opts.pools ?? 5;
    let cin = opts.inChannels ?? 3;
    let index = 0;
    let poolCount = 0;
    for (const v of VGG16_CFG) {
      if (v === 'M') {
        if (++poolCount <= pools) this.layers.push({ index, kind: 'pool' });
        index += 1;
        continue;
      }
      const cout = scaled(v, width);
      const conv = this.addModule(String(index), new Conv2d(engine, cin, cout, 3, { padding: 1, activation: 'relu', seed: (opts.seed ?? 0) + index, ...(opts.init ? { init: opts.init } : {}) }));
      this.convs.push(conv);
      this.layers.push({ index, kind: 'conv', conv });
      cin = cout;
      index += 2; // conv + ReLU
    }
    this.outChannels = cin;
  }

  /** Spatial size of the output for an input side. */
  outputSize(side: number): number {
    let s = side;
    for (const l of this.layers) if (l.kind === 'pool') s = Math.floor(s / 2);
    return s;
  }

  /**
   * x [N, H, W, C] → the last layer's output; `taps` lists torchvision indices whose outputs are also returned
   * (a conv's index gives its post-ReLU output, as the fused ReLU makes index and index+1 the same tensor).
   */
  forward(x: Tensor, taps: readonly number[] = []): { out: Tensor; taps: Map<number, Tensor> } {
    return tidy(() => {
      const tapped = new Map<number, Tensor>();
      let h = x;
      for (const l of this.layers) {
        h = l.kind === 'conv' ? l.conv!.forward(h) : maxPool2d(h, { kernel: 2, stride: 2 });
        for (const t of taps) if (t === l.index || (l.kind === 'conv' && t === l.index + 1)) tapped.set(t, h);
      }
      return { out: h, taps: tapped };
    });
  }
}
