/**
 * Spatial transformer (M4, Deep-Emotion): an affine sampling grid from θ [N, 2, 3] and bilinear grid sampling
 * of an NHWC image with zero padding, both with PyTorch's semantics (`affine_grid`, `grid_sample` with
 * mode 'bilinear', padding_mode 'zeros') for either `alignCorners`, and their backward passes:
 * - gridSample → input: a scatter of dy·w into the four texels each output sampled. An input texel cannot
 *   enumerate the outputs that read it for an arbitrary grid, so it is done with atomics: WebGPU has no float
 *   atomics, so a compare-exchange loop on the f32 bits. Each add is exact; the order of the adds (and so the
 *   last bits of a sum) can vary between runs.
 * - gridSample → grid: the bilinear weights' derivatives, a gather (one invocation per output location).
 * - affineGrid → θ: six sums over the H·W locations per sample, reduced in workgroup memory.
 * Grids hold (x, y) pairs in [−1, 1] ([N, Ho, Wo, 2]); x indexes width, y height.
 */
import { assert, fmtShape } from '../device/errors.js';
import { HostTensor, type TensorMeta } from '../graph/host.js';
import type { Tensor } from '../graph/tensor.js';
import affineGridWgsl from '../../shaders/grid_sample_affine_grid.wgsl';
import affineGridBackwardWgsl from '../../shaders/grid_sample_affine_grid_backward.wgsl';
import gridSampleWgsl from '../../shaders/grid_sample.wgsl';
import backwardInputWgsl from '../../shaders/grid_sample_backward_input.wgsl';
import backwardGridWgsl from '../../shaders/grid_sample_backward_grid.wgsl';
import { fill } from './fill.js';
import { defineMultiOp, type MultiOp, type MultiPlan } from './multi-op.js';
import { defineOp, type Plan } from './op.js';
import { Uniforms } from './uniforms.js';

const kernels = {
  affineGrid: { name: 'grid_sample_affine_grid', code: affineGridWgsl },
  affineGridBackward: { name: 'grid_sample_affine_grid_backward', code: affineGridBackwardWgsl },
  sample: { name: 'grid_sample', code: gridSampleWgsl },
  backwardInput: { name: 'grid_sample_backward_input', code: backwardInputWgsl },
  backwardGrid: { name: 'grid_sample_backward_grid', code: backwardGridWgsl },
};

export interface GridSampleOptions {
  /** PyTorch's align_corners: ±1 are the centres of the corner pixels (true) or their outer edges (false, default). */
  alignCorners?: boolean;
}

// ------------------------------------------------------------------------------------------ affine grid

interface GridPlan extends Plan {
  N: number;
  H: number;
  W: number;
  align: boolean;
}

/** Normalised coordinate of index i along an axis of `size` (PyTorch's affine_grid base grid). */
function baseCoord(i: number, size: number, align: boolean): number {
  if (size <= 1) return 0;
  return align ? -1 + (2 * i) / (size - 1) : (2 * i + 1) / size - 1;
}

/**
 * The output size of affineGrid: [N, H, W], or an NHWC shape marked as such ({ nhwc: [N, H, W, C] }). A bare
 * 4-D size is refused: PyTorch's affine_grid takes NCHW [N, C, H, W], this engine's images are NHWC, and
 * reading one as the other would silently give a grid of the wrong shape.
 */
export type GridSize = readonly number[] | { readonly nhwc: readonly number[] };

