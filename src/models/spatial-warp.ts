/**
 * Affine grid + bilinear grid sampling (PyTorch's affine_grid / grid_sample with bilinear interpolation and zero
 * padding). `affineWarp` runs the dedicated kernels (src/kernels/spatial-transformer.ts); `affineWarpComposed`
 * builds the same warp from generic differentiable ops and serves as an independent cross-check in the tests.
 *
 * The composed form:
 * Sampling is separable: each output pixel p reads the input through two 1-D weight rows, tx[p, j] over columns
 * and ty[p, i] over rows, each nonzero at the two cells around the sample point. Then
 *   out[p, c] = Σ_i ty[p, i] · (Σ_j tx[p, j] · img[i, j, c]),
 * one batched matmul and a weighted sum. Cells outside the image simply have no row/column: zero padding.
 * The weight rows are built as mask0 + (mask1 − mask0)·frac with the integer cell detached, so the derivative
 * with respect to the sample point is PyTorch's (one-sided at integer positions: identity θ still learns).
 */
import type { Engine } from '../device/engine.js';
import { assert, fmtShape } from '../device/errors.js';
import { noGrad } from '../graph/autograd.js';
import { HostTensor } from '../graph/host.js';
import type { Tensor } from '../graph/tensor.js';
import { add, binaryOp, mul, sub, unaryOp } from '../kernels/elementwise.js';
import { permute, slice } from '../kernels/layout.js';
import { matmul } from '../kernels/matmul.js';
import { sum } from '../kernels/reduce.js';
import { affineGrid, gridSample } from '../kernels/spatial-transformer.js';

// No gradients: applied to detached coordinates only.
const floorOp = unaryOp('floor', 'floor(x)', Math.floor, { uses: 'none', grad: () => { throw new Error('floor has no gradient'); } });
const cellMask = binaryOp('gridCellMask', 'select(0.0, 1.0, x == y)', (x, y) => (x === y ? 1 : 0));

/** Normalised output coordinates [H·W, 3] = (x, y, 1) per output pixel, row-major; align_corners as PyTorch. */
export function baseGrid(h: number, w: number, alignCorners = false): Float32Array {
  const coord = (i: number, n: number): number => (alignCorners ? (n === 1 ? 0 : (2 * i) / (n - 1) - 1) : (2 * i + 1) / n - 1);
  const out = new Float32Array(h * w * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const p = (y * w + x) * 3;
      out[p] = coord(x, w);
      out[p + 1] = coord(y, h);
      out[p + 2] = 1;
    }
  return out;
}

/** Normalised coordinate → pixel coordinate. */
function toPixel(g: Tensor, n: number, alignCorners: boolean): Tensor {
  const scaled = mul(g, alignCorners ? (n - 1) / 2 : n / 2);
  const out = add(scaled, (n - 1) / 2);
  scaled.dispose();
  return out;
}

/** Bilinear weight rows [N, P, n] for sample positions `pix` [N, P, 1] (pixels) over n cells. */
function weightRows(engine: Engine, pix: Tensor, n: number): Tensor {
  const cells = engine.tensor(Float32Array.from({ length: n }, (_, i) => i), [n]);
  const detached = pix.detach();
  const [fl, m0, d] = noGrad(() => {
    const fl = floorOp(detached);
    const m0 = cellMask(fl, cells);
    const fl1 = add(fl, 1);
    const m1 = cellMask(fl1, cells);
    const d = sub(m1, m0);
    [fl1, m1].forEach((t) => t.dispose());
    return [fl, m0, d] as const;
  });
  const frac = sub(pix, fl); // differentiable through pix; fl is a constant
  const step = mul(d, frac);
  const rows = add(m0, step);
  [cells, detached, fl, m0, d, frac, step].forEach((t) => t.dispose());
  return rows;
}

export interface WarpOptions {
  alignCorners?: boolean;
  /** Output [H, W]; default the input's. */
  size?: [number, number];
}

/**
 * Warps NHWC images x [N, H, W, C] by affine θ [N, 2, 3] (row-major 2×3, PyTorch's convention: θ maps output
 * normalised coordinates (x, y, 1) to input ones). Returns [N, H', W', C]. Differentiable in x and θ.
 */
