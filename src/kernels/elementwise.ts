/** Unary and broadcasting binary elementwise ops on f32 tensors. */
import { assert, fmtShape } from '../device/errors.js';
import { HostTensor, type TensorMeta } from '../graph/host.js';
import { broadcastShapes, broadcastStrides, sameShape, sizeOf } from '../graph/shape.js';
import type { Tensor } from '../graph/tensor.js';
import unaryWgsl from '../../shaders/unary.wgsl';
import binaryWgsl from '../../shaders/binary.wgsl';
import { defineOp, type Op, type Plan } from './op.js';
import { sum } from './reduce.js';
import { Uniforms } from './uniforms.js';

const WORKGROUP = 256;
const MAX_RANK = 8;

function requireF32(op: string, ...ts: TensorMeta[]): void {
  for (const t of ts) assert(t.dtype === 'f32', op, () => `expects f32 tensors, got ${t.dtype} ${fmtShape(t.shape)}`);
}

// ---------------------------------------------------------------------------------------------- unary

export type UnaryOp = Op<[x: Tensor], Plan>;

/** What a unary op's gradient reads: its input, its output, or neither. */
type UnaryGrad = { uses: 'x' | 'y' | 'none'; grad(dy: Tensor, saved: Tensor | undefined): Tensor };

/** Declares a unary op from its WGSL expression in `x` (and `alpha`), its CPU function and its gradient. */
export function unaryOp(name: string, wgsl: string, cpu: (x: number, alpha: number) => number, backward: UnaryGrad, alpha = 0): UnaryOp {
  const kernel = { name: 'unary', code: unaryWgsl };
  return defineOp<[x: Tensor], Plan>({
    name,
    backward: {
      save: ([x], y) => (backward.uses === 'x' ? [x] : backward.uses === 'y' ? [y] : []),
      grad: ({ saved }, dy) => [backward.grad(dy, saved[0])],
    },
    check(x) {
      requireF32(name, x);
      return { shape: x.shape, dtype: 'f32' };
    },
    gpu(plan, x) {
      const out = x.engine.empty(plan.shape);
      x.engine.runtime.dispatch({
        kernel,
        defines: { EXPR: wgsl },
        label: `${name} ${fmtShape(x.shape)}`,
        uniforms: new Uniforms().u32(x.size).f32(alpha),
        bindings: [x.binding(), out.binding()],
        grid: Math.ceil(x.size / WORKGROUP),
      });
      return out;
    },
    cpu(plan, x) {
      const out = HostTensor.zeros(plan.shape);
      for (let i = 0; i < x.size; i++) out.data[i] = cpu(x.data[i]!, alpha);
      return out;
    },
  });
}

// --------------------------------------------------------------------------------------------- binary

export interface BinaryPlan extends Plan {
  broadcast: boolean;
}

export type BinaryOp = Op<[a: Tensor, b: Tensor | number], BinaryPlan>;

const binaryKernel = { name: 'binary', code: binaryWgsl };

/**
 * A binary op's gradient: given dy (of the output's broadcast shape) and the saved a, b (b undefined in the scalar
 * form, whose value is `scalar`), the gradients at the broadcast shape; they are then summed down to each input's shape.
 */
type BinaryGrad = (dy: Tensor, a: Tensor, b: Tensor | undefined, scalar: number, needs: readonly boolean[]) => [Tensor | null, Tensor | null];