function checkSize(op: string, size: GridSize): [number, number, number] {
  const dims = (s: readonly number[]) => s.every((d) => Number.isInteger(d) && d >= 0);
  if (size && !Array.isArray(size) && typeof size === 'object' && 'nhwc' in size) {
    const s = size.nhwc;
    assert(Array.isArray(s) && s.length === 4 && dims(s), op, () => `size { nhwc } must be an NHWC shape [N, H, W, C] of non-negative integers, got ${JSON.stringify(s)}`);
    return [s[0]!, s[1]!, s[2]!];
  }
  const s = size as readonly number[];
  if (Array.isArray(s) && s.length === 4) {
    const hint = dims(s) ? ` (if it is PyTorch's NCHW size, pass [N, H, W] = ${JSON.stringify([s[0], s[2], s[3]])})` : '';
    assert(false, op, () => `size ${JSON.stringify(s)} is 4-D, which is ambiguous: PyTorch's affine_grid takes NCHW [N, C, H, W], this engine's images are NHWC; pass the output [N, H, W] or { nhwc: [N, H, W, C] }${hint}`);
  }
  assert(Array.isArray(s) && s.length === 3 && dims(s), op, () => `size must be the output [N, H, W] of non-negative integers (or { nhwc: [N, H, W, C] }), got ${JSON.stringify(size)}`);
  return [s[0]!, s[1]!, s[2]!];
}

function gridUniforms(p: { N: number; H: number; W: number; align: boolean }): Uniforms {
  return new Uniforms().u32(p.N, p.H, p.W, p.align ? 1 : 0);
}

/** dθ from dgrid [N, H, W, 2]: the six sums Σ dgrid_r·(x_s, y_s, 1) per sample. */
export const affineGridBackward = defineOp<[dgrid: Tensor, alignCorners?: boolean], GridPlan>({
  name: 'affineGridBackward',
  check(dgrid, alignCorners = false) {
    const s = dgrid.shape;
    assert(dgrid.dtype === 'f32' && s.length === 4 && s[3] === 2, 'affineGridBackward', () => `dgrid must be f32 [N, H, W, 2], got ${dgrid.dtype} ${fmtShape(s)}`);
    return { shape: [s[0]!, 2, 3], dtype: 'f32', N: s[0]!, H: s[1]!, W: s[2]!, align: Boolean(alignCorners) };
  },
  gpu(plan, dgrid) {
    const engine = dgrid.engine;
    if (plan.H * plan.W === 0) return fill(engine, plan.shape, 0);
    const out = engine.empty(plan.shape);
    engine.runtime.dispatch({
      kernel: kernels.affineGridBackward,
      label: `affineGridBackward ${fmtShape(dgrid.shape)}`,
      uniforms: gridUniforms(plan),
      bindings: [dgrid.binding(), out.binding()],
      grid: plan.N,
    });
    return out;
  },
  cpu(plan, dgrid) {
    const { N, H, W, align } = plan;
    const out = HostTensor.zeros(plan.shape);
    const acc = new Float64Array(6);
    for (let n = 0; n < N; n++) {
      acc.fill(0);
      for (let y = 0; y < H; y++) {
        for (let x = 0; x < W; x++) {
          const xs = baseCoord(x, W, align);
          const ys = baseCoord(y, H, align);
          const o = ((n * H + y) * W + x) * 2;
          const [gx, gy] = [dgrid.data[o]!, dgrid.data[o + 1]!];
          acc[0] += gx * xs;
          acc[1] += gx * ys;
          acc[2] += gx;
          acc[3] += gy * xs;
          acc[4] += gy * ys;
          acc[5] += gy;
        }
      }
      for (let k = 0; k < 6; k++) out.data[n * 6 + k] = acc[k]!;
    }
    return out;
  },
});

