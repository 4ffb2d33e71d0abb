/**
 * Layout ops that produce a new contiguous tensor: permute / transpose, concat and slice. Any dtype (32-bit
 * words are copied bit-exactly). All of them are one strided copy, simplified first: size-1 axes are dropped
 * and axes that are contiguous in both source and destination merged (so concat is at most a 2-D copy per
 * input, and NCHW → NHWC a batched 2-D transpose); what ends up contiguous on both sides is a plain
 * buffer-to-buffer copy. A permute that simplifies to a (batched) 2-D transpose takes a tiled kernel (variant
 * `tiled` of `transposeKernel`; `direct` is the general strided kernel). reshape is a view on Tensor.
 */
import type { Engine } from '../device/engine.js';
import { assert, fmtShape } from '../device/errors.js';
import { HostTensor, forEachIndex, type TensorMeta } from '../graph/host.js';
import { broadcastShapes, broadcastStrides, sameShape, sizeOf, stridesOf } from '../graph/shape.js';
import type { Tensor } from '../graph/tensor.js';
import stridedCopyWgsl from '../../shaders/strided_copy.wgsl';
import transposeWgsl from '../../shaders/transpose.wgsl';
import { sumToShape } from './elementwise.js';
import { defineOp, type Op, type Plan } from './op.js';
import { Uniforms } from './uniforms.js';
import { registerTunable } from './variants.js';

const MAX_RANK = 8;
const WG = 256;
const TILE = 32;
const copyRows = { name: 'strided_copy', code: stridedCopyWgsl, entryPoint: 'rows' };
const copyElements = { name: 'strided_copy', code: stridedCopyWgsl, entryPoint: 'elements' };
/** Innermost rows at least this long are copied a workgroup per row chunk (offsets worked out per workgroup). */
const ROW_MIN = 32;
/** Elements per workgroup in the rows kernel: a chunk of a long row or whole short rows (CHUNK in strided_copy.wgsl). */
const ROW_CHUNK = 1024;
const transposeKernelSrc = { name: 'transpose', code: transposeWgsl };

// ------------------------------------------------------------------------------------------- strided copy

interface CopyShape {
  shape: number[];
  src: number[];
  dst: number[];
}

/** Drops size-1 axes and merges an axis into the previous one when both sides are contiguous across them. */
function simplify(shape: readonly number[], src: readonly number[], dst: readonly number[]): CopyShape {
  const out: CopyShape = { shape: [], src: [], dst: [] };
  shape.forEach((d, a) => {
    if (d === 1) return;
    const last = out.shape.length - 1;
    if (last >= 0 && out.src[last] === src[a]! * d && out.dst[last] === dst[a]! * d) {
      out.shape[last] *= d;
      out.src[last] = src[a]!;
      out.dst[last] = dst[a]!;
    } else {
      out.shape.push(d);
      out.src.push(src[a]!);
      out.dst.push(dst[a]!);
    }
  });
  return out;
}

/** Copies the elements of `shape` read at srcBase + Σ c·srcStrides to dstBase + Σ c·dstStrides. */
function stridedCopy(
  engine: Engine,
  label: string,
  src: Tensor,
  srcBase: number,
  srcStrides: readonly number[],
  dst: Tensor,
  dstBase: number,
  dstStrides: readonly number[],
  shape: readonly number[],
): void {
  const n = sizeOf(shape);
  if (n === 0) return;
  const s = simplify(shape, srcStrides, dstStrides);
  if (s.shape.length === 0 || (s.shape.length === 1 && s.src[0] === 1 && s.dst[0] === 1)) {
    engine.runtime.copyBuffer(src.buffer, srcBase * 4, dst.buffer, dstBase * 4, n * 4, label);
    return;
  }
  const width = s.shape[s.shape.length - 1]!;
  const byRows = width >= ROW_MIN;
  const chunks = Math.ceil(width / ROW_CHUNK);
  const rowsPerWg = chunks > 1 ? 1 : Math.floor(ROW_CHUNK / width);
  const nrows = n / width;
  engine.runtime.dispatch({
    kernel: byRows ? copyRows : copyElements,
    label: `${label}: strided copy ${fmtShape(s.shape)}`,
    uniforms: new Uniforms().u32(n, s.shape.length, srcBase, dstBase, chunks, rowsPerWg, 0, 0).u32Array(s.shape, 2).u32Array(s.src, 2).u32Array(s.dst, 2),
    bindings: [src.binding(), dst.binding()],
    grid: byRows ? (chunks > 1 ? nrows * chunks : Math.ceil(nrows / rowsPerWg)) : Math.ceil(n / WG),
  });
}