/** Declares a binary op with NumPy broadcasting and a scalar form, from a WGSL expression in `x`, `y`. */
export function binaryOp(name: string, wgsl: string, cpu: (x: number, y: number) => number, backward?: BinaryGrad): BinaryOp {
  return defineOp<[a: Tensor, b: Tensor | number], BinaryPlan>({
    name,
    ...(backward
      ? {
          backward: {
            save: ([a, b]) => (typeof b === 'number' ? [a] : [a, b]),
            grad: ({ args: [a, b], saved, needsGrad }, dy) => {
              const scalar = typeof b === 'number';
              const needs = scalar ? [needsGrad[0]!, false] : needsGrad;
              const [ga, gb] = backward(dy, saved[0]!, saved[1], scalar ? b : 0, needs);
              const out = [ga && sumToShape(ga, a.shape)];
              if (!scalar) out.push(gb && sumToShape(gb, b.shape));
              return out;
            },
          },
        }
      : {}),
    check(a, b) {
      if (typeof b === 'number') {
        requireF32(name, a);
        return { shape: a.shape, dtype: 'f32', broadcast: false };
      }
      requireF32(name, a, b);
      const shape = broadcastShapes(name, a.shape, b.shape);
      assert(shape.length <= MAX_RANK, name, () => `supports up to ${MAX_RANK} dimensions, got ${fmtShape(shape)}`);
      return { shape, dtype: 'f32', broadcast: !(sameShape(a.shape, shape) && sameShape(b.shape, shape)) };
    },
    gpu(plan, a, b) {
      const engine = a.engine;
      const out = engine.empty(plan.shape);
      const n = sizeOf(plan.shape);
      const scalar = typeof b === 'number';
      const u = new Uniforms().u32(n, plan.shape.length).f32(scalar ? b : 0).u32(0).u32Array(plan.shape, 2);
      u.u32Array(broadcastStrides(a.shape, plan.shape), 2).u32Array(scalar ? [] : broadcastStrides(b.shape, plan.shape), 2);
      engine.runtime.dispatch({
        kernel: binaryKernel,
        defines: { EXPR: wgsl, BROADCAST: plan.broadcast ? 1 : 0, SCALAR: scalar ? 1 : 0 },
        label: `${name} ${fmtShape(a.shape)} ${scalar ? `scalar ${b}` : fmtShape(b.shape)}`,
        uniforms: u,
        bindings: scalar ? [a.binding(), out.binding()] : [a.binding(), b.binding(), out.binding()],
        grid: Math.ceil(n / WORKGROUP),
      });
      return out;
    },
    cpu(plan, a, b) {
      const out = HostTensor.zeros(plan.shape);
      if (typeof b === 'number') {
        for (let i = 0; i < a.size; i++) out.data[i] = cpu(a.data[i]!, b);
        return out;
      }
      const sa = broadcastStrides(a.shape, plan.shape);
      const sb = broadcastStrides(b.shape, plan.shape);
      const idx = new Array<number>(plan.shape.length).fill(0);
      for (let i = 0; i < out.size; i++) {
        let ia = 0;
        let ib = 0;
        for (let d = 0; d < idx.length; d++) {
          ia += idx[d]! * sa[d]!;
          ib += idx[d]! * sb[d]!;
        }
        out.data[i] = cpu(a.data[ia]!, b.data[ib]!);
        for (let d = idx.length - 1; d >= 0; d--) {
          if (++idx[d]! < plan.shape[d]!) break;
          idx[d] = 0;
        }
      }
      return out;
    },
  });
}

// Gradients of unary ops as fused binary kernels over (dy, saved): one pass each.
const reluBackward = binaryOp('reluBackward', 'select(0.0, x, y > 0.0)', (dy, y) => (y > 0 ? dy : 0));
const sigmoidBackward = binaryOp('sigmoidBackward', 'x * y * (1.0 - y)', (dy, y) => dy * y * (1 - y));
const tanhBackward = binaryOp('tanhBackward', 'x * (1.0 - y * y)', (dy, y) => dy * (1 - y * y));
const sqrtBackward = binaryOp('sqrtBackward', '0.5 * x / y', (dy, y) => (0.5 * dy) / y);
const absBackward = binaryOp('absBackward', 'x * sign(y)', (dy, x) => dy * Math.sign(x));

/** The gradient through a fused activation, from dy and the activation's output y. */
export function activationBackward(dy: Tensor, y: Tensor, activation: 'none' | 'relu' | 'sigmoid' | 'tanh'): Tensor {
  switch (activation) {
    case 'none':
      return dy.detach();
    case 'relu':
      return reluBackward(dy, y);
    case 'sigmoid':
      return sigmoidBackward(dy, y);
    case 'tanh':
      return tanhBackward(dy, y);
  }
}

// NaN propagates (IEEE/PyTorch): the unary kernel returns NaN for NaN itself; binary max/min use the prelude's
// NaN-propagating forms, as WGSL's max/min may drop a NaN operand.
export const relu = unaryOp('relu', 'max(x, 0.0)', (x) => Math.max(x, 0), { uses: 'y', grad: (dy, y) => reluBackward(dy, y!) });
export const sigmoid = unaryOp('sigmoid', '1.0 / (1.0 + exp(-x))', (x) => 1 / (1 + Math.exp(-x)), { uses: 'y', grad: (dy, y) => sigmoidBackward(dy, y!) });
// tanh via exp of a non-positive argument: WGSL's tanh overflows to NaN for large |x| on some drivers.
export const tanh = unaryOp('tanh', 'sign(x) * (1.0 - exp(-2.0 * abs(x))) / (1.0 + exp(-2.0 * abs(x)))', Math.tanh, { uses: 'y', grad: (dy, y) => tanhBackward(dy, y!) });
export const exp = unaryOp('exp', 'exp(x)', Math.exp, { uses: 'y', grad: (dy, y) => mul(dy, y!) });
export const log = unaryOp('log', 'log(x)', Math.log, { uses: 'x', grad: (dy, x) => div(dy, x!) });
export const neg = unaryOp('neg', '-x', (x) => -x, { uses: 'none', grad: (dy) => neg(dy) });
export const sqrt = unaryOp('sqrt', 'sqrt(x)', Math.sqrt, { uses: 'y', grad: (dy, y) => sqrtBackward(dy, y!) });
export const abs = unaryOp('abs', 'abs(x)', Math.abs, { uses: 'x', grad: (dy, x) => absBackward(dy, x!) });