/** The sampling grid [N, H, W, 2] of the affine maps θ [N, 2, 3] (PyTorch's affine_grid). */
export const affineGrid = defineOp<[theta: Tensor, size: GridSize, alignCorners?: boolean], GridPlan>({
  name: 'affineGrid',
  check(theta, size, alignCorners = false) {
    const op = 'affineGrid';
    const [N, H, W] = checkSize(op, size);
    assert(theta.dtype === 'f32' && theta.shape.join() === `${N},2,3`, op, () => `theta must be f32 [${N}, 2, 3] for size ${JSON.stringify(size)}, got ${theta.dtype} ${fmtShape(theta.shape)}`);
    return { shape: [N, H, W, 2], dtype: 'f32', N, H, W, align: Boolean(alignCorners) };
  },
  gpu(plan, theta) {
    const engine = theta.engine;
    const out = engine.empty(plan.shape);
    engine.runtime.dispatch({
      kernel: kernels.affineGrid,
      label: `affineGrid ${fmtShape(plan.shape)}`,
      uniforms: gridUniforms(plan),
      bindings: [theta.binding(), out.binding()],
      grid: Math.ceil((plan.N * plan.H * plan.W) / 64),
    });
    return out;
  },
  cpu(plan, theta) {
    const { N, H, W, align } = plan;
    const out = HostTensor.zeros(plan.shape);
    for (let n = 0; n < N; n++) {
      const t = (k: number) => theta.data[n * 6 + k]!;
      for (let y = 0; y < H; y++) {
        for (let x = 0; x < W; x++) {
          const xs = baseCoord(x, W, align);
          const ys = baseCoord(y, H, align);
          const o = ((n * H + y) * W + x) * 2;
          out.data[o] = t(0) * xs + t(1) * ys + t(2);
          out.data[o + 1] = t(3) * xs + t(4) * ys + t(5);
        }
      }
    }
    return out;
  },
  backward: {
    grad: ({ plan }, dy) => [affineGridBackward(dy, plan.align)],
  },
});

// ------------------------------------------------------------------------------------------ grid sample

interface SamplePlan extends Plan {
  N: number;
  H: number;
  W: number;
  C: number;
  Ho: number;
  Wo: number;
  align: boolean;
}

function checkSample(op: string, x: TensorMeta, grid: TensorMeta, options: GridSampleOptions = {}): SamplePlan {
  assert(x.dtype === 'f32' && x.shape.length === 4, op, () => `input must be f32 NHWC [N, H, W, C], got ${x.dtype} ${fmtShape(x.shape)}`);
  const [N, H, W, C] = x.shape as [number, number, number, number];
  const g = grid.shape;
  assert(grid.dtype === 'f32' && g.length === 4 && g[3] === 2 && g[0] === N, op, () => `grid must be f32 [${N}, Ho, Wo, 2] for input ${fmtShape(x.shape)}, got ${grid.dtype} ${fmtShape(g)}`);
  return { shape: [N, g[1]!, g[2]!, C], dtype: 'f32', N, H, W, C, Ho: g[1]!, Wo: g[2]!, align: Boolean(options.alignCorners) };
}

function sampleUniforms(p: SamplePlan): Uniforms {
  return new Uniforms().u32(p.N, p.H, p.W, p.C, p.Ho, p.Wo, p.align ? 1 : 0, 0);
}

function unnormalise(g: number, size: number, align: boolean): number {
  if (Number.isNaN(g)) return -2; // samples nothing: 0, as PyTorch's zeros padding (and the shaders)
  const i = align ? ((g + 1) / 2) * (size - 1) : ((g + 1) * size - 1) / 2;
  return Math.min(Math.max(i, -2), size + 1);
}

/** The four taps of one sample: corner offsets (dy, dx) with their weights, and the fractional parts. */
function taps(plan: SamplePlan, gx: number, gy: number): { x0: number; y0: number; wx: number; wy: number } {
  const ix = unnormalise(gx, plan.W, plan.align);
  const iy = unnormalise(gy, plan.H, plan.align);
  const x0 = Math.floor(ix);
  const y0 = Math.floor(iy);
  return { x0, y0, wx: ix - x0, wy: iy - y0 };
}

function texel(plan: SamplePlan, x: HostTensor, n: number, yy: number, xx: number, c: number): number {
  if (yy < 0 || xx < 0 || yy >= plan.H || xx >= plan.W) return 0;
  return x.data[((n * plan.H + yy) * plan.W + xx) * plan.C + c]!;
}

