/**
 * ResNet18 pieces shared by M1 and M3: stems, BasicBlocks with attention hooks, stages. Activations are NHWC.
 *
 * Every forward is written once against a `Backend`: the GPU backend runs the ops (autograd records them), the
 * CPU backend runs the same ops' `.cpu` references on host copies of the weights. Tests compare the two, so the
 * CPU forward is independent of every GPU kernel while sharing the model's wiring.
 */
import type { Engine } from '../device/engine.js';
import { noGrad } from '../graph/autograd.js';
import { HostTensor } from '../graph/host.js';
import { keep, tidy, trackTensor } from '../graph/scope.js';
import type { Tensor } from '../graph/tensor.js';
import { BN_EPS, BN_MOMENTUM, batchNorm2d } from '../kernels/batchnorm.js';
import { conv2d } from '../kernels/conv.js';
import { add, div, mul, neg, relu, sqrt, sub } from '../kernels/elementwise.js';
import { matmul, type Activation } from '../kernels/matmul.js';
import type { MultiOp } from '../kernels/multi-op.js';
import type { Op } from '../kernels/op.js';
import { maxPool2d } from '../kernels/pool.js';
import type { Linear } from './layers/basic.js';
import { BatchNorm2d } from './layers/batchnorm.js';
import { Conv2d } from './layers/conv.js';
import { Module } from './module.js';

/** Where a forward runs: GPU tensors through the ops, or host tensors through the ops' CPU references. */
export interface Backend<T> {
  readonly kind: 'gpu' | 'cpu';
  /** A module's parameter or buffer in this backend. */
  p(t: Tensor): T;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  run(op: Op<any, any>, ...args: unknown[]): T;
  /** A multi-output op (its named outputs). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  runMulti<O extends string>(op: MultiOp<any, O, any>, ...args: unknown[]): Record<O, T>;
  reshape(x: T, shape: readonly number[]): T;
  /** Disposes what `fn` created except its result (GPU); a plain call on the CPU. */
  scope<R>(fn: () => R): R;
  /** Values that are only read (attention outputs): computed without autograd and kept out of inner scopes. */
  output(fn: () => T): T;
  /** Hands a finished forward's outputs to the caller's scope (so an enclosing tidy frees them). */
  adopt(out: Outputs<T>): Outputs<T>;
}

export const gpuBackend: Backend<Tensor> = {
  kind: 'gpu',
  p: (t) => t,
  run: (op, ...args) => (op as (...a: unknown[]) => Tensor)(...args),
  runMulti: (op, ...args) => (op as (...a: unknown[]) => Record<string, Tensor>)(...args) as never,
  reshape: (x, shape) => x.reshape(shape),
  scope: (fn) => tidy(fn),
  output: (fn) => keep(noGrad(fn)),
  adopt(out) {
    for (const t of Object.values(out)) trackTensor(t);
    return out;
  },
};

/** A CPU backend over host copies of a module's parameters and buffers (engine layouts). */
export async function cpuBackend(model: Module): Promise<Backend<HostTensor>> {
  const host = new Map<Tensor, HostTensor>();
  for (const [, t] of [...model.namedParameters(), ...model.namedBuffers()]) host.set(t, new HostTensor(t.shape, await t.read(), t.dtype));
  return {
    kind: 'cpu',
    p(t) {
      const h = host.get(t);
      if (!h) throw new Error(`cpuBackend: tensor ${t} is not a parameter or buffer of the model`);
      return h;
    },
    run: (op, ...args) => (op.cpu as (...a: unknown[]) => HostTensor)(...args),
    runMulti: (op, ...args) => (op.cpu as (...a: unknown[]) => Record<string, HostTensor>)(...args) as never,
    reshape(x, shape) {
      const known = shape.reduce((a, d) => (d === -1 ? a : a * d), 1);
      return new HostTensor(shape.map((d) => (d === -1 ? x.size / known : d)), x.data, x.dtype);
    },
    scope: (fn) => fn(),
    output: (fn) => fn(),
    adopt: (out) => out,
  };
}

