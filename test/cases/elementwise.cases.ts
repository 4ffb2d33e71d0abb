import { HostTensor } from '../../src/graph/host.js';
import * as ops from '../../src/kernels/ops.js';
import { checkOp, expectClose, randomHost, toGpu } from '../helpers/compare.js';
import { expectThrows, type Case, type Suite } from './types.js';

const F32 = { abs: 1e-6, rel: 1e-5 };
// Transcendentals: WGSL allows a few ulp (exp/log: 3 + 2·|x| ulp).
const TRANSCENDENTAL = { abs: 1e-5, rel: 1e-4 };

const unaryCases: [string, ops.UnaryOp, number, number][] = [
  ['relu', ops.relu, -2, 2],
  ['sigmoid', ops.sigmoid, -30, 30],
  ['tanh', ops.tanh, -20, 20],
  ['exp', ops.exp, -10, 10],
  ['log', ops.log, 1e-3, 100],
  ['neg', ops.neg, -5, 5],
  ['sqrt', ops.sqrt, 0, 100],
  ['abs', ops.abs, -5, 5],
];

const binaryCases: [string, ops.BinaryOp, number, number][] = [
  ['add', ops.add, -3, 3],
  ['sub', ops.sub, -3, 3],
  ['mul', ops.mul, -3, 3],
  ['div', ops.div, 0.5, 3],
  ['maximum', ops.maximum, -3, 3],
  ['minimum', ops.minimum, -3, 3],
  ['pow', ops.pow, 0.1, 3],
];

// Odd shapes: non-multiples of the 256-wide workgroup, size-1 axes, batch > 1, rank up to 5.
const broadcastPairs: [number[], number[]][] = [
  [[3, 7, 5], [3, 7, 5]],
  [[3, 7, 5], [5]],
  [[3, 1, 5], [1, 7, 1]],
  [[2, 3, 1, 5, 4], [3, 6, 1, 1]],
  [[1], [4, 1, 3]],
  [[257], [1]],
];

const cases: Case[] = [
  ...unaryCases.map(([name, op, lo, hi]): Case => ({
    name: `${name} on [3,7,5] and [1031]`,
    async run(engine) {
      const tol = ['relu', 'neg', 'abs'].includes(name) ? F32 : TRANSCENDENTAL;
      await checkOp(engine, op, [randomHost([3, 7, 5], 1, lo, hi)], tol);
      await checkOp(engine, op, [randomHost([1031], 2, lo, hi)], tol);
    },
  })),
  ...binaryCases.map(([name, op, lo, hi]): Case => ({
    name: `${name} with broadcasting and scalar`,
    async run(engine) {
      const tol = name === 'pow' ? TRANSCENDENTAL : name === 'div' ? { abs: 1e-6, rel: 2e-6 } : F32;
      for (const [sa, sb] of broadcastPairs) await checkOp(engine, op, [randomHost(sa, 3, lo, hi), randomHost(sb, 4, lo, hi)], tol);
      await checkOp(engine, op, [randomHost([2, 9], 5, lo, hi), 1.75], tol);
    },
  })),
  {
    name: 'pow with negative bases follows NumPy',
    async run(engine) {
      const x = HostTensor.from([-2, -2, -8, 0, 0, 3, -1.5], [7]);
      const y = HostTensor.from([2, 3, 1 / 3, 0, 2, -1, 2], [7]);
      const got = await ops.pow(toGpu(engine, x), toGpu(engine, y)).read();
      expectClose(got, [4, -8, NaN, 1, 0, 1 / 3, 2.25], TRANSCENDENTAL, 'pow');
    },
  },
  {
    name: 'fill for f32, i32 and u32 on odd and empty shapes',
    async run(engine) {
      await checkOp(engine, ops.fill, [engine, [3, 1, 7], 2.5, 'f32'], F32);
      await checkOp(engine, ops.fill, [engine, [1000], -7, 'i32'], F32);
      await checkOp(engine, ops.fill, [engine, [5, 3], 4000000000, 'u32'], F32);
      await checkOp(engine, ops.fill, [engine, [0, 4], 1, 'f32'], F32);
    },
  },
  {
    name: 'a 1-D grid over the per-dimension workgroup limit is folded',
    async run(engine) {
      const n = (engine.limits.maxComputeWorkgroupsPerDimension + 3) * 256;
      const x = engine.tensor(new Float32Array(n).fill(-1.5), [n]);
      const y = ops.abs(x);
      const got = await y.read();
      let bad = 0;
      for (let i = 0; i < n; i++) if (got[i] !== 1.5) bad++;
      x.dispose();
      y.dispose();
      if (bad) throw new Error(`${bad} of ${n} elements wrong`);
    },
  },
  {
    name: 'bad input names the op and shapes',
    async run(engine) {
      const a = engine.empty([3, 4]);
      const b = engine.empty([5, 4]);
      const i = engine.empty([3, 4], 'i32');
      expectThrows(() => ops.add(a, b), 'add', '[3, 4]', '[5, 4]', 'broadcast');
      expectThrows(() => ops.relu(i), 'relu', 'f32', 'i32');
      expectThrows(() => engine.tensor([1, 2, 3], [2, 2]), 'tensor', '3 values', '[2, 2]');
      expectThrows(() => a.reshape([5, 2]), 'reshape', '[3, 4]', '[5, 2]');
      a.dispose();
      expectThrows(() => ops.neg(a), 'after dispose');
      [b, i].forEach((t) => t.dispose());
    },
  },
];

export const elementwiseSuite: Suite = { name: 'elementwise', cases };
