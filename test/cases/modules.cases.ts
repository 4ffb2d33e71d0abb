/** Modules: registration, state dicts in PyTorch names, seeded initialisation, training a small network. */
import { HostTensor } from '../../src/graph/host.js';
import { noGrad } from '../../src/graph/autograd.js';
import { tidy } from '../../src/graph/scope.js';
import type { Tensor } from '../../src/graph/tensor.js';
import { matmul } from '../../src/kernels/matmul.js';
import * as ops from '../../src/kernels/ops.js';
import { Flatten, Linear, ReLU, Sequential, Sigmoid, Tanh } from '../../src/models/layers/basic.js';
import { Conv2d } from '../../src/models/layers/conv.js';
import { AdaptiveAvgPool2d } from '../../src/models/layers/pool.js';
import { Dropout, LayerNorm } from '../../src/models/layers/norm.js';
import { conv2d } from '../../src/kernels/conv.js';
import { Rng } from '../../src/models/random.js';
import { Adam } from '../../src/optim/adam.js';
import { autogradCheck, expectClose, randomHost } from '../helpers/compare.js';
import { expectThrows, type Case, type Suite } from './types.js';

function check(cond: boolean, message: string): void {
  if (!cond) throw new Error(message);
}

const cases: Case[] = [
  {
    name: 'matmul gradients for every transpose combination, batch broadcasting, bias and activations',
    async run(engine) {
      for (const transA of [false, true]) {
        for (const transB of [false, true]) {
          const a = randomHost(transA ? [2, 1, 5, 3] : [2, 1, 3, 5], 71);
          const b = randomHost(transB ? [3, 4, 5] : [3, 5, 4], 72);
          await autogradCheck(engine, `matmul transA=${transA} transB=${transB}`, (x, y) => matmul(x, y, { transA, transB }), [a, b]);
        }
      }
      for (const activation of ['relu', 'sigmoid', 'tanh'] as const) {
        await autogradCheck(engine, `matmul + bias + ${activation}`, (x, y, bias) => matmul(x, y, { bias, activation }), [randomHost([6, 7], 73), randomHost([7, 3], 74), randomHost([3], 75)]);
      }
    },
  },
  {
    name: 'Linear matches x·Wᵀ + b and its parameters get gradients',
    async run(engine) {
      const lin = new Linear(engine, 5, 3, { seed: 1 });
      check(lin.parameterCount() === 5 * 3 + 3, `parameter count ${lin.parameterCount()}`);
      const x = randomHost([2, 4, 5], 76);
      const xt = engine.tensor(x.data, x.shape);
      const y = noGrad(() => lin.forward(xt));
      const w = new HostTensor(lin.weight.shape, await lin.weight.read());
      const b = new HostTensor(lin.bias!.shape, await lin.bias!.read());
      const expected = new Float32Array(2 * 4 * 3);
      for (let r = 0; r < 8; r++) for (let o = 0; o < 3; o++) {
        let s = b.data[o]!;
        for (let i = 0; i < 5; i++) s += x.data[r * 5 + i]! * w.data[o * 5 + i]!;
        expected[r * 3 + o] = s;
      }
      check(y.shape.join() === '2,4,3', `output shape ${y.shape}`);
      expectClose(await y.read(), expected, { abs: 1e-5, rel: 1e-5 }, 'Linear forward');
      const loss = ops.sum(lin.forward(xt));
      loss.backward();
      check(lin.weight.grad !== null && lin.bias!.grad !== null, 'no gradient reached the parameters');
      expectClose(await lin.bias!.grad!.read(), [8, 8, 8], { abs: 1e-5, rel: 0 }, 'bias gradient of a sum over 8 rows');
      [xt, y, loss].forEach((t) => t.dispose());
      lin.dispose();
    },
  },
  {
    name: 'seeded initialisation follows PyTorch bounds and is reproducible',
    async run(engine) {
      const a = new Linear(engine, 100, 20, { seed: 7 });
      const b = new Linear(engine, 100, 20, { seed: 7 });
      const c = new Linear(engine, 100, 20, { seed: 8 });
      const wa = await a.weight.read();
      const wb = await b.weight.read();
      const wc = await c.weight.read();
      check(wa.every((v, i) => v === wb[i]), 'the same seed gave different weights');
      check(wa.some((v, i) => v !== wc[i]), 'different seeds gave the same weights');
      const bound = 1 / Math.sqrt(100);
      check(wa.every((v) => Math.abs(v) <= bound), 'a weight is outside U(±1/√fan_in)');
      check(Math.max(...wa) > 0.8 * bound && Math.min(...wa) < -0.8 * bound, 'weights do not span the bound');
      // The generator itself is pinned, so Node and browsers agree bit for bit.
      const r = new Rng(42);
      const first = [r.next(), r.next(), r.next()].map((v) => v.toFixed(8)).join(',');
      check(first === '0.60110375,0.44829056,0.85246579', `Rng(42) drifted: ${first}`);
      [a, b, c].forEach((m) => m.dispose());
    },
  },
  {
    name: 'state dicts use PyTorch names; loading checks every name, shape and dtype at once',
    async run(engine) {
      const net = new Sequential(engine, new Linear(engine, 4, 8, { seed: 1 }), new ReLU(engine), new Linear(engine, 8, 2, { seed: 2 }));
      const names = net.stateEntries().map((e) => `${e.name}:${e.shape.join('x')}`);
      check(names.join(' ') === '0.weight:8x4 0.bias:8 2.weight:2x8 2.bias:2', `names ${names.join(' ')}`);
      const state = net.stateDict();
      const other = new Sequential(engine, new Linear(engine, 4, 8, { seed: 3 }), new ReLU(engine), new Linear(engine, 8, 2, { seed: 4 }));
      other.loadStateDict(state);
      for (const [[n, p], [, q]] of net.namedParameters().map((e, i) => [e, other.namedParameters()[i]!] as const)) {
        const [pv, qv] = [await p.read(), await q.read()];
        check(pv.every((v, i) => v === qv[i]), `${n} differs after loading`);
      }
      const wrong = new Map(state);
      wrong.delete('0.bias');
      wrong.set('2.weight', engine.zeros([8, 2]));
      wrong.set('3.weight', engine.zeros([1]));
      expectThrows(() => other.loadStateDict(wrong), 'loadStateDict', '3 mismatch', 'missing 0.bias', '2.weight: shape [8, 2], expected [2, 8]', 'unexpected 3.weight');
      wrong.forEach((t) => t.dispose());
      state.forEach((t) => t.dispose());
      [net, other].forEach((m) => m.dispose());
    },
  },
  {
    name: 'Conv2d exchanges PyTorch O×I×kH×kW weights and matches the convolution reference',
    async run(engine) {
      const conv = new Conv2d(engine, 6, 4, [3, 2], { stride: 2, padding: 1, groups: 2, seed: 3 });
      check(conv.stateEntries().map((e) => `${e.name}:${e.shape.join('x')}`).join(' ') === 'weight:4x3x3x2 bias:4', 'state entries');
      check(conv.weight.shape.join() === '3,2,3,4', `internal HWIO weight ${conv.weight.shape}`);
      const state = conv.stateDict();
      const torchW = new HostTensor([4, 3, 3, 2], await state.get('weight')!.read());
      const bias = new HostTensor([4], await state.get('bias')!.read());
      // The torch layout is what PyTorch would hold: element [o, i, y, x] equals HWIO [y, x, i, o].
      const hwio = new HostTensor(conv.weight.shape, await conv.weight.read());
      check(torchW.at(3, 2, 1, 0) === hwio.at(1, 0, 2, 3) && torchW.at(1, 0, 2, 1) === hwio.at(2, 1, 0, 1), 'OIHW ↔ HWIO mapping');
      const x = randomHost([2, 7, 5, 6], 81);
      const xt = engine.tensor(x.data, x.shape);
      const y = noGrad(() => conv.forward(xt));
      const expected = conv2d.cpu(x, hwio, { stride: 2, padding: 1, groups: 2, bias });
      expectClose(await y.read(), expected.data, { abs: 1e-5, rel: 1e-4 }, 'Conv2d forward');
      // A kernel size of any length but 2 is refused (not read as its first two entries).
      expectThrows(() => new Conv2d(engine, 6, 4, [3, 3, 3] as unknown as [number, number]), 'Conv2d', 'kernelSize must be a positive integer or [h, w]', '[3,3,3]');
      expectThrows(() => new Conv2d(engine, 6, 4, 0), 'Conv2d', 'kernelSize');
      // AdaptiveAvgPool2d(1) is the keepdim global mean; an output size of another length is refused, not read as (1, 1).
      const xs = engine.tensor(randomHost([2, 3, 5, 4], 90).data, [2, 3, 5, 4]);
      const g = new AdaptiveAvgPool2d(engine, 1).forward(xs);
      check(g.shape.join() === '2,1,1,4', `AdaptiveAvgPool2d(1) shape [${g.shape}]`);
      expectClose(await g.read(), ops.globalAvgPool2d.cpu(randomHost([2, 3, 5, 4], 90)).data, { abs: 1e-6, rel: 1e-5 }, 'AdaptiveAvgPool2d(1)');
      expectThrows(() => new AdaptiveAvgPool2d(engine, [1, 1, 1] as unknown as [number, number]).forward(xs), 'adaptiveAvgPool2d', 'output size must be a number or [h, w]');
      [xs, g].forEach((t) => t.dispose());
      const other = new Conv2d(engine, 6, 4, [3, 2], { stride: 2, padding: 1, groups: 2, seed: 99 });
      other.loadStateDict(state);
      const w2 = await other.weight.read();
      check((await conv.weight.read()).every((v, i) => v === w2[i]), 'weights differ after a state-dict round trip');
      state.forEach((t) => t.dispose());
      [xt, y].forEach((t) => t.dispose());
      [conv, other].forEach((m) => m.dispose());
    },
  },
  {
    name: 'LayerNorm and Dropout layers: parameters, train/eval behaviour',
    async run(engine) {
      const ln = new LayerNorm(engine, 5);
      check(ln.stateEntries().map((e) => e.name).join() === 'weight,bias', 'LayerNorm state names');
      const ln2 = new LayerNorm(engine, [3, 5], { eps: 1e-3 });
      check(ln2.stateEntries().map((e) => `${e.name}[${e.shape}]`).join() === 'weight[3,5],bias[3,5]' && ln2.eps === 1e-3, 'LayerNorm([3, 5]) state');
      const plain = new LayerNorm(engine, 5, { elementwiseAffine: false });
      check(plain.stateEntries().length === 0 && !plain.weight, 'LayerNorm elementwiseAffine=false has no state');
      [ln2, plain].forEach((m) => m.dispose());
      const x = engine.tensor(randomHost([3, 5], 82).data, [3, 5]);
      const y = await noGrad(() => ln.forward(x)).read();
      for (let r = 0; r < 3; r++) {
        const row = Array.from(y.slice(r * 5, r * 5 + 5));
        const mean = row.reduce((a, b) => a + b, 0) / 5;
        check(Math.abs(mean) < 1e-5, `row ${r} mean ${mean}`);
      }
      const drop = new Dropout(engine, 0.5, 7);
      const ones = engine.ones([1000]);
      const a = await drop.forward(ones).read();
      const b = await drop.forward(ones).read();
      const kept = a.filter((v) => v !== 0);
      check(kept.every((v) => v === 2) && kept.length > 400 && kept.length < 600, `dropout kept ${kept.length} of 1000`);
      check(a.some((v, i) => v !== b[i]), 'two training calls used the same mask');
      drop.eval();
      check((await drop.forward(ones).read()).every((v) => v === 1), 'dropout is not the identity in eval mode');
      [x, ones].forEach((t) => t.dispose());
      ln.dispose();
    },
  },
  {
    name: 'train/eval propagate to sub-modules',
    async run(engine) {
      const inner = new Sequential(engine, new Sigmoid(engine), new Tanh(engine));
      const net = new Sequential(engine, new Flatten(engine), inner);
      net.eval();
      check(!net.training && !inner.training && !inner.layers[0]!.training, 'eval did not reach every module');
      net.train();
      check(inner.layers[1]!.training, 'train did not reach every module');
    },
  },
  {
    name: 'a small MLP learns a toy task (two interleaved spirals) with Adam',
    async run(engine) {
      // 2 classes × 60 points; labels as ±1 targets with a tanh output and a squared loss.
      const n = 120;
      const xs = new Float32Array(n * 2);
      const ys = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        const cls = i % 2;
        const t = (Math.floor(i / 2) / (n / 2)) * 1.5 * Math.PI;
        const r = 0.2 + t / (1.5 * Math.PI);
        xs[2 * i] = r * Math.cos(t + cls * Math.PI);
        xs[2 * i + 1] = r * Math.sin(t + cls * Math.PI);
        ys[i] = cls ? 1 : -1;
      }
      const x = engine.tensor(xs, [n, 2]);
      const y = engine.tensor(ys, [n, 1]);
      const net = new Sequential(engine, new Linear(engine, 2, 32, { seed: 11, activation: 'tanh' }), new Linear(engine, 32, 32, { seed: 12, activation: 'tanh' }), new Linear(engine, 32, 1, { seed: 13, activation: 'tanh' }));
      const opt = new Adam(net.parameters(), { lr: 0.02 });
      const step = (): Tensor =>
        tidy(() => {
          opt.zeroGrad();
          const d = ops.sub(net.forward(x), y);
          const loss = ops.mean(ops.mul(d, d));
          loss.backward();
          opt.step();
          return loss;
        });
      const first = step();
      const initialLoss = (await first.read())[0]!;
      first.dispose();
      let last = 0;
      for (let i = 0; i < 300; i++) {
        const l = step();
        if (i % 100 === 99) last = (await l.read())[0]!;
        l.dispose();
      }
      const pred = noGrad(() => net.forward(x));
      const p = await pred.read();
      let correct = 0;
      for (let i = 0; i < n; i++) if (Math.sign(p[i]!) === ys[i]) correct++;
      check(last < initialLoss * 0.5, `loss ${initialLoss.toFixed(3)} → ${last.toFixed(3)} did not halve`);
      check(correct / n >= 0.9, `accuracy ${(correct / n).toFixed(2)} below 0.9 (loss ${last.toFixed(3)})`);
      [x, y, pred].forEach((t) => t.dispose());
      opt.dispose();
      net.dispose();
    },
  },
];

export const modulesSuite: Suite = { name: 'modules', cases };
