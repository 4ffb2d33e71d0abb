import type { Engine } from '../../src/device/engine.js';
import { HostTensor } from '../../src/graph/host.js';
import { THREAD_VARIANT, WORKGROUP_VARIANT } from '../../src/kernels/lines.js';
import * as ops from '../../src/kernels/ops.js';
import { autogradCheck, checkOp, expectClose, gradCheck, randomHost, toGpu } from '../helpers/compare.js';
import { checkMultiOp, gpuHost, gpuHostMany } from '../helpers/multi-op.js';
import { expectThrows, type Case, type Suite } from './types.js';
import { ASoftmaxLinear } from '../../src/models/layers/asoftmax.js';

// exp/log allow a few ulp each, and a row sum of up to 1e5 terms accumulates f32 rounding.
const TOL = { abs: 1e-6, rel: 1e-4 };
// Log-softmax of logits ±1e4: values near 2e4 carry f32 rounding of ~1e-3 absolute.
const BIG_TOL = { abs: 4e-3, rel: 1e-5 };

/** Shapes × axes: scalar lines, vec4 along rows (len % 4 = 0), vec4 across lines (inner % 4 = 0), rows of length 1, a middle axis. */
const shapes: [number[], number][] = [
  [[3, 7, 5], -1],
  [[3, 7, 5], 1],
  [[3, 7, 5], 0],
  [[4, 8], 1],
  [[2, 6, 8], 1],
  [[5, 1], 1],
  [[1, 1], 0],
  [[70, 37], 1],
  [[3, 40, 24], 1],
  [[2, 36, 3, 5], 1],
];

function intLabels(n: number, classes: number, seed: number): HostTensor {
  const r = randomHost([n], seed, 0, classes);
  return HostTensor.from(Array.from(r.data, (v) => Math.min(classes - 1, Math.floor(v))), [n], 'i32');
}

/**
 * Runs `fn` once per variant, forcing it: shapes in the middle ground take the forced layout; the register
 * variant holds every line of ≤ 16 loaded units in registers.
 */
async function eachLayout(engine: Engine, fn: () => Promise<void>): Promise<void> {
  for (const v of [THREAD_VARIANT, ops.SOFTMAX_REGISTER_VARIANT, WORKGROUP_VARIANT]) {
    engine.variants.force('softmax', v);
    try {
      await fn();
    } catch (e) {
      throw new Error(`[variant ${v}] ${(e as Error).message}`);
    } finally {
      engine.variants.force('softmax', undefined);
    }
  }
}

