/**
 * `models`: the five FER models (M1–M5) end to end. Per model, an eval-mode forward per clip (or image) and one
 * training step (forward, backward, Adam), at the tests' small configuration and at the paper's input size where
 * that fits the suite's budget on a 2-core CPU "GPU" (the rest are marked or left to `--paper`). Each row records
 * the first (compiling) call apart, the wait mode and the peak live GPU bytes (`engine.memory()`).
 *
 * Also: a plain ResNet18 (the backbone M1 and M3 share) at 1×224×224×3, eval forward, against the same network
 * and weights in tfjs-webgpu (NHWC conv2d, batchNorm with the running statistics, max-pool, residual adds); and
 * with `--memory`, M1's eval forward on a 16-frame 224×224 clip with its peak GPU bytes against
 * weights + the largest activation (issue 6, item 5: at most 2.5×).
 */
import type { Engine } from '../../src/device/engine.js';
import { noGrad } from '../../src/graph/autograd.js';
import { tidy } from '../../src/graph/scope.js';
import type { Tensor } from '../../src/graph/tensor.js';
import { conv2dBackwardWeightKernel, conv2dKernel } from '../../src/kernels/conv-gpu.js';
import { matmulKernel } from '../../src/kernels/matmul.js';
import type { Labels } from '../../src/kernels/softmax.js';
import type { TunableKernel } from '../../src/kernels/variants.js';
import { M1MultiAttentionResNet, type M1Options } from '../../src/models/m1-multi-attention.js';
import { TemporalSoftmaxNet, type TemporalSoftmaxOptions } from '../../src/models/m2-temporal-softmax.js';
import { M3CbamResNet, type M3Options } from '../../src/models/m3-cbam.js';
import { DeepEmotion, type DeepEmotionOptions } from '../../src/models/m4-deep-emotion.js';
import { EcnnFsa, type EcnnFsaOptions } from '../../src/models/m5-ecnn-fsa.js';
import { Module } from '../../src/models/module.js';
import { buildResNet18, gpuBackend, runResNet, type BasicBlock, type Stem } from '../../src/models/resnet.js';
import { Adam } from '../../src/optim/adam.js';
import { makeRow, randomData, setWaitMode, timeAsync, timePair, type Row, type Suite, type SuiteContext, type Tf, type TimeOptions } from '../harness.js';
import { relDiff, tfjsWithGradients, tfSync, tuneFirst, variantOf, type TfTensor } from './op-bench.js';

/** What the suite needs of a model: all five have this shape. */
interface Model extends Module {
  forward(x: Tensor): unknown;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  loss(output: any, labels: Labels): Tensor;
}

interface ModelCase {
  model: 'M1' | 'M2' | 'M3' | 'M4' | 'M5';
  config: 'small' | 'paper';
  /** Input shape (NHWC images or [N, T, H, W, C] clips). */
  input: number[];
  classes: number;
  make(engine: Engine): Model;
  /** Skip the training step (too slow for the default run). */
  evalOnly?: boolean;
  /** Why the row differs from the paper's setting, when it does. */
  note?: string;
}

// The tests' small configurations (test/cases/m*.cases.ts) and the papers' input sizes (MODELS.md).
const M1_SMALL: M1Options = { width: 1 / 8, classes: 4, frameFeatures: 12, frameHidden: 5, spatialHidden: 4 };
const M2_SMALL: TemporalSoftmaxOptions = { width: 1 / 16, hidden: 8, heads: 2, classes: 3, seed: 4 };
const M3_SMALL: M3Options = { width: 1 / 8, classes: 5, inputSize: 16, reduction: 4 };
const M4_SMALL: DeepEmotionOptions = { inputSize: [30, 30], width: 0.5, hidden: 12, locHidden: 8, classes: 5, seed: 3 };
const M5_SMALL: EcnnFsaOptions = { width: 1 / 16, classes: 4, seed: 2 };