/** Named outputs of a forward (logits and attention maps), flat: `channel_weights.layer1.0`, … */
export type Outputs<T> = Record<string, T>;

// ---------------------------------------------------------------------------------------- layer helpers

export function conv<T>(b: Backend<T>, layer: Conv2d, x: T, opts: { residual?: T; relu?: boolean } = {}): T {
  const o = layer.options;
  return b.run(conv2d, x, b.p(layer.weight), {
    stride: o.stride ?? 1,
    padding: o.padding ?? 0,
    ...(layer.bias ? { bias: b.p(layer.bias) } : {}),
    ...(opts.residual ? { residual: opts.residual } : {}),
    activation: opts.relu ? 'relu' : 'none',
  });
}

export function bn<T>(b: Backend<T>, layer: BatchNorm2d, x: T, withRelu = false): T {
  return b.run(batchNorm2d, x, layer.weight && b.p(layer.weight), layer.bias && b.p(layer.bias), b.p(layer.runningMean), b.p(layer.runningVar), {
    training: layer.training,
    eps: layer.options.eps ?? BN_EPS,
    momentum: layer.options.momentum ?? BN_MOMENTUM,
    relu: withRelu,
  });
}

/**
 * conv → BN (→ ReLU, + a residual before it) as one convolution when both layers are frozen in eval mode
 * (Module.freeze): BN folds into the weights and a bias, W·s and β + (b − μ)·s per output channel with
 * s = γ/√(σ² + ε), made once and kept with the conv's weight (engine.derived). Otherwise conv then BN; a
 * residual is then added and ReLU applied after BN, as in a BasicBlock's tail.
 */
export function convBn<T>(b: Backend<T>, c: Conv2d, n: BatchNorm2d, x: T, opts: { relu?: boolean; residual?: T } = {}): T {
  const folded = b.kind === 'gpu' && !n.training ? foldedConvBn(c, n) : undefined;
  if (folded) {
    const o = c.options;
    return b.run(conv2d, x, folded.weight, { stride: o.stride ?? 1, padding: o.padding ?? 0, bias: folded.bias, ...(opts.residual ? { residual: opts.residual } : {}), activation: opts.relu ? 'relu' : 'none' });
  }
  if (!opts.residual) return bn(b, n, conv(b, c, x), opts.relu);
  const sum = b.run(add, bn(b, n, conv(b, c, x)), opts.residual);
  return opts.relu ? b.run(relu, sum) : sum;
}

function foldedConvBn(c: Conv2d, n: BatchNorm2d): { weight: Tensor; bias: Tensor } | undefined {
  const engine = c.engine;
  const frozen = [c.weight, c.bias, n.weight, n.bias, n.runningMean, n.runningVar].every((t) => !t || engine.isFrozen(t));
  if (!frozen) return undefined;
  return engine.derived(
    c.weight,
    'batch norm folded',
    () =>
      noGrad(() =>
        tidy(() => {
          const std = sqrt(add(n.runningVar, n.options.eps ?? BN_EPS));
          const scale = div(n.weight ?? engine.ones(std.shape), std);
          const shift = c.bias ? sub(c.bias, n.runningMean) : neg(n.runningMean);
          const bias = n.bias ? add(mul(shift, scale), n.bias) : mul(shift, scale);
          return { weight: keep(engine.freeze(mul(c.weight, scale))), bias: keep(engine.freeze(bias)) };
        }),
      ),
    (f) => {
      f.weight.dispose();
      f.bias.dispose();
    },
  );
}

/** x [rows, in] → [rows, out]. */
export function linear<T>(b: Backend<T>, layer: Linear, x: T, activation: Activation = 'none'): T {
  return b.run(matmul, x, b.p(layer.weight), { transB: true, activation, ...(layer.bias ? { bias: b.p(layer.bias) } : {}) });
}

/** Channel count scaled by the width multiplier: rounded, at least 1. */
export function scaledWidth(channels: number, width: number): number {
  return Math.max(1, Math.round(channels * width));
}

/** A container whose children are named by the caller (PyTorch Sequential indices such as `downsample.0`). */
export class Children extends Module {
  constructor(engine: Engine, entries: readonly (readonly [string, Module])[]) {
    super(engine);
    for (const [name, m] of entries) this.addModule(name, m);
  }
}