// ------------------------------------------------------------------------------------------- permute

export interface PermutePlan extends Plan {
  perm: number[];
}

function planPermute(op: string, x: TensorMeta, perm: readonly number[]): PermutePlan {
  const rank = x.shape.length;
  assert(rank <= MAX_RANK, op, () => `supports up to ${MAX_RANK} dimensions, got ${fmtShape(x.shape)}`);
  assert(perm.length === rank, op, () => `permutation [${perm.join(', ')}] has ${perm.length} entries for a tensor of shape ${fmtShape(x.shape)} (rank ${rank})`);
  const norm = perm.map((p) => (p < 0 ? p + rank : p));
  norm.forEach((p, i) => {
    assert(Number.isInteger(perm[i]) && p >= 0 && p < rank, op, () => `permutation [${perm.join(', ')}] has ${perm[i]}, out of range for shape ${fmtShape(x.shape)}`);
  });
  assert(new Set(norm).size === rank, op, () => `[${perm.join(', ')}] is not a permutation of the axes of ${fmtShape(x.shape)} (an axis repeats)`);
  return { shape: norm.map((p) => x.shape[p]!), dtype: x.dtype, perm: norm };
}

/** Writes x permuted into a new tensor with the given variant ('tiled' or 'direct'). */
function runPermute(plan: PermutePlan, x: Tensor, variant: string, name: string): Tensor {
  const engine = x.engine;
  const out = engine.empty(plan.shape, plan.dtype);
  if (out.size === 0) return out;
  const inStrides = stridesOf(x.shape);
  const srcStrides = plan.perm.map((p) => inStrides[p]!);
  const label = `${name} ${fmtShape(x.shape)} by [${plan.perm.join(', ')}]`;
  const s = simplify(plan.shape, srcStrides, stridesOf(plan.shape));
  // Output [P, Q] from input [Q, P], or [N, P, Q] from [N, Q, P]: a (batched) 2-D transpose.
  const r = s.shape.length;
  const is2d = r >= 2 && r <= 3 && s.src[r - 2] === 1 && s.src[r - 1] === s.shape[r - 2] && (r === 2 || s.src[0] === s.shape[1]! * s.shape[2]!);
  if (variant === 'tiled' && is2d) {
    const batch = r === 3 ? s.shape[0]! : 1;
    const rows = s.shape[r - 1]!;
    const cols = s.shape[r - 2]!;
    const tilesR = Math.ceil(rows / TILE);
    const tilesC = Math.ceil(cols / TILE);
    engine.runtime.dispatch({
      kernel: transposeKernelSrc,
      label: `${label}: tiled transpose [${batch}, ${rows}, ${cols}]`,
      uniforms: new Uniforms().u32(batch, rows, cols, tilesR, tilesC),
      bindings: [x.binding(), out.binding()],
      grid: batch * tilesR * tilesC,
    });
    return out;
  }
  stridedCopy(engine, label, x, 0, srcStrides, out, 0, stridesOf(plan.shape), plan.shape);
  return out;
}

/**
 * The (batched) 2-D transpose path: `tiled` stages 32×32 tiles in workgroup memory so reads and writes are
 * both contiguous (the usual fast path on GPUs); `direct` is the general strided copy, reading with a stride.
 * `direct` comes first because it is the faster on lavapipe (1024² in ~9 ms against ~20 ms: workgroup memory
 * takes the same slow per-lane path as buffers there, so the tile only adds work); on a real GPU, tuning
 * (`engine.variants.tune()`) picks `tiled`.
 */
