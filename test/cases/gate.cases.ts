import { HostTensor } from '../../src/graph/host.js';
import * as ops from '../../src/kernels/ops.js';
import { autogradCheck, checkOp, expectClose, gradCheck, randomHost, toGpu } from '../helpers/compare.js';
import { checkMultiOp, gpuHost, gpuHostMany } from '../helpers/multi-op.js';
import { expectThrows, type Case, type Suite } from './types.js';

// One exp per element; the backward sums up to H·W products per channel.
const TOL = { abs: 1e-6, rel: 1e-5 };
const SUM_TOL = { abs: 1e-5, rel: 1e-4 };

/** NHWC shapes: C not a multiple of 4 (scalar path), multiples of 4 (vec4), size-1 axes, batch > 1, and a pixel count over the 16-pixel chunk. */
const shapes = [
  [2, 5, 3, 7],
  [2, 3, 4, 8],
  [1, 1, 1, 1],
  [3, 6, 5, 12],
  [2, 9, 11, 3],
  [1, 20, 17, 4],
];

function gateShape(x: number[], mode: 'channel' | 'spatial'): number[] {
  return mode === 'channel' ? [x[0]!, 1, 1, x[3]!] : [x[0]!, x[1]!, x[2]!, 1];
}

const cases: Case[] = [
  {
    name: 'sigmoidGate forward with channel gates and spatial maps on odd NHWC shapes',
    async run(engine) {
      for (const shape of shapes) {
        for (const mode of ['channel', 'spatial'] as const) {
          // Gates up to ±40: σ saturates without overflow.
          await checkOp(engine, ops.sigmoidGate, [randomHost(shape, 1, -3, 3), randomHost(gateShape(shape, mode), 2, -40, 40)], TOL);
        }
      }
      await checkOp(engine, ops.sigmoidGate, [randomHost([4, 33, 31, 5], 3), randomHost([4, 1, 1, 5], 4, -6, 6)], TOL);
    },
  },
  {
    name: 'sigmoidGateBackward matches the CPU (dx and the reduced da) for both gate kinds',
    async run(engine) {
      for (const shape of [...shapes, [2, 40, 30, 8], [3, 17, 19, 6]]) {
        for (const mode of ['channel', 'spatial'] as const) {
          const x = randomHost(shape, 5, -2, 2);
          const a = randomHost(gateShape(shape, mode), 6, -5, 5);
          await checkMultiOp(engine, ops.sigmoidGateBackward, [randomHost(shape, 7), x, a], { dx: TOL, da: SUM_TOL });
        }
      }
      // Saturated gates keep σ' = e/(1+e)² instead of rounding 1 − σ to 0.
      const [, da] = await gpuHostMany(engine, [HostTensor.from([1], [1, 1, 1, 1]), HostTensor.from([1], [1, 1, 1, 1]), HostTensor.from([30], [1, 1, 1, 1])], (d, x, a) => ops.sigmoidGateBackward(d, x, a), ['dx', 'da']);
      expectClose(da!.data, [Math.exp(-30) / (1 + Math.exp(-30)) ** 2], { abs: 0, rel: 1e-5 }, 'σ\'(30)');
    },
  },
  {
    name: 'sigmoidGate gradients pass the finite-difference and autograd checks',
    async run(engine) {
      for (const [shape, mode] of [[[2, 3, 4, 5], 'channel'], [[2, 3, 4, 8], 'spatial'], [[1, 5, 7, 4], 'channel']] as const) {
        await gradCheck({
          what: `sigmoidGate ${mode} ${JSON.stringify(shape)}`,
          inputs: [randomHost([...shape], 11), randomHost(gateShape([...shape], mode), 12, -2, 2)],
          forward: ([x, a]) => gpuHost(engine, [x!, a!], (t, g) => ops.sigmoidGate(t, g)),
          backward: ([x, a], dy) => gpuHostMany(engine, [dy, x!, a!], (d, t, g) => ops.sigmoidGateBackward(d, t, g), ['dx', 'da']),
        });
      }
      await autogradCheck(engine, 'sigmoidGate via autograd', (x, a) => ops.sigmoidGate(x, a), [randomHost([2, 3, 3, 4], 13), randomHost([2, 1, 1, 4], 14)]);
    },
  },
  {
    name: 'sigmoidGate refuses gates that broadcast neither way',
    async run(engine) {
      const x = toGpu(engine, randomHost([2, 3, 4, 5], 1));
      try {
        for (const bad of [[2, 1, 1, 4], [2, 3, 4, 2], [1, 1, 1, 5], [2, 5], [2, 3, 1, 1]]) {
          const a = engine.empty(bad);
          expectThrows(() => ops.sigmoidGate(x, a), 'sigmoidGate', '[2, 1, 1, 5] (a channel gate) or [2, 3, 4, 1] (a spatial map)', `got [${bad.join(', ')}]`);
          a.dispose();
        }
        const a = engine.empty([2, 1, 1, 5]);
        expectThrows(() => ops.sigmoidGate(engine.empty([3, 4, 5]), a), 'x must be NHWC');
        expectThrows(() => ops.sigmoidGateBackward(engine.empty([2, 3, 4, 4]), x, a), 'dy f32 [2, 3, 4, 4] must be f32 shaped like x [2, 3, 4, 5]');
        a.dispose();
      } finally {
        x.dispose();
      }
    },
  },
];

export const gateSuite: Suite = { name: 'gate', cases };
