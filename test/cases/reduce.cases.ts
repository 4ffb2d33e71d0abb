import { HostTensor } from '../../src/graph/host.js';
import * as ops from '../../src/kernels/ops.js';
import type { TunableKernel } from '../../src/kernels/variants.js';
import { checkOp, expectClose, randomHost, toGpu } from '../helpers/compare.js';
import { expectThrows, eachVariant, type Case, type Suite } from './types.js';

// Sums: f32 accumulation in a tree, so relative 1e-5·log2(n) (and as much absolute for mixed-sign data).
function sumTol(n: number) {
  const t = 1e-5 * Math.max(1, Math.log2(n));
  return { abs: t, rel: t };
}
// max / min / argmax compare exactly.
const EXACT = { abs: 0, rel: 0 };

const rowsKernel = ops.reduceRowsKernel as TunableKernel<unknown>;

// [shape, axes]: size-1 axes, rank 1..5, inner / outer / middle / mixed axis sets, rows long enough to be
// split into segments (3×2000, 2×20000), columns long enough for chunked passes (1000×3), tiny rows (4×5).
const reductions: [number[], number | number[] | undefined][] = [
  [[7], undefined],
  [[3, 5], 1],
  [[3, 5], 0],
  [[3, 5], [0, 1]],
  [[4, 5], -1],
  [[2, 1, 5, 3], [1]],
  [[2, 1, 5, 3], [0, 2]],
  [[2, 1, 5, 3], [1, 3]],
  [[2, 3, 4, 5, 6], [0, 2, 4]],
  [[2, 3, 4, 5, 6], [1, 3]],
  [[2, 3, 4, 5, 6], [4]],
  [[2, 3, 4, 5, 6], [0]],
  [[3, 4, 5, 6], [0, 3]],
  [[1, 1, 1], undefined],
  [[5, 300], 1],
  [[3, 2000], 1],
  [[2, 20000], -1],
  [[1000, 3], 0],
  [[2, 130, 3], 1],
  [[33, 17, 9], [1, 2]],
  [[6, 4], []],
];

const kinds: [string, ops.ReduceOp][] = [
  ['sum', ops.sum],
  ['mean', ops.mean],
  ['max', ops.max],
  ['min', ops.min],
];

