import type { Engine } from '../../src/device/engine.js';
import { HostTensor } from '../../src/graph/host.js';
import { THREAD_VARIANT, WORKGROUP_VARIANT } from '../../src/kernels/lines.js';
import * as ops from '../../src/kernels/ops.js';
import { autogradCheck, checkOp, expectClose, gradCheck, randomHost, toGpu } from '../helpers/compare.js';
import { checkMultiOp, gpuHost, gpuHostMany } from '../helpers/multi-op.js';
import { expectThrows, type Case, type Suite } from './types.js';

// Welford statistics in f32 against float64 two-pass ones.
const TOL = { abs: 2e-5, rel: 1e-4 };
const GRAD_TOL = { abs: 5e-5, rel: 5e-4 };

/**
 * Rows of C not a multiple of 4, multiples of 4, C = 1 (variance 0: y = β), a middle-ground shape, few long rows,
 * and rows whose γ and β are too long for a uniform buffer (over 64 KiB: bound as storage instead).
 */
const shapes = [[3, 7], [2, 3, 8], [5, 1], [1, 1], [70, 37], [2, 5, 36], [3, 2048], [2, 3001], [2, 16388], [1, 16385]];

function params(c: number, seed: number): [HostTensor, HostTensor] {
  return [randomHost([c], seed, 0.5, 1.5), randomHost([c], seed + 1, -0.5, 0.5)];
}

async function eachLayout(engine: Engine, fn: () => Promise<void>): Promise<void> {
  for (const v of [THREAD_VARIANT, WORKGROUP_VARIANT]) {
    engine.variants.force('layerNorm', v);
    try {
      await fn();
    } catch (e) {
      throw new Error(`[variant ${v}] ${(e as Error).message}`);
    } finally {
      engine.variants.force('layerNorm', undefined);
    }
  }
}

