/** Spatial transformer (M4): affine grid and bilinear grid sampling, forward, backward, gradients, errors. */
import { HostTensor } from '../../src/graph/host.js';
import type { Tensor } from '../../src/graph/tensor.js';
import * as ops from '../../src/kernels/ops.js';
import { autogradCheck, checkOp, expectClose, gradCheck, randomHost, toGpu } from '../helpers/compare.js';
import { expectThrows, type Case, type Suite } from './types.js';

const TOL = { abs: 2e-6, rel: 2e-5 };

/** θ = scale·rotation(angle) with a translation, per sample. */
function thetas(params: [number, number, number, number][]): HostTensor {
  const t = HostTensor.zeros([params.length, 2, 3]);
  params.forEach(([scale, angle, tx, ty], n) => {
    const [c, s] = [Math.cos(angle) * scale, Math.sin(angle) * scale];
    t.data.set([c, -s, tx, s, c, ty], n * 6);
  });
  return t;
}

/**
 * A grid whose sample points sit at least 0.15 px from every integer coordinate, so that finite differences
 * (eps ≪ 0.15 px) never cross a kink of the bilinear interpolation; some points lie outside the input.
 */
function safeGrid(N: number, Ho: number, Wo: number, H: number, W: number, align: boolean, seed: number): HostTensor {
  const r = randomHost([N, Ho, Wo, 2], seed, 0, 1);
  const g = HostTensor.zeros([N, Ho, Wo, 2]);
  for (let i = 0; i < r.size; i++) {
    const size = i % 2 === 0 ? W : H;
    const pix = Math.floor(r.data[i]! * (size + 2)) - 1 + 0.15 + 0.7 * ((r.data[i]! * 997) % 1); // in [−1, size + 1)
    // With align_corners a size-1 axis maps every g to pixel 0: any value will do.
    g.data[i] = align ? (size > 1 ? (2 * pix) / (size - 1) - 1 : r.data[i]! - 0.5) : (2 * pix + 1) / size - 1;
  }
  return g;
}

/** Smallest distance (in pixels) from a sample point of the grid to a texel boundary. */
function kinkMargin(grid: HostTensor, H: number, W: number, align: boolean): number {
  let m = Infinity;
  for (let i = 0; i < grid.size; i++) {
    const size = i % 2 === 0 ? W : H;
    const g = grid.data[i]!;
    const pix = align ? ((g + 1) / 2) * (size - 1) : ((g + 1) * size - 1) / 2;
    m = Math.min(m, Math.abs(pix - Math.round(pix)));
  }
  return m;
}