export const transposeKernel = registerTunable<Tensor>({
  name: 'transpose',
  variants: [
    { name: 'direct', supported: () => true, run: (_e, x) => runPermute(planPermute('transpose', x, [1, 0]), x, 'direct', 'transpose') },
    { name: 'tiled', supported: () => true, run: (_e, x) => runPermute(planPermute('transpose', x, [1, 0]), x, 'tiled', 'transpose') },
  ],
  sample(engine) {
    const x = engine.empty([1024, 1024]);
    return { problem: x, dispose: () => x.dispose() };
  },
});

function permuteCpu(plan: PermutePlan, x: HostTensor): HostTensor {
  const out = HostTensor.zeros(plan.shape, plan.dtype);
  const inStrides = x.strides;
  forEachIndex(plan.shape, (idx, flat) => {
    let off = 0;
    for (let i = 0; i < idx.length; i++) off += idx[i]! * inStrides[plan.perm[i]!]!;
    out.data[flat] = x.data[off]!;
  });
  return out;
}

/** out[i0, i1, …] = x[i_perm⁻¹…]: axis i of the output is axis perm[i] of x (negative entries allowed). */
export const permute: Op<[x: Tensor, perm: readonly number[]], PermutePlan> = defineOp<[x: Tensor, perm: readonly number[]], PermutePlan>({
  name: 'permute',
  check: (x, perm) => planPermute('permute', x, perm),
  gpu: (plan, x) => runPermute(plan, x, x.engine.variants.pick(transposeKernel).name, 'permute'),
  cpu: permuteCpu,
  backward: {
    grad({ plan }, dy) {
      const inverse = new Array<number>(plan.perm.length);
      plan.perm.forEach((p, i) => (inverse[p] = i));
      return [permute(dy, inverse)];
    },
  },
});

/** Swaps two axes (default the last two) into a new contiguous tensor. */
export const transpose = defineOp<[x: Tensor, dim0?: number, dim1?: number], PermutePlan>({
  name: 'transpose',
  check(x, dim0 = -2, dim1 = -1) {
    const rank = x.shape.length;
    const a = dim0 < 0 ? dim0 + rank : dim0;
    const b = dim1 < 0 ? dim1 + rank : dim1;
    for (const [d, n] of [[dim0, a], [dim1, b]] as const) {
      assert(Number.isInteger(d) && n >= 0 && n < rank, 'transpose', () => `dimension ${d} is out of range for a tensor of shape ${fmtShape(x.shape)} (rank ${rank})`);
    }
    const perm = [...Array(rank).keys()];
    perm[a] = b;
    perm[b] = a;
    return planPermute('transpose', x, perm);
  },
  gpu: (plan, x) => runPermute(plan, x, x.engine.variants.pick(transposeKernel).name, 'transpose'),
  cpu: permuteCpu,
  backward: { grad: ({ plan }, dy) => [permute(dy, plan.perm)] }, // a transposition is its own inverse
});

// ------------------------------------------------------------------------------------------- concat

export interface ConcatPlan extends Plan {
  axis: number;
}

