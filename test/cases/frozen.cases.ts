/**
 * Frozen tensors (engine.freeze): convolution weights packed once and kept with the tensor give the reference
 * result with one dispatch less per call, on every conv variant; frozen values refuse writes, copies and
 * optimisers; the kept forms go when the tensor is disposed.
 */
import { noGrad } from '../../src/graph/autograd.js';
import { keep, tidy } from '../../src/graph/scope.js';
import type { Tensor } from '../../src/graph/tensor.js';
import { conv2dKernel } from '../../src/kernels/conv-gpu.js';
import { conv2d } from '../../src/kernels/conv.js';
import { matmul, matmulKernel } from '../../src/kernels/matmul.js';
import { gpuObjects } from '../../src/kernels/objects.js';
import { Adam } from '../../src/optim/adam.js';
import { RECIPES } from '../../src/train/recipes.js';
import type { ForwardModel } from '../../src/train/trainer.js';
import { expectClose, randomHost, toGpu, type Tolerance } from '../helpers/compare.js';
import { dispatchesOf, eachVariant, expectThrows, type Case, type Suite } from './types.js';

const TOL: Tolerance = { abs: 2e-4, rel: 2e-4 };

function check(cond: boolean, message: string): void {
  if (!cond) throw new Error(message);
}

const cases: Case[] = [
  {
    name: 'conv2d with frozen weights: packed once, same result as the reference on every variant, one dispatch less',
    async run(engine) {
      const shapes = [
        { x: [2, 7, 5, 6], w: [3, 3, 6, 10], o: { padding: 1, stride: 2 } },
        { x: [1, 5, 6, 36], w: [3, 3, 18, 34], o: { padding: 1, groups: 2 } },
        { x: [3, 4, 3, 5], w: [1, 1, 5, 7], o: {} },
      ];
      for (const [i, s] of shapes.entries()) {
        const xh = randomHost(s.x, 10 + i);
        const wh = randomHost(s.w, 20 + i);
        const want = conv2d.cpu(xh, wh, s.o).data;
        const x = toGpu(engine, xh);
        const w = engine.freeze(toGpu(engine, wh));
        const plain = toGpu(engine, wh);
        await eachVariant(engine, conv2dKernel, async (v) => {
          let y1 = conv2d(x, plain, s.o);
          const unfrozen = dispatchesOf(engine, () => (y1 = conv2d(x, plain, s.o)));
          let y2 = conv2d(x, w, s.o); // packs and keeps
          const frozen = dispatchesOf(engine, () => (y2 = conv2d(x, w, s.o)));
          check(frozen === unfrozen - 1, `${frozen} dispatches with frozen weights, ${unfrozen} without`);
          expectClose(await y2.read(), want, TOL, `[${v}] frozen conv ${s.x} * ${s.w}`);
          expectClose(await y1.read(), want, TOL, `[${v}] plain conv ${s.x} * ${s.w}`);
          y1.dispose();
          y2.dispose();
        });
        const before = gpuObjects(engine).textures;
        const live = engine.memory().liveBytes;
        w.dispose();
        await engine.sync();
        check(engine.memory().liveBytes < live, 'disposing a frozen weight frees its buffer');
        check(gpuObjects(engine).textures <= before, 'no texture is created by disposing');
        for (const t of [x, plain]) t.dispose();
      }
    },
  },
  {
    name: 'matmul with a frozen B: staged once, same result on every variant (texture variants: one dispatch less)',
    async run(engine) {
      for (const s of [{ a: [5, 9], b: [7, 9], transB: true }, { a: [3, 33, 17], b: [17, 65], transB: false }]) {
        const ah = randomHost(s.a, 1);
        const bh = randomHost(s.b, 2);
        const want = matmul.cpu(ah, bh, { transB: s.transB }).data;
        const a = toGpu(engine, ah);
        const b = engine.freeze(toGpu(engine, bh));
        const plain = toGpu(engine, bh);
        await eachVariant(engine, matmulKernel, async (v) => {
          const count = (bb: typeof b): number => dispatchesOf(engine, () => matmul(a, bb, { transB: s.transB }).dispose());
          count(b);
          const frozen = count(b);
          const unfrozen = count(plain);
          check(frozen === unfrozen - (v.startsWith('texture') ? 1 : 0), `${frozen} dispatches with a frozen B, ${unfrozen} without`);
          expectClose(await matmul(a, b, { transB: s.transB }).read(), want, TOL, `[${v}] frozen matmul ${s.a} x ${s.b}`);
        });
        for (const t of [a, b, plain]) t.dispose();
      }
    },
  },
  {
    name: 'frozen tensors refuse writes, copies and optimisers; views share the freeze',
    async run(engine) {
      const t = engine.freeze(engine.tensor([1, 2, 3, 4], [2, 2]));
      const view = t.reshape([4]);
      check(engine.isFrozen(view), 'a view of a frozen tensor is frozen');
      expectThrows(() => engine.write(t, [0, 0, 0, 0]), 'write', 'frozen');
      expectThrows(() => engine.copy(engine.zeros([4]), view), 'copy', 'frozen');
      const p = engine.freeze(engine.zeros([3]).setRequiresGrad(true));
      expectThrows(() => new Adam([p], { lr: 0.1 }), 'Adam', 'frozen');
      check(Array.from(await t.read()).join() === '1,2,3,4', 'values intact');
      view.dispose();
      t.dispose();
      p.dispose();
      // A buffer recycled from a frozen tensor is an ordinary one again.
      const fresh = engine.tensor([5, 6, 7, 8], [2, 2]);
      engine.write(fresh, [1, 1, 1, 1]);
      check(!engine.isFrozen(fresh), 'recycled buffer is not frozen');
      fresh.dispose();
    },
  },
  {
    name: 'frozen M1 and M3: batch norm folded into the convolutions (and M1\'s residual + ReLU into conv2), logits within 1e-5',
    async run(engine) {
      for (const name of ['m1', 'm3'] as const) {
        const recipe = RECIPES[name];
        const model = (recipe.create(engine, { ...recipe.options('small', 7), seed: 5 }) as ForwardModel).eval();
        // Running statistics and affine parameters away from their initial 0/1, so that the fold does something.
        let seed = 100;
        const norms = new Set(model.namedBuffers().filter(([k]) => k.endsWith('.running_mean')).map(([k]) => k.slice(0, -'running_mean'.length)));
        for (const [key, t] of [...model.namedParameters(), ...model.namedBuffers()]) {
          if (!norms.has(key.slice(0, key.lastIndexOf('.') + 1)) || key.endsWith('num_batches_tracked')) continue;
          const h = randomHost(t.shape, seed++, key.endsWith('running_var') ? 0.5 : -0.5, key.endsWith('running_var') ? 2 : 0.5);
          engine.write(t, key.endsWith('weight') ? h.data.map((v) => 1 + v) : h.data);
        }
        check(seed - 100 >= 4 * 17, `${name}: only ${seed - 100} batch-norm tensors changed`);
        const spec = recipe.input('small');
        const shape = spec.frames === 1 ? [2, spec.size, spec.size, spec.channels] : [1, spec.frames, spec.size, spec.size, spec.channels];
        const x = toGpu(engine, randomHost(shape, 7));
        const forward = (): { logits: Tensor; dispatches: number } => {
          let logits!: Tensor;
          const dispatches = dispatchesOf(engine, () => (logits = noGrad(() => tidy(() => keep(model.forward(x).logits!)))));
          return { logits, dispatches };
        };
        const plain = forward();
        const want = await plain.logits.read();
        model.freeze();
        forward().logits.dispose(); // folds and packs
        const folded = forward();
        check(folded.dispatches < plain.dispatches - 20, `${name}: ${folded.dispatches} dispatches folded, ${plain.dispatches} unfolded`);
        expectClose(await folded.logits.read(), want, { abs: 1e-5, rel: 1e-5 }, `${name} folded logits`);
        for (const t of [plain.logits, folded.logits, x]) t.dispose();
        model.dispose();
      }
      await engine.sync();
    },
  },
];

export const frozenSuite: Suite = { name: 'frozen tensors', cases };