function cases(quick: boolean, paperClips: boolean): ModelCase[] {
  const small: ModelCase[] = [
    { model: 'M1', config: 'small', input: [2, 2, 16, 16, 3], classes: 4, make: (e) => new M1MultiAttentionResNet(e, M1_SMALL) },
    { model: 'M2', config: 'small', input: [2, 3, 32, 32, 3], classes: 3, make: (e) => new TemporalSoftmaxNet(e, M2_SMALL) },
    { model: 'M3', config: 'small', input: [3, 16, 16, 1], classes: 5, make: (e) => new M3CbamResNet(e, M3_SMALL) },
    { model: 'M4', config: 'small', input: [3, 30, 30, 1], classes: 5, make: (e) => new DeepEmotion(e, M4_SMALL) },
    { model: 'M5', config: 'small', input: [2, 3, 32, 32, 3], classes: 4, make: (e) => new EcnnFsa(e, M5_SMALL) },
  ];
  if (quick) return small;
  // Paper sizes. M3 (44×44 grayscale) and M4 (48×48 grayscale) are cheap. The video models at 224×224 and full
  // width cost 3.6–50 GFLOP per frame: the default run takes M1's 16-frame clip and one frame per clip of M2 and
  // M5, eval only (marked); `--paper` adds the papers' clip lengths (M2: 16 frames; M5: 5) and training steps.
  const paper: ModelCase[] = [
    { model: 'M3', config: 'paper', input: [1, 44, 44, 1], classes: 7, make: (e) => new M3CbamResNet(e, { inputSize: 44 }) },
    { model: 'M4', config: 'paper', input: [1, 48, 48, 1], classes: 7, make: (e) => new DeepEmotion(e) },
  ];
  const frames = (t: number) => (paperClips ? t : 1);
  const note = (t: number) => (paperClips ? undefined : `1 frame per clip (the paper's ${t}: --paper)`);
  paper.push(
    // M1's full clip costs about 58 GFLOP (2–3 s): its eval forward fits the default run; its step does not.
    { model: 'M1', config: 'paper', input: [1, 16, 224, 224, 3], classes: 7, make: (e) => new M1MultiAttentionResNet(e), evalOnly: !paperClips, ...(paperClips ? {} : { note: 'eval only (train step: --paper)' }) },
    { model: 'M2', config: 'paper', input: [1, frames(16), 224, 224, 3], classes: 7, make: (e) => new TemporalSoftmaxNet(e), evalOnly: !paperClips, note: note(16) },
    { model: 'M5', config: 'paper', input: [1, frames(5), 224, 224, 3], classes: 7, make: (e) => new EcnnFsa(e), evalOnly: !paperClips, note: note(5) },
  );
  return [...small, ...paper];
}

const tensorBytes = (ts: readonly Tensor[]) => ts.reduce((a, t) => a + t.size * 4, 0);

function weightBytes(m: Module): number {
  return tensorBytes([...m.namedParameters().map(([, t]) => t), ...m.namedBuffers().map(([, t]) => t)]);
}

/** Steady-state timing: a few calls for seconds-long ones (first call timed apart, no extra warm-up for those). */
function timing(quick: boolean, heavy: boolean): TimeOptions {
  if (quick) return { budgetMs: 100, minIterations: 2, maxIterations: 5, warmup: 1 };
  return heavy ? { budgetMs: 3000, minIterations: 1, maxIterations: 5, warmup: 0 } : { budgetMs: 1000, minIterations: 3, maxIterations: 30, warmup: 1 };
}

const mib = (b: number) => Number((b / 2 ** 20).toFixed(2));

async function runModelCase(ctx: SuiteContext, c: ModelCase, kernels: TunableKernel<never>[], waits: readonly ('polite' | 'busy')[]): Promise<Row[]> {
  const { engine, log } = ctx;
  const rows: Row[] = [];
  const model = c.make(engine);
  const x = engine.tensor(randomData(c.input.reduce((a, b) => a * b, 1), 7), c.input);
  const labels = engine.tensor(Int32Array.from({ length: c.input[0]! }, (_, i) => i % c.classes), [c.input[0]!], 'i32');
  const weights = weightBytes(model);
  const shape = c.input.join('x');
  const perUnit = c.input.length === 5 ? 'clip' : 'image';
  const opt = c.evalOnly ? null : new Adam(model.parameters(), { lr: 1e-4 });
  try {
    const forward = async () => {
      noGrad(() => tidy(() => void model.forward(x)));
      await engine.sync();
    };
    const step = async () => {
      const loss = tidy(() => {
        opt!.zeroGrad();
        const l = model.loss(model.forward(x), labels);
        l.backward();
        opt!.step();
        return l;
      });
      await engine.sync();
      loss.dispose();
    };
    const kinds: [string, () => Promise<void>, boolean][] = [['eval forward', forward, false]];
    if (opt) kinds.push(['train step (Adam)', step, true]);
    for (const [kind, fn, training] of kinds) {
      model.train(training);
      for (const wait of waits) {
        setWaitMode(engine, wait);
        engine.resetPeakMemory();
        const base = engine.memory().liveBytes;
        const heavy = c.config === 'paper' && c.input.length === 5;
        const t = await timeAsync(`${c.model} ${kind} ${wait}`, fn, timing(ctx.quick, heavy));
        const mem = engine.memory();
        const row = makeRow({
          case: `${c.model} ${c.config} ${kind}`,
          shape,
          wait,
          ours: t,
          extra: {
            per: c.input[0] === 1 ? perUnit : `${c.input[0]} ${perUnit}s`,
            variant: variantOf(engine, kernels),
            first_compiles: wait === waits[0],
            parameters: model.parameterCount(),
            weights_mib: mib(weights),
            peak_live_mib: mib(mem.peakLiveBytes),
            // Above what was live before the call (weights, input, optimiser state): the call's own working set.
            peak_working_mib: mib(mem.peakLiveBytes - base),
            pooled_mib: mib(mem.pooledBytes),
            ...(c.note ? { note: c.note } : {}),
          },
        });
        log(`models: ${wait} ${row.case} ${shape}: ${row.ours_ms} ms (first ${row.ours_first_ms} ms), peak live ${row.peak_live_mib as number} MiB`);
        rows.push(row);
      }
    }
  } finally {
    opt?.dispose();
    model.dispose();
    x.dispose();
    labels.dispose();
  }
  return rows;
}

