import { HostTensor } from '../../src/graph/host.js';
import * as ops from '../../src/kernels/ops.js';
import { autogradCheck, checkOp, expectClose, gradCheck, randomHost, toGpu } from '../helpers/compare.js';
import { gpuHost } from '../helpers/multi-op.js';
import { expectThrows, type Case, type Suite } from './types.js';

// Exact: the mask is integer arithmetic and the scale one f32 multiply, on the GPU and in the reference.
const EXACT = { abs: 0, rel: 0 };

function ones(shape: number[]): HostTensor {
  return HostTensor.from(new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(1), shape);
}

/** Kept count and Σ of kept indices of dropout(ones). */
function maskSummary(y: ArrayLike<number>): [number, number] {
  let count = 0;
  let sum = 0;
  for (let i = 0; i < y.length; i++) {
    if (y[i] !== 0) {
      count++;
      sum += i;
    }
  }
  return [count, sum];
}

/**
 * Masks pinned when written (Node, lavapipe): the browser run must reproduce them bit for bit, on the GPU and in
 * the CPU reference. Shapes: 1001 elements (the scalar path), 4096 and 100000 (the vec4 path).
 */
const pinned: { shape: number[]; p: number; seed: number; count: number; sum: number; head: number[] }[] = [
  { shape: [7, 13, 11], p: 0.3, seed: 12345, count: 717, sum: 353714, head: [1, 1, 0, 1, 0, 1, 1, 1] },
  { shape: [4096], p: 0.5, seed: 2024, count: 2046, sum: 4223960, head: [0, 0, 1, 0, 0, 0, 1, 1] },
  { shape: [100000], p: 0.1, seed: 7, count: 89997, sum: 4497716720, head: [1, 0, 1, 0, 1, 1, 1, 0] },
];

const cases: Case[] = [
  {
    name: 'dropout: a fixed seed gives the pinned mask on the GPU and in the CPU reference',
    async run(engine) {
      expectClose([ops.pcgHash(0), ops.pcgHash(1), ops.pcgHash(12345)], [129708002, 2831084092, 4099845390], EXACT, 'pcg hash values');
      for (const c of pinned) {
        const what = `dropout(ones ${JSON.stringify(c.shape)}, p=${c.p}, seed=${c.seed})`;
        const scale = Math.fround(1 / (1 - c.p));
        const gpu = await gpuHost(engine, [ones(c.shape)], (x) => ops.dropout(x, { p: c.p, seed: c.seed }));
        const cpu = ops.dropout.cpu(ones(c.shape), { p: c.p, seed: c.seed });
        for (const [where, y] of [['GPU', gpu], ['CPU', cpu]] as const) {
          expectClose(maskSummary(y.data), [c.count, c.sum], EXACT, `${what} on the ${where}: kept count and index sum`);
          expectClose(y.data.slice(0, 8), c.head.map((k) => k * scale), EXACT, `${what} on the ${where}: first elements`);
        }
      }
    },
  },
  {
    name: 'dropout matches its reference on odd shapes; keeps 1 − p; seeds give independent masks',
    async run(engine) {
      for (const shape of [[3, 5, 7], [2, 8], [1], [0, 3], [257, 3]]) {
        for (const p of [0, 0.25, 0.9]) {
          await checkOp(engine, ops.dropout, [randomHost(shape, 1, -3, 3), { p, seed: 99 }], EXACT);
          await checkOp(engine, ops.dropoutBackward, [randomHost(shape, 2), { p, seed: 99 }], EXACT);
        }
      }
      const n = 100000;
      const a = await gpuHost(engine, [ones([n])], (x) => ops.dropout(x, { p: 0.3, seed: 1 }));
      const b = await gpuHost(engine, [ones([n])], (x) => ops.dropout(x, { p: 0.3, seed: 2 }));
      const keptA = a.data.filter((v) => v !== 0).length / n;
      let both = 0;
      for (let i = 0; i < n; i++) if (a.data[i] !== 0 && b.data[i] !== 0) both++;
      // Binomial standard deviation ~0.0015: 5σ bounds.
      if (Math.abs(keptA - 0.7) > 0.0075) throw new Error(`kept fraction ${keptA}, expected 0.7`);
      if (Math.abs(both / n - 0.49) > 0.008) throw new Error(`seeds 1 and 2 overlap on ${both / n} of elements, expected 0.49 for independent masks`);
      // Same seed, same mask, on a second call.
      const a2 = await gpuHost(engine, [ones([n])], (x) => ops.dropout(x, { p: 0.3, seed: 1 }));
      expectClose(a2.data, a.data, EXACT, 'the same seed twice');
    },
  },
  {
    name: 'dropout: identity at eval, backward reuses the mask, gradients check',
    async run(engine) {
      const x = randomHost([4, 9], 5);
      const evalOut = await gpuHost(engine, [x], (t) => ops.dropout(t, { p: 0.5, seed: 3, training: false }));
      expectClose(evalOut.data, x.data, EXACT, 'dropout at eval');
      // The backward's zeros are exactly the forward's.
      const o = { p: 0.4, seed: 77 };
      const y = await gpuHost(engine, [ones([1001])], (t) => ops.dropout(t, o));
      const dx = await gpuHost(engine, [ones([1001])], (t) => ops.dropoutBackward(t, o));
      expectClose(dx.data, y.data, EXACT, 'backward mask = forward mask');
      await gradCheck({
        what: 'dropout',
        inputs: [randomHost([5, 7], 6)],
        forward: ([t]) => gpuHost(engine, [t!], (g) => ops.dropout(g, o)),
        backward: async (_xs, dy) => [await gpuHost(engine, [dy], (d) => ops.dropoutBackward(d, o))],
      });
      await autogradCheck(engine, 'dropout via autograd', (t) => ops.dropout(t, o), [randomHost([3, 8], 8)]);
    },
  },
  {
    name: 'dropout refuses p outside [0, 1) and bad seeds',
    async run(engine) {
      const x = toGpu(engine, randomHost([3], 1));
      try {
        for (const p of [1, -0.1, 1.5, NaN]) expectThrows(() => ops.dropout(x, { p, seed: 1 }), 'dropout', 'p must be in [0, 1)', String(p));
        for (const seed of [-1, 1.5, 2 ** 32]) expectThrows(() => ops.dropout(x, { p: 0.5, seed }), 'seed must be an integer in [0, 2^32)');
        expectThrows(() => ops.dropoutBackward(x, { p: 1, seed: 0 }), 'dropoutBackward', 'p must be in [0, 1)');
        expectThrows(() => ops.dropout(engine.empty([2], 'i32'), { p: 0.5, seed: 0 }), 'expects an f32 tensor');
      } finally {
        x.dispose();
      }
    },
  },
];

export const dropoutSuite: Suite = { name: 'dropout', cases };