// ----------------------------------------------------------------------------------------------- blocks

/** An attention module applied inside a block: returns the gated activation and records its maps under `key`. */
export interface BlockAttention extends Module {
  apply<T>(b: Backend<T>, x: T, key: string, out: Outputs<T>): T;
}

export interface BasicBlockOptions {
  stride?: number;
  seed?: number;
  /** Run on relu(bn1(conv1 x)), before conv2, in order (M1's CA then SA), registered under their names. */
  mid?: readonly (readonly [string, BlockAttention])[];
  /** Run on bn2(conv2 ·), the residual branch before the addition (M3's CBAM). */
  post?: readonly (readonly [string, BlockAttention])[];
}

/** torchvision's BasicBlock: two 3×3 convs (no bias) with BN, a 1×1/stride projection shortcut where shape changes. */
export class BasicBlock extends Module {
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly downsample: { conv: Conv2d; bn: BatchNorm2d } | null;
  readonly mid: BlockAttention[];
  readonly post: BlockAttention[];

  constructor(engine: Engine, inC: number, outC: number, opts: BasicBlockOptions = {}) {
    super(engine);
    const stride = opts.stride ?? 1;
    const seed = opts.seed ?? 0;
    this.conv1 = this.addModule('conv1', new Conv2d(engine, inC, outC, 3, { stride, padding: 1, bias: false, seed: seed + 1 }));
    this.bn1 = this.addModule('bn1', new BatchNorm2d(engine, outC));
    this.conv2 = this.addModule('conv2', new Conv2d(engine, outC, outC, 3, { padding: 1, bias: false, seed: seed + 2 }));
    this.bn2 = this.addModule('bn2', new BatchNorm2d(engine, outC));
    // Registration order follows torchvision (conv1, bn1, conv2, bn2, downsample), then the attention modules.
    if (stride !== 1 || inC !== outC) {
      const dsConv = new Conv2d(engine, inC, outC, 1, { stride, bias: false, seed: seed + 3 });
      const dsBn = new BatchNorm2d(engine, outC);
      this.addModule('downsample', new Children(engine, [['0', dsConv], ['1', dsBn]]));
      this.downsample = { conv: dsConv, bn: dsBn };
    } else {
      this.downsample = null;
    }
    this.mid = (opts.mid ?? []).map(([n, m]) => this.addModule(n, m));
    this.post = (opts.post ?? []).map(([n, m]) => this.addModule(n, m));
  }

  forwardWith<T>(b: Backend<T>, x: T, key: string, out: Outputs<T>): T {
    return b.scope(() => {
      let h = convBn(b, this.conv1, this.bn1, x, { relu: true });
      for (const m of this.mid) h = m.apply(b, h, key, out);
      const shortcut = this.downsample ? convBn(b, this.downsample.conv, this.downsample.bn, x) : x;
      // Without attention after bn2, the residual add and ReLU ride on conv2's epilogue when folded.
      if (this.post.length === 0) return convBn(b, this.conv2, this.bn2, h, { residual: shortcut, relu: true });
      h = convBn(b, this.conv2, this.bn2, h);
      for (const m of this.post) h = m.apply(b, h, key, out);
      return b.run(relu, b.run(add, h, shortcut));
    });
  }
}

export interface StemOptions {
  inChannels: number;
  channels: number;
  /** 'imagenet': 7×7/2 conv, BN, ReLU, 3×3/2 max-pool (M1); 'small': 3×3/1 conv, BN, ReLU (M3). */
  kind: 'imagenet' | 'small';
  seed?: number;
}

export class Stem extends Module {
  readonly conv: Conv2d;
  readonly bn: BatchNorm2d;

  constructor(
    engine: Engine,
    readonly options: StemOptions,
  ) {
    super(engine);
    const big = options.kind === 'imagenet';
    this.conv = this.addModule('conv', new Conv2d(engine, options.inChannels, options.channels, big ? 7 : 3, { stride: big ? 2 : 1, padding: big ? 3 : 1, bias: false, seed: options.seed ?? 0 }));
    this.bn = this.addModule('bn', new BatchNorm2d(engine, options.channels));
  }

