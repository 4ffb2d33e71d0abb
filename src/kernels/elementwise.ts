/** Unary and broadcasting binary elementwise ops on f32 tensors. */
import { assert, fmtShape } from '../device/errors.js';
import { HostTensor, type TensorMeta } from '../graph/host.js';
import { broadcastShapes, broadcastStrides, sameShape, sizeOf } from '../graph/shape.js';
import type { Tensor } from '../graph/tensor.js';
import unaryWgsl from '../../shaders/unary.wgsl';
import binaryWgsl from '../../shaders/binary.wgsl';
import { defineOp, type Op, type Plan } from './op.js';
import { Uniforms } from './uniforms.js';

const WORKGROUP = 256;
const MAX_RANK = 8;

function requireF32(op: string, ...ts: TensorMeta[]): void {
  for (const t of ts) assert(t.dtype === 'f32', op, () => `expects f32 tensors, got ${t.dtype} ${fmtShape(t.shape)}`);
}

// ---------------------------------------------------------------------------------------------- unary

export type UnaryOp = Op<[x: Tensor], Plan>;

/** Declares a unary op from its WGSL expression in `x` (and `alpha`) and its CPU function. */
export function unaryOp(name: string, wgsl: string, cpu: (x: number, alpha: number) => number, alpha = 0): UnaryOp {
  const kernel = { name: 'unary', code: unaryWgsl };
  return defineOp<[x: Tensor], Plan>({
    name,
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

export const relu = unaryOp('relu', 'max(x, 0.0)', (x) => Math.max(x, 0));
export const sigmoid = unaryOp('sigmoid', '1.0 / (1.0 + exp(-x))', (x) => 1 / (1 + Math.exp(-x)));
// tanh via exp of a non-positive argument: WGSL's tanh overflows to NaN for large |x| on some drivers.
export const tanh = unaryOp('tanh', 'sign(x) * (1.0 - exp(-2.0 * abs(x))) / (1.0 + exp(-2.0 * abs(x)))', Math.tanh);
export const exp = unaryOp('exp', 'exp(x)', Math.exp);
export const log = unaryOp('log', 'log(x)', Math.log);
export const neg = unaryOp('neg', '-x', (x) => -x);
export const sqrt = unaryOp('sqrt', 'sqrt(x)', Math.sqrt);
export const abs = unaryOp('abs', 'abs(x)', Math.abs);

// --------------------------------------------------------------------------------------------- binary

export interface BinaryPlan extends Plan {
  broadcast: boolean;
}

export type BinaryOp = Op<[a: Tensor, b: Tensor | number], BinaryPlan>;

const binaryKernel = { name: 'binary', code: binaryWgsl };

/** Declares a binary op with NumPy broadcasting and a scalar form, from a WGSL expression in `x`, `y`. */
export function binaryOp(name: string, wgsl: string, cpu: (x: number, y: number) => number): BinaryOp {
  return defineOp<[a: Tensor, b: Tensor | number], BinaryPlan>({
    name,
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

function powRef(x: number, y: number): number {
  return y === 0 ? 1 : Math.pow(x, y);
}

export const add = binaryOp('add', 'x + y', (x, y) => x + y);
export const sub = binaryOp('sub', 'x - y', (x, y) => x - y);
export const mul = binaryOp('mul', 'x * y', (x, y) => x * y);
export const div = binaryOp('div', 'x / y', (x, y) => x / y);
export const maximum = binaryOp('maximum', 'max(x, y)', Math.max);
export const minimum = binaryOp('minimum', 'min(x, y)', Math.min);
export const pow = binaryOp('pow', 'pow_signed(x, y)', powRef);
