/**
 * Attention modules inside ResNet blocks (NHWC): the channel attention MLP shared by M1 (eq. 2) and CBAM (M3),
 * M1's NIN spatial attention (eq. 1) and CBAM's 7×7 spatial attention. Each gates its input with
 * sigmoidGate (y = x ⊙ σ(a), the sigmoid fused into the product) and records σ(a) for reading after the pass.
 */
import type { Engine } from '../device/engine.js';
import { sigmoidGate } from '../kernels/gate.js';
import { add, sigmoid } from '../kernels/elementwise.js';
import { concat } from '../kernels/layout.js';
import { channelMax, channelMean, globalAvgPool2d, globalMaxPool2d } from '../kernels/pool.js';
import { Linear } from './layers/basic.js';
import { Conv2d } from './layers/conv.js';
import { Module } from './module.js';
import { Children, conv, linear, type Backend, type BlockAttention, type Outputs } from './resnet.js';

function dims<T>(x: T): [number, number, number, number] {
  return (x as unknown as { shape: readonly number[] }).shape as [number, number, number, number];
}

export interface ChannelAttentionOptions {
  /** Hidden width C/r (floored, at least 1). */
  reduction: number;
  /**
   * 'sum-then-mlp': MLP(F_avg + F_max) (M1, eq. 2); 'mlp-then-sum': MLP(F_avg) + MLP(F_max) (CBAM).
   */
  combine: 'sum-then-mlp' | 'mlp-then-sum';
  seed?: number;
}

/** σ(MLP(pools)) per channel; `mlp.0` C → C/r and `mlp.2` C/r → C, linear layers with bias, ReLU between. */
export class ChannelAttention extends Module implements BlockAttention {
  readonly fc1: Linear;
  readonly fc2: Linear;

  constructor(
    engine: Engine,
    readonly channels: number,
    readonly options: ChannelAttentionOptions,
  ) {
    super(engine);
    const hidden = Math.max(1, Math.floor(channels / options.reduction));
    const seed = options.seed ?? 0;
    this.fc1 = new Linear(engine, channels, hidden, { seed: seed + 1 });
    this.fc2 = new Linear(engine, hidden, channels, { seed: seed + 2 });
    this.addModule('mlp', new Children(engine, [['0', this.fc1], ['2', this.fc2]]));
  }

  private mlp<T>(b: Backend<T>, v: T): T {
    return linear(b, this.fc2, linear(b, this.fc1, v, 'relu'));
  }

  /** The attention logits [N, C] of x [N, H, W, C]. */
  logits<T>(b: Backend<T>, x: T): T {
    const avg = b.run(globalAvgPool2d, x);
    const mx = b.run(globalMaxPool2d, x);
    return this.options.combine === 'sum-then-mlp' ? this.mlp(b, b.run(add, avg, mx)) : b.run(add, this.mlp(b, avg), this.mlp(b, mx));
  }

  apply<T>(b: Backend<T>, x: T, key: string, out: Outputs<T>): T {
    const [n, , , c] = dims(x);
    const a = this.logits(b, x);
    out[`channel_weights.${key}`] = b.output(() => b.run(sigmoid, a));
    return b.run(sigmoidGate, x, b.reshape(a, [n, 1, 1, c]));
  }
}

/** M1's spatial attention (eq. 1): `nin` 1×1 conv C → 16 + bias, ReLU, `conv` 3×3 16 → 1 (pad 1) + bias, sigmoid. */
export class NinSpatialAttention extends Module implements BlockAttention {
  readonly nin: Conv2d;
  readonly conv: Conv2d;

  constructor(engine: Engine, channels: number, opts: { hidden?: number; seed?: number } = {}) {
    super(engine);
    const hidden = opts.hidden ?? 16;
    const seed = opts.seed ?? 0;
    this.nin = this.addModule('nin', new Conv2d(engine, channels, hidden, 1, { seed: seed + 1 }));
    this.conv = this.addModule('conv', new Conv2d(engine, hidden, 1, 3, { padding: 1, seed: seed + 2 }));
  }

  logits<T>(b: Backend<T>, x: T): T {
    return conv(b, this.conv, conv(b, this.nin, x, { relu: true }));
  }

  apply<T>(b: Backend<T>, x: T, key: string, out: Outputs<T>): T {
    const a = this.logits(b, x);
    const [n, h, w] = dims(x);
    out[`spatial_maps.${key}`] = b.output(() => b.reshape(b.run(sigmoid, a), [n, h, w]));
    return b.run(sigmoidGate, x, a);
  }
}

/** CBAM's spatial attention: `conv` 7×7 over [mean_c F; max_c F] (2 → 1, pad 3, bias, no BN), sigmoid. */
export class CbamSpatialAttention extends Module implements BlockAttention {
  readonly conv: Conv2d;

  constructor(engine: Engine, opts: { kernel?: number; seed?: number } = {}) {
    super(engine);
    const k = opts.kernel ?? 7;
    this.conv = this.addModule('conv', new Conv2d(engine, 2, 1, k, { padding: (k - 1) / 2, seed: opts.seed ?? 0 }));
  }

  logits<T>(b: Backend<T>, x: T): T {
    return conv(b, this.conv, b.run(concat, [b.run(channelMean, x), b.run(channelMax, x)], 3));
  }

  apply<T>(b: Backend<T>, x: T, key: string, out: Outputs<T>): T {
    const a = this.logits(b, x);
    const [n, h, w] = dims(x);
    out[`spatial_maps.${key}`] = b.output(() => b.reshape(b.run(sigmoid, a), [n, h, w]));
    return b.run(sigmoidGate, x, a);
  }
}

export type CbamOrder = 'channel-first' | 'spatial-first' | 'parallel';

/**
 * CBAM (`ca`, `sa`): channel-first F' = M_c(F)⊙F, F'' = M_s(F')⊙F' (the paper's choice); spatial-first swaps
 * them; parallel computes both maps from F and applies both, F'' = M_c(F)⊙M_s(F)⊙F.
 */
export class Cbam extends Module implements BlockAttention {
  readonly ca: ChannelAttention;
  readonly sa: CbamSpatialAttention;

  constructor(
    engine: Engine,
    channels: number,
    readonly opts: { order?: CbamOrder; reduction?: number; seed?: number } = {},
  ) {
    super(engine);
    const seed = opts.seed ?? 0;
    this.ca = this.addModule('ca', new ChannelAttention(engine, channels, { reduction: opts.reduction ?? 16, combine: 'mlp-then-sum', seed: seed + 10 }));
    this.sa = this.addModule('sa', new CbamSpatialAttention(engine, { seed: seed + 20 }));
  }

  apply<T>(b: Backend<T>, x: T, key: string, out: Outputs<T>): T {
    const order = this.opts.order ?? 'channel-first';
    if (order === 'channel-first') return this.sa.apply(b, this.ca.apply(b, x, key, out), key, out);
    if (order === 'spatial-first') return this.ca.apply(b, this.sa.apply(b, x, key, out), key, out);
    // Parallel: the spatial map is taken from F before the channel gate is applied.
    const [n, h, w, c] = dims(x);
    const s = this.sa.logits(b, x);
    const a = this.ca.logits(b, x);
    out[`channel_weights.${key}`] = b.output(() => b.run(sigmoid, a));
    out[`spatial_maps.${key}`] = b.output(() => b.reshape(b.run(sigmoid, s), [n, h, w]));
    return b.run(sigmoidGate, b.run(sigmoidGate, x, b.reshape(a, [n, 1, 1, c])), s);
  }
}
