/**
 * Whole-network training checks: gradients of a small CNN (conv, batch norm, pooling, sigmoid attention, linear,
 * cross-entropy) against finite differences; determinism of a training run; GPU memory flat over many steps.
 */
import type { Engine } from '../../src/device/engine.js';
import { noGrad } from '../../src/graph/autograd.js';
import { tidy } from '../../src/graph/scope.js';
import type { Tensor } from '../../src/graph/tensor.js';
import { batchNorm2d } from '../../src/kernels/batchnorm.js';
import { conv2d } from '../../src/kernels/conv.js';
import { relu } from '../../src/kernels/elementwise.js';
import { sigmoidGate } from '../../src/kernels/gate.js';
import { matmul } from '../../src/kernels/matmul.js';
import { globalAvgPool2d, maxPool2d } from '../../src/kernels/pool.js';
import { softmaxCrossEntropy } from '../../src/kernels/softmax.js';
import { loadModule, saveModule } from '../../src/models/checkpoint.js';
import { Layer, Linear } from '../../src/models/layers/basic.js';
import { BatchNorm2d } from '../../src/models/layers/batchnorm.js';
import { Conv2d } from '../../src/models/layers/conv.js';
import { MaxPool2d } from '../../src/models/layers/pool.js';
import { attentionPenalty, l2Penalty } from '../../src/models/losses.js';
import { Adam } from '../../src/optim/adam.js';
import { autogradCheck, expectClose, randomHost } from '../helpers/compare.js';
import { expectThrows, type Case, type Suite } from './types.js';

function check(cond: boolean, message: string): void {
  if (!cond) throw new Error(message);
}

const LABELS = [0, 2, 1];

/** conv → BN → ReLU → max-pool → channel attention (sigmoid gate from pooled features) → pool → linear → CE. */
function functionalCnn(x: Tensor, w: Tensor, gamma: Tensor, beta: Tensor, wa: Tensor, wl: Tensor, bl: Tensor): Tensor {
  const h = relu(batchNorm2d(conv2d(x, w, { padding: 1 }), gamma, beta, undefined, undefined, { training: true }));
  const p = maxPool2d(h, { kernel: 2 });
  const pooled = globalAvgPool2d(p); // [N, C]
  const gate = matmul(pooled, wa).reshape([x.shape[0]!, 1, 1, wa.shape[1]!]);
  const attended = sigmoidGate(p, gate);
  const logits = matmul(globalAvgPool2d(attended), wl, { bias: bl });
  return softmaxCrossEntropy(logits, LABELS);
}

class SmallCnn extends Layer {
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly pool: MaxPool2d;
  readonly gate: Linear;
  readonly fc: Linear;

  constructor(engine: Engine, seed: number) {
    super(engine);
    this.conv1 = this.addModule('conv1', new Conv2d(engine, 3, 6, 3, { padding: 1, bias: false, seed }));
    this.bn1 = this.addModule('bn1', new BatchNorm2d(engine, 6, { relu: true }));
    this.pool = this.addModule('pool', new MaxPool2d(engine, { kernel: 2 }));
    this.gate = this.addModule('gate', new Linear(engine, 6, 6, { seed: seed + 1 }));
    this.fc = this.addModule('fc', new Linear(engine, 6, 3, { seed: seed + 2 }));
  }

  forward(x: Tensor): Tensor {
    const p = this.pool.forward(this.bn1.forward(this.conv1.forward(x)));
    const g = this.gate.forward(globalAvgPool2d(p)).reshape([x.shape[0]!, 1, 1, 6]);
    return this.fc.forward(globalAvgPool2d(sigmoidGate(p, g)));
  }
}

/** Runs `steps` Adam steps on fixed data; returns the losses read back after each step. */
async function trainLosses(engine: Engine, seed: number, steps: number): Promise<number[]> {
  const net = new SmallCnn(engine, seed);
  const opt = new Adam(net.parameters(), { lr: 0.01 });
  const x = engine.tensor(randomHost([3, 6, 6, 3], 101).data, [3, 6, 6, 3]);
  const losses: number[] = [];
  for (let i = 0; i < steps; i++) {
    const loss = tidy(() => {
      opt.zeroGrad();
      const l = softmaxCrossEntropy(net.forward(x), LABELS);
      l.backward();
      opt.step();
      return l;
    });
    losses.push((await loss.read())[0]!);
    loss.dispose();
  }
  x.dispose();
  opt.dispose();
  net.dispose();
  return losses;
}

