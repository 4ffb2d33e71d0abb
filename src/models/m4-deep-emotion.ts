/**
 * M4 — Deep-Emotion (Minaee et al.): a small CNN behind a spatial transformer. Input NHWC [N, H, W, 1]
 * (48×48 grayscale by default); see docs/models/m4.md.
 */
import type { Engine } from '../device/engine.js';
import { assert, fmtShape } from '../device/errors.js';
import { noGrad } from '../graph/autograd.js';
import { HostTensor } from '../graph/host.js';
import { tidy } from '../graph/scope.js';
import type { Tensor } from '../graph/tensor.js';
import { add, mul, relu } from '../kernels/elementwise.js';
import { permute } from '../kernels/layout.js';
import { maxPool2d } from '../kernels/pool.js';
import { sum } from '../kernels/reduce.js';
import { softmax, softmaxCrossEntropy, type Labels } from '../kernels/softmax.js';
import { Named, scaled } from './containers.js';
import { Linear } from './layers/basic.js';
import { BatchNorm2d } from './layers/batchnorm.js';
import { Conv2d } from './layers/conv.js';
import { Dropout } from './layers/norm.js';
import { Module } from './module.js';
import { affineWarp } from './spatial-warp.js';

export interface DeepEmotionOptions {
  classes?: number;
  /** Input [H, W]; default 48×48. */
  inputSize?: [number, number];
  /** Multiplies every conv channel count (8, 10 in the localisation net; 10 in the feature net). */
  width?: number;
  /** Hidden width of the localisation regressor (32). */
  locHidden?: number;
  /** Hidden width of the classifier (50). */
  hidden?: number;
  /**
   * 'code' (default): the widely used Deep-Emotion implementation, ReLU after every conv and BatchNorm after conv4.
   * 'paper': the paper's Fig. 3 order, conv–conv–pool–ReLU twice, no BatchNorm.
   */
  order?: 'code' | 'paper';
  /** Overrides the order's BatchNorm choice. */
  batchNorm?: boolean;
  dropout?: number;
  /** Weight of ‖fc1.weight‖² + ‖fc2.weight‖² in the loss (1e-3). */
  lambda?: number;
  alignCorners?: boolean;
  seed?: number;
}

export interface DeepEmotionOutput {
  logits: Tensor;
  /** [N, 2, 3] affine transform, row-major. */
  theta: Tensor;
  /** [N, H, W, 1] the warped input the feature net saw. */
  warped: Tensor;
}

/** Spatial size after a valid k×k conv then a 2×2 max-pool (floor). */
const convPool = (s: number, k: number): number => Math.floor((s - k + 1) / 2);

export class DeepEmotion extends Module {
  readonly options: Required<Omit<DeepEmotionOptions, 'batchNorm'>> & { batchNorm: boolean };
  readonly localization: Named;
  readonly fcLoc: Named;
  readonly conv1: Conv2d;
  readonly conv2: Conv2d;
  readonly conv3: Conv2d;
  readonly conv4: Conv2d;
  readonly norm: BatchNorm2d | null;
  readonly dropout: Dropout;
  readonly fc1: Linear;
  readonly fc2: Linear;
  /** Flatten sizes: localisation [C, h, w] and features [C, h, w]. */
  readonly locShape: [number, number, number];
  readonly featShape: [number, number, number];