// ------------------------------------------------------------------------------------- ResNet18 backbone

/** A plain ResNet18 (ImageNet stem, four stages, no head) from the pieces M1 and M3 share. */
class ResNet18Backbone extends Module {
  readonly stem: Stem;
  readonly blocks: { key: string; block: BasicBlock }[];
  constructor(engine: Engine) {
    super(engine);
    const net = buildResNet18((name, m) => this.addModule(name, m), engine, { inChannels: 3, width: 1, stem: 'imagenet', seed: 5 });
    this.stem = net.stem;
    this.blocks = net.blocks;
  }
  forward(x: Tensor): Tensor {
    return runResNet(gpuBackend, this, x, {});
  }
}

/** ResNet18 forward FLOPs at 224×224 (convs only, multiply-add = 2). */
function resnetFlops(side: number): number {
  const convOut = (s: number, k: number, st: number, p: number) => Math.floor((s + 2 * p - k) / st) + 1;
  let s = convOut(side, 7, 2, 3);
  let flops = 2 * s * s * 64 * 7 * 7 * 3;
  s = convOut(s, 3, 2, 1);
  let inC = 64;
  for (const [si, c] of [64, 128, 256, 512].entries()) {
    for (let i = 0; i < 2; i++) {
      const stride = i === 0 && si > 0 ? 2 : 1;
      const o = convOut(s, 3, stride, 1);
      flops += 2 * o * o * c * 9 * inC + 2 * o * o * c * 9 * c;
      if (stride !== 1 || inC !== c) flops += 2 * o * o * c * inC;
      s = o;
      inC = c;
    }
  }
  return flops;
}

/** The same network in tfjs, with our weights: conv (HWIO = tfjs's filter layout), batchNorm on running stats. */
async function tfResNet(tf: Tf, net: ResNet18Backbone): Promise<{ run(x: TfTensor): TfTensor; dispose(): void }> {
  const held: TfTensor[] = [];
  const get = async (t: Tensor) => {
    const v = tf.tensor((await t.read()) as Float32Array, [...t.shape]) as TfTensor;
    held.push(v);
    return v;
  };
  type Bn = { g: TfTensor; b: TfTensor; m: TfTensor; v: TfTensor };
  const bnOf = async (l: { weight?: Tensor | undefined; bias?: Tensor | undefined; runningMean: Tensor; runningVar: Tensor }): Promise<Bn> => ({ g: await get(l.weight!), b: await get(l.bias!), m: await get(l.runningMean), v: await get(l.runningVar) });
  const stemW = await get(net.stem.conv.weight);
  const stemBn = await bnOf(net.stem.bn);
  const blocks: { stride: number; w1: TfTensor; bn1: Bn; w2: TfTensor; bn2: Bn; ds: { w: TfTensor; bn: Bn } | null }[] = [];
  for (const { block } of net.blocks) {
    blocks.push({
      stride: (block.conv1.options.stride ?? 1) as number,
      w1: await get(block.conv1.weight),
      bn1: await bnOf(block.bn1),
      w2: await get(block.conv2.weight),
      bn2: await bnOf(block.bn2),
      ds: block.downsample ? { w: await get(block.downsample.conv.weight), bn: await bnOf(block.downsample.bn) } : null,
    });
  }
  const pad = (p: number) => [[0, 0], [p, p], [p, p], [0, 0]] as [[number, number], [number, number], [number, number], [number, number]];
  const norm = (h: TfTensor, n: Bn) => tf.batchNorm(h as never, n.m as never, n.v as never, n.b as never, n.g as never, 1e-5) as TfTensor;
  const conv = (h: TfTensor, w: TfTensor, stride: number, p: number) => tf.conv2d(h as never, w as never, stride, (p === 0 ? 'valid' : pad(p)) as never) as TfTensor;
  return {
    run: (x) =>
      tf.tidy(() => {
        let h = tf.relu(norm(conv(x, stemW, 2, 3), stemBn)) as TfTensor;
        h = tf.maxPool(h as never, 3, 2, 1) as TfTensor;
        for (const b of blocks) {
          const r = tf.relu(norm(conv(h, b.w1, b.stride, 1), b.bn1)) as TfTensor;
          const y = norm(conv(r, b.w2, 1, 1), b.bn2);
          const sc = b.ds ? norm(conv(h, b.ds.w, b.stride, 0), b.ds.bn) : h;
          h = tf.relu(tf.add(y, sc)) as TfTensor;
        }
        return h;
      }) as TfTensor,
    dispose: () => held.forEach((t) => t.dispose()),
  };
}