const cases: Case[] = [
  {
    name: 'affine grid matches the CPU reference (align corners both ways, rotation + scale, size-1 axes)',
    async run(engine) {
      const theta = thetas([
        [1, 0, 0, 0],
        [0.8, 0.4, 0.1, -0.2],
        [1.3, -1.1, -0.3, 0.05],
      ]);
      for (const align of [false, true]) {
        for (const size of [[3, 5, 7], [3, 1, 4], [3, 6, 1], { nhwc: [3, 48, 48, 1] }]) await checkOp(engine, ops.affineGrid, [theta, size, align], TOL);
        // The identity grid is PyTorch's base grid: x = (2i + 1)/W − 1, or −1 + 2i/(W − 1) with align_corners.
        const id = await ops.affineGrid(toGpu(engine, thetas([[1, 0, 0, 0]])), [1, 1, 4], align).read();
        const want = align ? [-1, 0, -1 / 3, 0, 1 / 3, 0, 1, 0] : [-0.75, 0, -0.25, 0, 0.25, 0, 0.75, 0];
        expectClose(id, want, TOL, `identity grid align=${align}`);
        await checkOp(engine, ops.affineGridBackward, [randomHost([3, 5, 7, 2], 3), align], { abs: 1e-5, rel: 1e-5 });
      }
    },
  },
  {
    name: 'grid sample matches the CPU reference (NHWC, zero padding, odd channels, outside points)',
    async run(engine) {
      for (const align of [false, true]) {
        for (const [i, [N, H, W, C, Ho, Wo]] of [[2, 5, 7, 3, 4, 6], [1, 1, 1, 1, 3, 3], [3, 48, 48, 1, 48, 48], [1, 6, 4, 5, 1, 1]].entries()) {
          const x = randomHost([N!, H!, W!, C!], 10 + i);
          const grid = randomHost([N!, Ho!, Wo!, 2], 20 + i, -1.3, 1.3);
          // The unnormalised coordinate carries f32 rounding of g·S/2: ~S·6e-8 px.
          await checkOp(engine, ops.gridSample, [x, grid, { alignCorners: align }], { abs: 2e-5, rel: 1e-4 });
          const dy = randomHost([N!, Ho!, Wo!, C!], 30 + i);
          await checkOp(engine, ops.gridSampleBackwardInput, [dy, grid, x.shape, { alignCorners: align }], { abs: 1e-5, rel: 1e-4 });
          // The grid gradient jumps where a point crosses a texel boundary, and f32 and float64 may floor a point
          // that close to it differently: compare on points at least 0.15 px from every boundary. An f32
          // coordinate near S carries ~S·8e-8 px of rounding in its bilinear weights, times S/2 in dgrid.
          const safe = safeGrid(N!, Ho!, Wo!, H!, W!, align, 25 + i);
          const S = Math.max(H!, W!);
          await checkOp(engine, ops.gridSampleBackwardGrid, [dy, x, safe, { alignCorners: align }], { abs: 1e-5 + 2e-7 * S * S, rel: 1e-4 });
        }
      }
      // The identity warp reproduces the input (align_corners=false samples pixel centres).
      const x = randomHost([2, 6, 5, 3], 40);
      for (const align of [false, true]) {
        const g = ops.affineGrid(toGpu(engine, thetas([[1, 0, 0, 0], [1, 0, 0, 0]])), [2, 6, 5], align);
        const y = ops.gridSample(toGpu(engine, x), g, { alignCorners: align });
        expectClose(await y.read(), x.data, { abs: 1e-5, rel: 1e-5 }, `identity warp align=${align}`);
      }
    },
  },
  {
    name: 'backward to the input under heavy overlap (a zoom-in: many outputs hit each texel)',
    async run(engine) {
      const x = randomHost([2, 4, 4, 3], 50);
      const theta = thetas([[0.2, 0.3, 0.1, 0], [0.1, -0.5, 0, 0.1]]);
      const grid = ops.affineGrid.cpu(theta, [2, 24, 24], false);
      const dy = randomHost([2, 24, 24, 3], 51);
      await checkOp(engine, ops.gridSampleBackwardInput, [dy, grid, x.shape, {}], { abs: 1e-4, rel: 1e-4 });
      const both = ops.gridSampleBackward(...([dy, x, grid].map((h) => toGpu(engine, h)) as [Tensor, Tensor, Tensor]));
      const want = ops.gridSampleBackward.cpu(dy, x, grid);
      expectClose(await both.dx.read(), want.dx.data, { abs: 1e-4, rel: 1e-4 }, 'gridSampleBackward dx');
      expectClose(await both.dgrid.read(), want.dgrid.data, { abs: 1e-4, rel: 1e-4 }, 'gridSampleBackward dgrid');
      both.dx.dispose();
      both.dgrid.dispose();
    },
  },
  {
    name: 'gradients match finite differences (input, grid, θ through the grid; both alignments)',
    async run(engine) {
      for (const align of [false, true]) {
        const opts = { alignCorners: align };
        const x = randomHost([2, 5, 6, 2], 60);
        const grid = safeGrid(2, 3, 4, 5, 6, align, 61);
        await autogradCheck(engine, `gridSample align=${align}`, (a, b) => ops.gridSample(a, b, opts), [x, grid], { eps: 1e-3, tol: { abs: 3e-3, rel: 2e-2 } });
        await autogradCheck(engine, `affineGrid align=${align}`, (t) => ops.affineGrid(t, [2, 3, 4], align), [thetas([[0.9, 0.3, 0.1, -0.1], [1.1, -0.6, 0, 0.2]])], { eps: 1e-2 });
        // θ → grid → sample, against finite differences of the CPU references. θ is chosen so that no sample
        // point lies within 0.02 px of a texel boundary (checked), where bilinear sampling has a kink; eps moves points ≤ 0.002 px.
        const theta = thetas([[1.11, 0.37, 0.1, -0.15], [0.81, -0.91, 0.04, 0.05]]);
        const margin = kinkMargin(ops.affineGrid.cpu(theta, [2, 5, 6], align), 5, 6, align);
        if (margin < 0.02) throw new Error(`test set-up: a sample point lies ${margin} px from a texel boundary`);
        await gradCheck({
          what: `θ through affineGrid + gridSample align=${align}`,
          inputs: [theta],
          forward: ([t]) => ops.gridSample.cpu(x, ops.affineGrid.cpu(t!, [2, 5, 6], align), opts),
          async backward([t], dy) {
            const [tt, tx, tdy] = [t!, x, dy].map((h) => toGpu(engine, h)) as [Tensor, Tensor, Tensor];
            const g = ops.affineGrid(tt, [2, 5, 6], align);
            const dgrid = ops.gridSampleBackwardGrid(tdy, tx, g, opts);
            const dtheta = ops.affineGridBackward(dgrid, align);
            const out = new HostTensor(dtheta.shape, await dtheta.read());
            [tt, tx, tdy, g, dgrid, dtheta].forEach((u) => u.dispose());
            return [out];
          },
          eps: 1e-4,
          tol: { abs: 5e-3, rel: 3e-2 },
        });
      }
    },
  },
  {
    name: 'bad inputs get clear errors',
    async run(engine) {
      expectThrows(() => ops.affineGrid(engine.empty([2, 3, 2]), [2, 4, 4]), 'affineGrid', 'theta must be f32 [2, 2, 3]', '[2, 3, 2]');
      expectThrows(() => ops.affineGrid(engine.empty([2, 2, 3]), [2, 4]), 'affineGrid', 'size must be the output [N, H, W]');
      // A bare 4-D size (PyTorch's NCHW, or NHWC) is ambiguous: refused with the [N, H, W] a NCHW size means.
      expectThrows(() => ops.affineGrid(engine.empty([1, 2, 3]), [1, 3, 13, 11]), 'affineGrid', 'is 4-D, which is ambiguous', '[1,13,11]');
      expectThrows(() => ops.affineGrid.cpu(HostTensor.zeros([1, 2, 3]), [1, 3, 13, 11]), 'affineGrid', 'ambiguous');
      for (const bad of [[2, 4, 4, 1, 1], [2, 4.5, 4], [2, -1, 4], [], [2]]) expectThrows(() => ops.affineGrid(engine.empty([2, 2, 3]), bad), 'affineGrid', 'size must be the output [N, H, W]');
      for (const bad of [[2, 4, 4], [2, 4, 4, 1, 1], [2, 4, -4, 1]]) expectThrows(() => ops.affineGrid(engine.empty([2, 2, 3]), { nhwc: bad }), 'affineGrid', 'size { nhwc } must be an NHWC shape [N, H, W, C]');
      expectThrows(() => ops.affineGrid(engine.empty([2, 2, 3]), { nhwc: [3, 4, 4, 1] }), 'affineGrid', 'theta must be f32 [3, 2, 3]');
      const g = ops.affineGrid(engine.tensor(new Float32Array([1, 0, 0, 0, 1, 0]), [1, 2, 3]), { nhwc: [1, 5, 3, 8] });
      if (g.shape.join() !== '1,5,3,2') throw new Error(`affineGrid { nhwc: [1, 5, 3, 8] } gave ${g.shape}`);
      g.dispose();
      expectThrows(() => ops.gridSample(engine.empty([2, 4, 4, 1]), engine.empty([2, 4, 4, 3])), 'gridSample', 'grid must be f32 [2, Ho, Wo, 2]', '[2, 4, 4, 3]');
      expectThrows(() => ops.gridSample(engine.empty([2, 4, 4]), engine.empty([2, 4, 4, 2])), 'gridSample', 'NHWC [N, H, W, C]');
      expectThrows(() => ops.affineGridBackward(engine.empty([2, 4, 4, 3])), 'affineGridBackward', 'dgrid must be f32 [N, H, W, 2]');
    },
  },
];

export const spatialTransformerSuite: Suite = { name: 'spatial-transformer', cases };
