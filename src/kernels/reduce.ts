/**
 * Reductions over any set of axes: sum, mean, max, min (f32 out) and argmax (one axis, i32 out).
 *
 * Planning: size-1 axes are dropped and neighbouring axes that are both reduced (or both kept) are merged, so
 * the input reads as alternating groups [K0, R0, K1, R1, …]. Reduced groups are then removed innermost first,
 * each one a stage that reduces [B, R, K] → [B, K]:
 *  - K = 1 (the reduced axes are innermost and contiguous): the `rows` kernel, a group of invocations per row
 *    (a subgroup, or a workgroup-memory tree; see `reduceRowsKernel`), rows longer than 64 elements per
 *    invocation split into segments whose partial results further passes fold (with subgroups of 8, a
 *    1e6-element sum runs as 1954 parallel segments of 512, then 4 of ~489, then one of 4);
 *  - K > 1 (outer or middle axes, e.g. a sum over the batch of [N, C]), or short rows: the `cols` kernel,
 *    one invocation per output walking R with stride K (neighbouring invocations read neighbouring addresses),
 *    R split into chunks of 64 folded by further passes.
 * Mixed axes (e.g. [R, K, R]) thus take one stage per reduced group; each stage shrinks the data, so the
 * extra traffic is at most the first stage's output.
 *
 * Numerics: sums accumulate in f32, at most 64 elements in sequence per invocation, then a tree (subgroup or
 * workgroup memory) and a tree of passes, so the error grows like (64 + log2 n)·ε·Σ|x|; tests allow a
 * relative 1e-5·log2(n) on same-signed data. max/min/argmax compare order-preserving integer keys, so they are
 * exact and NaN-safe whatever the device does with float NaN: a NaN anywhere in a reduced set makes max/min
 * NaN and argmax the index of the first NaN (NumPy's rule); max/min of zeros return +0.
 * Empty reductions: sum over an axis of size 0 gives zeros (the identity); mean, max, min and argmax refuse.
 */
import type { Engine } from '../device/engine.js';
import { assert, fmtShape } from '../device/errors.js';
import { HostTensor, forEachIndex, type TensorMeta } from '../graph/host.js';
import { sizeOf, stridesOf } from '../graph/shape.js';
import type { Tensor } from '../graph/tensor.js';
import reduceWgsl from '../../shaders/reduce.wgsl';
import { binaryOp, div, mul, type BinaryOp } from './elementwise.js';
import { fill } from './fill.js';
import { expand } from './layout.js';
import { defineOp, type Op, type Plan } from './op.js';
import { Uniforms } from './uniforms.js';
import { registerTunable } from './variants.js';

const kernel = { name: 'reduce', code: reduceWgsl };
const WG = 256;
/** Elements one invocation folds in sequence before the tree: bounds f32 error growth and sets segment sizes. */
const PER_INVOCATION = 64;
/** Rows up to this long go to one invocation each (the cols kernel with K = 1): a group would idle. */
const TINY_ROW = 16;

type Mode = 'sum' | 'max' | 'min' | 'argmax';
export type ReduceKind = 'sum' | 'mean' | 'max' | 'min' | 'argmax';

interface Group {
  size: number;
  reduced: boolean;
}

export interface ReducePlan extends Plan {
  kind: ReduceKind;
  /** Normalised reduced axes, ascending. */
  axes: number[];
  /** Elements folded into each output. */
  count: number;
  /** The input as merged groups of axes (always at least one reduced group). */
  groups: Group[];
}

// ------------------------------------------------------------------------------------------- planning

function normAxes(op: string, x: TensorMeta, axes: number | readonly number[] | undefined): number[] {
  const rank = x.shape.length;
  if (axes === undefined) return [...Array(rank).keys()];
  const list = typeof axes === 'number' ? [axes] : [...axes];
  const seen = new Set<number>();
  for (const a of list) {
    const n = a < 0 ? a + rank : a;
    assert(Number.isInteger(a) && n >= 0 && n < rank, op, () => `axis ${a} is out of range for a tensor of shape ${fmtShape(x.shape)} (rank ${rank})`);
    assert(!seen.has(n), op, () => `axes [${list.join(', ')}] name axis ${n} twice (shape ${fmtShape(x.shape)})`);
    seen.add(n);
  }
  return [...seen].sort((p, q) => p - q);
}

