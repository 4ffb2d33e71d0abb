/**
 * M3 — ResNet18 with CBAM and A-Softmax (../shared/papers/002_f3b0ec73f664feaa.txt; spec in MODELS.md § M3).
 * Image model over NHWC input [N, H, W, 1] (the paper: 44×44 crops of 48×48 grayscale faces).
 */
import type { Engine } from '../device/engine.js';
import { noGrad } from '../graph/autograd.js';
import { tidy } from '../graph/scope.js';
import type { Tensor } from '../graph/tensor.js';
import { aSoftmaxLambda, aSoftmaxLogits, aSoftmaxLoss, type LambdaSchedule } from '../kernels/asoftmax.js';
import { div, mul, sqrt } from '../kernels/elementwise.js';
import { concat, permute, slice } from '../kernels/layout.js';
import { matmul } from '../kernels/matmul.js';
import { avgPool2d, globalAvgPool2d } from '../kernels/pool.js';
import { mean, sum } from '../kernels/reduce.js';
import { softmaxCrossEntropy, type Labels } from '../kernels/softmax.js';
import { Cbam, type CbamOrder } from './attention-modules.js';
import { Linear } from './layers/basic.js';
import { Module } from './module.js';
import { buildResNet18, gpuBackend, linear, runResNet, type Backend, type BasicBlock, type Outputs, type Stem } from './resnet.js';

export interface M3Options {
  /** Default 7. */
  classes?: number;
  /** Backbone channel multiplier (64/128/256/512 × width, rounded, at least 1). Default 1. */
  width?: number;
  /** Input channels (1: grayscale). */
  inChannels?: number;
  /** CBAM after every block's residual branch (default true; false gives the plain ResNet18 ablation). */
  cbam?: boolean;
  order?: CbamOrder;
  /** CBAM channel MLP reduction r (C → ⌊C/r⌋ → C, at least 1). Default 16. */
  reduction?: number;
  /** 'asoftmax' (default): normalised weight rows, no bias, angular margin; 'softmax': linear with bias + CE. */
  head?: 'asoftmax' | 'softmax';
  /** A-Softmax margin m (default 4). */
  margin?: number;
  /** λ annealing (SphereFace's: 1000 decaying to a floor of 5). */
  lambda?: LambdaSchedule;
  /** 'global' (default): global average pool; 'avg4': the paper's 4×4/4 average pool then flatten. */
  pool?: 'global' | 'avg4';
  /** Input height = width, needed only by pool 'avg4' to size the classifier. Default 44. */
  inputSize?: number;
  seed?: number;
}

/** Side of the last stage's map for an input side s (3×3/1 stem, then three stride-2 3×3 convs with pad 1). */
function lastStageSide(s: number): number {
  for (let i = 0; i < 3; i++) s = Math.floor((s - 1) / 2) + 1;
  return s;
}

export class M3CbamResNet extends Module {
  readonly opts: Required<Omit<M3Options, 'lambda'>> & { lambda: LambdaSchedule };
  readonly stem: Stem;
  readonly blocks: { key: string; block: BasicBlock }[];
  readonly fc: Linear;
  /** Training iterations seen by `loss` (drives the λ schedule). */
  iteration = 0;

  constructor(engine: Engine, options: M3Options = {}) {
    super(engine);
    const o = {
      classes: 7, width: 1, inChannels: 1, cbam: true, order: 'channel-first' as CbamOrder, reduction: 16,
      head: 'asoftmax' as const, margin: 4, lambda: {}, pool: 'global' as const, inputSize: 44, seed: 0, ...options,
    };
    this.opts = o;
    const net = buildResNet18((name, m) => this.addModule(name, m), engine, {
      inChannels: o.inChannels,
      width: o.width,
      stem: 'small',
      seed: o.seed,
      ...(o.cbam ? { attention: { post: (c: number, s: number, i: number) => [['cbam', new Cbam(engine, c, { order: o.order, reduction: o.reduction, seed: o.seed + 1000 + 10 * s + i })] as const] } } : {}),
    });
    this.stem = net.stem;
    this.blocks = net.blocks;
    const side = lastStageSide(o.inputSize);
    const features = o.pool === 'avg4' ? net.features * Math.floor(side / 4) ** 2 : net.features;
    this.fc = this.addModule('fc', new Linear(engine, features, o.classes, { bias: o.head === 'softmax', seed: o.seed + 9 }));
  }

  get featureSize(): number {
    return this.fc.inFeatures;
  }