/** Joins tensors along `axis` (negative allowed); the other dimensions and the dtypes must match. */
export const concat = defineOp<[tensors: readonly Tensor[], axis?: number], ConcatPlan>({
  name: 'concat',
  check(tensors, axis = 0) {
    assert(tensors.length > 0, 'concat', () => 'needs at least one tensor');
    const first = tensors[0]!;
    const rank = first.shape.length;
    const all = () => tensors.map((t) => fmtShape(t.shape)).join(', ');
    const a = axis < 0 ? axis + rank : axis;
    assert(Number.isInteger(axis) && a >= 0 && a < rank, 'concat', () => `axis ${axis} is out of range for shapes ${all()} (rank ${rank})`);
    let along = 0;
    tensors.forEach((t, i) => {
      assert(t.dtype === first.dtype, 'concat', () => `tensor ${i} is ${t.dtype} ${fmtShape(t.shape)} but tensor 0 is ${first.dtype}; dtypes must be equal`);
      const same = t.shape.length === rank && t.shape.every((d, j) => j === a || d === first.shape[j]);
      assert(same, 'concat', () => `tensor ${i} has shape ${fmtShape(t.shape)} but tensor 0 has ${fmtShape(first.shape)}; shapes must match except along axis ${axis} (got ${all()})`);
      along += t.shape[a]!;
    });
    return { shape: first.shape.map((d, j) => (j === a ? along : d)), dtype: first.dtype, axis: a };
  },
  gpu(plan, tensors) {
    const engine = tensors[0]!.engine;
    const out = engine.empty(plan.shape, plan.dtype);
    const outer = sizeOf(plan.shape.slice(0, plan.axis));
    const total = sizeOf(plan.shape.slice(plan.axis));
    let offset = 0;
    tensors.forEach((t, i) => {
      const inner = sizeOf(t.shape.slice(plan.axis));
      const label = `concat input ${i} ${fmtShape(t.shape)} into ${fmtShape(plan.shape)}`;
      stridedCopy(engine, label, t, 0, [inner, 1], out, offset, [total, 1], [outer, inner]);
      offset += inner;
    });
    return out;
  },
  cpu(plan, tensors) {
    const out = HostTensor.zeros(plan.shape, plan.dtype);
    const outer = sizeOf(plan.shape.slice(0, plan.axis));
    const total = sizeOf(plan.shape.slice(plan.axis));
    let offset = 0;
    for (const t of tensors) {
      const inner = sizeOf(t.shape.slice(plan.axis));
      for (let o = 0; o < outer; o++) for (let j = 0; j < inner; j++) out.data[o * total + offset + j] = t.data[o * inner + j]!;
      offset += inner;
    }
    return out;
  },
  backward: {
    grad({ plan, args: [tensors], needsGrad }, dy) {
      let start = 0;
      return tensors.map((t, i) => {
        const end = start + t.shape[plan.axis]!;
        const g = needsGrad[i] ? slice(dy, [start], [end], [1], [plan.axis]) : null;
        start = end;
        return g;
      });
    },
  },
});

// ------------------------------------------------------------------------------------------- slice

export interface SlicePlan extends Plan {
  begin: number[];
  step: number[];
}

/**
 * x[starts:ends:steps] per axis, Python-style: negative indices count from the end, out-of-range ones clamp,
 * steps are positive. `starts`/`ends`/`steps` apply to `axes` when given, else to the leading axes; the rest are
 * kept whole. ±Infinity are valid bounds.
 */
