/**
 * NaN propagates through every kernel as through its CPU reference (IEEE 754 / PyTorch semantics): relu(NaN),
 * maximum(NaN, x), fused ReLU epilogues, max pooling, normalisations and softmaxes keep NaN where the reference
 * does, and nowhere else. WGSL's max/min/clamp may return the non-NaN operand, so a kernel that relies on them
 * shows up here as a NaN position that differs from the reference (expectClose requires NaN to meet NaN).
 */
import type { Engine } from '../../src/device/engine.js';
import { HostTensor } from '../../src/graph/host.js';
import type { TunableKernel } from '../../src/kernels/variants.js';
import { conv2dDepthwiseKernel, conv2dKernel } from '../../src/kernels/conv-gpu.js';
import { matmulCpu, matmulKernel } from '../../src/kernels/matmul.js';
import { sdpaKernel } from '../../src/kernels/attention.js';
import { softmaxKernel } from '../../src/kernels/softmax.js';
import { layerNormKernel } from '../../src/kernels/layernorm.js';
import { temporalPoolKernel } from '../../src/kernels/temporal.js';
import * as ops from '../../src/kernels/ops.js';
import { adamUpdate, adamUpdateCpu, type AdamOptions } from '../../src/optim/adam.js';
import { checkOp, expectClose, randomHost, toGpu, type Tolerance } from '../helpers/compare.js';
import type { Case, Suite } from './types.js';

const EXACT: Tolerance = { abs: 0, rel: 0 };
const F32: Tolerance = { abs: 1e-5, rel: 1e-4 };
const SUMS: Tolerance = { abs: 2e-4, rel: 2e-4 };

/** `h` with NaN at every `every`-th element starting at `from` (a copy). */
function withNaN(h: HostTensor, every = 7, from = 1): HostTensor {
  const out = HostTensor.from(h.data, h.shape, h.dtype);
  for (let i = from; i < out.size; i += every) out.data[i] = NaN;
  return out;
}

function hasNaN(h: HostTensor): boolean {
  return h.data.some((v) => Number.isNaN(v));
}

/** The variant forced while a check runs, for its message. */
let variant = '';

/** Runs `fn` with each supported variant of `kernel` forced in turn, naming the variant in a failure. */
async function eachVariant(engine: Engine, kernel: TunableKernel<never>, fn: () => Promise<void>): Promise<void> {
  for (const v of engine.variants.supported(kernel as TunableKernel<unknown>)) {
    engine.variants.force(kernel.name, v);
    variant = `[${kernel.name} = ${v}] `;
    try {
      await fn();
    } catch (e) {
      throw new Error(`${variant}${(e as Error).message}`);
    } finally {
      engine.variants.force(kernel.name, undefined);
      variant = '';
    }
  }
}

/**
 * Runs every check of a case and fails once with all the mismatches, so one run shows each op that drops NaN.
 */
function softChecks(): { check(p: Promise<unknown>): Promise<void>; done(): void } {
  const failures: string[] = [];
  return {
    async check(p) {
      const where = variant;
      try {
        await p;
      } catch (e) {
        failures.push(`${where}${(e as Error).message}`);
      }
    },
    done() {
      if (failures.length) throw new Error(`${failures.length} check(s) failed:\n  ${failures.join('\n  ')}`);
    },
  };
}

/** The CPU reference must itself produce NaN somewhere, else the case proves nothing. */
function expectRefNaN(h: HostTensor, what: string): void {
  if (!hasNaN(h)) throw new Error(`${what}: the CPU reference has no NaN in its output; the case tests nothing`);
}