  /**
   * x [N, H, W, C_in] → `logits` [N, classes] and `features` [N, F]; with the A-Softmax head also `cos_theta`,
   * `feature_norm` [N]; with CBAM `channel_weights.layer{s}.{b}` [N, C] and `spatial_maps.layer{s}.{b}` [N, h, w].
   * Logits are ‖x‖cos θ_j (A-Softmax; no margin: that belongs to the loss) or x·Wᵀ + b.
   */
  forward(x: Tensor): Outputs<Tensor> {
    return this.forwardWith(gpuBackend, x);
  }

  forwardWith<T>(b: Backend<T>, x: T): Outputs<T> {
    const out: Outputs<T> = {};
    const features = b.scope(() => {
      const h = runResNet(b, this, x, out);
      const n = (h as unknown as { shape: number[] }).shape[0]!;
      const pooled = this.opts.pool === 'avg4' ? b.reshape(b.run(avgPool2d, h, { kernel: 4, stride: 4 }), [n, -1]) : b.run(globalAvgPool2d, h);
      return pooled;
    });
    out.features = features;
    if (this.opts.head === 'softmax') {
      out.logits = b.scope(() => linear(b, this.fc, features));
      return b.adopt(out);
    }
    out.logits = b.scope(() => b.run(aSoftmaxLogits, features, b.p(this.fc.weight), null, { m: this.opts.margin, weightLayout: 'classes-features' }));
    out.feature_norm = b.output(() => b.run(sqrt, b.run(sum, b.run(mul, features, features), 1)));
    const n = (features as unknown as { shape: number[] }).shape[0]!;
    out.cos_theta = b.output(() => b.run(div, out.logits!, b.reshape(out.feature_norm!, [n, 1])));
    return b.adopt(out);
  }

  /** The A-Softmax schedule's position travels with checkpoints, so a resumed run anneals λ from where it was. */
  protected override ownExtraState(): number {
    return this.iteration;
  }

  protected override setOwnExtraState(iteration: number): void {
    this.iteration = iteration;
  }

  /** λ for the next training iteration (0 in eval mode: the pure margin logit is not annealed at test). */
  currentLambda(): number {
    return this.training ? aSoftmaxLambda(this.iteration, this.opts.lambda) : 0;
  }

  /**
   * Mean loss over the batch: A-Softmax (the target logit (λ‖x‖cos θ + ‖x‖ψ(θ))/(1 + λ), λ from the schedule at
   * `iteration`, which advances by one per training-mode call) or softmax cross-entropy.
   */
  loss(output: Outputs<Tensor>, labels: Labels, opts: { lambda?: number } = {}): Tensor {
    if (this.opts.head === 'softmax') return softmaxCrossEntropy(output.logits!, labels);
    const lambda = opts.lambda ?? this.currentLambda();
    if (this.training && opts.lambda === undefined) this.iteration++;
    return aSoftmaxLoss(output.features!, this.fc.weight, labels, { m: this.opts.margin, lambda, weightLayout: 'classes-features' });
  }

  /**
   * Ten-crop inference: x [N, H, W, C] (e.g. 48×48) → logits [N, classes] averaged over the four corner crops,
   * the centre crop and their mirror images (crop × crop, default 44). Runs in eval mode without autograd.
   */
  tenCrop(x: Tensor, crop = 44): Tensor {
    const [n, hh, ww] = x.shape as [number, number, number, number];
    if (crop > hh || crop > ww) throw new Error(`M3CbamResNet.tenCrop: crop ${crop} exceeds the input ${hh}×${ww}`);
    const wasTraining = this.training;
    this.eval();
    try {
      return noGrad(() =>
        tidy(() => {
          const y0 = [0, hh - crop, 0, hh - crop, Math.floor((hh - crop) / 2)];
          const x0 = [0, 0, ww - crop, ww - crop, Math.floor((ww - crop) / 2)];
          const crops = y0.map((y, i) => slice(x, [y, x0[i]!], [y + crop, x0[i]! + crop], undefined, [1, 2]));
          // Mirror along W: [N, h, C, W]·J with J the anti-identity, then back to NHWC.
          const flip = new Float32Array(crop * crop);
          for (let i = 0; i < crop; i++) flip[i * crop + (crop - 1 - i)] = 1;
          const j = this.engine.tensor(flip, [crop, crop]);
          const mirrored = crops.map((t) => permute(matmul(permute(t, [0, 1, 3, 2]), j), [0, 1, 3, 2]));
          const batch = concat([...crops, ...mirrored], 0); // [10·N, crop, crop, C]
          const logits = this.forward(batch).logits!; // the other outputs go with this scope
          return mean(logits.reshape([10, n, this.opts.classes]), 0);
        }),
      );
    } finally {
      this.train(wasTraining);
    }
  }
}
