/** Recorded replay (src/kernels/recording.ts): a replay equals a fresh call, owns its buffers, and refuses misuse. */
import type { Engine } from '../../src/device/engine.js';
import { ShapeError } from '../../src/device/errors.js';
import { noGrad } from '../../src/graph/autograd.js';
import { Tensor } from '../../src/graph/tensor.js';
import { add, conv2d, matmul, mul, relu, softmax, sum } from '../../src/kernels/ops.js';
import { DeepEmotion } from '../../src/models/m4-deep-emotion.js';
import { expectClose, randomHost } from '../helpers/compare.js';
import { expectThrows, type Case, type Suite } from './types.js';

function check(cond: boolean, message: string): void {
  if (!cond) throw new Error(message);
}

const TOL = { abs: 1e-6, rel: 1e-6 };

/** A small graph touching staged textures (matmul, conv), uniforms of several sizes and a reduction. */
function graph(x: Tensor, img: Tensor, w: Tensor, k: Tensor): { y: Tensor; total: Tensor; c: Tensor } {
  const y = softmax(relu(matmul(x, w)), -1);
  const c = relu(conv2d(img, k, { padding: 1 }));
  return { y, total: sum(mul(y, y)), c };
}

const cases: Case[] = [
  {
    name: 'replays equal fresh calls on new data (odd shapes, batch 3), outputs overwritten in place',
    async run(engine) {
      const w = engine.tensor(randomHost([7, 5], 1).data, [7, 5]);
      const k = engine.tensor(randomHost([3, 3, 3, 4], 2).data, [3, 3, 3, 4]);
      const rec = engine.record([[3, 9, 7], [3, 5, 7, 3]], (x, img) => graph(x, img, w, k), 'test graph');
      check(rec.commands > 4, `only ${rec.commands} commands captured`);
      for (let seed = 10; seed < 13; seed++) {
        const xd = randomHost([3, 9, 7], seed).data;
        const id = randomHost([3, 5, 7, 3], seed + 100).data;
        const out = rec.run(xd, id);
        check(out === rec.outputs, 'run returns the recording outputs');
        const x = engine.tensor(xd, [3, 9, 7]);
        const img = engine.tensor(id, [3, 5, 7, 3]);
        const fresh = graph(x, img, w, k);
        for (const key of ['y', 'total', 'c'] as const) expectClose(await out[key].read(), await fresh[key].read(), TOL, `replay ${key}, seed ${seed}`);
        for (const t of [x, img, fresh.y, fresh.total, fresh.c]) t.dispose();
      }
      rec.dispose();
      w.dispose();
      k.dispose();
    },
  },
  {
    name: 'a replay never writes buffers other work holds; constants made inside survive other work',
    async run(engine) {
      const base = engine.memory().liveBytes;
      const rec = engine.record([[4, 6]], (x) => relu(add(mul(x, engine.tensor([2, -1, 0.5, 3, 1, -2], [6])), engine.tensor([1, 1, 1, -1, -1, -1], [6]))), 'constants');
      // Work after the recording takes pooled buffers of the same sizes and leaves them holding values.
      const held: Tensor[] = [];
      for (let i = 0; i < 6; i++) {
        const filled = engine.tensor(new Float32Array(24).fill(i + 1), [4, 6]);
        held.push(relu(filled));
        filled.dispose();
      }
      const xd = Float32Array.from({ length: 24 }, (_, i) => i - 11.5);
      const out = await rec.run(xd).read();
      const want = Array.from(xd, (v, i) => Math.max(0, v * [2, -1, 0.5, 3, 1, -2][i % 6]! + [1, 1, 1, -1, -1, -1][i % 6]!));
      expectClose(out, want, TOL, 'replay after other work');
      for (let i = 0; i < held.length; i++) check((await held[i]!.read()).every((v) => v === i + 1), `tensor ${i} made after the recording was overwritten`);
      held.forEach((t) => t.dispose());
      rec.dispose();
      check(engine.memory().liveBytes === base, `after dispose ${engine.memory().liveBytes - base} bytes still live`);
    },
  },
  {
    name: 'misuse is refused: host writes to outside tensors, nested recordings, wrong inputs, a disposed recording',
    async run(engine) {
      const outside = engine.tensor([1, 2, 3], [3]);
      expectThrows(() => engine.record([[3]], (x) => {
        engine.write(outside, [4, 5, 6]);
        return add(x, outside);
      }), 'record', 'would not be replayed');
      expectThrows(() => engine.record([[3]], (x) => engine.record([[3]], (y) => add(x, y)).outputs), 'record', 'do not nest');
      const rec = engine.record([[3]], (x) => add(x, outside));
      expectThrows(() => rec.run([1, 2, 3], [4]), 'record', 'takes 1 inputs');
      expectThrows(() => rec.run([1, 2]), 'write');
      expectThrows(() => rec.run(engine.zeros([4])), 'record', 'input 0');
      const first = rec.run(engine.tensor([10, 20, 30]));
      check(Array.from(await first.read()).join() === '11,22,33', 'a tensor input is copied in');
      rec.dispose();
      let err: unknown;
      try {
        rec.run([1, 2, 3]);
      } catch (e) {
        err = e;
      }
      check(err instanceof ShapeError && (err as Error).message.includes('disposed'), `run after dispose: ${String(err)}`);
      // A failed recording leaves the runtime able to record again.
      const again = engine.record([[3]], (x) => relu(x));
      check(Array.from(await again.run([-1, 0, 2]).read()).join() === '0,0,2', 'a recording after refused ones works');
      again.dispose();
      outside.dispose();
    },
  },
  {
    name: 'M4 (Deep-Emotion, spatial transformer) in eval mode: the replayed forward equals the forward, batch 2',
    async run(engine: Engine) {
      const model = new DeepEmotion(engine, { inputSize: [30, 30], width: 0.5, hidden: 12, locHidden: 8, classes: 5, seed: 3 });
      model.eval();
      const rec = engine.record([[2, 30, 30, 1]], (x) => model.forward(x).logits, 'M4 eval');
      for (let seed = 1; seed <= 2; seed++) {
        const xd = randomHost([2, 30, 30, 1], seed, 0, 1).data;
        const x = engine.tensor(xd, [2, 30, 30, 1]);
        const direct = noGrad(() => model.forward(x));
        expectClose(await rec.run(xd).read(), await direct.logits.read(), TOL, `M4 logits, seed ${seed}`);
        x.dispose();
        for (const v of Object.values(direct)) if (v instanceof Tensor) v.dispose();
      }
      rec.dispose();
      model.dispose();
    },
  },
];

export const recordingSuite: Suite = { name: 'recording', cases };
