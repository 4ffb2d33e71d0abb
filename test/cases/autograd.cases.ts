/** Reverse-mode autograd: elementwise rules against finite differences, accumulation, scopes, memory. */
import { isGradEnabled, noGrad } from '../../src/graph/autograd.js';
import { HostTensor } from '../../src/graph/host.js';
import { tidy } from '../../src/graph/scope.js';
import '../../src/graph/tensor-methods.js';
import type { Tensor } from '../../src/graph/tensor.js';
import { defineOp } from '../../src/kernels/op.js';
import { defineMultiOp, type MultiPlan } from '../../src/kernels/multi-op.js';
import * as ops from '../../src/kernels/ops.js';
import { autogradCheck, expectClose, randomHost, toGpu } from '../helpers/compare.js';

const toGpuLeaf = (engine: Parameters<typeof toGpu>[0], h: HostTensor) => toGpu(engine, h).setRequiresGrad();
import { expectThrows, type Case, type Suite } from './types.js';

function check(cond: boolean, message: string): void {
  if (!cond) throw new Error(message);
}

const unary: [string, (x: Tensor) => Tensor, number, number][] = [
  ['relu', ops.relu, -2, 2],
  ['sigmoid', ops.sigmoid, -4, 4],
  ['tanh', ops.tanh, -2, 2],
  ['exp', ops.exp, -2, 2],
  ['log', ops.log, 0.5, 3],
  ['neg', ops.neg, -2, 2],
  ['sqrt', ops.sqrt, 0.5, 3],
  ['abs', ops.abs, -2, 2],
];

const binary: [string, (a: Tensor, b: Tensor) => Tensor, number, number][] = [
  ['add', ops.add, -2, 2],
  ['sub', ops.sub, -2, 2],
  ['mul', ops.mul, -2, 2],
  ['div', ops.div, 0.5, 2],
  ['maximum', ops.maximum, -2, 2],
  ['minimum', ops.minimum, -2, 2],
  ['pow', ops.pow, 0.5, 2],
];


/** A two-output op, s = a + b and p = a·b, whose backward runs once for both outputs (counted). */
let sumProdCalls = 0;
const sumProd = defineMultiOp<[a: Tensor, b: Tensor], 's' | 'p', MultiPlan<'s' | 'p'>>({
  name: 'sumProd',
  check: (a) => ({ outputs: { s: { shape: a.shape, dtype: 'f32' }, p: { shape: a.shape, dtype: 'f32' } } }),
  gpu: (_p, a, b) => ({ s: ops.add(a, b), p: ops.mul(a, b) }),
  cpu: (_p, a, b) => ({ s: HostTensor.from(a.data.map((v, i) => v + b.data[i]!), a.shape), p: HostTensor.from(a.data.map((v, i) => v * b.data[i]!), a.shape) }),
  backward: {
    save: ([a, b]) => [a, b],
    grad({ saved: [a, b] }, d) {
      sumProdCalls++;
      const da = d.p ? ops.mul(d.p, b!) : null;
      const db = d.p ? ops.mul(d.p, a!) : null;
      if (!d.s) return [da, db];
      const plus = (g: Tensor | null) => {
        if (!g) return d.s!.detach();
        const out = ops.add(g, d.s!);
        g.dispose();
        return out;
      };
      return [plus(da), plus(db)];
    },
  },
});