function powRef(x: number, y: number): number {
  return y === 0 ? 1 : Math.pow(x, y);
}

/** Sums a gradient over the axes along which `shape` was broadcast (disposing the input when it reduces). */
export function sumToShape(g: Tensor, shape: readonly number[]): Tensor {
  if (sameShape(g.shape, shape)) return g;
  const lead = g.shape.length - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.shape.length; i++) if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  const reduced = axes.length ? sum(g, axes, false) : g;
  const out = reduced.reshape(shape);
  if (reduced !== g) reduced.dispose();
  g.dispose();
  return out;
}

const pick = <T>(need: boolean | undefined, make: () => T): T | null => (need ? make() : null);

// Tie-breaking masks for max/min: the gradient goes to a where a wins, to b where b wins, half each on ties.
const maxMaskA = binaryOp('maxMaskA', 'select(select(0.0, 0.5, x == y), 1.0, x > y)', (x, y) => (x > y ? 1 : x === y ? 0.5 : 0));
const minMaskA = binaryOp('minMaskA', 'select(select(0.0, 0.5, x == y), 1.0, x < y)', (x, y) => (x < y ? 1 : x === y ? 0.5 : 0));

export const add = binaryOp('add', 'x + y', (x, y) => x + y, (dy, _a, _b, _s, n) => [pick(n[0], () => dy.detach()), pick(n[1], () => dy.detach())]);
export const sub = binaryOp('sub', 'x - y', (x, y) => x - y, (dy, _a, _b, _s, n) => [pick(n[0], () => dy.detach()), pick(n[1], () => neg(dy))]);
export const mul = binaryOp('mul', 'x * y', (x, y) => x * y, (dy, a, b, s, n) => [pick(n[0], () => mul(dy, b ?? s)), pick(n[1], () => mul(dy, a))]);
export const div = binaryOp('div', 'x / y', (x, y) => x / y, (dy, a, b, s, n) => [
  pick(n[0], () => div(dy, b ?? s)),
  pick(n[1], () => {
    const q = div(a, b!);
    const t = div(q, b!);
    const g = mul(dy, t);
    q.dispose();
    t.dispose();
    const out = neg(g);
    g.dispose();
    return out;
  }),
]);
export const maximum = binaryOp('maximum', 'max_nan(x, y)', Math.max, (dy, a, b, s, n) => maskedPair(dy, maxMaskA(a, b ?? s), n));
export const minimum = binaryOp('minimum', 'min_nan(x, y)', Math.min, (dy, a, b, s, n) => maskedPair(dy, minMaskA(a, b ?? s), n));
export const pow = binaryOp('pow', 'pow_signed(x, y)', powRef, (dy, a, b, s, n) => [
  pick(n[0], () => {
    // d/da a^b = b · a^(b−1)
    const bm1 = b ? sub(b, 1) : null;
    const p = pow(a, bm1 ?? s - 1);
    const t = mul(p, b ?? s);
    const g = mul(dy, t);
    [bm1, p, t].forEach((x) => x?.dispose());
    return g;
  }),
  pick(n[1], () => {
    // d/db a^b = a^b · ln a (taken as 0 where a ≤ 0, as the real power is undefined there)
    const p = pow(a, b!);
    const l = logPositive(a);
    const t = mul(p, l);
    const g = mul(dy, t);
    [p, l, t].forEach((x) => x.dispose());
    return g;
  }),
]);

// NaN stays NaN (as every unary kernel keeps it); a ≤ 0 gives 0.
const logPositive = unaryOp('logPositive', 'select(0.0, log(x), x > 0.0)', (x) => (Number.isNaN(x) ? x : x > 0 ? Math.log(x) : 0), { uses: 'none', grad: () => { throw new Error('logPositive is used only inside gradients'); } });

/** dy·mask to a and dy·(1 − mask) to b. */
function maskedPair(dy: Tensor, mask: Tensor, n: readonly boolean[]): [Tensor | null, Tensor | null] {
  const toA = mul(dy, mask);
  mask.dispose();
  const toB = n[1] ? sub(dy, toA) : null;
  if (n[0]) return [toA, toB];
  toA.dispose();
  return [null, toB];
}
