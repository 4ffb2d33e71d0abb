/** Temporal softmax pooling (M2) and frame attention pooling (M1): forward, backward, gradients, errors. */
import { HostTensor } from '../../src/graph/host.js';
import type { Tensor } from '../../src/graph/tensor.js';
import * as ops from '../../src/kernels/ops.js';
import { autogradCheck, checkOp, expectClose, gradCheck, randomHost, toGpu, toHost } from '../helpers/compare.js';
import { checkMultiOp } from '../helpers/multi-op.js';
import { expectThrows, type Case, type Suite } from './types.js';


// exp/log of f32 scores against float64 references; sums over at most a few hundred terms.
const TOL = { abs: 2e-6, rel: 2e-5 };
const GRAD = { abs: 2e-3, rel: 2e-2 };

// T = 1, E not a multiple of 4, E above the subgroup size (several columns per invocation), T > 64, a single
// clip, and more clips than a launch has workgroups (they walk the clips with a stride). T·E a multiple of 4
// takes the streaming kernel's 4-frame path: with 2 frames left over, and over several workgroups.
const SHAPES: number[][] = [
  [5, 6, 2],
  [130, 4, 7],
  [3, 16, 7],
  [2, 1, 5],
  [1, 5, 1],
  [2, 3, 70],
  [1, 67, 3],
  [700, 3, 5],
];

function labelsFor(N: number, E: number, seed: number): Int32Array {
  return Int32Array.from({ length: N }, (_, i) => (i * 7 + seed) % E);
}