  constructor(engine: Engine, opts: DeepEmotionOptions = {}) {
    super(engine);
    const order = opts.order ?? 'code';
    const o = {
      classes: opts.classes ?? 7,
      inputSize: opts.inputSize ?? [48, 48],
      width: opts.width ?? 1,
      locHidden: opts.locHidden ?? 32,
      hidden: opts.hidden ?? 50,
      order,
      batchNorm: opts.batchNorm ?? order === 'code',
      dropout: opts.dropout ?? 0.5,
      lambda: opts.lambda ?? 1e-3,
      alignCorners: opts.alignCorners ?? false,
      seed: opts.seed ?? 0,
    } as const;
    this.options = { ...o, inputSize: [...o.inputSize] as [number, number] };
    const [H, W] = o.inputSize;
    const c8 = scaled(8, o.width);
    const c10 = scaled(10, o.width);
    const seed = o.seed;
    const locH = convPool(convPool(H, 7), 5);
    const locW = convPool(convPool(W, 7), 5);
    // Two blocks of two valid 3×3 convs and a 2×2 pool.
    const block = (s: number): number => Math.floor((s - 4) / 2);
    const featH = block(block(H));
    const featW = block(block(W));
    assert(locH >= 1 && locW >= 1 && featH >= 1 && featW >= 1, 'DeepEmotion', () => `input ${H}×${W} is too small (needs at least 26×26)`);
    this.locShape = [c10, locH, locW];
    this.featShape = [c10, featH, featW];

    const loc0 = new Conv2d(engine, 1, c8, 7, { seed: seed + 1 });
    const loc3 = new Conv2d(engine, c8, c10, 5, { seed: seed + 2 });
    this.localization = this.addModule('localization', new Named(engine, [['0', loc0], ['3', loc3]]));
    const fl0 = new Linear(engine, c10 * locH * locW, o.locHidden, { seed: seed + 3, activation: 'relu' });
    const fl2 = new Linear(engine, o.locHidden, 6, { seed: seed + 4 });
    // The regressor starts at the identity warp: zero weight, bias (1, 0, 0, 0, 1, 0).
    engine.write(fl2.weight, new Float32Array(6 * o.locHidden));
    engine.write(fl2.bias!, [1, 0, 0, 0, 1, 0]);
    this.fcLoc = this.addModule('fc_loc', new Named(engine, [['0', fl0], ['2', fl2]]));

    const paper = order === 'paper';
    this.conv1 = this.addModule('conv1', new Conv2d(engine, 1, c10, 3, { seed: seed + 5, activation: paper ? 'none' : 'relu' }));
    this.conv2 = this.addModule('conv2', new Conv2d(engine, c10, c10, 3, { seed: seed + 6 }));
    this.conv3 = this.addModule('conv3', new Conv2d(engine, c10, c10, 3, { seed: seed + 7, activation: paper ? 'none' : 'relu' }));
    this.conv4 = this.addModule('conv4', new Conv2d(engine, c10, c10, 3, { seed: seed + 8 }));
    this.norm = o.batchNorm ? this.addModule('norm', new BatchNorm2d(engine, c10)) : null;
    this.dropout = this.addModule('dropout', new Dropout(engine, o.dropout, seed + 9));
    this.fc1 = this.addModule('fc1', new Linear(engine, c10 * featH * featW, o.hidden, { seed: seed + 10, activation: 'relu' }));
    this.fc2 = this.addModule('fc2', new Linear(engine, o.hidden, o.classes, { seed: seed + 11 }));
  }

  private get loc0(): Conv2d {
    return this.localization.modules()[0]![1] as Conv2d;
  }
  private get loc3(): Conv2d {
    return this.localization.modules()[1]![1] as Conv2d;
  }

  /** θ [N, 2, 3] for NHWC images. */
  theta(x: Tensor): Tensor {
    return tidy(() => {
      const N = x.shape[0]!;
      let h = relu(maxPool2d(this.loc0.forward(x), { kernel: 2 }));
      h = relu(maxPool2d(this.loc3.forward(h), { kernel: 2 }));
      const flat = flattenCHW(h);
      const [fl0, fl2] = this.fcLoc.modules().map(([, m]) => m as Linear);
      return fl2!.forward(fl0!.forward(flat)).reshape([N, 2, 3]);
    });
  }

  /** x: NHWC [N, H, W, 1]. */
  forward(x: Tensor): DeepEmotionOutput {
    const [H, W] = this.options.inputSize;
    assert(x.rank === 4 && x.shape[1] === H && x.shape[2] === W && x.shape[3] === 1, 'DeepEmotion', () => `input ${fmtShape(x.shape)}, expected NHWC [N, ${H}, ${W}, 1]`);
    return tidy(() => {
      const theta = this.theta(x);
      const warped = affineWarp(x, theta, { alignCorners: this.options.alignCorners });
      let h = this.conv2.forward(this.conv1.forward(warped));
      h = relu(maxPool2d(h, { kernel: 2 }));
      h = this.conv4.forward(this.conv3.forward(h));
      if (this.norm) h = this.norm.forward(h);
      h = relu(maxPool2d(h, { kernel: 2 }));
      h = this.dropout.forward(h);
      const logits = this.fc2.forward(this.fc1.forward(flattenCHW(h)));
      return { logits, theta, warped };
    });
  }