export const gridSampleBackwardInput = defineOp<[dy: Tensor, grid: Tensor, inputShape: readonly number[], options?: GridSampleOptions], SamplePlan>({
  name: 'gridSampleBackwardInput',
  check(dy, grid, inputShape, options) {
    const op = 'gridSampleBackwardInput';
    const plan = checkSample(op, { shape: inputShape, dtype: 'f32' }, grid, options);
    assert(dy.dtype === 'f32' && dy.shape.join() === plan.shape.join(), op, () => `dy must be f32 ${fmtShape(plan.shape)}, got ${dy.dtype} ${fmtShape(dy.shape)}`);
    return { ...plan, shape: [...inputShape] };
  },
  gpu(plan, dy, grid) {
    const engine = dy.engine;
    const dx = fill(engine, plan.shape, 0);
    if (dy.size === 0) return dx;
    engine.runtime.dispatch({
      kernel: kernels.backwardInput,
      label: `gridSampleBackwardInput ${fmtShape(plan.shape)} grid ${fmtShape(grid.shape)}`,
      uniforms: sampleUniforms(plan),
      bindings: [dy.binding(), grid.binding(), dx.binding()],
      grid: Math.ceil(dy.size / 64),
    });
    return dx;
  },
  cpu(plan, dy, grid) {
    const dx = new Float64Array(plan.N * plan.H * plan.W * plan.C);
    const { C } = plan;
    for (let p = 0; p < plan.N * plan.Ho * plan.Wo; p++) {
      const n = Math.floor(p / (plan.Ho * plan.Wo));
      const { x0, y0, wx, wy } = taps(plan, grid.data[2 * p]!, grid.data[2 * p + 1]!);
      const corners: [number, number, number][] = [
        [y0, x0, (1 - wx) * (1 - wy)],
        [y0, x0 + 1, wx * (1 - wy)],
        [y0 + 1, x0, (1 - wx) * wy],
        [y0 + 1, x0 + 1, wx * wy],
      ];
      for (const [yy, xx, w] of corners) {
        if (yy < 0 || xx < 0 || yy >= plan.H || xx >= plan.W) continue;
        for (let c = 0; c < C; c++) dx[((n * plan.H + yy) * plan.W + xx) * C + c] += w * dy.data[p * C + c]!;
      }
    }
    return HostTensor.from(dx, plan.shape);
  },
});

export const gridSampleBackwardGrid = defineOp<[dy: Tensor, x: Tensor, grid: Tensor, options?: GridSampleOptions], SamplePlan>({
  name: 'gridSampleBackwardGrid',
  check(dy, x, grid, options) {
    const op = 'gridSampleBackwardGrid';
    const plan = checkSample(op, x, grid, options);
    assert(dy.dtype === 'f32' && dy.shape.join() === plan.shape.join(), op, () => `dy must be f32 ${fmtShape(plan.shape)}, got ${dy.dtype} ${fmtShape(dy.shape)}`);
    return { ...plan, shape: [...grid.shape] };
  },
  gpu(plan, dy, x, grid) {
    const engine = dy.engine;
    const dgrid = engine.empty(plan.shape);
    engine.runtime.dispatch({
      kernel: kernels.backwardGrid,
      label: `gridSampleBackwardGrid ${fmtShape(x.shape)} grid ${fmtShape(grid.shape)}`,
      uniforms: sampleUniforms(plan),
      bindings: [dy.binding(), x.binding(), grid.binding(), dgrid.binding()],
      grid: Math.ceil((plan.N * plan.Ho * plan.Wo) / 64),
    });
    return dgrid;
  },
  cpu(plan, dy, x, grid) {
    const out = HostTensor.zeros(plan.shape);
    const sx = plan.align ? (plan.W - 1) / 2 : plan.W / 2;
    const sy = plan.align ? (plan.H - 1) / 2 : plan.H / 2;
    for (let p = 0; p < plan.N * plan.Ho * plan.Wo; p++) {
      const n = Math.floor(p / (plan.Ho * plan.Wo));
      const { x0, y0, wx, wy } = taps(plan, grid.data[2 * p]!, grid.data[2 * p + 1]!);
      let gx = 0;
      let gy = 0;
      for (let c = 0; c < plan.C; c++) {
        const g = dy.data[p * plan.C + c]!;
        const v00 = texel(plan, x, n, y0, x0, c);
        const v01 = texel(plan, x, n, y0, x0 + 1, c);
        const v10 = texel(plan, x, n, y0 + 1, x0, c);
        const v11 = texel(plan, x, n, y0 + 1, x0 + 1, c);
        gx += g * ((v01 - v00) * (1 - wy) + (v11 - v10) * wy);
        gy += g * ((v10 - v00) * (1 - wx) + (v11 - v01) * wx);
      }
      out.data[2 * p] = gx * sx;
      out.data[2 * p + 1] = gy * sy;
    }
    return out;
  },
});