const cases: Case[] = [
  ...kinds.map(([name, op]): Case => ({
    name: `${name} over axis sets on odd shapes, every rows variant`,
    async run(engine) {
      await eachVariant(engine, rowsKernel, async () => {
        let seed = 10;
        for (const [shape, axes] of reductions) {
          const x = randomHost(shape, seed++, -2, 2);
          const count = axes === undefined ? x.size : [axes].flat().reduce((p, a) => p * shape[a < 0 ? a + shape.length : a]!, 1);
          const tol = name === 'sum' || name === 'mean' ? sumTol(count) : EXACT;
          await checkOp(engine, op, [x, axes, false], tol);
          await checkOp(engine, op, [x, axes, true], tol);
        }
      });
    },
  })),
  {
    name: 'argmax: first maximum wins, across segments and passes',
    async run(engine) {
      await eachVariant(engine, rowsKernel, async () => {
        const shapes: [number[], number | undefined][] = [
          [[3, 5], 1],
          [[3, 5], 0],
          [[2, 3, 4], 1],
          [[4, 1000], 1],
          [[2, 3001], -1],
          [[1000, 3], 0],
          [[2, 700, 3], 1],
          [[6, 7], undefined],
          [[1, 9, 1], 1],
        ];
        let seed = 50;
        for (const [shape, axis] of shapes) {
          // Values in {0, 1, 2}: ties everywhere, so the first-index rule is exercised.
          const x = randomHost(shape, seed++, 0, 3);
          for (let i = 0; i < x.size; i++) x.data[i] = Math.floor(x.data[i]!);
          await checkOp(engine, ops.argmax, [x, axis, false], EXACT);
          await checkOp(engine, ops.argmax, [x, axis, true], EXACT);
          await checkOp(engine, ops.argmax, [randomHost(shape, seed++), axis, false], EXACT);
        }
      });
    },
  },
  {
    name: 'about 100k elements to one value',
    async run(engine) {
      await eachVariant(engine, rowsKernel, async () => {
        const n = 100_003;
        // Same-signed data, so the relative tolerance is meaningful.
        const x = randomHost([n], 3, 0.5, 1.5);
        await checkOp(engine, ops.sum, [x], sumTol(n));
        await checkOp(engine, ops.mean, [x], sumTol(n));
        await checkOp(engine, ops.max, [x], EXACT);
        await checkOp(engine, ops.min, [x], EXACT);
        x.data[77_777] = 9;
        x.data[88_888] = 9;
        await checkOp(engine, ops.argmax, [x], EXACT);
        // 2-D, all axes: one row after merging; and the batch axis of [N, C] (cols kernel with chunk passes).
        const y = randomHost([317, 311], 4, 0.5, 1.5);
        await checkOp(engine, ops.sum, [y], sumTol(y.size));
        await checkOp(engine, ops.sum, [y, 0], sumTol(317));
        const t = toGpu(engine, x);
        const s = ops.sum(t);
        const got = await s.read();
        let exact = 0;
        for (let i = 0; i < n; i++) exact += x.data[i]!;
        expectClose(got, [exact], sumTol(n), 'sum of 100003 against float64');
        if (s.shape.length !== 0) throw new Error(`sum of all axes has shape [${s.shape}], expected []`);
        [t, s].forEach((v) => v.dispose());
      });
    },
  },
  {
    name: 'NaN propagates through max, min and sum; argmax picks the first NaN',
    async run(engine) {
      await eachVariant(engine, rowsKernel, async () => {
        for (const n of [9, 40, 3000]) {
          const x = randomHost([2, n], 5);
          x.data[Math.floor(n / 3)] = NaN;
          x.data[Math.floor(n / 2)] = NaN;
          x.data[n + n - 1] = Infinity;
          for (const op of [ops.max, ops.min, ops.sum]) await checkOp(engine, op, [x, 1], sumTol(n));
          await checkOp(engine, ops.argmax, [x, 1], EXACT);
          const t = toGpu(engine, x);
          const i = ops.argmax(t, 1);
          expectClose(await i.read(), [Math.floor(n / 3), n - 1], EXACT, `argmax with NaN, n=${n}`);
          [t, i].forEach((v) => v.dispose());
        }
        const neg = HostTensor.from([-0, 0, -Infinity, -3], [4]);
        await checkOp(engine, ops.max, [neg], EXACT);
        await checkOp(engine, ops.min, [neg], EXACT);
      });
    },
  },
  {
    name: 'empty reductions: sum gives zeros, the others refuse',
    async run(engine) {
      const x = engine.empty([3, 0, 2]);
      const s = ops.sum(x, 1);
      expectClose(await s.read(), [0, 0, 0, 0, 0, 0], EXACT, 'sum over an empty axis');
      if (s.shape.join() !== '3,2') throw new Error(`shape [${s.shape}]`);
      await checkOp(engine, ops.sum, [HostTensor.zeros([3, 0, 2]), [0, 1], true], EXACT);
      for (const op of [ops.mean, ops.max, ops.min]) expectThrows(() => op(x, 1), op.opName, 'empty', 'axis 1', '[3, 0, 2]');
      expectThrows(() => ops.argmax(x, 1), 'argmax', 'empty', '[3, 0, 2]');
      expectThrows(() => ops.max(x), 'max', 'empty');
      // Reducing a non-empty axis of an empty tensor is fine: the output is empty.
      await checkOp(engine, ops.max, [HostTensor.zeros([3, 0, 2]), 2], EXACT);
      [x, s].forEach((t) => t.dispose());
    },
  },
  {
    name: '0-d tensors: full reductions and losses return shape [], 0-d arithmetic, views and gradients',
    async run(engine) {
      const x = randomHost([3, 5, 2], 90, -2, 2);
      for (const op of [ops.sum, ops.mean, ops.max, ops.min, ops.argmax] as const) {
        const want = (op as typeof ops.sum).cpu(x);
        if (want.shape.length !== 0) throw new Error(`${op.opName}.cpu over every axis gave [${want.shape}], expected []`);
        await checkOp(engine, op as typeof ops.sum, [x], op === ops.sum || op === ops.mean ? sumTol(30) : EXACT);
      }
      // A 0-d tensor reduces to itself, keepDims keeps rank, and it takes part in broadcasting.
      const s = engine.tensor([2.5], []);
      const t = toGpu(engine, x);
      const outs = [ops.sum(s), ops.sum(t, undefined, true), ops.add(t, s), ops.mul(s, s), s.reshape([1, 1]), engine.tensor([4], [1]).reshape([]), ops.expand(s, [2, 3])];
      const shapes = outs.map((o) => `[${o.shape}]`).join(' ');
      if (shapes !== '[] [1,1,1] [3,5,2] [] [1,1] [] [2,3]') throw new Error(`0-d shapes: ${shapes}`);
      expectClose(await outs[3]!.read(), [6.25], EXACT, '0-d product');
      // Losses are 0-d, as PyTorch's: cross-entropy, its fused gradient, temporal pooling, A-Softmax.
      const logits = toGpu(engine, randomHost([4, 3], 91));
      const ce = ops.softmaxCrossEntropy(logits, [0, 2, 1, 1]);
      const fused = ops.softmaxCrossEntropyWithGrad(logits, [0, 2, 1, 1]);
      const scores = toGpu(engine, randomHost([2, 4, 3], 92));
      const tp = ops.temporalSoftmaxPoolLoss(scores, [1, 2]);
      const feats = toGpu(engine, randomHost([4, 5], 93));
      const w = toGpu(engine, randomHost([5, 3], 94));
      const as = ops.aSoftmaxLoss(feats, w, [0, 1, 2, 0], { lambda: 1 });
      for (const [what, l] of [['softmaxCrossEntropy', ce], ['softmaxCrossEntropyWithGrad', fused.loss], ['temporalSoftmaxPoolLoss', tp], ['aSoftmaxLoss', as]] as const) {
        if (l.shape.length !== 0) throw new Error(`${what} loss has shape [${l.shape}], expected []`);
      }
      if (ops.softmaxCrossEntropy.cpu(randomHost([4, 3], 91), [0, 2, 1, 1]).shape.length !== 0) throw new Error('softmaxCrossEntropy.cpu is not 0-d');
      // backward() from a 0-d loss seeds with 1; a 0-d leaf gets a 0-d gradient.
      const a = engine.tensor([3], []).setRequiresGrad();
      const lw = toGpu(engine, randomHost([4, 3], 95)).setRequiresGrad();
      const loss = ops.add(ops.softmaxCrossEntropy(ops.mul(lw, a), [0, 2, 1, 1]), ops.mul(a, a));
      loss.backward();
      if (a.grad?.shape.length !== 0 || lw.grad?.shape.join() !== '4,3') throw new Error(`gradients: a [${a.grad?.shape}], w [${lw.grad?.shape}]`);
      expectThrows(() => ops.concat([s, s], 0), 'concat', 'rank 0');
      expectThrows(() => ops.softmax(s), 'softmax', 'scalar');
      [s, t, ...outs, logits, ce, fused.loss, fused.dlogits, scores, tp, feats, w, as, a, lw, a.grad!, lw.grad!, loss].forEach((u) => u.dispose());
    },
  },
  {
    name: 'bad axes and dtypes name the op and the shape',
    async run(engine) {
      const x = engine.empty([2, 3]);
      const i = engine.empty([2, 3], 'i32');
      expectThrows(() => ops.sum(x, 2), 'sum', 'axis 2', 'out of range', '[2, 3]');
      expectThrows(() => ops.mean(x, -3), 'mean', 'axis -3', '[2, 3]');
      expectThrows(() => ops.max(x, [1, -1]), 'max', 'twice', '[2, 3]');
      expectThrows(() => ops.min(x, 0.5), 'min', 'axis 0.5');
      expectThrows(() => ops.argmax(x, 5), 'argmax', 'axis 5', '[2, 3]');
      expectThrows(() => ops.sum(i), 'sum', 'f32', 'i32', '[2, 3]');
      [x, i].forEach((t) => t.dispose());
    },
  },
  {
    name: 'the subgroup rows variant is offered where subgroups have one fixed size',
    async run(engine) {
      const sg = engine.fixedSubgroupSize;
      const have = engine.variants.supported(rowsKernel);
      if (!have.includes('workgroup')) throw new Error(`portable variant missing: ${have}`);
      const expected = sg !== undefined && sg >= 4 && sg <= 256 && (sg & (sg - 1)) === 0;
      if (expected !== have.includes('subgroup')) throw new Error(`subgroup size ${sg}, variants ${have}`);
    },
  },
];

export const reduceSuite: Suite = { name: 'reduce', cases };