  /** Mean cross-entropy + λ·(‖fc1.weight‖² + ‖fc2.weight‖²); biases are not regularised. */
  loss(output: DeepEmotionOutput, labels: Labels): Tensor {
    return tidy(() => {
      const ce = softmaxCrossEntropy(output.logits, labels);
      const sq = (w: Tensor): Tensor => sum(mul(w, w));
      const reg = mul(add(sq(this.fc1.weight), sq(this.fc2.weight)), this.options.lambda);
      return add(ce, reg);
    });
  }
}

/** NHWC → flatten in PyTorch's (C, H, W) order, so fc weights trained in PyTorch load unchanged. */
export function flattenCHW(x: Tensor): Tensor {
  const t = permute(x, [0, 3, 1, 2]);
  const flat = t.reshape([x.shape[0]!, -1]);
  t.dispose();
  return flat;
}

export interface OcclusionOptions {
  patch?: number;
  stride?: number;
  /** Target class per image; default the predicted class. */
  target?: readonly number[];
  /** Occluded images per forward pass. */
  batch?: number;
}

export interface OcclusionMap {
  /** [N, rows, cols]: p(target | x) − p(target | x with the patch at (row·stride, col·stride) zeroed). */
  map: HostTensor;
  target: number[];
  probability: number[];
}

/**
 * Occlusion saliency (the paper's visualisation): slide a zeroed square over each image and record how much the
 * target class's probability drops. Runs in eval mode without gradients; the model's mode is restored.
 */
export async function occlusionSaliency(model: DeepEmotion, x: Tensor, opts: OcclusionOptions = {}): Promise<OcclusionMap> {
  const patch = opts.patch ?? 8;
  const stride = opts.stride ?? 4;
  const [N, H, W] = x.shape as [number, number, number, number];
  const rows = Math.floor((H - patch) / stride) + 1;
  const cols = Math.floor((W - patch) / stride) + 1;
  assert(rows >= 1 && cols >= 1, 'occlusionSaliency', () => `patch ${patch} does not fit ${H}×${W}`);
  const wasTraining = model.training;
  model.eval();
  const engine = model.engine;
  const probsOf = async (t: Tensor): Promise<Float32Array> => {
    const p = noGrad(() => tidy(() => softmax(model.forward(t).logits, -1)));
    const v = (await p.read()) as Float32Array;
    p.dispose();
    return v;
  };
  try {
    const C = model.options.classes;
    const base = await probsOf(x);
    const target = opts.target ? [...opts.target] : Array.from({ length: N }, (_, n) => argmaxRow(base, n * C, C));
    const probability = target.map((c, n) => base[n * C + c]!);
    const pixels = (await x.read()) as Float32Array;
    const map = new Float32Array(N * rows * cols);
    const per = opts.batch ?? 64;
    const positions = rows * cols;
    for (let n = 0; n < N; n++) {
      const img = pixels.subarray(n * H * W, (n + 1) * H * W);
      for (let start = 0; start < positions; start += per) {
        const count = Math.min(per, positions - start);
        const data = new Float32Array(count * H * W);
        for (let k = 0; k < count; k++) {
          const r = Math.floor((start + k) / cols);
          const c = (start + k) % cols;
          const dst = data.subarray(k * H * W, (k + 1) * H * W);
          dst.set(img);
          for (let yy = r * stride; yy < r * stride + patch; yy++) dst.fill(0, yy * W + c * stride, yy * W + c * stride + patch);
        }
        const t = engine.tensor(data, [count, H, W, 1]);
        const p = await probsOf(t);
        t.dispose();
        for (let k = 0; k < count; k++) map[n * positions + start + k] = probability[n]! - p[k * C + target[n]!]!;
      }
    }
    return { map: new HostTensor([N, rows, cols], map), target, probability };
  } finally {
    model.train(wasTraining);
  }
}

function argmaxRow(v: ArrayLike<number>, off: number, n: number): number {
  let best = 0;
  for (let i = 1; i < n; i++) if (v[off + i]! > v[off + best]!) best = i;
  return best;
}
