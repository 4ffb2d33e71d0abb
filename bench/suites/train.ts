/**
 * `train`: one training step (forward, backward, Adam update) of a small CNN built from the engine's modules,
 * against the same network and step in tfjs-webgpu (`optimizer.minimize`, NHWC, the same initial weights).
 * The step's time is split into CPU encode time (recording the step, which returns without waiting) and the
 * GPU time after it (until the device is idle), on both sides.
 *
 * Network: input N×32×32×3 → conv 3x3 3→16 → BN+ReLU → max-pool 2 → conv 3x3 16→32 → BN+ReLU → global average
 * pool → linear 32→7 → softmax cross-entropy (mean over the batch).
 */
import type { Engine } from '../../src/device/engine.js';
import { tidy } from '../../src/graph/scope.js';
import type { Tensor } from '../../src/graph/tensor.js';
import { conv2dBackwardWeightKernel, conv2dKernel } from '../../src/kernels/conv-gpu.js';
import { matmulKernel } from '../../src/kernels/matmul.js';
import { softmaxCrossEntropy } from '../../src/kernels/softmax.js';
import type { TunableKernel } from '../../src/kernels/variants.js';
import { Flatten, Linear, Sequential } from '../../src/models/layers/basic.js';
import { BatchNorm2d } from '../../src/models/layers/batchnorm.js';
import { Conv2d } from '../../src/models/layers/conv.js';
import { AdaptiveAvgPool2d, MaxPool2d } from '../../src/models/layers/pool.js';
import { Adam } from '../../src/optim/adam.js';
import { makeRow, randomData, setWaitMode, timePair, type Row, type Suite, type SuiteContext, type Tf } from '../harness.js';
import { relDiff, tfjsWithGradients, tfSync, tuneFirst, variantOf, type TfTensor } from './op-bench.js';

interface TrainSpec {
  batch: number;
  size: number;
  classes: number;
}

const FULL: TrainSpec = { batch: 16, size: 32, classes: 7 };
const QUICK: TrainSpec = { batch: 4, size: 8, classes: 7 };
const LR = 1e-3;