async function runBackbone(ctx: SuiteContext, tf: Tf, kernels: TunableKernel<never>[]): Promise<Row[]> {
  const { engine, log } = ctx;
  const side = ctx.quick ? 64 : 224;
  const net = new ResNet18Backbone(engine).eval();
  const data = randomData(side * side * 3, 11);
  const x = engine.tensor(data, [1, side, side, 3]);
  const tx = tf.tensor(data, [1, side, side, 3]) as TfTensor;
  const anchor = await tfResNet(tf, net);
  const rows: Row[] = [];
  // Same answer as tfjs (outside the timings): the final feature map.
  const check = async (): Promise<number> => {
    const ours = (await noGrad(() => tidy(() => net.forward(x))).read()) as Float32Array;
    const y = anchor.run(tx);
    const ref = (await y.data()) as Float32Array;
    y.dispose();
    const diff = relDiff(ours, ref);
    if (diff > 1e-3) log(`models: WARNING ResNet18 output differs from tfjs-webgpu by ${diff.toExponential(2)} (relative)`);
    return Number(diff.toPrecision(2));
  };
  try {
    // Eval mode as trained, then frozen for inference (Module.freeze): BN folded into the convs, residual + ReLU
    // in conv2's epilogue, weights packed once.
    for (const frozen of [false, true]) {
      if (frozen) net.freeze();
      const first = rows.length;
      for (const wait of ctx.waits) {
        const waiter = setWaitMode(engine, wait);
        const ceilings = await ctx.ceilings(wait);
        engine.resetPeakMemory();
        const ours = async () => {
          noGrad(() => tidy(() => void net.forward(x)));
          await engine.sync();
        };
        const theirs = async () => {
          const y = anchor.run(tx);
          await tfSync(tf, waiter);
          y.dispose();
        };
        const opts = ctx.quick ? { budgetMs: 100, minIterations: 2, maxIterations: 5 } : { budgetMs: 3000, minIterations: 3, maxIterations: 10, warmup: 1, rounds: 2 };
        const t = await timePair(`resnet18 ${wait}`, ours, theirs, opts);
        const row = makeRow({
          case: frozen ? 'ResNet18 backbone frozen forward (BN folded)' : 'ResNet18 backbone eval forward',
          shape: `1x${side}x${side}x3`,
          wait,
          ours: t.ours,
          anchor: { name: 'tfjs-webgpu', timing: t.anchor },
          flops: resnetFlops(side),
          fmaCeiling: ceilings.fmaGflops,
          extra: {
            variant: variantOf(engine, kernels),
            first_compiles: wait === ctx.waits[0] && !frozen,
            fma_ceiling: Number(ceilings.fmaGflops.toFixed(2)),
            ceiling_source: ceilings.source,
            peak_live_mib: mib(engine.memory().peakLiveBytes),
            weights_mib: mib(weightBytes(net)),
          },
        });
        log(`models: ${wait} ResNet18 1x${side}x${side}x3: ours ${row.ours_ms} ms (first ${row.ours_first_ms}), tfjs-webgpu ${row.anchor_ms} ms (first ${row.anchor_first_ms as number}), ratio ${row.ratio}`);
        rows.push(row);
      }
      const diff = await check();
      for (const r of rows.slice(first)) r.max_rel_diff = diff;
    }
  } finally {
    anchor.dispose();
    tx.dispose();
    x.dispose();
    net.dispose();
  }
  return rows;
}

