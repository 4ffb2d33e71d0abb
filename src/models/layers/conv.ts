/** Convolution layer: weights kept HWIO for the kernels, exchanged with PyTorch as O×I×kH×kW. */
import type { Engine } from '../../device/engine.js';
import { assert } from '../../device/errors.js';
import type { Tensor } from '../../graph/tensor.js';
import { conv2d, torchConvWeightToHWIO, type ConvActivation, type Padding } from '../../kernels/conv.js';
import { permute } from '../../kernels/layout.js';
import { kaimingUniformDefault, Rng } from '../random.js';
import { Layer } from './basic.js';

type Pair = number | [number, number];

export interface Conv2dLayerOptions {
  stride?: Pair;
  padding?: Padding;
  dilation?: Pair;
  groups?: number;
  bias?: boolean;
  /** Fused into the convolution. */
  activation?: ConvActivation;
  seed?: number;
  /**
   * 'default': PyTorch's nn.Conv2d initialisation. 'kaiming-fan-out': torchvision's VGG/ResNet one (normal with
   * std √(2 / (C_out·kH·kW)), bias 0), which keeps activations alive through deep stacks without BatchNorm.
   */
  init?: 'default' | 'kaiming-fan-out';
}

/** n or [h, w] of positive integers; any other length is refused rather than read as its first two entries. */
function kernelPair(p: Pair): [number, number] {
  const k = typeof p === 'number' ? [p, p] : p;
  assert(Array.isArray(k) && k.length === 2 && k.every((v) => Number.isInteger(v) && v > 0), 'Conv2d', () => `kernelSize must be a positive integer or [h, w], got ${JSON.stringify(p)}`);
  return k as [number, number];
}

/** nn.Conv2d over NHWC activations; PyTorch's default initialisation (U(±1/√fan_in), fan_in = C_in/groups·kH·kW). */
export class Conv2d extends Layer {
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(
    engine: Engine,
    readonly inChannels: number,
    readonly outChannels: number,
    kernelSize: Pair,
    readonly options: Conv2dLayerOptions = {},
  ) {
    super(engine);
    const [kh, kw] = kernelPair(kernelSize);
    const groups = options.groups ?? 1;
    const cin = inChannels / groups;
    const fanIn = cin * kh * kw;
    const rng = new Rng(options.seed ?? 0).fork(`conv${inChannels}x${outChannels}x${kh}x${kw}`);
    // Drawn in PyTorch's O×I×kH×kW order so that a seed means the same filters whatever the storage layout.
    const fanOut = options.init === 'kaiming-fan-out';
    const oihw = fanOut ? rng.normal(outChannels * cin * kh * kw, 0, Math.sqrt(2 / (outChannels * kh * kw))) : kaimingUniformDefault(rng, outChannels * cin * kh * kw, fanIn);
    const torchWeight = engine.tensor(oihw, [outChannels, cin, kh, kw]);
    this.weight = this.addParameter('weight', torchConvWeightToHWIO(torchWeight), {
      torchShape: [outChannels, cin, kh, kw],
      toTorch: (w) => permute(w, [3, 2, 0, 1]),
      fromTorch: (w) => torchConvWeightToHWIO(w),
    });
    torchWeight.dispose();
    this.bias = options.bias === false ? null : this.addParameter('bias', engine.tensor(fanOut ? new Float32Array(outChannels) : kaimingUniformDefault(rng, outChannels, fanIn), [outChannels]));
  }

  /** x [N, H, W, C_in] → [N, H', W', C_out]; `residual` (output-shaped) is added before the activation. */
  forward(x: Tensor, residual?: Tensor): Tensor {
    const o = this.options;
    return conv2d(x, this.weight, {
      ...(o.stride !== undefined ? { stride: o.stride } : {}),
      ...(o.padding !== undefined ? { padding: o.padding } : {}),
      ...(o.dilation !== undefined ? { dilation: o.dilation } : {}),
      ...(o.groups !== undefined ? { groups: o.groups } : {}),
      ...(this.bias ? { bias: this.bias } : {}),
      ...(residual ? { residual } : {}),
      activation: o.activation ?? 'none',
    });
  }
}