/** Convolution and linear FLOPs of the forward; a training step counts 3× (forward, input and weight gradients). */
function stepFlops(s: TrainSpec): number {
  const h2 = s.size / 2;
  const conv1 = 2 * s.batch * s.size * s.size * 16 * 3 * 3 * 3;
  const conv2 = 2 * s.batch * h2 * h2 * 32 * 3 * 3 * 16;
  const fc = 2 * s.batch * 32 * s.classes;
  return 3 * (conv1 + conv2 + fc);
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** Encode / GPU split of the steady-state calls (the first call and the warm-up call are left out). */
class Split {
  encode: number[] = [];
  gpu: number[] = [];
  add(encodeMs: number, gpuMs: number): void {
    this.encode.push(encodeMs);
    this.gpu.push(gpuMs);
  }
  summary(): { encode_ms: number; gpu_ms: number } {
    return { encode_ms: Number(median(this.encode.slice(2)).toPrecision(4)), gpu_ms: Number(median(this.gpu.slice(2)).toPrecision(4)) };
  }
}

interface Ours {
  net: Sequential;
  opt: Adam;
  x: Tensor;
  labels: Tensor;
  step(): Tensor;
  dispose(): void;
}

function buildOurs(engine: Engine, s: TrainSpec, xData: Float32Array, labels: Int32Array): Ours {
  const conv1 = new Conv2d(engine, 3, 16, 3, { padding: 1, bias: false, seed: 1 });
  const conv2 = new Conv2d(engine, 16, 32, 3, { padding: 1, bias: false, seed: 2 });
  const net = new Sequential(
    engine,
    conv1,
    new BatchNorm2d(engine, 16, { relu: true }),
    new MaxPool2d(engine, { kernel: 2 }),
    conv2,
    new BatchNorm2d(engine, 32, { relu: true }),
    new AdaptiveAvgPool2d(engine, 1),
    new Flatten(engine),
    new Linear(engine, 32, s.classes, { seed: 3 }),
  );
  net.train();
  const opt = new Adam(net.parameters(), { lr: LR });
  const x = engine.tensor(xData, [s.batch, s.size, s.size, 3]);
  const y = engine.tensor(labels, [s.batch], 'i32');
  return {
    net,
    opt,
    x,
    labels: y,
    step: () =>
      tidy(() => {
        opt.zeroGrad();
        const loss = softmaxCrossEntropy(net.forward(x), y);
        loss.backward();
        opt.step();
        return loss;
      }),
    dispose() {
      opt.dispose();
      net.dispose();
      x.dispose();
      y.dispose();
    },
  };
}

interface TfNet {
  step(): TfTensor;
  dispose(): void;
}

/** The same network in tfjs, starting from our initial weights (HWIO conv filters are tfjs's layout). */
async function buildTf(tf: Tf, engine: Engine, ours: Ours, s: TrainSpec, xData: Float32Array, labels: Int32Array): Promise<TfNet> {
  const read = async (t: Tensor) => (await engine.read(t)) as Float32Array;
  const [c1, , , c2, , , fcW, fcB] = ours.net.parameters();
  const v = (data: Float32Array, shape: number[]) => tf.variable(tf.tensor(data, shape));
  const w1 = v(await read(c1!), [3, 3, 3, 16]);
  const w2 = v(await read(c2!), [3, 3, 16, 32]);
  const g1 = v(new Float32Array(16).fill(1), [16]);
  const b1 = v(new Float32Array(16), [16]);
  const g2 = v(new Float32Array(32).fill(1), [32]);
  const b2 = v(new Float32Array(32), [32]);
  const fw = v(await read(fcW!), [s.classes, 32]);
  const fb = v(await read(fcB!), [s.classes]);
  const x = tf.tensor(xData, [s.batch, s.size, s.size, 3]) as TfTensor;
  const onehot = tf.oneHot(tf.tensor1d(labels, 'int32'), s.classes) as TfTensor;
  const opt = tf.train.adam(LR);
  const bnRelu = (h: TfTensor, g: TfTensor, b: TfTensor) => {
    const { mean, variance } = tf.moments(h, [0, 1, 2]);
    return tf.relu(tf.batchNorm(h as never, mean, variance, b, g, 1e-5)) as TfTensor;
  };
  const lossFn = () => {
    const h1 = bnRelu(tf.conv2d(x as never, w1 as never, 1, 1) as TfTensor, g1, b1);
    const p = tf.maxPool(h1 as never, 2, 2, 'valid') as TfTensor;
    const h2 = bnRelu(tf.conv2d(p as never, w2 as never, 1, 1) as TfTensor, g2, b2);
    const logits = tf.add(tf.matMul(tf.mean(h2, [1, 2]), fw, false, true), fb);
    return tf.losses.softmaxCrossEntropy(onehot, logits) as never;
  };
  return {
    step: () => opt.minimize(lossFn, true) as unknown as TfTensor,
    dispose() {
      for (const t of [w1, w2, g1, b1, g2, b2, fw, fb, x, onehot]) t.dispose();
      opt.dispose();
    },
  };
}

export async function runTrain(ctx: SuiteContext): Promise<Row[]> {
  const { engine, log } = ctx;
  const s = ctx.quick ? QUICK : FULL;
  const kernels = [conv2dKernel, conv2dBackwardWeightKernel, matmulKernel] as TunableKernel<never>[];
  const tuned = await tuneFirst(ctx, kernels);
  const tf = await tfjsWithGradients();
  const xData = randomData(s.batch * s.size * s.size * 3, 41);
  const labels = Int32Array.from({ length: s.batch }, (_, i) => (i * 5 + 3) % s.classes);
  const ours = buildOurs(engine, s, xData, labels);
  const anchor = await buildTf(tf, engine, ours, s, xData, labels);
  const rows: Row[] = [];
  try {
    // Same start, same loss: the first step's loss from both (before any update is visible). These first
    // steps compile every pipeline, so they are timed here (with the loss readback) as the first-call figures.
    let a = performance.now();
    const l0 = ours.step();
    const oursLoss = (await engine.read(l0)) as Float32Array;
    const oursFirst = performance.now() - a;
    l0.dispose();
    a = performance.now();
    const t0 = anchor.step();
    const tfLoss = (await t0.data()) as Float32Array;
    const tfFirst = performance.now() - a;
    t0.dispose();
    const check = relDiff(oursLoss, tfLoss);
    if (check > 1e-3) log(`train: WARNING first-step loss ${oursLoss[0]} differs from tfjs's ${tfLoss[0]}`);
    const timing = ctx.quick ? { budgetMs: 150, minIterations: 3, maxIterations: 10 } : { budgetMs: 4000, minIterations: 5, maxIterations: 60 };
    for (const wait of ctx.waits) {
      const waiter = setWaitMode(engine, wait);
      const ceilings = await ctx.ceilings(wait);
      const so = new Split();
      const sa = new Split();
      const oursStep = async () => {
        const a = performance.now();
        const loss = ours.step();
        const b = performance.now();
        await engine.sync();
        so.add(b - a, performance.now() - b);
        loss.dispose();
      };
      const tfStep = async () => {
        const a = performance.now();
        const loss = anchor.step();
        const b = performance.now();
        await tfSync(tf, waiter);
        sa.add(b - a, performance.now() - b);
        loss.dispose();
      };
      const t = await timePair(`train step ${wait}`, oursStep, tfStep, timing);
      const o = so.summary();
      const an = sa.summary();
      const row = makeRow({
        case: 'small CNN train step (Adam)',
        shape: `${s.batch}x${s.size}x${s.size}x3 -> ${s.classes}`,
        wait,
        ours: t.ours,
        anchor: { name: 'tfjs-webgpu adam.minimize', timing: t.anchor },
        flops: stepFlops(s),
        fmaCeiling: ceilings.fmaGflops,
        extra: {
          variant: variantOf(engine, kernels),
          ...o,
          ours_first_step_ms: Math.round(oursFirst),
          anchor_first_step_ms: Math.round(tfFirst),
          anchor_encode_ms: an.encode_ms,
          anchor_gpu_ms: an.gpu_ms,
          fma_ceiling: Number(ceilings.fmaGflops.toFixed(2)),
          ceiling_source: ceilings.source,
          first_loss: Number(oursLoss[0]!.toPrecision(6)),
          anchor_first_loss: Number(tfLoss[0]!.toPrecision(6)),
          max_rel_diff: Number(check.toPrecision(2)),
          parameters: ours.net.parameters().reduce((a, p) => a + p.size, 0),
          tune: tuned.results.length ? { ms: Math.round(tuned.ms), timings: tuned.results } : 'remembered',
        },
      });
      log(`train: ${wait} step ours ${row.ours_ms} ms (encode ${o.encode_ms}, GPU ${o.gpu_ms}), tfjs ${row.anchor_ms} ms (encode ${an.encode_ms}, GPU ${an.gpu_ms}), ratio ${row.ratio}`);
      rows.push(row);
    }
  } finally {
    ours.dispose();
    anchor.dispose();
  }
  return rows;
}

export const trainSuite: Suite = {
  name: 'train',
  description: 'one training step (forward, backward, Adam) of a small CNN vs the same step in tfjs-webgpu; CPU encode vs GPU time',
  flags: { retune: 'measure the variants again even if a choice is remembered' },
  run: runTrain,
};