export const slice = defineOp<[x: Tensor, starts: readonly number[], ends: readonly number[], steps?: readonly number[], axes?: readonly number[]], SlicePlan>({
  name: 'slice',
  check(x, starts, ends, steps, axes) {
    const rank = x.shape.length;
    const what = () => `starts [${starts.join(', ')}], ends [${ends.join(', ')}]${steps ? `, steps [${steps.join(', ')}]` : ''}${axes ? `, axes [${axes.join(', ')}]` : ''} of ${fmtShape(x.shape)}`;
    assert(rank <= MAX_RANK, 'slice', () => `supports up to ${MAX_RANK} dimensions, got ${fmtShape(x.shape)}`);
    assert(starts.length === ends.length && (!steps || steps.length === starts.length) && (!axes || axes.length === starts.length), 'slice', () => `${what()}: the lists must have equal lengths`);
    assert(axes !== undefined || starts.length <= rank, 'slice', () => `${what()}: more bounds than axes`);
    const axisList = axes ? axes.map((a) => (a < 0 ? a + rank : a)) : starts.map((_, i) => i);
    axisList.forEach((a, i) => assert(Number.isInteger(axes ? axes[i] : a) && a >= 0 && a < rank, 'slice', () => `${what()}: axis ${axes![i]} is out of range`));
    assert(new Set(axisList).size === axisList.length, 'slice', () => `${what()}: an axis repeats`);
    const begin = new Array<number>(rank).fill(0);
    const step = new Array<number>(rank).fill(1);
    const shape = [...x.shape];
    const isBound = (v: number) => Number.isInteger(v) || v === Infinity || v === -Infinity;
    axisList.forEach((a, i) => {
      const d = x.shape[a]!;
      const st = steps?.[i] ?? 1;
      assert(isBound(starts[i]!) && isBound(ends[i]!), 'slice', () => `${what()}: bounds must be integers`);
      assert(Number.isInteger(st) && st > 0, 'slice', () => `${what()}: step ${st} on axis ${a} must be a positive integer`);
      const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + d : v, 0), d);
      const s = clamp(starts[i]!);
      const e = clamp(ends[i]!);
      begin[a] = s;
      step[a] = st;
      shape[a] = Math.max(0, Math.ceil((e - s) / st));
    });
    return { shape, dtype: x.dtype, begin, step };
  },
  gpu(plan, x) {
    const out = x.engine.empty(plan.shape, plan.dtype);
    const strides = stridesOf(x.shape);
    const base = plan.begin.reduce((p, b, a) => p + b * strides[a]!, 0);
    const label = `slice ${fmtShape(x.shape)} → ${fmtShape(plan.shape)}`;
    stridedCopy(x.engine, label, x, base, strides.map((s, a) => s * plan.step[a]!), out, 0, stridesOf(plan.shape), plan.shape);
    return out;
  },
  cpu(plan, x) {
    const out = HostTensor.zeros(plan.shape, plan.dtype);
    const strides = x.strides;
    forEachIndex(plan.shape, (idx, flat) => {
      let off = 0;
      for (let a = 0; a < idx.length; a++) off += (plan.begin[a]! + idx[a]! * plan.step[a]!) * strides[a]!;
      out.data[flat] = x.data[off]!;
    });
    return out;
  },
  backward: {
    grad({ plan, args: [x] }, dy) {
      // Zeros of the input's shape with dy written back at the sliced positions.
      const g = dy.engine.zeros(x.shape, dy.dtype);
      const strides = stridesOf(x.shape);
      const base = plan.begin.reduce((p, b, a) => p + b * strides[a]!, 0);
      stridedCopy(dy.engine, `slice backward ${fmtShape(plan.shape)} → ${fmtShape(x.shape)}`, dy, 0, stridesOf(plan.shape), g, base, strides.map((st, a) => st * plan.step[a]!), plan.shape);
      return [g];
    },
  },
});

// ------------------------------------------------------------------------------------------- expand

/** Broadcasts x to `shape` (NumPy rules) into a new contiguous tensor; its gradient sums back over the broadcast axes. */
export const expand = defineOp<[x: Tensor, shape: readonly number[]], Plan>({
  name: 'expand',
  check(x, shape) {
    const out = broadcastShapes('expand', x.shape, shape);
    assert(sameShape(out, shape), 'expand', () => `cannot broadcast ${fmtShape(x.shape)} to ${fmtShape(shape)}`);
    assert(shape.length <= MAX_RANK, 'expand', () => `supports up to ${MAX_RANK} dimensions, got ${fmtShape(shape)}`);
    return { shape: [...shape], dtype: x.dtype };
  },
  gpu(plan, x) {
    const out = x.engine.empty(plan.shape, plan.dtype);
    stridedCopy(x.engine, `expand ${fmtShape(x.shape)} → ${fmtShape(plan.shape)}`, x, 0, broadcastStrides(x.shape, plan.shape), out, 0, stridesOf(plan.shape), plan.shape);
    return out;
  },
  cpu(plan, x) {
    const out = HostTensor.zeros(plan.shape, plan.dtype);
    const strides = broadcastStrides(x.shape, plan.shape);
    forEachIndex(plan.shape, (idx, flat) => {
      let off = 0;
      for (let a = 0; a < idx.length; a++) off += idx[a]! * strides[a]!;
      out.data[flat] = x.data[off]!;
    });
    return out;
  },
  backward: { grad: ({ args: [x] }, dy) => [sumToShape(dy.detach(), x.shape)] },
});