export function affineWarp(x: Tensor, theta: Tensor, opts: WarpOptions = {}): Tensor {
  const [N, H, W] = x.shape as [number, number, number, number];
  assert(x.rank === 4, 'affineWarp', () => `expects NHWC images, got ${fmtShape(x.shape)}`);
  const [Ho, Wo] = opts.size ?? [H, W];
  const alignCorners = Boolean(opts.alignCorners);
  const grid = affineGrid(theta, [N, Ho, Wo], alignCorners);
  const y = gridSample(x, grid, { alignCorners });
  grid.dispose();
  return y;
}

/** The same warp from matmul, elementwise ops and a sum (see the header). */
export function affineWarpComposed(x: Tensor, theta: Tensor, opts: WarpOptions = {}): Tensor {
  const [N, H, W, C] = x.shape as [number, number, number, number];
  assert(x.rank === 4, 'affineWarp', () => `expects NHWC images, got ${fmtShape(x.shape)}`);
  assert(theta.shape.join() === `${N},2,3`, 'affineWarp', () => `theta ${fmtShape(theta.shape)}, expected [${N}, 2, 3]`);
  const [Ho, Wo] = opts.size ?? [H, W];
  const ac = Boolean(opts.alignCorners);
  const engine = x.engine;
  const P = Ho * Wo;
  const base = engine.tensor(baseGrid(Ho, Wo, ac), [P, 3]);
  const grid = matmul(base, theta, { transB: true }); // [N, P, 2]
  const gx = slice(grid, [0], [1], [1], [2]);
  const gy = slice(grid, [1], [2], [1], [2]);
  const px = toPixel(gx, W, ac);
  const py = toPixel(gy, H, ac);
  const tx = weightRows(engine, px, W); // [N, P, W]
  const ty = weightRows(engine, py, H); // [N, P, H]
  const imgT = permute(x, [0, 2, 1, 3]); // [N, W, H, C]
  const img = imgT.reshape([N, W, H * C]);
  const b = matmul(tx, img); // [N, P, H·C]
  const b4 = b.reshape([N, P, H, C]);
  const ty4 = ty.reshape([N, P, H, 1]);
  const prod = mul(b4, ty4);
  const out = sum(prod, 2); // [N, P, C]
  const y = out.reshape([N, Ho, Wo, C]);
  [base, grid, gx, gy, px, py, tx, ty, imgT, img, b, b4, ty4, prod, out].forEach((t) => t.dispose());
  return y;
}

/** CPU reference: PyTorch's grid_sample(affine_grid(θ), bilinear, zeros), written directly (four corners). */
export function affineWarpCpu(x: HostTensor, theta: HostTensor, opts: WarpOptions = {}): HostTensor {
  const [N, H, W, C] = x.shape as [number, number, number, number];
  const [Ho, Wo] = opts.size ?? [H, W];
  const ac = Boolean(opts.alignCorners);
  const base = baseGrid(Ho, Wo, ac);
  const out = new Float32Array(N * Ho * Wo * C);
  const pix = (g: number, n: number): number => (ac ? ((g + 1) / 2) * (n - 1) : ((g + 1) * n - 1) / 2);
  for (let n = 0; n < N; n++) {
    const t = Array.from(theta.data.subarray(n * 6, n * 6 + 6));
    for (let p = 0; p < Ho * Wo; p++) {
      const [bx, by] = [base[p * 3]!, base[p * 3 + 1]!];
      const ix = pix(t[0]! * bx + t[1]! * by + t[2]!, W);
      const iy = pix(t[3]! * bx + t[4]! * by + t[5]!, H);
      const x0 = Math.floor(ix);
      const y0 = Math.floor(iy);
      const fx = ix - x0;
      const fy = iy - y0;
      for (const [yy, wy] of [[y0, 1 - fy], [y0 + 1, fy]] as const)
        for (const [xx, wx] of [[x0, 1 - fx], [x0 + 1, fx]] as const) {
          if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
          for (let c = 0; c < C; c++) out[(n * Ho * Wo + p) * C + c]! += wy * wx * x.data[((n * H + yy) * W + xx) * C + c]!;
        }
    }
  }
  return new HostTensor([N, Ho, Wo, C], out);
}