const cases: Case[] = [
  {
    name: 'unary ops: relu(NaN) = NaN, and every other unary op',
    async run(engine) {
      const soft = softChecks();
      const x = withNaN(randomHost([3, 7, 5], 1, -2, 2), 5);
      expectRefNaN(ops.relu.cpu(x), 'relu');
      for (const op of [ops.relu, ops.sigmoid, ops.tanh, ops.exp, ops.neg, ops.abs]) await soft.check(checkOp(engine, op, [x], F32));
      const pos = withNaN(randomHost([1031], 2, 0.01, 5), 11);
      for (const op of [ops.log, ops.sqrt]) await soft.check(checkOp(engine, op, [pos], F32));
      soft.done();
    },
  },
  {
    name: 'maximum/minimum(NaN, x) = NaN on either side, broadcast and scalar; other binary ops',
    async run(engine) {
      const soft = softChecks();
      const a = withNaN(randomHost([3, 7, 5], 3, -3, 3), 6);
      const b = withNaN(randomHost([3, 7, 5], 4, -3, 3), 9, 2);
      const row = withNaN(randomHost([5], 5, -3, 3), 3);
      expectRefNaN(ops.maximum.cpu(a, 1), 'maximum');
      for (const op of [ops.maximum, ops.minimum, ops.add, ops.sub, ops.mul, ops.div, ops.pow]) {
        await soft.check(checkOp(engine, op, [a, b], F32));
        await soft.check(checkOp(engine, op, [a, row], F32));
        await soft.check(checkOp(engine, op, [randomHost([3, 7, 5], 6, 0.5, 2), row], F32));
      }
      await soft.check(checkOp(engine, ops.maximum, [a, 1], F32));
      await soft.check(checkOp(engine, ops.minimum, [a, -1], F32));
      await soft.check(checkOp(engine, ops.maximum, [randomHost([4, 3], 7), NaN], F32));
      soft.done();
    },
  },
  {
    name: 'matmul with NaN, plain and with fused relu, every variant',
    async run(engine) {
      const soft = softChecks();
      const a = withNaN(randomHost([2, 19, 23], 8), 97);
      const b = randomHost([23, 38], 9);
      const bias = withNaN(randomHost([38], 10), 13);
      await eachVariant(engine, matmulKernel as TunableKernel<never>, async () => {
        for (const activation of ['none', 'relu'] as const) {
          await soft.check(checkOp(engine, ops.matmul, [a, b, { activation }], SUMS));
          const a2 = randomHost([19, 23], 11);
          const [ta, tb, tbias] = [a2, b, bias].map((h) => toGpu(engine, h));
          const y = ops.matmul(ta!, tb!, { activation, bias: tbias! });
          expectClose(await y.read(), matmulCpu(a2, b, { activation, bias }).data, SUMS, `matmul + NaN bias ${activation}`);
          [ta, tb, tbias, y].forEach((t) => t!.dispose());
        }
      });
      soft.done();
    },
  },
  {
    name: 'conv2d with fused bias + relu keeps NaN, every variant (dense, depthwise, depthwise rows)',
    async run(engine) {
      const soft = softChecks();
      const geos: [number[], number[], ops.Conv2dOptions, TunableKernel<never>][] = [
        [[2, 6, 7, 5], [3, 3, 5, 7], { padding: 1 }, conv2dKernel as TunableKernel<never>],
        [[1, 5, 6, 36], [3, 3, 18, 34], { padding: 1, groups: 2 }, conv2dKernel as TunableKernel<never>],
        [[2, 8, 9, 6], [3, 3, 1, 6], { padding: 1, groups: 6 }, conv2dDepthwiseKernel as TunableKernel<never>],
        [[3, 5, 11, 8], [3, 3, 1, 8], { padding: 1, groups: 8 }, conv2dDepthwiseKernel as TunableKernel<never>],
      ];
      for (const [i, [xs, ws, o, kernel]] of geos.entries()) {
        const x = withNaN(randomHost(xs, 20 + i), 41);
        const w = randomHost(ws, 30 + i);
        const bias = withNaN(randomHost([ws[3]!], 40 + i), 5);
        expectRefNaN(ops.conv2dFused.cpu(x, w, undefined, undefined, { ...o, activation: 'relu' }), 'conv2d relu');
        await eachVariant(engine, kernel, async () => {
          await soft.check(checkOp(engine, ops.conv2dFused, [x, w, undefined, undefined, { ...o, activation: 'relu' }], SUMS));
          await soft.check(checkOp(engine, ops.conv2dFused, [randomHost(xs, 50 + i), w, bias, undefined, { ...o, activation: 'relu' }], SUMS));
        });
      }
      soft.done();
    },
  },
  {
    name: 'batch norm (training and eval, with fused relu) keeps NaN',
    async run(engine) {
      const soft = softChecks();
      const shape = [2, 3, 5, 8];
      const x = withNaN(randomHost(shape, 60), 37);
      const gamma = randomHost([8], 61, 0.5, 1.5);
      const beta = randomHost([8], 62);
      const mean = randomHost([8], 63);
      const variance = randomHost([8], 64, 0.5, 2);
      const copy = (h: HostTensor) => HostTensor.from(h.data, h.shape);
      for (const relu of [false, true]) {
        for (const training of [false, true]) {
          await soft.check(checkOp(engine, ops.batchNorm2d, [x, gamma, beta, copy(mean), copy(variance), { training, relu }], SUMS));
        }
        // NaN in the parameters (a damaged checkpoint) reaches the outputs of its channel only.
        await soft.check(checkOp(engine, ops.batchNorm2d, [randomHost(shape, 65), withNaN(gamma, 5), beta, copy(mean), copy(variance), { training: false, relu }], SUMS));
      }
      const saved = ops.batchNorm2dStats.cpu(x, undefined, undefined);
      await soft.check(checkOp(engine, ops.batchNorm2dStats, [x, undefined, undefined], SUMS));
      await soft.check(checkOp(engine, ops.batchNorm2dApply, [x, saved, gamma, beta, { relu: true }], SUMS));
      soft.done();
    },
  },
  {
    name: 'max pooling propagates NaN (window, tiled, global, channel) as PyTorch; average pooling too',
    async run(engine) {
      const soft = softChecks();
      const windows: [number[], ops.Pool2dOptions][] = [
        [[3, 7, 5, 6], { kernel: 3, stride: 2, padding: 1 }],
        [[2, 8, 9, 8], { kernel: 2 }],
        [[1, 11, 12, 3], { kernel: 5, stride: 5, padding: 2 }],
        [[2, 9, 8, 8], { kernel: 7, stride: 1, padding: 3 }],
      ];
      for (const [i, [shape, o]] of windows.entries()) {
        const x = withNaN(randomHost(shape, 70 + i), 23);
        expectRefNaN(ops.maxPool2d.cpu(x, o), 'maxPool2d');
        await soft.check(checkOp(engine, ops.maxPool2d, [x, o], EXACT));
        await soft.check(checkOp(engine, ops.maxPool2dIndices, [x, o], EXACT));
        await soft.check(checkOp(engine, ops.avgPool2d, [x, o], SUMS));
      }
      for (const [i, shape] of [[3, 2, 3, 4], [2, 5, 7, 6], [2, 40, 30, 5], [3, 33, 35, 8]].entries()) {
        const x = withNaN(randomHost(shape, 80 + i), 29 + 2 * i);
        for (const op of [ops.globalMaxPool2d, ops.globalMaxPool2dIndices, ops.channelMax, ops.channelMaxIndices]) await soft.check(checkOp(engine, op, [x], EXACT));
        for (const op of [ops.globalAvgPool2d, ops.channelMean]) await soft.check(checkOp(engine, op, [x], SUMS));
        await soft.check(checkOp(engine, ops.adaptiveAvgPool2d, [x, [2, 3]], SUMS));
      }
      soft.done();
    },
  },
  {
    name: 'reductions, softmax, log-softmax and cross-entropy keep NaN in their rows',
    async run(engine) {
      const soft = softChecks();
      const x = withNaN(randomHost([4, 9, 6], 90, -3, 3), 31);
      for (const op of [ops.sum, ops.mean, ops.max, ops.min]) {
        await soft.check(checkOp(engine, op, [x, [1], false], SUMS));
        await soft.check(checkOp(engine, op, [x, [2], true], SUMS));
      }
      await soft.check(checkOp(engine, ops.argmax, [x, 2, false], EXACT));
      await eachVariant(engine, softmaxKernel as TunableKernel<never>, async () => {
        for (const axis of [0, 1, 2]) {
          await soft.check(checkOp(engine, ops.softmax, [x, axis], F32));
          await soft.check(checkOp(engine, ops.logSoftmax, [x, axis], F32));
        }
        await soft.check(checkOp(engine, ops.softmax, [withNaN(randomHost([3, 700], 91), 301), 1], F32));
      });
      const logits = withNaN(randomHost([5, 7], 92), 11);
      await soft.check(checkOp(engine, ops.softmaxCrossEntropy, [logits, [0, 3, 6, 1, 2]], F32));
      soft.done();
    },
  },
  {
    name: 'layer norm, sigmoid gate, dropout keep NaN',
    async run(engine) {
      const soft = softChecks();
      await eachVariant(engine, layerNormKernel as TunableKernel<never>, async () => {
        await soft.check(checkOp(engine, ops.layerNorm, [withNaN(randomHost([5, 33], 100), 17), randomHost([33], 101), randomHost([33], 102)], SUMS));
      });
      await soft.check(checkOp(engine, ops.sigmoidGate, [withNaN(randomHost([2, 5, 7, 4], 103), 9), withNaN(randomHost([2, 5, 7, 1], 104), 4)], F32));
      await soft.check(checkOp(engine, ops.dropout, [withNaN(randomHost([3, 41], 105), 5), { p: 0.3, seed: 9 }], EXACT));
      soft.done();
    },
  },
  {
    name: 'attention, spatial transformer and temporal pooling keep NaN',
    async run(engine) {
      const soft = softChecks();
      const q = withNaN(randomHost([1, 2, 5, 8], 110), 19);
      const k = randomHost([1, 2, 7, 8], 111);
      const v = withNaN(randomHost([1, 2, 7, 5], 112), 23);
      await eachVariant(engine, sdpaKernel as TunableKernel<never>, async () => {
        await soft.check(checkOp(engine, ops.sdpa, [q, k, v], SUMS));
      });
      const theta = withNaN(randomHost([2, 2, 3], 113), 7);
      await soft.check(checkOp(engine, ops.affineGrid, [theta, [2, 5, 6], false], F32));
      const x = withNaN(randomHost([2, 6, 7, 3], 114), 13);
      await soft.check(checkOp(engine, ops.gridSample, [x, randomHost([2, 4, 5, 2], 115, -1.2, 1.2), {}], SUMS));
      // A NaN sampling coordinate samples nothing (PyTorch's zeros padding gives 0), on the GPU as in the reference.
      const nanGrid = withNaN(randomHost([2, 4, 5, 2], 119, -1.2, 1.2), 5);
      const sampled = ops.gridSample.cpu(randomHost([2, 6, 7, 3], 120), nanGrid, {});
      if (hasNaN(sampled)) throw new Error('gridSample reference: a NaN coordinate gave NaN, expected 0');
      await soft.check(checkOp(engine, ops.gridSample, [randomHost([2, 6, 7, 3], 120), nanGrid, { alignCorners: true }], SUMS));
      await soft.check(checkOp(engine, ops.gridSample, [randomHost([2, 6, 7, 3], 120), nanGrid, {}], SUMS));
      const scores = withNaN(randomHost([3, 4, 7], 116, -3, 3), 29);
      await eachVariant(engine, temporalPoolKernel as TunableKernel<never>, async () => {
        await soft.check(checkOp(engine, ops.temporalSoftmaxPool, [scores], F32));
        await soft.check(checkOp(engine, ops.temporalLogSoftmaxPool, [scores], F32));
      });
      await soft.check(checkOp(engine, ops.frameAttentionPool, [withNaN(randomHost([2, 4], 117), 3), randomHost([2, 4, 9], 118)], F32));
      soft.done();
    },
  },
  {
    name: 'A-Softmax logits and AMSGrad keep NaN as their references',
    async run(engine) {
      const soft = softChecks();
      const x = withNaN(randomHost([5, 9], 120), 13);
      const w = randomHost([9, 7], 121);
      for (const margin of [1, 4]) await soft.check(checkOp(engine, ops.aSoftmaxLogits, [x, w, [0, 3, 6, 1, 2], { margin }], { abs: 1e-5, rel: 1e-4 }));
      // AMSGrad's running max of v: torch.maximum keeps a NaN, so a NaN gradient is not forgotten at the next step.
      const o: AdamOptions = { lr: 1e-2, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, amsgrad: true, maximize: false };
      const host = { p: randomHost([9], 124).data as Float32Array, s: { expAvg: new Float32Array(9), expAvgSq: new Float32Array(9), maxExpAvgSq: new Float32Array(9) } };
      const p = toGpu(engine, new HostTensor([9], host.p.slice()));
      const s = { expAvg: engine.zeros([9]), expAvgSq: engine.zeros([9]), maxExpAvgSq: engine.zeros([9]) };
      for (let step = 1; step <= 3; step++) {
        const g = randomHost([9], 125 + step).data as Float32Array;
        if (step === 2) g[4] = NaN;
        const gt = engine.tensor(g, [9]);
        adamUpdate(engine, p, gt, s, o, step, false);
        adamUpdateCpu(host.p, g, host.s, o, step, false);
        gt.dispose();
      }
      expectClose(await s.maxExpAvgSq.read(), host.s.maxExpAvgSq, F32, 'amsgrad max_exp_avg_sq');
      expectClose(await p.read(), host.p, F32, 'amsgrad parameters');
      [p, s.expAvg, s.expAvgSq, s.maxExpAvgSq].forEach((t) => t.dispose());
      soft.done();
    },
  },
];

export const nanSuite: Suite = { name: 'nan', cases };