/** Bilinear sampling of an NHWC input at grid [N, Ho, Wo, 2] (x, y in [−1, 1]), zeros outside: [N, Ho, Wo, C]. */
export const gridSample = defineOp<[x: Tensor, grid: Tensor, options?: GridSampleOptions], SamplePlan>({
  name: 'gridSample',
  check: (x, grid, options) => checkSample('gridSample', x, grid, options),
  gpu(plan, x, grid) {
    const engine = x.engine;
    const out = engine.empty(plan.shape);
    engine.runtime.dispatch({
      kernel: kernels.sample,
      label: `gridSample ${fmtShape(x.shape)} grid ${fmtShape(grid.shape)}`,
      uniforms: sampleUniforms(plan),
      bindings: [x.binding(), grid.binding(), out.binding()],
      grid: Math.ceil(out.size / 64),
    });
    return out;
  },
  cpu(plan, x, grid) {
    const out = HostTensor.zeros(plan.shape);
    for (let p = 0; p < plan.N * plan.Ho * plan.Wo; p++) {
      const n = Math.floor(p / (plan.Ho * plan.Wo));
      const { x0, y0, wx, wy } = taps(plan, grid.data[2 * p]!, grid.data[2 * p + 1]!);
      for (let c = 0; c < plan.C; c++) {
        out.data[p * plan.C + c] =
          (texel(plan, x, n, y0, x0, c) * (1 - wx) + texel(plan, x, n, y0, x0 + 1, c) * wx) * (1 - wy) +
          (texel(plan, x, n, y0 + 1, x0, c) * (1 - wx) + texel(plan, x, n, y0 + 1, x0 + 1, c) * wx) * wy;
      }
    }
    return out;
  },
  backward: {
    save: ([x, grid]) => [x, grid],
    grad({ plan, args, saved, needsGrad }, dy) {
      const [x, grid] = saved as [Tensor, Tensor];
      const options = args[2];
      return [
        needsGrad[0] ? gridSampleBackwardInput(dy, grid, [plan.N, plan.H, plan.W, plan.C], options) : null,
        needsGrad[1] ? gridSampleBackwardGrid(dy, x, grid, options) : null,
      ];
    },
  },
});

/** Both gradients of gridSample. */
export const gridSampleBackward: MultiOp<[dy: Tensor, x: Tensor, grid: Tensor, options?: GridSampleOptions], 'dx' | 'dgrid'> = defineMultiOp<
  [dy: Tensor, x: Tensor, grid: Tensor, options?: GridSampleOptions],
  'dx' | 'dgrid',
  MultiPlan<'dx' | 'dgrid'>
>({
  name: 'gridSampleBackward',
  check(dy, x, grid, options) {
    const plan = gridSampleBackwardGrid.decl.check(dy, x, grid, options);
    return { outputs: { dx: { shape: x.shape, dtype: 'f32' }, dgrid: { shape: plan.shape, dtype: 'f32' } } };
  },
  gpu: (_plan, dy, x, grid, options) => ({ dx: gridSampleBackwardInput(dy, grid, x.shape, options), dgrid: gridSampleBackwardGrid(dy, x, grid, options) }),
  cpu: (_plan, dy, x, grid, options) => ({ dx: gridSampleBackwardInput.cpu(dy, grid, x.shape, options), dgrid: gridSampleBackwardGrid.cpu(dy, x, grid, options) }),
});