const cases: Case[] = [
  {
    name: 'layerNorm forward, with and without saved statistics, both layouts',
    async run(engine) {
      await eachLayout(engine, async () => {
        for (const shape of shapes) {
          const c = shape[shape.length - 1]!;
          const x = randomHost(shape, c, -3, 3);
          const [g, b] = params(c, 3);
          await checkOp(engine, ops.layerNorm, [x, g, b], TOL);
          await checkMultiOp(engine, ops.layerNormForward, [x, g, b, { eps: 1e-3 }], TOL);
        }
      });
      // Rows offset by 1e4 with unit spread: a one-pass Σx² variance would lose every digit; Welford keeps them.
      const off = randomHost([6, 40], 9, -1, 1);
      off.data.forEach((v, i) => (off.data[i] = 1e4 + v));
      const [g, b] = params(40, 4);
      await checkOp(engine, ops.layerNorm, [off, g, b], { abs: 3e-3, rel: 1e-3 });
    },
  },
  {
    name: 'layerNormBackward matches the CPU with saved and recomputed statistics, both layouts',
    async run(engine) {
      await eachLayout(engine, async () => {
        for (const shape of [...shapes, [300, 12], [257, 5]]) {
          const c = shape[shape.length - 1]!;
          const x = randomHost(shape, c + 1, -2, 2);
          const [g] = params(c, 5);
          const dy = randomHost(shape, 6);
          const { mean, invstd } = ops.layerNormForward.cpu(x, g, params(c, 5)[1], { eps: 1e-5 });
          await checkMultiOp(engine, ops.layerNormBackward, [dy, x, g, mean, invstd], GRAD_TOL);
          await checkMultiOp(engine, ops.layerNormBackward, [dy, x, g, null, null], GRAD_TOL);
        }
      });
    },
  },
  {
    name: 'layerNorm gradients to x, γ and β pass the finite-difference and autograd checks',
    async run(engine) {
      for (const shape of [[4, 6], [2, 3, 8], [3, 300]]) {
        const c = shape[shape.length - 1]!;
        const [g, b] = params(c, 7);
        await gradCheck({
          what: `layerNorm ${JSON.stringify(shape)}`,
          inputs: [randomHost(shape, 8, -2, 2), g, b],
          forward: ([x, gg, bb]) => gpuHost(engine, [x!, gg!, bb!], (t, tg, tb) => ops.layerNorm(t, tg, tb)),
          backward: ([x, gg], dy) => gpuHostMany(engine, [dy, x!, gg!], (d, t, tg) => ops.layerNormBackward(d, t, tg, null, null), ['dx', 'dgamma', 'dbeta']),
          eps: 5e-3,
        });
      }
      const [g, b] = params(5, 9);
      await autogradCheck(engine, 'layerNorm via autograd', (x, gg, bb) => ops.layerNorm(x, gg, bb), [randomHost([3, 5], 10), g, b]);
    },
  },
  {
    name: 'layerNorm over several trailing axes (normalizedShape) equals the flattened rows; without γ, β; gradients',
    async run(engine) {
      const configs: [number[], number[]][] = [[[2, 3, 8], [3, 8]], [[4, 5, 3, 2], [5, 3, 2]], [[3, 7], [3, 7]], [[2, 1, 5], [1, 5]], [[3, 2, 17, 3], [17, 3]]];
      for (const [i, [shape, ns]] of configs.entries()) {
        const cols = ns.reduce((a, b) => a * b, 1);
        const x = randomHost(shape, 40 + i, -3, 3);
        const g = randomHost(ns, 50 + i, 0.5, 1.5);
        const b = randomHost(ns, 60 + i, -0.5, 0.5);
        const o = { normalizedShape: ns, eps: 1e-4 };
        await checkOp(engine, ops.layerNorm, [x, g, b, o], TOL);
        await checkOp(engine, ops.layerNorm, [x, undefined, undefined, o], TOL);
        await checkMultiOp(engine, ops.layerNormForward, [x, g, b, o], TOL);
        // The same as normalising the flattened rows [rows, cols] with flattened γ, β (an independent reference).
        const flatX = new HostTensor([x.size / cols, cols], x.data);
        const want = ops.layerNorm.cpu(flatX, new HostTensor([cols], g.data), new HostTensor([cols], b.data), { eps: 1e-4 });
        const got = await gpuHost(engine, [x, g, b], (t, tg, tb) => ops.layerNorm(t, tg, tb, o));
        expectClose(got.data, want.data, TOL, `layerNorm [${shape}] over ${JSON.stringify(ns)} vs flattened`);
        const stats = ops.layerNormForward.cpu(x, g, b, o);
        if (stats.mean.shape.join() !== shape.slice(0, shape.length - ns.length).join()) throw new Error(`stats shape [${stats.mean.shape}] for [${shape}] over ${JSON.stringify(ns)}`);
        const dy = randomHost(shape, 70 + i);
        await checkMultiOp(engine, ops.layerNormBackward, [dy, x, g, stats.mean, stats.invstd, o], GRAD_TOL);
        await checkMultiOp(engine, ops.layerNormBackward, [dy, x, undefined, null, null, o], GRAD_TOL);
      }
      const [shape, ns] = configs[0]!;
      const o = { normalizedShape: ns };
      await autogradCheck(engine, `layerNorm over ${JSON.stringify(ns)} via autograd`, (x, g, b) => ops.layerNorm(x, g, b, o), [randomHost(shape, 80, -2, 2), randomHost(ns, 81, 0.5, 1.5), randomHost(ns, 82)]);
      await autogradCheck(engine, 'layerNorm without γ, β via autograd', (x) => ops.layerNorm(x, undefined, undefined, o), [randomHost(shape, 83, -2, 2)]);
      await autogradCheck(engine, 'layerNorm with γ only via autograd', (x, g) => ops.layerNorm(x, g, undefined, o), [randomHost(shape, 84, -2, 2), randomHost(ns, 85, 0.5, 1.5)]);
    },
  },
  {
    name: 'layerNorm refuses mismatched parameters and bad eps',
    async run(engine) {
      const x = toGpu(engine, randomHost([2, 5], 1));
      const g = engine.empty([5]);
      const bad = engine.empty([4]);
      try {
        expectThrows(() => ops.layerNorm(x, bad, g), 'layerNorm', 'gamma must be [5]', '[4]');
        expectThrows(() => ops.layerNorm(x, g, bad), 'beta must be [5]');
        expectThrows(() => ops.layerNorm(x, g, g, { eps: 0 }), 'eps must be a positive number');
        expectThrows(() => ops.layerNorm(x, g, g, 1e-3 as unknown as ops.LayerNormOptions), 'layerNorm', 'eps is an option, not a positional argument');
        expectThrows(() => ops.layerNorm(x, undefined, undefined, { normalizedShape: [2] }), 'layerNorm', 'normalizedShape [2] must be the trailing axes of x [2, 5]');
        expectThrows(() => ops.layerNorm(x, undefined, undefined, { normalizedShape: [1, 2, 5] }), 'normalizedShape [1, 2, 5]', '1 to 2');
        expectThrows(() => ops.layerNorm(x, g, undefined, { normalizedShape: [2, 5] }), 'layerNorm', 'gamma must be [2, 5] (normalizedShape)', '[5]');
        expectThrows(() => ops.layerNorm(engine.empty([3, 0]), engine.empty([0]), engine.empty([0])), 'normalised axes [0] of x [3, 0] are empty');
        expectThrows(() => ops.layerNormBackward(x, x, g, g, null), 'pass both mean and invstd');
        expectThrows(() => ops.layerNormBackward(x, x, g, g, g), 'mean must be f32 with one value per row (2)');
      } finally {
        [x, g, bad].forEach((t) => t.dispose());
      }
    },
  },
];

export const layernormSuite: Suite = { name: 'layernorm', cases };