const cases: Case[] = [
  ...unary.map(([name, f, lo, hi]): Case => ({
    name: `${name} gradient`,
    async run(engine) {
      // relu/abs: keep points away from the kink at 0 so finite differences are meaningful.
      const x = randomHost([3, 5], 21, lo, hi);
      if (name === 'relu' || name === 'abs') x.data.forEach((v, i) => (x.data[i] = Math.abs(v) < 0.05 ? 0.5 : v));
      await autogradCheck(engine, name, f, [x], { eps: 1e-2 });
    },
  })),
  ...binary.map(([name, f, lo, hi]): Case => ({
    name: `${name} gradient with broadcasting and scalar`,
    async run(engine) {
      await autogradCheck(engine, `${name} [2,3,4]×[3,1]`, f, [randomHost([2, 3, 4], 31, lo, hi), randomHost([3, 1], 32, lo, hi)]);
      await autogradCheck(engine, `${name} [5]×[2,5]`, f, [randomHost([5], 33, lo, hi), randomHost([2, 5], 34, lo, hi)]);
      await autogradCheck(engine, `${name} scalar`, (a) => (f as unknown as (a: Tensor, b: number) => Tensor)(a, 1.5), [randomHost([4, 3], 35, lo, hi)]);
    },
  })),
  {
    name: 'reduction gradients: sum, mean, max, min over axes, with and without keepDims',
    async run(engine) {
      const x = randomHost([3, 4, 5], 51, -2, 2);
      const w = randomHost([3, 4, 5], 52, -1, 1); // weights so that every element's gradient differs
      const weighted = (f: (t: Tensor) => Tensor) => (t: Tensor, u: Tensor) => f(ops.mul(t, u));
      await autogradCheck(engine, 'sum all', weighted((t) => ops.sum(t)), [x, w]);
      await autogradCheck(engine, 'sum [0,2]', weighted((t) => ops.sum(t, [0, 2])), [x, w]);
      await autogradCheck(engine, 'mean [1] keepDims', weighted((t) => ops.mean(t, 1, true)), [x, w]);
      await autogradCheck(engine, 'max [2]', (t) => ops.max(t, 2), [x]);
      await autogradCheck(engine, 'min [0, 1]', (t) => ops.min(t, [0, 1], true), [x]);
      // Ties share the gradient equally.
      const t = engine.tensor([1, 3, 3, 2], [4]).setRequiresGrad();
      ops.max(t).backward();
      expectClose(await t.grad!.read(), [0, 0.5, 0.5, 0], { abs: 1e-7, rel: 0 }, 'max with a tie');
      t.dispose();
    },
  },
  {
    name: 'layout gradients: permute, transpose, concat, slice with steps, expand',
    async run(engine) {
      const w = randomHost([2, 3, 4], 61);
      await autogradCheck(engine, 'permute', (t, u) => ops.mul(ops.permute(t, [2, 0, 1]), u), [randomHost([3, 4, 2], 62), randomHost([2, 3, 4], 63)]);
      await autogradCheck(engine, 'transpose', (t) => ops.mul(ops.transpose(t, 0, 2), ops.permute(t, [2, 1, 0])), [randomHost([4, 3, 2], 64)]);
      await autogradCheck(engine, 'concat', (a, b, u) => ops.mul(ops.concat([a, b], 1), u), [randomHost([2, 1, 4], 65), randomHost([2, 2, 4], 66), w]);
      await autogradCheck(engine, 'slice', (t) => ops.mul(ops.slice(t, [1, 0], [5, 7], [2, 3]), 3), [randomHost([6, 7], 67)]);
      await autogradCheck(engine, 'expand', (t, u) => ops.mul(ops.expand(t, [2, 3, 4]), u), [randomHost([3, 1], 68), w]);
    },
  },
  {
    name: 'a tensor used several times accumulates its gradient',
    async run(engine) {
      // y = x·x + x·3 + x → dy/dx = 2x + 4
      await autogradCheck(engine, 'x*x + 3x + x', (x) => ops.add(ops.add(ops.mul(x, x), ops.mul(x, 3)), x), [randomHost([7], 41)]);
      const x = engine.tensor([1, 2, 3], [3]).setRequiresGrad();
      const y = ops.mul(x, x);
      y.backward(engine.ones([3]));
      const z = ops.mul(x, 2);
      z.backward(engine.ones([3]));
      expectClose(await x.grad!.read(), [4, 6, 8], { abs: 1e-6, rel: 0 }, 'gradients accumulate across backward calls');
    },
  },
  {
    name: 'ops as tensor methods chain and differentiate like the functions',
    async run(engine) {
      await autogradCheck(engine, 'methods', (x, y) => x.mul(y).add(1).relu().matmul(y.transpose()).softmax(-1).log().sum(1), [randomHost([3, 4], 43, 0.1, 1), randomHost([3, 4], 44, 0.1, 1)]);
      const x = engine.tensor([1, -2, 3, -4], [2, 2]);
      const viaMethods = await x.abs().sqrt().mean(0).read();
      const viaFunctions = await ops.mean(ops.sqrt(ops.abs(x)), 0).read();
      expectClose(viaMethods, viaFunctions, { abs: 0, rel: 0 }, 'methods vs functions');
      x.dispose();
    },
  },
  {
    name: 'reshape passes gradients through',
    async run(engine) {
      await autogradCheck(engine, 'reshape', (x) => ops.mul(x.reshape([3, 4]), x.reshape([3, 4])), [randomHost([2, 6], 42)]);
    },
  },
  {
    name: 'noGrad records nothing; detach cuts the graph',
    async run(engine) {
      const x = engine.tensor([1, 2], [2]).setRequiresGrad();
      const y = noGrad(() => {
        check(!isGradEnabled(), 'recording inside noGrad');
        return ops.relu(x);
      });
      check(isGradEnabled(), 'recording not restored');
      check(!y.requiresGrad && y.gradNode === null, 'noGrad output requires a gradient');
      const z = ops.relu(x.detach());
      check(!z.requiresGrad, 'detached input still requires a gradient');
      expectThrows(() => y.backward(engine.ones([2])), 'backward', 'not computed from tensors that require a gradient');
      expectThrows(() => ops.relu(x).backward(), 'backward', 'output gradient is needed', '[2]');
    },
  },
  {
    name: 'a second backward through a freed graph and an op without a rule are clear errors',
    async run(engine) {
      const x = engine.tensor([1, 2], [2]).setRequiresGrad();
      const y = ops.exp(x);
      y.backward(engine.ones([2]));
      expectThrows(() => y.backward(engine.ones([2])), 'exp', 'second time');
      const noRule = defineOp<[a: Tensor], { shape: readonly number[]; dtype: 'f32' }>({
        name: 'ruleless',
        check: (a) => ({ shape: a.shape, dtype: 'f32' }),
        gpu: (_p, a) => ops.neg(a),
        cpu: (_p, a) => new HostTensor(a.shape, a.data),
      });
      expectThrows(() => noRule(x), 'ruleless', 'no backward rule', '[2]', 'noGrad');
    },
  },
  {
    name: 'saved tensors are freed after backward and when a graph is dropped',
    async run(engine) {
      await engine.sync();
      const x = engine.tensor(randomHost([64, 64], 5).data, [64, 64]).setRequiresGrad();
      const base = engine.memory().liveBytes;
      const loss = tidy(() => ops.sum(ops.mul(ops.sigmoid(ops.mul(x, x)), x)));
      loss.backward();
      loss.dispose();
      x.grad!.dispose();
      x.grad = null;
      check(engine.memory().liveBytes === base, `after backward ${engine.memory().liveBytes - base} bytes still live`);
      // A graph that is never back-propagated is freed when its last tensor goes.
      const dropped = tidy(() => ops.sum(ops.mul(ops.sigmoid(ops.mul(x, x)), x)));
      check(engine.memory().liveBytes > base, 'the graph should hold its saved tensors');
      dropped.dispose();
      check(engine.memory().liveBytes === base, `after dropping the graph ${engine.memory().liveBytes - base} bytes still live`);
      x.dispose();
    },
  },
  {
    name: 'multi-output ops: one backward call gets every output gradient (absent ones missing), graphs free their tensors',
    async run(engine) {
      const inputs = [randomHost([3, 4], 71), randomHost([3, 4], 72)];
      await autogradCheck(engine, 'both outputs', (a, b) => {
        const r = sumProd(a, b);
        return ops.concat([r.s, r.p], 0);
      }, inputs);
      await autogradCheck(engine, 'only p', (a, b) => sumProd(a, b).p, inputs);
      await autogradCheck(engine, 'only s, through another op', (a, b) => ops.exp(sumProd(a, b).s), inputs);
      // Both outputs meet again downstream: the rule still runs once, with both gradients.
      await autogradCheck(engine, 's·p', (a, b) => {
        const r = sumProd(a, b);
        return ops.mul(r.s, r.p);
      }, inputs);
      const a = toGpuLeaf(engine, inputs[0]!);
      const b = toGpuLeaf(engine, inputs[1]!);
      await engine.sync();
      const base = engine.memory().liveBytes;
      sumProdCalls = 0;
      const r = sumProd(a, b);
      check(r.s.gradSlot === 0 && r.p.gradSlot === 1 && r.s.gradNode === r.p.gradNode, 'outputs share one node, slots 0 and 1');
      const y = tidy(() => ops.sum(ops.mul(r.s, r.p)));
      y.backward();
      check(sumProdCalls === 1, `the rule ran ${sumProdCalls} times for one backward`);
      // ∂Σ(a+b)·ab/∂a = ab + (a+b)·b
      const [ah, bh] = inputs as [HostTensor, HostTensor];
      expectClose(await a.grad!.read(), ah.data.map((v, i) => v * bh.data[i]! + (v + bh.data[i]!) * bh.data[i]!), { abs: 1e-5, rel: 1e-5 }, 'da');
      [y, r.s, r.p, a.grad!, b.grad!].forEach((t) => t.dispose());
      a.grad = b.grad = null;
      check(engine.memory().liveBytes === base, `after backward ${engine.memory().liveBytes - base} bytes live`);
      // A dropped graph: the node (and what it saved) lives while any of its outputs does.
      const r2 = tidy(() => sumProd(ops.mul(a, 2), b));
      r2.s.dispose();
      const held = engine.memory().liveBytes;
      check(held > base, 'the live output should keep the node');
      r2.p.dispose();
      check(engine.memory().liveBytes === base, `after dropping both outputs ${engine.memory().liveBytes - base} bytes live`);
      expectThrows(() => {
        const r3 = sumProd(a, b);
        r3.p.backward(engine.ones([3, 4]));
        r3.s.backward(engine.ones([3, 4]));
      }, 'sumProd', 'second time');
      [a, b].forEach((t) => {
        t.grad?.dispose();
        t.dispose();
      });
    },
  },
  {
    name: 'tidy disposes intermediates and keeps what it returns',
    async run(engine) {
      const x = engine.tensor([1, -2, 3], [3]);
      const before = engine.memory().liveBytes;
      const { y } = tidy(() => {
        const a = ops.relu(x);
        const b = ops.mul(a, 2);
        return { y: ops.add(b, 1) };
      });
      check(engine.memory().liveBytes - before === 256, `tidy left ${engine.memory().liveBytes - before} bytes (one 256-byte result expected)`);
      expectClose(await y.read(), [3, 1, 7], { abs: 0, rel: 0 }, 'tidy result');
      [x, y].forEach((t) => t.dispose());
      expectThrows(() => tidy(() => Promise.resolve(1) as unknown as number), 'tidy', 'synchronous');
    },
  },
];

export const autogradSuite: Suite = { name: 'autograd', cases };