const cases: Case[] = [
  {
    name: 'temporal softmax pooling outputs match the CPU reference (each layout)',
    async run(engine) {
      for (const variant of engine.variants.supported(ops.temporalPoolKernel)) {
        engine.variants.force('temporal-pool', variant);
        try {
          for (const [i, shape] of SHAPES.entries()) {
            // Wide score ranges: the joint softmax must stay stable and log p(c) finite where p(c) underflows.
            const scores = randomHost(shape, 10 + i, -30, 30);
            await checkOp(engine, ops.temporalSoftmaxPool, [scores], TOL);
            await checkOp(engine, ops.temporalLogSoftmaxPool, [scores], { abs: 2e-5, rel: 2e-5 });
            await checkOp(engine, ops.temporalFrameWeights, [scores], TOL);
            const labels = labelsFor(shape[0]!, shape[2]!, i);
            for (const reduction of ['mean', 'none'] as const) {
              await checkOp(engine, ops.temporalSoftmaxPoolLoss, [scores, labels, reduction], { abs: 2e-5, rel: 2e-5 });
              // Labels as an i32 tensor (uploaded by checkOp; the reference reads the host copy).
              await checkOp(engine, ops.temporalSoftmaxPoolLoss, [scores, HostTensor.from(labels, [labels.length], 'i32') as never, reduction], { abs: 2e-5, rel: 2e-5 });
            }
          }
        } catch (e) {
          (e as Error).message = `[variant ${variant}] ${(e as Error).message}`;
          throw e;
        } finally {
          engine.variants.force('temporal-pool', undefined);
        }
      }
    },
  },
  {
    name: 'one launch writes every output (temporalSoftmaxPooling) and they are consistent',
    async run(engine) {
      const scores = randomHost([3, 16, 7], 20, -4, 4);
      const labels = labelsFor(3, 7, 1);
      const before = engine.runtime.counters.dispatches;
      const x = toGpu(engine, scores);
      const r = ops.temporalSoftmaxPooling(x, { labels, reduction: 'none' });
      if (engine.runtime.counters.dispatches - before !== 1) throw new Error(`expected one dispatch, got ${engine.runtime.counters.dispatches - before}`);
      const want = ops.temporalSoftmaxPooling.cpu(scores, { labels, reduction: 'none' });
      for (const key of ['probs', 'logProbs', 'frameWeights', 'joint', 'loss'] as const) {
        expectClose(await r[key].read(), want[key].data, { abs: 2e-5, rel: 2e-5 }, `temporalSoftmaxPooling ${key}`);
      }
      // Marginals of one joint distribution: each sums to 1 over its axis, and loss = −log p(y).
      const p = await toHost(r.probs);
      const fw = await toHost(r.frameWeights);
      const loss = await toHost(r.loss);
      for (let n = 0; n < 3; n++) {
        const sp = Array.from(p.data.slice(n * 7, n * 7 + 7)).reduce((a, b) => a + b, 0);
        const sf = Array.from(fw.data.slice(n * 16, n * 16 + 16)).reduce((a, b) => a + b, 0);
        expectClose([sp, sf, loss.data[n]!], [1, 1, -Math.log(p.data[n * 7 + labels[n]!]!)], { abs: 1e-5, rel: 1e-5 }, 'marginals');
      }
      Object.values(r).forEach((t) => t.dispose());
      x.dispose();
      // Without labels: the loss output is empty, the rest unchanged.
      const y = toGpu(engine, scores);
      const r2 = ops.temporalSoftmaxPooling(y);
      if (r2.loss.size !== 0) throw new Error('loss without labels should be empty');
      expectClose(await r2.probs.read(), want.probs.data, TOL, 'probs without labels');
      Object.values(r2).forEach((t) => t.dispose());
      y.dispose();
    },
  },
  {
    name: 'temporal pooling backward matches the CPU reference for every output and their sum',
    async run(engine) {
      for (const [i, shape] of SHAPES.entries()) {
        const [N, T, E] = shape as [number, number, number];
        const scores = randomHost(shape, 30 + i, -3, 3);
        const labels = labelsFor(N, E, i + 2);
        const g = {
          probs: randomHost([N, E], 31 + i),
          logProbs: randomHost([N, E], 32 + i),
          frameWeights: randomHost([N, T], 33 + i),
          joint: randomHost([N, T, E], 36 + i),
          loss: randomHost([N], 34 + i),
        };
        const subsets: (keyof typeof g)[][] = [['probs'], ['logProbs'], ['frameWeights'], ['joint'], ['loss'], ['probs', 'logProbs', 'frameWeights', 'joint', 'loss']];
        const run = async (keys: (keyof typeof g)[], grads: Partial<typeof g>, reduction: 'mean' | 'none') => {
          const x = toGpu(engine, scores);
          const up = Object.fromEntries(keys.map((k) => [k, toGpu(engine, grads[k]!)])) as ops.TemporalPoolGrads;
          const d = ops.temporalSoftmaxPoolBackward(x, up, labels, reduction);
          const subset = Object.fromEntries(keys.map((k) => [k, grads[k]!]));
          const want = ops.temporalSoftmaxPoolBackward.cpu(scores, subset as never, labels, reduction);
          expectClose(await d.read(), want.data, { abs: 2e-5, rel: 2e-4 }, `temporalSoftmaxPoolBackward [${shape}] ${keys.join('+')} ${reduction}`);
          [x, d, ...Object.values(up)].forEach((t) => t.dispose());
        };
        for (const keys of subsets) await run(keys, g, 'none');
        await run(['loss'], { loss: randomHost([], 35) }, 'mean');
      }
    },
  },
  {
    name: 'temporal pooling gradients match finite differences (through autograd)',
    async run(engine) {
      for (const shape of [[2, 4, 3], [1, 1, 5], [2, 3, 6]]) {
        const scores = randomHost(shape, 40, -2, 2);
        const labels = labelsFor(shape[0]!, shape[2]!, 3);
        await autogradCheck(engine, `temporalSoftmaxPool ${shape}`, (x) => ops.temporalSoftmaxPool(x), [scores], { eps: 1e-2, tol: GRAD });
        await autogradCheck(engine, `temporalLogSoftmaxPool ${shape}`, (x) => ops.temporalLogSoftmaxPool(x), [scores], { eps: 1e-2, tol: GRAD });
        await autogradCheck(engine, `temporalFrameWeights ${shape}`, (x) => ops.temporalFrameWeights(x), [scores], { eps: 1e-2, tol: GRAD });
        await autogradCheck(engine, `temporalSoftmaxPoolLoss mean ${shape}`, (x) => ops.temporalSoftmaxPoolLoss(x, labels), [scores], { eps: 1e-2, tol: GRAD });
        await autogradCheck(engine, `temporalSoftmaxPoolLoss none ${shape}`, (x) => ops.temporalSoftmaxPoolLoss(x, labels, 'none'), [scores], { eps: 1e-2, tol: GRAD });
      }
      // Labels given as an i32 tensor take part in the graph as a constant.
      const scores = randomHost([2, 4, 3], 41, -2, 2);
      const lt = engine.tensor(labelsFor(2, 3, 1), [2], 'i32');
      await autogradCheck(engine, 'temporalSoftmaxPoolLoss, tensor labels', (x) => ops.temporalSoftmaxPoolLoss(x, lt), [scores], { eps: 1e-2, tol: GRAD });
      lt.dispose();
    },
  },
  {
    name: 'temporalSoftmaxPooling is differentiable in every output (joint, marginals, loss) with one backward launch',
    async run(engine) {
      const tol = { eps: 1e-2, tol: GRAD };
      type Out = 'probs' | 'logProbs' | 'frameWeights' | 'joint' | 'loss';
      const flat = (r: Record<Out, Tensor>, which: Out[]) => ops.concat(which.map((k) => r[k].reshape([-1])), 0);
      for (const shape of [[2, 4, 3], [1, 1, 5], [3, 2, 6]]) {
        const scores = randomHost(shape, 140, -2, 2);
        const labels = labelsFor(shape[0]!, shape[2]!, 5);
        const subsets: [Out[], 'mean' | 'none'][] = [
          [['probs', 'logProbs', 'frameWeights', 'joint', 'loss'], 'none'],
          [['joint'], 'mean'],
          [['frameWeights', 'loss'], 'mean'],
          [['probs', 'joint'], 'none'],
        ];
        for (const [which, reduction] of subsets) {
          await autogradCheck(engine, `temporalSoftmaxPooling [${shape}] → ${which} (${reduction})`, (x) => flat(ops.temporalSoftmaxPooling(x, { labels, reduction }), which), [scores], tol);
        }
        // The joint's gradient on its own against the CPU reference of the backward kernel.
        const [N, T, E] = shape as [number, number, number];
        const gj = randomHost([N, T, E], 141);
        const [tx, tj] = [scores, gj].map((h) => toGpu(engine, h)) as [Tensor, Tensor];
        const dj = ops.temporalSoftmaxPoolBackward(tx, { joint: tj });
        expectClose(await dj.read(), ops.temporalSoftmaxPoolBackward.cpu(scores, { joint: gj } as never).data, { abs: 2e-5, rel: 2e-4 }, `joint gradient [${shape}]`);
        [tx, tj, dj].forEach((t) => t.dispose());
      }
      // Without labels, and with labels as an i32 tensor (a constant of the graph).
      const scores = randomHost([2, 4, 3], 142, -2, 2);
      await autogradCheck(engine, 'temporalSoftmaxPooling without labels', (x) => flat(ops.temporalSoftmaxPooling(x), ['probs', 'joint']), [scores], tol);
      const lt = engine.tensor(labelsFor(2, 3, 1), [2], 'i32');
      await autogradCheck(engine, 'temporalSoftmaxPooling, tensor labels', (x) => ops.temporalSoftmaxPooling(x, { labels: lt }).loss, [scores], tol);
      // Every output used, one launch of the backward kernel.
      const x = toGpu(engine, scores).setRequiresGrad();
      const r = ops.temporalSoftmaxPooling(x, { labels: lt });
      const total = ops.add(ops.add(ops.sum(ops.mul(r.joint, r.joint)), ops.sum(r.logProbs)), ops.add(ops.sum(ops.mul(r.frameWeights, r.probs.reshape([2, 3]).sum(1, true))), r.loss));
      const ran: string[] = [];
      const runtime = engine.runtime;
      const dispatch = runtime.dispatch.bind(runtime);
      runtime.dispatch = (d) => (ran.push(d.kernel.name), dispatch(d));
      try {
        total.backward();
      } finally {
        runtime.dispatch = dispatch;
      }
      if (ran.filter((n) => n === 'temporal_pool_backward').length !== 1) throw new Error(`backward launches: ${ran.join(', ')}`);
      if (r.loss.shape.length !== 0) throw new Error(`mean loss shape [${r.loss.shape}], expected []`);
      [x, x.grad!, total, lt, ...Object.values(r)].forEach((t) => t.dispose());
    },
  },
  {
    name: 'frame attention pooling matches the CPU reference (forward and both backward kernels)',
    async run(engine) {
      for (const [i, [N, T, D]] of [[2, 16, 256], [1, 1, 5], [3, 5, 67], [2, 70, 3]].entries()) {
        const w = randomHost([N!, T!], 50 + i, 0.05, 1); // sigmoid outputs: positive
        const f = randomHost([N!, T!, D!], 60 + i, -2, 2);
        const dy = randomHost([N!, D!], 70 + i);
        await checkOp(engine, ops.frameAttentionPool, [w, f], { abs: 1e-6, rel: 1e-5 });
        await checkOp(engine, ops.frameAttentionPoolBackwardWeights, [dy, w, f], { abs: 1e-5, rel: 1e-4 });
        await checkOp(engine, ops.frameAttentionPoolBackwardFeatures, [dy, w, f], { abs: 1e-6, rel: 1e-5 });
        const [tdy, tw, tf] = [dy, w, f].map((h) => toGpu(engine, h)) as [Tensor, Tensor, Tensor];
        const both = ops.frameAttentionPoolBackward(tdy, tw, tf);
        const want = ops.frameAttentionPoolBackward.cpu(dy, w, f);
        expectClose(await both.dw.read(), want.dw.data, { abs: 1e-5, rel: 1e-4 }, 'frameAttentionPoolBackward dw');
        expectClose(await both.df.read(), want.df.data, { abs: 1e-6, rel: 1e-5 }, 'frameAttentionPoolBackward df');
        [tdy, tw, tf, both.dw, both.df].forEach((t) => t.dispose());
      }
    },
  },
  {
    name: 'frame attention pooling gradients match finite differences',
    async run(engine) {
      for (const [N, T, D] of [[2, 5, 3], [1, 1, 4], [3, 4, 6]]) {
        const w = randomHost([N!, T!], 80, 0.2, 1);
        const f = randomHost([N!, T!, D!], 81);
        await autogradCheck(engine, `frameAttentionPool [${N},${T},${D}]`, (a, b) => ops.frameAttentionPool(a, b), [w, f], { eps: 1e-2, tol: GRAD });
        await gradCheck({
          what: `frameAttentionPool CPU reference vs its backward kernels [${N},${T},${D}]`,
          inputs: [w, f],
          forward: ([a, b]) => ops.frameAttentionPool.cpu(a!, b!),
          backward: ([a, b], dy) => [ops.frameAttentionPoolBackwardWeights.cpu(dy, a!, b!), ops.frameAttentionPoolBackwardFeatures.cpu(dy, a!, b!)],
          tol: GRAD,
        });
      }
    },
  },
  {
    name: 'frameAttentionPooling returns the pooled feature and the normalised weights, both differentiable',
    async run(engine) {
      for (const [i, [N, T, D]] of [[2, 16, 256], [1, 1, 5], [3, 5, 67], [2, 70, 3], [2, 4, 0]].entries()) {
        const w = randomHost([N!, T!], 150 + i, 0.05, 1);
        const f = randomHost([N!, T!, D!], 160 + i, -2, 2);
        const r = await checkMultiOp(engine, ops.frameAttentionPooling, [w, f], { pooled: { abs: 1e-6, rel: 1e-5 }, weights: { abs: 1e-7, rel: 1e-6 } });
        for (let n = 0; n < N!; n++) {
          const sum = Array.from(r.weights.data.slice(n * T!, (n + 1) * T!)).reduce((a, b) => a + b, 0);
          expectClose([sum], [1], { abs: 1e-5, rel: 0 }, `weights of clip ${n} sum to 1`);
        }
        if (D! > 0) expectClose(r.pooled.data, ops.frameAttentionPool.cpu(w, f).data, { abs: 1e-6, rel: 1e-5 }, 'pooled = frameAttentionPool');
      }
      const tol = { eps: 1e-2, tol: GRAD };
      for (const [N, T, D] of [[2, 5, 3], [1, 1, 4], [3, 4, 6]]) {
        const w = randomHost([N!, T!], 170, 0.2, 1);
        const f = randomHost([N!, T!, D!], 171);
        await autogradCheck(engine, `frameAttentionPooling both [${N},${T},${D}]`, (a, b) => {
          const r = ops.frameAttentionPooling(a, b);
          return ops.concat([r.pooled.reshape([-1]), r.weights.reshape([-1])], 0);
        }, [w, f], tol);
        const tf = toGpu(engine, f);
        try {
          await autogradCheck(engine, `frameAttentionPooling weights only [${N},${T},${D}]`, (a) => ops.frameAttentionPooling(a, tf).weights, [w], tol);
        } finally {
          tf.dispose();
        }
        await autogradCheck(engine, `frameAttentionPooling pooled only [${N},${T},${D}]`, (a, b) => ops.frameAttentionPooling(a, b).pooled, [w, f], tol);
      }
    },
  },
  {
    name: 'bad inputs get clear errors',
    async run(engine) {
      const s = engine.empty([2, 4, 3]);
      expectThrows(() => ops.temporalSoftmaxPool(engine.empty([2, 12])), 'temporalSoftmaxPool', '[N, T, E]', '[2, 12]');
      expectThrows(() => ops.temporalSoftmaxPool(engine.empty([2, 0, 3])), 'temporalSoftmaxPool', 'at least one frame');
      expectThrows(() => ops.temporalSoftmaxPoolLoss(s, [0, 3]), 'temporalSoftmaxPoolLoss', 'label 3 at row 1 is out of range', '[0, 3)');
      expectThrows(() => ops.temporalSoftmaxPoolLoss(s, [0]), 'temporalSoftmaxPoolLoss', '1 labels for 2 rows');
      expectThrows(() => ops.temporalSoftmaxPoolLoss(s, [0, 1], 'sum' as never), 'temporalSoftmaxPoolLoss', "reduction must be 'mean' or 'none'");
      expectThrows(() => ops.temporalSoftmaxPoolBackward(s, {}), 'temporalSoftmaxPoolBackward', 'at least one output gradient');
      expectThrows(() => ops.temporalSoftmaxPoolBackward(s, { probs: engine.empty([2, 4]) }), 'temporalSoftmaxPoolBackward', 'gradient of probs must be f32 [2, 3]');
      expectThrows(() => ops.temporalSoftmaxPoolBackward(s, { loss: engine.empty([]) }), 'temporalSoftmaxPoolBackward', 'needs the labels');
      const w = engine.empty([2, 4]);
      expectThrows(() => ops.frameAttentionPool(w, engine.empty([2, 5, 8])), 'frameAttentionPool', 'weights [2, 4] do not match features [2, 5, 8]');
      expectThrows(() => ops.frameAttentionPool(engine.empty([8]), engine.empty([2, 4, 8])), 'frameAttentionPool', 'weights [N, T] and features [N, T, D]');
      s.dispose();
      w.dispose();
    },
  },
];

export const temporalSuite: Suite = { name: 'temporal', cases };