// ------------------------------------------------------------------------------------------------ memory

/**
 * Item 5: M1 eval forward on one 16-frame 224×224 clip (also under `--quick`: it is the item's figure). The largest activation is
 * the stem conv's output, N·T × H/2 × W/2 × 64 floats (before the max-pool), larger than the input
 * (N·T × H × W × 3) and than every later map (layer1: ×1/4 of it, and smaller after).
 */
async function runMemory(ctx: SuiteContext, kernels: TunableKernel<never>[]): Promise<Row[]> {
  const { engine, log } = ctx;
  const [t, side] = [16, 224];
  const model = new M1MultiAttentionResNet(engine).eval();
  const input = [1, t, side, side, 3];
  const x = engine.tensor(randomData(input.reduce((a, b) => a * b, 1), 3), input);
  const rows: Row[] = [];
  try {
    const wait = ctx.waits[0]!;
    setWaitMode(engine, wait);
    engine.resetPeakMemory();
    const forward = async () => {
      noGrad(() => tidy(() => void model.forward(x)));
      await engine.sync();
    };
    const tm = await timeAsync(`M1 memory ${wait}`, forward, { budgetMs: 0, minIterations: 1, maxIterations: 1, warmup: 0 });
    const peak = engine.memory().peakLiveBytes;
    const weights = weightBytes(model);
    const half = Math.floor((side + 2 * 3 - 7) / 2) + 1;
    const largest = Math.max(t * half * half * 64 * 4, t * side * side * 3 * 4);
    const ratio = peak / (weights + largest);
    const row = makeRow({
      case: 'M1 memory: eval forward of one clip',
      shape: input.join('x'),
      wait,
      ours: tm,
      extra: {
        peak_live_mib: mib(peak),
        weights_mib: mib(weights),
        largest_activation_mib: mib(largest),
        largest_activation: `stem conv output ${t}x${half}x${half}x64 f32`,
        peak_over_weights_plus_largest: Number(ratio.toFixed(3)),
        target: '<= 2.5',
        meets_target: ratio <= 2.5,
        variant: variantOf(engine, kernels),
      },
    });
    log(`models: M1 memory ${input.join('x')}: peak live ${mib(peak)} MiB vs weights ${mib(weights)} + largest activation ${mib(largest)} MiB: ${ratio.toFixed(2)}× (target ≤ 2.5×)`);
    rows.push(row);
  } finally {
    model.dispose();
    x.dispose();
  }
  return rows;
}

export async function runModels(ctx: SuiteContext): Promise<Row[]> {
  const kernels = [conv2dKernel, conv2dBackwardWeightKernel, matmulKernel] as TunableKernel<never>[];
  await tuneFirst(ctx, kernels);
  if (ctx.flags.has('backbone')) return runBackbone(ctx, await tfjsWithGradients(), kernels);
  const rows: Row[] = [];
  // One 16-frame 224×224 M1 forward (2–3 s): part of the default run; --memory adds it to --quick.
  if (!ctx.quick || ctx.flags.has('memory')) rows.push(...(await runMemory(ctx, kernels)));
  // Models: the first wait mode only for the paper-size video rows (seconds per call), every mode otherwise.
  for (const c of cases(ctx.quick, ctx.flags.has('paper'))) {
    const heavy = c.config === 'paper' && c.input.length === 5;
    rows.push(...(await runModelCase(ctx, c, kernels, heavy ? [ctx.waits[0]!] : ctx.waits)));
  }
  const tf = await tfjsWithGradients();
  rows.push(...(await runBackbone(ctx, tf, kernels)));
  return rows;
}

export const modelsSuite: Suite = {
  name: 'models',
  description: 'M1–M5 eval forward and training step (small and paper sizes), peak GPU memory; ResNet18 backbone 1x224x224 vs tfjs-webgpu',
  flags: {
    memory: 'with --quick: add the M1 memory row (eval forward of a 16-frame 224x224 clip, a few seconds; always in the default run)',
    paper: "the video models at the papers' clip lengths (16 / 5 frames of 224x224) with training steps (minutes)",
    backbone: 'only the ResNet18 backbone rows (eval and frozen, against tfjs-webgpu)',
    retune: 'measure the variants again even if a choice is remembered',
  },
  run: runModels,
};