/** Drops size-1 axes and merges neighbours of the same kind; ends with a reduced group when none remains. */
function groupAxes(shape: readonly number[], reduced: ReadonlySet<number>): Group[] {
  const groups: Group[] = [];
  shape.forEach((size, a) => {
    if (size === 1) return;
    const r = reduced.has(a);
    const last = groups[groups.length - 1];
    if (last && last.reduced === r) last.size *= size;
    else groups.push({ size, reduced: r });
  });
  // Only size-1 axes are reduced: one pass over a reduced axis of 1 copies (argmax: writes zeros).
  if (!groups.some((g) => g.reduced)) groups.push({ size: 1, reduced: true });
  return groups;
}

function planReduce(kind: ReduceKind, x: TensorMeta, axes: number | readonly number[] | undefined, keepDims: boolean): ReducePlan {
  assert(x.dtype === 'f32', kind, () => `expects an f32 tensor, got ${x.dtype} ${fmtShape(x.shape)}`);
  const list = normAxes(kind, x, axes);
  const set = new Set(list);
  const count = list.reduce((p, a) => p * x.shape[a]!, 1);
  if (kind !== 'sum') {
    const zero = list.find((a) => x.shape[a] === 0);
    assert(zero === undefined, kind, () => `cannot reduce over an empty axis: axis ${zero} of ${fmtShape(x.shape)} has size 0 and ${kind} has no identity`);
  }
  const shape = keepDims ? x.shape.map((d, a) => (set.has(a) ? 1 : d)) : x.shape.filter((_, a) => !set.has(a));
  return { shape, dtype: kind === 'argmax' ? 'i32' : 'f32', kind, axes: list, count, groups: groupAxes(x.shape, set) };
}

// ------------------------------------------------------------------------------------------- GPU passes

interface Partial {
  val: Tensor;
  idx: Tensor | undefined;
}

function defines(mode: Mode, idxIn: boolean, subgroup: boolean): Record<string, number> {
  return { MODE_SUM: mode === 'sum' ? 1 : 0, NEG: mode === 'min' ? 1 : 0, ARG: mode === 'argmax' ? 1 : 0, IDX_IN: idxIn ? 1 : 0, SUBGROUP: subgroup ? 1 : 0 };
}

/** The subgroup width the `subgroup` variant folds rows with, when the device has one fixed size that fits. */
function subgroupWidth(engine: Engine): number | undefined {
  const sg = engine.fixedSubgroupSize;
  return sg !== undefined && sg >= 4 && sg <= WG && (sg & (sg - 1)) === 0 ? sg : undefined;
}

/** Invocations per row: the subgroup, or a power of two sized so each folds about 32 elements. */
function groupWidth(engine: Engine, variant: string, n: number): number {
  if (variant === 'subgroup') return subgroupWidth(engine)!;
  let g = 4;
  while (g < WG && g * 32 < n) g *= 2;
  return g;
}

/** Splits a reduced axis of length n into segments of at most `max`, none empty. */
function segment(n: number, max: number): { segs: number; segLen: number } {
  const segLen = Math.ceil(n / Math.ceil(n / max));
  return { segs: Math.ceil(n / segLen), segLen };
}

/**
 * Reduces [B, R, K] → [B, K] in as many passes as it takes; `scale` multiplies the final sums. The input is
 * not disposed; intermediate partials are.
 */
function reduceStage(engine: Engine, variant: string, input: Partial, b: number, r: number, k: number, mode: Mode, scale: number, label: string): Partial {
  let cur = input;
  for (;;) {
    const useRows = k === 1 && r > TINY_ROW;
    const g = useRows ? groupWidth(engine, variant, r) : k;
    const { segs, segLen } = segment(r, useRows ? g * PER_INVOCATION : PER_INVOCATION);
    const items = b * segs * k;
    const out: Partial = { val: engine.empty([items]), idx: mode === 'argmax' ? engine.empty([items], 'i32') : undefined };
    const bindings = [cur.val.binding(), out.val.binding()];
    if (out.idx) bindings.push(out.idx.binding());
    if (cur.idx) bindings.push(cur.idx.binding());
    const subgroup = useRows && variant === 'subgroup';
    engine.runtime.dispatch({
      kernel: { ...kernel, entryPoint: useRows ? 'rows' : 'cols' },
      defines: defines(mode, cur.idx !== undefined, subgroup),
      label: `${label}: ${useRows ? `rows/${variant}` : 'cols'} [${b}, ${r}, ${k}] → ${segs} segment(s)`,
      uniforms: new Uniforms().u32(items, r, segLen, segs, g).f32(segs === 1 ? scale : 1),
      bindings,
      grid: useRows ? Math.ceil(items / (WG / g)) : Math.ceil(items / WG),
    });
    if (cur !== input) disposePartial(cur);
    cur = out;
    if (segs === 1) return cur;
    r = segs;
  }
}

