/**
 * M1 — ResNet18 with spatial, channel and frame attention (../shared/papers/000_033c7ecd74f8d581.txt; spec in
 * MODELS.md § M1). Video model over NHWC clips [N, T, H, W, 3]; the backbone runs on the N·T frames as one batch.
 */
import type { Engine } from '../device/engine.js';
import type { Tensor } from '../graph/tensor.js';
import { frameAttentionPooling } from '../kernels/frame-attention.js';
import { globalAvgPool2d } from '../kernels/pool.js';
import { mean } from '../kernels/reduce.js';
import { softmaxCrossEntropy, type Labels } from '../kernels/softmax.js';
import { ChannelAttention, NinSpatialAttention } from './attention-modules.js';
import { Linear } from './layers/basic.js';
import { Module } from './module.js';
import { buildResNet18, Children, gpuBackend, linear, runResNet, type Backend, type BasicBlock, type BlockAttention, type Outputs, type Stem } from './resnet.js';

export interface M1Options {
  /** Default 7. */
  classes?: number;
  /** Backbone channel multiplier (64/128/256/512 × width, rounded, at least 1). Default 1. */
  width?: number;
  inChannels?: number;
  /** Spatial attention in every block (eq. 1). Default true. */
  spatialAttention?: boolean;
  /** Channel attention in every block (eq. 2). Default true. */
  channelAttention?: boolean;
  /** Frame attention (eqs. 3–4); without it the clip feature is the mean of the frame features. Default true. */
  frameAttention?: boolean;
  /** Channel MLP reduction r (C → ⌊C/r⌋ → C). Default 1. */
  reduction?: number;
  /** Frame feature size (linear 512 → this, ReLU). Default 256. */
  frameFeatures?: number;
  /** Hidden size of the frame attention MLP. Default 32. */
  frameHidden?: number;
  /** Hidden channels of the spatial attention's NIN conv. Default 16. */
  spatialHidden?: number;
  seed?: number;
}

/** The paper's ablations (Tables 1–2) as options. */
export const M1_ABLATIONS: Record<string, Pick<M1Options, 'spatialAttention' | 'channelAttention' | 'frameAttention'>> = {
  baseline: { spatialAttention: false, channelAttention: false, frameAttention: false },
  '+SA': { spatialAttention: true, channelAttention: false, frameAttention: false },
  '+CA': { spatialAttention: false, channelAttention: true, frameAttention: false },
  '+FA': { spatialAttention: false, channelAttention: false, frameAttention: true },
  '+SA+CA': { spatialAttention: true, channelAttention: true, frameAttention: false },
  '+SA+CA+FA': { spatialAttention: true, channelAttention: true, frameAttention: true },
};

export class M1MultiAttentionResNet extends Module {
  readonly opts: Required<M1Options>;
  readonly stem: Stem;
  readonly blocks: { key: string; block: BasicBlock }[];
  readonly frameFc: Linear;
  readonly fa1: Linear | null;
  readonly fa2: Linear | null;
  readonly classifier: Linear;

  constructor(engine: Engine, options: M1Options = {}) {
    super(engine);
    const o: Required<M1Options> = {
      classes: 7, width: 1, inChannels: 3, spatialAttention: true, channelAttention: true, frameAttention: true, reduction: 1,
      frameFeatures: 256, frameHidden: 32, spatialHidden: 16, seed: 0, ...options,
    };
    this.opts = o;
    const mid = (c: number, s: number, i: number) => {
      const list: (readonly [string, BlockAttention])[] = [];
      const seed = o.seed + 1000 + 10 * s + i;
      // Channel attention first, then spatial (Fig. 1).
      if (o.channelAttention) list.push(['ca', new ChannelAttention(engine, c, { reduction: o.reduction, combine: 'sum-then-mlp', seed })]);
      if (o.spatialAttention) list.push(['sa', new NinSpatialAttention(engine, c, { hidden: o.spatialHidden, seed: seed + 5 })]);
      return list;
    };
    const net = buildResNet18((name, m) => this.addModule(name, m), engine, { inChannels: o.inChannels, width: o.width, stem: 'imagenet', seed: o.seed, attention: { mid } });
    this.stem = net.stem;
    this.blocks = net.blocks;
    this.frameFc = this.addModule('frame_fc', new Linear(engine, net.features, o.frameFeatures, { seed: o.seed + 7 }));
    if (o.frameAttention) {
      this.fa1 = new Linear(engine, o.frameFeatures, o.frameHidden, { seed: o.seed + 8 });
      this.fa2 = new Linear(engine, o.frameHidden, 1, { seed: o.seed + 9 });
      this.addModule('frame_attention', new Children(engine, [['mlp', new Children(engine, [['0', this.fa1], ['2', this.fa2]])]]));
    } else {
      this.fa1 = this.fa2 = null;
    }
    this.classifier = this.addModule('classifier', new Linear(engine, o.frameFeatures, o.classes, { seed: o.seed + 10 }));
  }

  /**
   * x [N, T, H, W, C_in] → `logits` [N, classes], `frame_features` [N, T, F], `clip_feature` [N, F]; with frame
   * attention `frame_scores` (M_f before normalising) and `frame_weights` a_i, both [N, T]; per block
   * `channel_weights.layer{s}.{b}` [N, T, C] and `spatial_maps.layer{s}.{b}` [N, T, h, w] where enabled.
   */
  forward(x: Tensor): Outputs<Tensor> {
    return this.forwardWith(gpuBackend, x);
  }

  forwardWith<T>(b: Backend<T>, x: T): Outputs<T> {
    const shape = (x as unknown as { shape: number[] }).shape;
    if (shape.length !== 5) throw new Error(`M1MultiAttentionResNet: input must be [N, T, H, W, C], got [${shape.join(', ')}]`);
    const [n, t, h, w, c] = shape as [number, number, number, number, number];
    const F = this.opts.frameFeatures;
    const maps: Outputs<T> = {};
    const out: Outputs<T> = {};
    const frames = b.scope(() => {
      const fmap = runResNet(b, this, b.reshape(x, [n * t, h, w, c]), maps);
      return linear(b, this.frameFc, b.run(globalAvgPool2d, fmap), 'relu'); // [N·T, F]
    });
    out.frame_features = b.reshape(frames, [n, t, F]);
    if (this.fa1 && this.fa2) {
      const scores = b.scope(() => b.reshape(linear(b, this.fa2!, linear(b, this.fa1!, frames, 'relu'), 'sigmoid'), [n, t]));
      out.frame_scores = scores;
      // a_i = w_i / Σ_j w_j and Σ_i a_i f_i from the fused kernel (one launch each way).
      const pooled = b.runMulti(frameAttentionPooling, scores, out.frame_features);
      out.frame_weights = pooled.weights;
      out.clip_feature = pooled.pooled;
    } else {
      out.clip_feature = b.run(mean, out.frame_features, 1);
    }
    out.logits = b.scope(() => linear(b, this.classifier, out.clip_feature!));
    if (b.kind === 'gpu') (frames as unknown as Tensor).dispose();
    // Per-frame attention maps regrouped by clip: [N·T, …] → [N, T, …].
    for (const [k, v] of Object.entries(maps)) {
      out[k] = b.reshape(v, [n, t, ...(v as unknown as { shape: number[] }).shape.slice(1)]);
      if (b.kind === 'gpu') (v as unknown as Tensor).dispose();
    }
    return b.adopt(out);
  }

  /** Cross-entropy of the clip logits, mean over the batch. */
  loss(output: Outputs<Tensor>, labels: Labels): Tensor {
    return softmaxCrossEntropy(output.logits!, labels);
  }
}
