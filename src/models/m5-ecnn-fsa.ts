/**
 * M5 — ECNN-FSA: enhanced VGG16 (an added branch from conv3_3) with frame-level self-attention over the n frames
 * of a sub-clip. Input NHWC video [N, n, H, W, 3]; see docs/models/m5.md.
 */
import type { Engine } from '../device/engine.js';
import { assert, fmtShape } from '../device/errors.js';
import { tidy } from '../graph/scope.js';
import type { Tensor } from '../graph/tensor.js';
import { exp, relu, sub } from '../kernels/elementwise.js';
import { concat, slice } from '../kernels/layout.js';
import { sdpaWithWeights } from '../kernels/attention.js';
import { globalAvgPool2d } from '../kernels/pool.js';
import { mean } from '../kernels/reduce.js';
import { logSoftmax, softmax, softmaxCrossEntropy, type Labels } from '../kernels/softmax.js';
import { Named, scaled } from './containers.js';
import { Linear } from './layers/basic.js';
import { Conv2d } from './layers/conv.js';
import { Dropout, LayerNorm } from './layers/norm.js';
import { Module } from './module.js';
import { Vgg16Features } from './vgg.js';

export interface EcnnFsaOptions {
  classes?: number;
  /** Backbone channel multiplier (VGG16, the added convs and the branch). */
  width?: number;
  /** Output of the added convs before pooling: 1024 (default) or 2048, times width. */
  backboneDim?: number;
  /** Channels of the enhanced branch (1024), times width. */
  branchDim?: number;
  /** Stride of the branch's 7×7 conv (2; the paper leaves it open). */
  branchStride?: number;
  /** Attention scale: 0.1 (the paper's fixed s) or 'sqrt' for 1/√d_k. */
  scale?: number | 'sqrt';
  /**
   * 'frames' (default): the clip distribution is the mean of the n per-frame softmaxes;
   * 'features': X* is averaged over frames first and classified once.
   */
  pooling?: 'frames' | 'features';
  dropout?: number;
  seed?: number;
  /** Backbone conv initialisation: PyTorch's default, or torchvision's VGG one (trains from scratch far better). */
  init?: 'default' | 'kaiming-fan-out';
}

export interface EcnnFsaOutput {
  /** log of the clip distribution [N, classes]. */
  logits: Tensor;
  probs: Tensor;
  /** Per-frame head outputs [N, n, classes] (with 'features' pooling: the pooled head output repeated once). */
  frame_logits: Tensor;
  frame_probs: Tensor;
  /** softmax(s·QKᵀ) [N, n, n], rows = queries. */
  frame_attention: Tensor;
  /** The attention matrix averaged over query frames [N, n]. */
  frame_weights: Tensor;
  /** X [N, n, d] and X* [N, n, d]. */
  frame_features: Tensor;
  attended_features: Tensor;
}

/** torchvision index of conv3_3 (the 7th conv); its ReLU output feeds the branch. */
const CONV3_3 = 14;

export class EcnnFsa extends Module {
  readonly options: Required<EcnnFsaOptions>;
  readonly features: Vgg16Features;
  readonly extra: Named;
  readonly branch: Named;
  readonly fsa: Named;
  readonly head: Named;
  readonly featureDim: number;
  private readonly dropout: Dropout;

  constructor(engine: Engine, opts: EcnnFsaOptions = {}) {
    super(engine);
    const o: Required<EcnnFsaOptions> = {
      classes: opts.classes ?? 7,
      width: opts.width ?? 1,
      backboneDim: opts.backboneDim ?? 1024,
      branchDim: opts.branchDim ?? 1024,
      branchStride: opts.branchStride ?? 2,
      scale: opts.scale ?? 0.1,
      pooling: opts.pooling ?? 'frames',
      dropout: opts.dropout ?? 0.5,
      seed: opts.seed ?? 0,
      init: opts.init ?? 'default',
    };
    this.options = o;
    const seed = o.seed;
    this.features = this.addModule('features', new Vgg16Features(engine, { width: o.width, pools: 5, seed, init: o.init }));
    const c512 = this.features.outChannels;
    const dB = scaled(o.backboneDim, o.width);
    const dE = scaled(o.branchDim, o.width);
    const conv = (cin: number, cout: number, s: number): Conv2d => new Conv2d(engine, cin, cout, 3, { padding: 1, activation: 'relu', seed: seed + s, init: o.init });
    this.extra = this.addModule('extra', new Named(engine, [['0', conv(c512, dB, 100)], ['2', conv(dB, dB, 101)], ['4', conv(dB, dB, 102)]]));
    const c256 = this.features.convs[6]!.outChannels;
    this.branch = this.addModule('branch', new Named(engine, [['conv', new Conv2d(engine, c256, dE, 7, { stride: o.branchStride, padding: 3, seed: seed + 103, init: o.init })]]));
    const d = dB + dE;
    this.featureDim = d;
    const lin = (s: number): Linear => new Linear(engine, d, d, { bias: false, seed: seed + s });
    this.fsa = this.addModule('fsa', new Named(engine, [['q', lin(104)], ['k', lin(105)], ['v', lin(106)]]));
    this.head = this.addModule('head', new Named(engine, [['norm', new LayerNorm(engine, d)], ['fc', new Linear(engine, d, o.classes, { seed: seed + 107 })]]));
    this.dropout = this.addModule('dropout', new Dropout(engine, o.dropout, seed + 108));
  }