function disposePartial(p: Partial): void {
  p.val.dispose();
  p.idx?.dispose();
}

/** Runs a planned reduction with the given rows variant. */
function runReduce(plan: ReducePlan, x: Tensor, variant: string): Tensor {
  const engine = x.engine;
  if (sizeOf(plan.shape) === 0) return engine.empty(plan.shape, plan.dtype);
  if (plan.count === 0) return fill(engine, plan.shape, 0); // a sum over an empty axis
  const mode: Mode = plan.kind === 'mean' ? 'sum' : plan.kind;
  const label = `${plan.kind} ${fmtShape(x.shape)} axes [${plan.axes.join(', ')}]`;
  let groups = plan.groups.map((g) => ({ ...g }));
  let cur: Partial = { val: x, idx: undefined };
  for (;;) {
    const j = groups.map((g) => g.reduced).lastIndexOf(true);
    if (j < 0) break;
    const outer = groups.slice(0, j);
    const finalStage = !outer.some((g) => g.reduced);
    const b = sizeOf(outer.map((g) => g.size));
    const k = sizeOf(groups.slice(j + 1).map((g) => g.size));
    const scale = finalStage && plan.kind === 'mean' ? 1 / plan.count : 1;
    const next = reduceStage(engine, variant, cur, b, groups[j]!.size, k, mode, scale, label);
    if (cur.val !== x) disposePartial(cur);
    cur = next;
    // The reduced group is gone; the kept groups on either side of it are now adjacent.
    const before = groups[j - 1];
    const after = groups[j + 1];
    if (before && after) groups = [...groups.slice(0, j - 1), { size: before.size * after.size, reduced: false }, ...groups.slice(j + 2)];
    else groups = [...groups.slice(0, j), ...groups.slice(j + 1)];
  }
  const result = mode === 'argmax' ? cur.idx! : cur.val;
  if (mode === 'argmax') cur.val.dispose();
  const shaped = result.reshape(plan.shape);
  result.dispose();
  return shaped;
}

/**
 * The rows kernel's variants: `subgroup` folds each row segment with one subgroup and subgroup ops (no
 * barrier; needs a fixed subgroup size: lavapipe's is 8), `workgroup` with a workgroup-memory tree (portable;
 * log2(group) barriers, which lavapipe runs slowly). Until measured the subgroup one serves where supported.
 */
export const reduceRowsKernel = registerTunable<Tensor>({
  name: 'reduce-rows',
  variants: [
    { name: 'subgroup', supported: (e) => subgroupWidth(e) !== undefined, run: (_e, x) => runReduce(planReduce('sum', x, -1, false), x, 'subgroup') },
    { name: 'workgroup', supported: () => true, run: (_e, x) => runReduce(planReduce('sum', x, -1, false), x, 'workgroup') },
  ],
  sample(engine) {
    const x = engine.empty([256, 4096]);
    return { problem: x, dispose: () => x.dispose() };
  },
});

// ------------------------------------------------------------------------------------------- CPU reference