const cases: Case[] = [
  {
    name: 'softmax and logSoftmax over every axis kind, every variant',
    async run(engine) {
      await eachLayout(engine, async () => {
        for (const [shape, axis] of shapes) {
          const x = randomHost(shape, shape.length * 13 + axis, -4, 4);
          await checkOp(engine, ops.softmax, [x, axis], TOL);
          await checkOp(engine, ops.logSoftmax, [x, axis], TOL);
        }
        // Logits of ±1e4 through every path.
        await checkOp(engine, ops.softmax, [randomHost([5, 12], 77, -1e4, 1e4), 1], TOL);
        await checkOp(engine, ops.logSoftmax, [randomHost([3, 10, 4], 78, -1e4, 1e4), 1], BIG_TOL);
      });
    },
  },
  {
    name: 'softmax is stable for logits of ±1e4 and rows of 1 to 100000',
    async run(engine) {
      const big = randomHost([6, 37], 3, -1e4, 1e4);
      await checkOp(engine, ops.softmax, [big, -1], TOL);
      await checkOp(engine, ops.logSoftmax, [big, -1], BIG_TOL);
      // A row where one logit dominates by 2e4: exactly one-hot, no NaN from exp overflow.
      const peak = HostTensor.from([1e4, -1e4, 0, 5e3, 1e4 - 30, -3], [1, 6]);
      const y = await gpuHost(engine, [peak], (t) => ops.softmax(t));
      expectClose(y.data, [1, 0, 0, 0, Math.exp(-30), 0], { abs: 1e-7, rel: 1e-4 }, 'softmax of a dominated row');
      await checkOp(engine, ops.softmax, [randomHost([2, 100000], 5, -30, 30), 1], TOL);
      await checkOp(engine, ops.logSoftmax, [randomHost([3, 4099], 6, -30, 30), 1], TOL);
      await checkOp(engine, ops.softmax, [randomHost([9, 1], 7, -1e4, 1e4), 1], TOL);
      await checkOp(engine, ops.softmax, [randomHost([3, 2000, 2], 8, -5, 5), 1], TOL);
    },
  },
  {
    name: 'softmaxBackward and logSoftmaxBackward match the CPU and finite differences',
    async run(engine) {
      await eachLayout(engine, async () => {
        for (const [shape, axis] of shapes) {
          const y = ops.softmax.cpu(randomHost(shape, 21, -3, 3), axis);
          const ly = ops.logSoftmax.cpu(randomHost(shape, 22, -3, 3), axis);
          const dy = randomHost(shape, 23);
          await checkOp(engine, ops.softmaxBackward, [dy, y, axis], TOL);
          await checkOp(engine, ops.logSoftmaxBackward, [dy, ly, axis], TOL);
        }
      });
      for (const [shape, axis] of [[[3, 7, 5], 1], [[4, 8], -1], [[2, 6, 8], 1], [[2, 300], 1]] as [number[], number][]) {
        for (const log of [false, true]) {
          const fwd = log ? ops.logSoftmax : ops.softmax;
          const bwd = log ? ops.logSoftmaxBackward : ops.softmaxBackward;
          await gradCheck({
            what: `${fwd.opName} ${JSON.stringify(shape)} axis ${axis}`,
            inputs: [randomHost(shape, 31, -2, 2)],
            forward: ([x]) => gpuHost(engine, [x!], (t) => fwd(t, axis)),
            backward: async ([x], dy) => {
              const y = fwd.cpu(x!, axis);
              return [await gpuHost(engine, [dy, y], (d, yy) => bwd(d, yy, axis))];
            },
          });
        }
      }
    },
  },
  {
    name: 'softmax and logSoftmax differentiate through autograd',
    async run(engine) {
      await autogradCheck(engine, 'softmax axis 1', (x) => ops.softmax(x, 1), [randomHost([2, 5, 3], 41)]);
      await autogradCheck(engine, 'logSoftmax', (x) => ops.logSoftmax(x), [randomHost([3, 9], 42)]);
    },
  },
  {
    name: 'softmaxCrossEntropy: loss, fused gradient and backward against the CPU',
    async run(engine) {
      for (const [n, k] of [[1, 1], [5, 7], [9, 8], [64, 7], [3, 1000], [300, 40]]) {
        const logits = randomHost([n, k], n * 7 + k, -6, 6);
        const labels = intLabels(n, k, n + k);
        await checkOp(engine, ops.softmaxCrossEntropy, [logits, labels], TOL);
        await checkMultiOp(engine, ops.softmaxCrossEntropyWithGrad, [logits, labels], TOL);
        await checkOp(engine, ops.softmaxCrossEntropyBackward, [HostTensor.from([0.7], [1]), logits, labels], TOL);
        // Host labels take the same path after a host-side check.
        await checkOp(engine, ops.softmaxCrossEntropy, [logits, Array.from(labels.data)], TOL);
      }
      const huge = randomHost([4, 9], 3, -1e4, 1e4);
      await checkMultiOp(engine, ops.softmaxCrossEntropyWithGrad, [huge, intLabels(4, 9, 1)], { loss: { abs: 1e-2, rel: 1e-5 }, dlogits: TOL });
    },
  },
  {
    name: 'softmaxCrossEntropy gradient passes the finite-difference and autograd checks',
    async run(engine) {
      const labels = intLabels(6, 5, 9);
      await gradCheck({
        what: 'softmaxCrossEntropy',
        inputs: [randomHost([6, 5], 51, -2, 2)],
        forward: ([x]) => gpuHost(engine, [x!, labels], (t, l) => ops.softmaxCrossEntropy(t, l)),
        backward: async ([x], dy) => [await gpuHost(engine, [dy, x!, labels], (d, t, l) => ops.softmaxCrossEntropyBackward(d, t, l))],
        eps: 1e-2,
      });
      await autogradCheck(engine, 'linear → softmaxCrossEntropy', (x, w) => ops.softmaxCrossEntropy(ops.mul(x, w), Array.from(labels.data)), [randomHost([6, 5], 52), randomHost([5], 53)]);
      const [loss, dl] = await gpuHostMany(engine, [randomHost([6, 5], 54), labels], (t, l) => ops.softmaxCrossEntropyWithGrad(t, l), ['loss', 'dlogits']);
      if (loss!.size !== 1) throw new Error('loss must be one element');
      // Each gradient row sums to zero: softmax sums to 1, the one-hot to 1.
      for (let r = 0; r < 6; r++) {
        let s = 0;
        for (let k = 0; k < 5; k++) s += dl!.data[r * 5 + k]!;
        expectClose([s], [0], { abs: 1e-6, rel: 0 }, `row ${r} gradient sum`);
      }
    },
  },
  {
    name: 'labels out of range: a host-side error, NaN from GPU labels; bad shapes and axes throw',
    async run(engine) {
      const logits = toGpu(engine, randomHost([3, 4], 1));
      try {
        expectThrows(() => ops.softmaxCrossEntropy(logits, [0, 4, 1]), 'softmaxCrossEntropy', 'label 4 at row 1', '[0, 4)');
        expectThrows(() => ops.softmaxCrossEntropy(logits, [0, -1, 1]), 'label -1 at row 1');
        expectThrows(() => ops.softmaxCrossEntropy(logits, [0, 1.5, 1]), 'label 1.5');
        expectThrows(() => ops.softmaxCrossEntropy(logits, [0, 1]), '2 labels for 3 rows');
        expectThrows(() => ops.checkLabels([1, 2, 7], 7), 'label 7 at row 2');
        const f32Labels = engine.tensor([0, 1, 2], [3]);
        expectThrows(() => ops.softmaxCrossEntropy(logits, f32Labels), 'labels must be an i32 tensor');
        f32Labels.dispose();
        expectThrows(() => ops.softmaxCrossEntropy(engine.empty([3, 4, 1]), [0, 1, 2]), 'logits must be [N, classes]', '[3, 4, 1]');
        expectThrows(() => ops.softmax(logits, 2), 'softmax', 'axis 2 is out of range');
        const wrong = engine.empty([3, 5]);
        expectThrows(() => ops.softmaxBackward(wrong, logits), 'softmaxBackward', '[3, 5]', '[3, 4]');
        wrong.dispose();
        // On the GPU the bad row's loss and gradient are NaN, so the mean is NaN; good rows keep their gradient;
        // the next read throws, naming the op (engine.checks), and later reads see the values.
        const bad = engine.tensor(Int32Array.from([0, 9, 1]), [3], 'i32');
        const { loss, dlogits } = ops.softmaxCrossEntropyWithGrad(logits, bad);
        const raised = await loss.read().then(() => '', (e: Error) => e.message);
        if (!raised.includes('softmaxCrossEntropy [3, 4]') || !raised.includes('row 1')) throw new Error(`the read after bad GPU labels should throw naming the op and row, got '${raised}'`);
        const l = await loss.read();
        const g = await dlogits.read();
        if (!Number.isNaN(l[0])) throw new Error(`loss with an out-of-range label should be NaN, got ${l[0]}`);
        if (![4, 5, 6, 7].every((i) => Number.isNaN(g[i]))) throw new Error('the bad row gradient should be NaN');
        if ([0, 1, 2, 3, 8, 9, 10, 11].some((i) => Number.isNaN(g[i]))) throw new Error('good rows should have finite gradients');
        [bad, loss, dlogits].forEach((t) => t.dispose());
      } finally {
        logits.dispose();
      }
    },
  },
  {
    name: 'A-Softmax ψ: continuous, decreasing in θ, with the paper\'s values',
    async run() {
      for (const m of [1, 2, 3, 4]) {
        let prev = Infinity;
        for (let i = 0; i <= 400; i++) {
          const theta = (Math.PI * i) / 400;
          const [psi] = ops.aSoftmaxPsi(Math.cos(theta), m);
          if (!(psi <= prev + 1e-9)) throw new Error(`ψ not decreasing at θ=${theta}, m=${m}`);
          if (Math.abs(psi - prev) > (m * Math.PI * 2) / 400 + 1e-6 && i > 0) throw new Error(`ψ jumps at θ=${theta}, m=${m}`);
          prev = psi;
        }
        expectClose([ops.aSoftmaxPsi(1, m)[0], ops.aSoftmaxPsi(-1, m)[0]], [1, -2 * m + 1], { abs: 1e-9, rel: 0 }, `ψ(0), ψ(π) for m=${m}`);
      }
      // m = 4 at θ = π/4: k = 1, (−1)·cos(π) − 2 = −1; at θ = π/3: k = 1, −cos(4π/3) − 2 = −1.5.
      expectClose([ops.aSoftmaxPsi(Math.cos(Math.PI / 4), 4)[0], ops.aSoftmaxPsi(0.5, 4)[0]], [-1, -1.5], { abs: 1e-9, rel: 0 }, 'ψ values');
      expectClose([ops.aSoftmaxLambda(0), ops.aSoftmaxLambda(1e6), ops.aSoftmaxLambda(10)], [1000, 5, 1000 / 2.2], { abs: 1e-9, rel: 1e-12 }, 'λ schedule');
    },
  },
  {
    name: 'A-Softmax logits and their backward match the CPU for margins 1-4, with and without λ',
    async run(engine) {
      for (const [n, d, k] of [[5, 9, 7], [1, 3, 2], [16, 512, 7], [70, 6, 65]]) {
        const x = randomHost([n, d], n + d, -1, 1);
        const w = randomHost([d, k], d + k, -1, 1);
        const labels = intLabels(n, k, n * k);
        const df = randomHost([n, k], 3);
        for (const margin of [1, 2, 3, 4]) {
          for (const lambda of [0, 5]) {
            const o = { margin, lambda };
            await checkOp(engine, ops.aSoftmaxLogits, [x, w, labels, o], { abs: 1e-5, rel: 1e-4 });
            await checkMultiOp(engine, ops.aSoftmaxLogitsBackward, [df, x, w, labels, o], { abs: 1e-4, rel: 1e-3 });
          }
        }
        await checkOp(engine, ops.aSoftmaxLogits, [x, w, null], { abs: 1e-5, rel: 1e-4 });
        await checkMultiOp(engine, ops.aSoftmaxLogitsBackward, [df, x, w, null, { margin: 4 }], { abs: 1e-4, rel: 1e-3 });
      }
      // m = 1 is plain softmax over normalised weights: f = x·w_j/‖w_j‖ for every class, target included.
      const x = randomHost([3, 4], 1);
      const w = randomHost([4, 5], 2);
      const f = await gpuHost(engine, [x, w, intLabels(3, 5, 3)], (a, b, l) => ops.aSoftmaxLogits(a, b, l, { margin: 1 }));
      const want: number[] = [];
      for (let r = 0; r < 3; r++) {
        for (let j = 0; j < 5; j++) {
          let dot = 0;
          let nn = 0;
          for (let q = 0; q < 4; q++) {
            dot += x.data[r * 4 + q]! * w.data[q * 5 + j]!;
            nn += w.data[q * 5 + j]! ** 2;
          }
          want.push(dot / Math.sqrt(nn));
        }
      }
      expectClose(f.data, want, { abs: 1e-6, rel: 1e-5 }, 'm = 1 logits');
    },
  },
  {
    name: 'A-Softmax loss gradients to x and w pass the finite-difference and autograd checks',
    async run(engine) {
      for (const margin of [1, 2, 4]) {
        for (const lambda of [0, 3]) {
          const labels = intLabels(5, 4, margin);
          const o = { margin, lambda };
          await gradCheck({
            what: `A-Softmax loss m=${margin} λ=${lambda}`,
            inputs: [randomHost([5, 6], 60 + margin, -1, 1), randomHost([6, 4], 70 + margin, -1, 1)],
            forward: ([x, w]) => gpuHost(engine, [x!, w!, labels], (a, b, l) => ops.aSoftmaxLoss(a, b, l, o)),
            backward: async ([x, w], dy) => {
              const [dx, dw] = await gpuHostMany(engine, [x!, w!, labels], (a, b, l) => ops.aSoftmaxLossWithGrad(a, b, l, o), ['dx', 'dw']);
              return [dx!, dw!].map((g) => HostTensor.from(Array.from(g.data, (v) => v * dy.data[0]!), g.shape));
            },
            eps: 2e-3,
            tol: { abs: 2e-3, rel: 3e-2 },
          });
        }
      }
      const labels = [1, 0, 3];
      await autogradCheck(engine, 'aSoftmaxLoss m=4 via autograd', (x, w) => ops.aSoftmaxLoss(x, w, labels, { margin: 4, lambda: 1 }), [randomHost([3, 5], 81), randomHost([5, 4], 82)], {
        eps: 2e-3,
        tol: { abs: 2e-3, rel: 3e-2 },
      });
    },
  },
  {
    name: "A-Softmax with PyTorch's [classes, D] weight ('classes-features') equals the [D, classes] op on the transpose; m names the margin; ASoftmaxLinear module and state dict",
    async run(engine) {
      const transpose = (h: HostTensor) => {
        const [r, c] = h.shape as [number, number];
        const t = HostTensor.zeros([c, r]);
        for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) t.data[j * r + i] = h.data[i * c + j]!;
        return t;
      };
      for (const [n, d, k] of [[5, 9, 7], [1, 3, 2], [70, 6, 65], [4, 5, 5]]) {
        const x = randomHost([n, d], 200 + n, -1, 1);
        const wDK = randomHost([d, k], 300 + k, -1, 1);
        const wKD = transpose(wDK);
        const labels = intLabels(n, k, n + k);
        const df = randomHost([n, k], 4);
        for (const m of [1, 4]) {
          const o = { m, lambda: 2, weightLayout: 'classes-features' as const };
          await checkOp(engine, ops.aSoftmaxLogits, [x, wKD, labels, o], { abs: 1e-5, rel: 1e-4 });
          const g = await checkMultiOp(engine, ops.aSoftmaxLogitsBackward, [df, x, wKD, labels, o], { abs: 1e-4, rel: 1e-3 });
          // The same numbers as the default layout on the transposed weight (an independent reference).
          expectClose(ops.aSoftmaxLogits.cpu(x, wKD, labels, o).data, ops.aSoftmaxLogits.cpu(x, wDK, labels, { margin: m, lambda: 2 }).data, { abs: 1e-12, rel: 1e-12 }, 'layouts agree');
          const ref = ops.aSoftmaxLogitsBackward.cpu(df, x, wDK, labels, { margin: m, lambda: 2 });
          expectClose(g.dw.data, transpose(ref.dw).data, { abs: 1e-4, rel: 1e-3 }, `dw [classes, D] = dwᵀ m=${m}`);
          expectClose(g.dx.data, ref.dx.data, { abs: 1e-4, rel: 1e-3 }, `dx m=${m}`);
        }
      }
      await autogradCheck(engine, "aSoftmaxLoss 'classes-features' via autograd", (x, w) => ops.aSoftmaxLoss(x, w, [1, 0, 3], { m: 4, lambda: 1, weightLayout: 'classes-features' }), [randomHost([3, 5], 83), randomHost([4, 5], 84)], {
        eps: 2e-3,
        tol: { abs: 2e-3, rel: 3e-2 },
      });
      // The module: weight [classes, D] by default (state dict included); loads a PyTorch tensor of that layout.
      const layer = new ASoftmaxLinear(engine, 6, 4, { m: 3, seed: 5 });
      const entries = layer.stateEntries().map((e) => `${e.name}[${e.shape}]`).join();
      if (entries !== 'weight[4,6]') throw new Error(`ASoftmaxLinear state: ${entries}`);
      const wTorch = randomHost([4, 6], 400);
      const xt = randomHost([3, 6], 401);
      const loaded = toGpu(engine, wTorch);
      layer.loadStateDict({ weight: loaded });
      const got = await gpuHost(engine, [xt], (a) => layer.marginLogits(a, [0, 3, 1], 2));
      expectClose(got.data, ops.aSoftmaxLogits.cpu(xt, transpose(wTorch), [0, 3, 1], { margin: 3, lambda: 2 }).data, { abs: 1e-5, rel: 1e-4 }, 'ASoftmaxLinear after loadStateDict');
      const loss = await gpuHost(engine, [xt], (a) => layer.loss(a, [0, 3, 1], 2));
      if (loss.shape.length !== 0) throw new Error(`ASoftmaxLinear.loss shape [${loss.shape}]`);
      const angle = new ASoftmaxLinear(engine, 6, 4, { weightLayout: 'features-classes' });
      if (angle.stateEntries()[0]!.shape.join() !== '6,4') throw new Error("ASoftmaxLinear 'features-classes' stores [D, classes]");
      [loaded, layer, angle].forEach((t) => t.dispose());
    },
  },
  {
    name: 'A-Softmax refuses bad margins, λ, shapes and labels',
    async run(engine) {
      const x = engine.empty([3, 4]);
      const w = engine.empty([4, 5]);
      try {
        for (const margin of [0, -2, 2.5, NaN]) expectThrows(() => ops.aSoftmaxLogits(x, w, [0, 1, 2], { margin }), 'aSoftmaxLogits', 'margin m must be an integer ≥ 1', String(margin));
        expectThrows(() => ops.aSoftmaxLoss(x, w, [0, 1, 2], { lambda: -1 }), 'lambda must be a finite number ≥ 0');
        expectThrows(() => ops.aSoftmaxLogits(x, engine.empty([5, 5]), [0, 1, 2]), 'feature sizes 4 and 5 differ');
        expectThrows(() => ops.aSoftmaxLoss(x, w, [0, 5, 2]), 'label 5 at row 1', '[0, 5)');
        expectThrows(() => ops.aSoftmaxLogitsBackward(engine.empty([3, 4]), x, w, [0, 1, 2]), 'df must be f32 [3, 5]');
        expectThrows(() => ops.aSoftmaxLogits(x, w, [0, 1, 2], { m: 2, margin: 3 }), 'aSoftmaxLogits', 'm (2) and margin (3) name the same option');
        expectThrows(() => ops.aSoftmaxLogits(x, w, [0, 1, 2], { m: 0 }), 'margin m must be an integer ≥ 1');
        expectThrows(() => ops.aSoftmaxLogits(x, w, [0, 1, 2], { weightLayout: 'DK' as 'classes-features' }), "weightLayout must be 'features-classes' ([D, classes]) or 'classes-features' ([classes, D])");
        // [4, 5] read as [classes, D] has D = 5, not x's 4.
        expectThrows(() => ops.aSoftmaxLogits(x, w, [0, 1, 2], { weightLayout: 'classes-features' }), '[classes, D]', 'feature sizes 4 and 5 differ');
      } finally {
        x.dispose();
        w.dispose();
      }
    },
  },
];

export const softmaxSuite: Suite = { name: 'softmax', cases };
