/**
 * M2 — VGG16 with multi-head spatial attention and temporal softmax pooling (Aminbeidokhti et al.).
 * Input NHWC video [N, T, H, W, 3]; see docs/models/m2.md.
 */
import type { Engine } from '../device/engine.js';
import { assert, fmtShape } from '../device/errors.js';
import { tidy } from '../graph/scope.js';
import type { Tensor } from '../graph/tensor.js';
import { add, exp, mul, sub, tanh } from '../kernels/elementwise.js';
import { permute } from '../kernels/layout.js';
import { matmul } from '../kernels/matmul.js';
import { mean, sum } from '../kernels/reduce.js';
import { logSoftmax, softmax, softmaxCrossEntropy, type Labels } from '../kernels/softmax.js';
import { temporalSoftmaxPooling } from '../kernels/temporal.js';
import { Named } from './containers.js';
import { Linear } from './layers/basic.js';
import { Module } from './module.js';
import { Vgg16Features } from './vgg.js';

export interface TemporalSoftmaxOptions {
  classes?: number;
  width?: number;
  /** Attention heads (2) and hidden size U (128). */
  heads?: number;
  hidden?: number;
  /** 'attention' (default) or 'mean' (baseline: v = mean of the L descriptors). */
  spatial?: 'attention' | 'mean';
  /** 'softmax' (default, eq. 5) or 'avg' (baseline: softmax of the mean frame scores). */
  temporal?: 'softmax' | 'avg';
  /** Weight of ‖AAᵀ − I‖²_F (1). */
  lambda?: number;
  seed?: number;
  /** Backbone conv initialisation: PyTorch's default, or torchvision's VGG one (trains from scratch far better). */
  init?: 'default' | 'kaiming-fan-out';
}

export interface TemporalSoftmaxOutput {
  /** log p(c | clip) [N, E]. */
  logits: Tensor;
  probs: Tensor;
  /** p(f | clip) [N, T] (1/T for AVG pooling). */
  frame_weights: Tensor;
  /** p(c, f) [N, T, E] (softmax pooling) or the per-frame softmax / T (AVG). */
  joint_probs: Tensor;
  /** O [N, T, E]. */
  frame_scores: Tensor;
  /** A [N, T, heads, h, w] (absent with the mean baseline). */
  spatial_attention?: Tensor;
  /** Σ_frames ‖AAᵀ − I‖²_F per clip [N] (zeros with the mean baseline). */
  attention_penalty: Tensor;
}

export class TemporalSoftmaxNet extends Module {
  readonly options: Required<TemporalSoftmaxOptions>;
  readonly features: Vgg16Features;
  readonly attention: Named | null;
  readonly classifier: Linear;

  constructor(engine: Engine, opts: TemporalSoftmaxOptions = {}) {
    super(engine);
    const o: Required<TemporalSoftmaxOptions> = {
      classes: opts.classes ?? 7,
      width: opts.width ?? 1,
      heads: opts.heads ?? 2,
      hidden: opts.hidden ?? 128,
      spatial: opts.spatial ?? 'attention',
      temporal: opts.temporal ?? 'softmax',
      lambda: opts.lambda ?? 1,
      seed: opts.seed ?? 0,
      init: opts.init ?? 'default',
    };
    this.options = o;
    // The last max-pool is dropped: descriptors at H/16 × W/16.
    this.features = this.addModule('features', new Vgg16Features(engine, { width: o.width, pools: 4, seed: o.seed, init: o.init }));
    const D = this.features.outChannels;
    this.attention =
      o.spatial === 'attention'
        ? this.addModule('attention', new Named(engine, [
            ['ws1', new Linear(engine, D, o.hidden, { bias: false, seed: o.seed + 100 })],
            ['ws2', new Linear(engine, o.hidden, o.heads, { bias: false, seed: o.seed + 101 })],
          ]))
        : null;
    const vDim = o.spatial === 'attention' ? o.heads * D : D;
    this.classifier = this.addModule('classifier', new Linear(engine, vDim, o.classes, { seed: o.seed + 102 }));
  }

  /** x: NHWC video [N, T, H, W, 3]. */
  forward(x: Tensor): TemporalSoftmaxOutput {
    assert(x.rank === 5 && x.shape[4] === 3, 'TemporalSoftmaxNet', () => `input ${fmtShape(x.shape)}, expected NHWC video [N, T, H, W, 3]`);
    const [N, T, H, W] = x.shape as [number, number, number, number, number];
    const o = this.options;
    const E = o.classes;
    return tidy(() => {
      const { out } = this.features.forward(x.reshape([N * T, H, W, 3]));
      const [, h, w, D] = out.shape as [number, number, number, number];
      const L = h * w;
      const R = out.reshape([N * T, L, D]); // L row-major over (y, x)
      let v: Tensor;
      let A: Tensor | null = null;
      let penalty: Tensor;
      if (this.attention) {
        const [ws1, ws2] = this.attention.modules().map(([, m]) => m as Linear);
        const e = ws2!.forward(tanh(ws1!.forward(R))); // [NT, L, heads]
        A = softmax(permute(e, [0, 2, 1]), -1); // [NT, heads, L]
        v = matmul(A, R).reshape([N * T, o.heads * D]);
        const gram = matmul(A, A, { transB: true }); // [NT, heads, heads]
        const eye = this.engine.tensor(Float32Array.from({ length: o.heads * o.heads }, (_, i) => (i % (o.heads + 1) === 0 ? 1 : 0)), [o.heads, o.heads]);
        const diff = sub(gram, eye);
        penalty = sum(mul(diff, diff).reshape([N, T * o.heads * o.heads]), 1); // [N]
      } else {
        v = mean(R, 1);
        penalty = this.engine.zeros([N]);
      }
      const O = this.classifier.forward(v).reshape([N, T, E]);
      let logits: Tensor;
      let joint: Tensor;
      let frameWeights: Tensor;
      let probs: Tensor;
      if (o.temporal === 'softmax') {
        // One softmax over all T×E scores, p(c, f), and its marginals, from the fused kernel (one launch each way).
        const pooled = temporalSoftmaxPooling(O);
        ({ logProbs: logits, probs, joint, frameWeights } = pooled);
      } else {
        logits = logSoftmax(mean(O, 1), -1);
        probs = exp(logits);
        joint = mul(softmax(O, -1), 1 / T);
        frameWeights = this.engine.full([N, T], 1 / T);
      }
      return {
        logits,
        probs,
        frame_weights: frameWeights,
        joint_probs: joint,
        frame_scores: O,
        ...(A ? { spatial_attention: A.reshape([N, T, o.heads, h, w]) } : {}),
        attention_penalty: penalty,
      };
    });
  }

  /** −log p(y | clip) + λ·Σ_frames ‖AAᵀ − I‖²_F, averaged over clips. */
  loss(output: TemporalSoftmaxOutput, labels: Labels): Tensor {
    return tidy(() => {
      const nll = softmaxCrossEntropy(output.logits, labels);
      const pen = mul(mean(output.attention_penalty), this.options.lambda);
      return add(nll, pen);
    });
  }
}