  forwardWith<T>(b: Backend<T>, x: T): T {
    return b.scope(() => {
      const h = convBn(b, this.conv, this.bn, x, { relu: true });
      return this.options.kind === 'imagenet' ? b.run(maxPool2d, h, { kernel: 3, stride: 2, padding: 1 }) : h;
    });
  }
}

/** Makes the attention modules of one block (stage s 1–4, block i 0–1, its output channels). */
export interface AttentionFactory {
  mid?(channels: number, stage: number, block: number): (readonly [string, BlockAttention])[];
  post?(channels: number, stage: number, block: number): (readonly [string, BlockAttention])[];
}

export const RESNET18_WIDTHS = [64, 128, 256, 512] as const;

/**
 * Adds `stem` and `layer1`…`layer4` (2 BasicBlocks each, stride 2 at the first block of stages 2–4) to `owner`;
 * returns them. Channel counts are ResNet18's times `width`.
 */
export function buildResNet18(
  add: <M extends Module>(name: string, m: M) => M,
  engine: Engine,
  opts: { inChannels: number; width: number; stem: StemOptions['kind']; seed: number; attention?: AttentionFactory },
): { stem: Stem; blocks: { key: string; block: BasicBlock }[]; features: number } {
  const widths = RESNET18_WIDTHS.map((c) => scaledWidth(c, opts.width));
  const stem = add('stem', new Stem(engine, { inChannels: opts.inChannels, channels: widths[0]!, kind: opts.stem, seed: opts.seed }));
  const blocks: { key: string; block: BasicBlock }[] = [];
  let inC = widths[0]!;
  widths.forEach((c, si) => {
    const s = si + 1;
    const pair = [0, 1].map((i) => {
      const block = new BasicBlock(engine, i === 0 ? inC : c, c, {
        stride: i === 0 && s > 1 ? 2 : 1,
        seed: opts.seed + 100 * s + 10 * i,
        mid: opts.attention?.mid?.(c, s, i) ?? [],
        post: opts.attention?.post?.(c, s, i) ?? [],
      });
      blocks.push({ key: `layer${s}.${i}`, block });
      return [String(i), block] as const;
    });
    add(`layer${s}`, new Children(engine, pair));
    inC = c;
  });
  return { stem, blocks, features: inC };
}

/** Runs the stem and the blocks; returns the last feature map [N, h, w, C]. */
export function runResNet<T>(b: Backend<T>, net: { stem: Stem; blocks: { key: string; block: BasicBlock }[] }, x: T, out: Outputs<T>): T {
  let h = net.stem.forwardWith(b, x);
  for (const { key, block } of net.blocks) {
    const next = block.forwardWith(b, h, key, out);
    if (b.kind === 'gpu' && h !== x) (h as unknown as Tensor).dispose();
    h = next;
  }
  return h;
}

/**
 * Loads torchvision resnet18 weights (PyTorch names and layouts) into a model built on `buildResNet18`: torchvision's
 * `conv1`/`bn1` become `stem.conv`/`stem.bn`; `num_batches_tracked` and torchvision's `fc` classifier are ignored;
 * every other tensor of the model (attention, heads) keeps its current value. A tensor the model lacks, or one
 * whose shape differs, is reported by loadStateDict's error, which names each of them.
 */
export function loadResNetBackbone(model: Module, state: ReadonlyMap<string, Tensor> | Record<string, Tensor>): void {
  const given = state instanceof Map ? state : new Map(Object.entries(state));
  const merged = model.stateDict();
  const current = new Map(merged);
  try {
    for (const [name, t] of given) {
      if (name.endsWith('num_batches_tracked') || name.startsWith('fc.')) continue;
      const renamed = name.replace(/^conv1\./, 'stem.conv.').replace(/^bn1\./, 'stem.bn.');
      merged.set(renamed, t);
    }
    model.loadStateDict(merged);
  } finally {
    current.forEach((t) => t.dispose());
  }
}