const cases: Case[] = [
  {
    name: 'whole-network gradients of a small CNN match finite differences',
    async run(engine) {
      await autogradCheck(
        engine,
        'small CNN',
        (x, w, gamma, beta, wa, wl, bl) => tidy(() => functionalCnn(x, w, gamma, beta, wa, wl, bl)),
        [
          randomHost([3, 6, 6, 3], 91),
          randomHost([3, 3, 3, 5], 92, -0.5, 0.5),
          randomHost([5], 93, 0.5, 1.5),
          randomHost([5], 94, -0.2, 0.2),
          randomHost([5, 5], 95),
          randomHost([5, 3], 96),
          randomHost([3], 97),
        ],
        { eps: 1e-3, tol: { abs: 2e-3, rel: 3e-2 }, probes: 10 },
      );
    },
  },
  {
    name: 'training is deterministic: the same seed gives the same loss curve bit for bit',
    async run(engine) {
      const a = await trainLosses(engine, 5, 6);
      const b = await trainLosses(engine, 5, 6);
      check(a.every((v, i) => Object.is(v, b[i])), `loss curves differ: ${a.join(', ')} vs ${b.join(', ')}`);
      check(a[a.length - 1]! < a[0]!, `loss did not fall: ${a.join(', ')}`);
      const c = await trainLosses(engine, 6, 2);
      check(c[0] !== a[0], 'another seed gave the same first loss');
    },
  },
  {
    name: 'GPU memory stays flat over 200 training steps',
    async run(engine) {
      const net = new SmallCnn(engine, 3);
      const opt = new Adam(net.parameters(), { lr: 0.01 });
      const x = engine.tensor(randomHost([2, 4, 4, 3], 102).data, [2, 4, 4, 3]);
      const step = () =>
        tidy(() => {
          opt.zeroGrad();
          const l = softmaxCrossEntropy(net.forward(x), [1, 2]);
          l.backward();
          opt.step();
          return l;
        });
      for (let i = 0; i < 5; i++) step().dispose();
      await engine.sync();
      const before = engine.memory();
      for (let i = 0; i < 200; i++) {
        const l = step();
        if (i % 50 === 49) await l.read(); // read the loss now and then, as a training loop would
        l.dispose();
      }
      await engine.sync();
      const after = engine.memory();
      check(after.liveBytes === before.liveBytes, `live bytes ${before.liveBytes} → ${after.liveBytes} over 200 steps`);
      check(after.created === before.created, `${after.created - before.created} buffers created in the steady state`);
      x.dispose();
      opt.dispose();
      net.dispose();
    },
  },
  {
    name: 'module checkpoints round-trip through safetensors; a wrong configuration names every mismatch',
    async run(engine) {
      const net = new SmallCnn(engine, 1);
      const x = engine.tensor(randomHost([2, 6, 6, 3], 103).data, [2, 6, 6, 3]);
      // One training-mode forward moves the running statistics, so buffers are checked too.
      noGrad(() => net.forward(x)).dispose();
      const bytes = await saveModule(net, { note: 'test' });
      const copy = new SmallCnn(engine, 9);
      loadModule(copy, bytes);
      const [a, b] = [net.stateDict(), copy.stateDict()];
      for (const [name, t] of a) {
        const [tv, uv] = [await t.read(), await b.get(name)!.read()];
        check(tv.every((v, i) => Object.is(v, uv[i])), `${name} differs after save → load`);
      }
      [...a.values(), ...b.values()].forEach((t) => t.dispose());
      const other = new Linear(engine, 6, 3);
      expectThrows(() => loadModule(other, bytes), 'unexpected', 'conv1.weight');
      [x].forEach((t) => t.dispose());
      [net, copy, other].forEach((m) => m.dispose());
    },
  },
  {
    name: 'attention penalty ‖AAᵀ − I‖²_F and L2 penalty: values and gradients',
    async run(engine) {
      const a = randomHost([2, 3, 5], 104, 0, 1);
      let expected = 0;
      for (let n = 0; n < 2; n++) for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) {
        let dot = 0;
        for (let l = 0; l < 5; l++) dot += a.data[n * 15 + i * 5 + l]! * a.data[n * 15 + j * 5 + l]!;
        expected += (dot - (i === j ? 1 : 0)) ** 2;
      }
      const at = engine.tensor(a.data, a.shape);
      expectClose(await attentionPenalty(at, 0.5).read(), [0.5 * expected], { abs: 1e-5, rel: 1e-5 }, 'attention penalty');
      await autogradCheck(engine, 'attention penalty', (t) => attentionPenalty(t, 1), [a]);
      await autogradCheck(engine, 'l2 penalty', (p, q) => l2Penalty([p, q], 1e-3), [randomHost([4, 3], 105), randomHost([5], 106)]);
      at.dispose();
    },
  },
];

export const trainingSuite: Suite = { name: 'training', cases };