  private part<T extends Module>(m: Named, name: string): T {
    return m.modules().find(([n]) => n === name)![1] as T;
  }

  /** Frame features X [N·n, d] = [GAP(extra(VGG(x))); GAP(branch(conv3_3))]. */
  frameFeatures(frames: Tensor): Tensor {
    return tidy(() => {
      const { out, taps } = this.features.forward(frames, [CONV3_3]);
      let h = out;
      for (const i of ['0', '2', '4']) h = this.part<Conv2d>(this.extra, i).forward(h);
      const backbone = globalAvgPool2d(h);
      const branch = globalAvgPool2d(this.part<Conv2d>(this.branch, 'conv').forward(taps.get(CONV3_3)!));
      return concat([backbone, branch], 1);
    });
  }

  private classify(x: Tensor): Tensor {
    const h = relu(this.part<LayerNorm>(this.head, 'norm').forward(x));
    return this.part<Linear>(this.head, 'fc').forward(this.dropout.forward(h));
  }

  /** x: NHWC video [N, n, H, W, 3]. */
  forward(x: Tensor): EcnnFsaOutput {
    assert(x.rank === 5 && x.shape[4] === 3, 'EcnnFsa', () => `input ${fmtShape(x.shape)}, expected NHWC video [N, n, H, W, 3]`);
    const [N, n, H, W] = x.shape as [number, number, number, number, number];
    const d = this.featureDim;
    return tidy(() => {
      const X = this.frameFeatures(x.reshape([N * n, H, W, 3])).reshape([N, n, d]);
      const q = this.part<Linear>(this.fsa, 'q').forward(X);
      const k = this.part<Linear>(this.fsa, 'k').forward(X);
      const v = this.part<Linear>(this.fsa, 'v').forward(X);
      const s = this.options.scale === 'sqrt' ? 1 / Math.sqrt(d) : this.options.scale;
      // X* = softmax(s·QKᵀ)·V and the attention matrix A from the fused kernel, one head: [N, 1, n, d].
      const heads = (t: Tensor) => t.reshape([N, 1, n, d]);
      const fsa = sdpaWithWeights(heads(q), heads(k), heads(v), { scale: s });
      const A = fsa.weights.reshape([N, n, n]);
      const Xs = fsa.out.reshape([N, n, d]);
      const frameWeights = mean(A, 1); // average over query frames
      let logits: Tensor;
      let frameLogits: Tensor;
      if (this.options.pooling === 'frames') {
        frameLogits = this.classify(Xs);
        const ls = logSoftmax(frameLogits, -1); // [N, n, C]
        // log mean_f p_f = logsumexp_f(ls) − log n; logsumexp along frames = ls − logSoftmax(ls, frames), any frame.
        const lse = slice(sub(ls, logSoftmax(ls, 1)), [0], [1], [1], [1]).reshape([N, this.options.classes]);
        logits = sub(lse, Math.log(n));
      } else {
        const pooled = mean(Xs, 1);
        const out = this.classify(pooled);
        logits = logSoftmax(out, -1);
        frameLogits = out.reshape([N, 1, this.options.classes]);
      }
      return {
        logits,
        probs: exp(logits),
        frame_logits: frameLogits,
        frame_probs: softmax(frameLogits, -1),
        frame_attention: A,
        frame_weights: frameWeights,
        frame_features: X,
        attended_features: Xs,
      };
    });
  }

  /** −log p(y | clip), averaged over clips (logits are already log-probabilities, so this is cross-entropy). */
  loss(output: EcnnFsaOutput, labels: Labels): Tensor {
    return softmaxCrossEntropy(output.logits, labels);
  }
}