function reduceCpu(plan: ReducePlan, x: HostTensor): HostTensor {
  const out = HostTensor.zeros(plan.shape, plan.dtype);
  if (out.size === 0) return out;
  const reduced = new Set(plan.axes);
  // Output strides over the kept axes, and row-major positions within the reduced axes (argmax indices).
  const keptShape = x.shape.map((d, a) => (reduced.has(a) ? 1 : d));
  const ostr = stridesOf(keptShape).map((s, a) => (reduced.has(a) ? 0 : s));
  const redShape = x.shape.map((d, a) => (reduced.has(a) ? d : 1));
  const rstr = stridesOf(redShape).map((s, a) => (reduced.has(a) ? s : 0));
  const sum = new Float64Array(out.size);
  const best = new Float64Array(out.size).fill(NaN);
  const bestAt = new Int32Array(out.size).fill(-1);
  const sign = plan.kind === 'min' ? -1 : 1;
  forEachIndex(x.shape, (idx, flat) => {
    let o = 0;
    let pos = 0;
    for (let a = 0; a < idx.length; a++) {
      o += idx[a]! * ostr[a]!;
      pos += idx[a]! * rstr[a]!;
    }
    const v = x.data[flat]!;
    sum[o]! += v;
    const cur = best[o]!;
    const first = bestAt[o]! < 0;
    // NaN beats everything; among equals the first (lowest position) stays.
    if (first || (!Number.isNaN(cur) && (Number.isNaN(v) || sign * v > sign * cur))) {
      best[o] = v;
      bestAt[o] = pos;
    }
  });
  for (let o = 0; o < out.size; o++) {
    switch (plan.kind) {
      case 'sum':
        out.data[o] = sum[o]!;
        break;
      case 'mean':
        out.data[o] = sum[o]! / plan.count;
        break;
      case 'max':
      case 'min':
        out.data[o] = best[o]!;
        break;
      case 'argmax':
        out.data[o] = bestAt[o]!;
        break;
    }
  }
  return out;
}

// ------------------------------------------------------------------------------------------- ops

export type ReduceOp = Op<[x: Tensor, axes?: number | readonly number[], keepDims?: boolean], ReducePlan>;

function reduceOp(kind: Exclude<ReduceKind, 'argmax'>): ReduceOp {
  return defineOp<[x: Tensor, axes?: number | readonly number[], keepDims?: boolean], ReducePlan>({
    name: kind,
    check: (x, axes, keepDims = false) => planReduce(kind, x, axes, keepDims),
    gpu: (plan, x) => runReduce(plan, x, x.engine.variants.pick(reduceRowsKernel).name),
    cpu: (plan, x) => reduceCpu(plan, x),
    backward: {
      save: ([x], y) => (kind === 'max' || kind === 'min' ? [x, y] : []),
      grad: ({ plan, args: [x], saved }, dy) => [reduceGrad(plan, x.shape, dy, saved[0], saved[1])],
    },
  });
}

/**
 * Gradient of a reduction: dy spread back over the reduced axes; divided by the count for mean; for max/min
 * shared equally among the elements equal to the result (ties split the gradient, as PyTorch's amax does).
 */
function reduceGrad(plan: ReducePlan, xShape: readonly number[], dy: Tensor, x?: Tensor, y?: Tensor): Tensor {
  const kept = xShape.map((d, a) => (plan.axes.includes(a) ? 1 : d));
  const dyKept = dy.reshape(kept);
  if (plan.kind === 'sum' || plan.kind === 'mean') {
    const spread = expand(dyKept, xShape);
    dyKept.dispose();
    if (plan.kind === 'sum') return spread;
    const g = mul(spread, 1 / plan.count);
    spread.dispose();
    return g;
  }
  const yKept = y!.reshape(kept);
  const hits = equalMask()(x!, yKept);
  const ties = sum(hits, plan.axes, true);
  const share = div(dyKept, ties);
  const g = mul(hits, share);
  [yKept, dyKept, hits, ties, share].forEach((t) => t.dispose());
  return g;
}

// Created on first use: elementwise.ts and this module import each other.
let equalMaskOp: BinaryOp | undefined;
const equalMask = (): BinaryOp => (equalMaskOp ??= binaryOp('equalMask', 'select(0.0, 1.0, x == y)', (a, b) => (a === b ? 1 : 0)));

/** Σ over `axes` (default all; negative allowed). A sum over an axis of size 0 is 0. */
export const sum = reduceOp('sum');
export const mean = reduceOp('mean');
export const max = reduceOp('max');
export const min = reduceOp('min');

/**
 * Index (i32) of the first maximum along one axis; with no axis, the index into the flattened tensor.
 * A NaN counts as larger than every number, so the first NaN's index is returned.
 */
export const argmax = defineOp<[x: Tensor, axis?: number, keepDims?: boolean], ReducePlan>({
  name: 'argmax',
  differentiable: false,
  check: (x, axis, keepDims = false) => planReduce('argmax', x, axis, keepDims),
  gpu: (plan, x) => runReduce(plan, x, x.engine.variants.pick(reduceRowsKernel).name),
  cpu: (plan, x) => reduceCpu(plan, x),
});
