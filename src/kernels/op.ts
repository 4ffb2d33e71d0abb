/**
 * One declaration per op: its shape check, its GPU kernel launch, its CPU reference and its backward rule, all
 * sharing the plan the check returns. Tests derive GPU-vs-CPU comparisons from the declaration; autograd records
 * a node with the backward rule when an input requires a gradient.
 */
import { fmtShape, ShapeError } from '../device/errors.js';
import { isGradEnabled, noGrad, record } from '../graph/autograd.js';
import type { HostTensor, TensorMeta } from '../graph/host.js';
import { withOp } from '../graph/op-context.js';
import { Tensor } from '../graph/tensor.js';

/** What the shape check hands to both implementations: at least the output's shape and dtype. */
export interface Plan extends TensorMeta {}

/** Replaces Tensor by another type in each argument position (distributing over unions such as Tensor | number). */
type Swap<T, From, To> = T extends From ? To : T extends readonly From[] ? readonly To[] : T;
type Map<A, From, To> = { [K in keyof A]: Swap<A[K], From, To> };
export type MetaArgs<A> = Map<A, Tensor, TensorMeta>;
export type HostArgs<A> = Map<A, Tensor, HostTensor>;

export interface OpDecl<A extends unknown[], P extends Plan> {
  name: string;
  /** Validates the arguments (throwing ShapeError naming the op and shapes) and plans the output. */
  check(...args: MetaArgs<A>): P;
  gpu(plan: P, ...args: A): Tensor;
  cpu(plan: P, ...args: HostArgs<A>): HostTensor;
  /** The autograd rule. Without one, an op on inputs that require a gradient throws, unless `differentiable` is false. */
  backward?: BackwardRule<A, P>;
  /** False for ops with no gradient (argmax, fill): their outputs never require one. */
  differentiable?: boolean;
}

export interface BackwardRule<A extends unknown[], P extends Plan> {
  /** Tensors the rule reads (inputs or the output); they are kept alive as aliases until the node has run. */
  save?(args: A, out: Tensor): Tensor[];
  /**
   * Gradients for each tensor input in argument order (tensor arrays flattened), null where none is needed.
   * `args` may be read for options and shapes only: tensor data must come from `saved`.
   */
  grad(ctx: { plan: P; args: A; saved: Tensor[]; needsGrad: readonly boolean[] }, dy: Tensor): (Tensor | null)[];
}

export interface Op<A extends unknown[], P extends Plan = Plan> {
  (...args: A): Tensor;
  readonly opName: string;
  /** The CPU reference, with the same shape check. */
  cpu(...args: HostArgs<A>): HostTensor;
  readonly decl: OpDecl<A, P>;
}

export function defineOp<A extends unknown[], P extends Plan>(decl: OpDecl<A, P>): Op<A, P> {
  const run = (...args: A): Tensor => {
    // On a lost device, name the op rather than the allocation inside it that would fail first.
    const first = args.find((a): a is Tensor => a instanceof Tensor);
    if (first?.engine.lost) first.engine.runtime.assertAlive(`${decl.name} ${fmtShape(first.shape)}`);
    checkOneEngine(decl.name, args);
    const plan = decl.check(...(args as unknown as MetaArgs<A>));
    // The launch may call other ops; this op's own node is what autograd records, not theirs.
    const out = withOp(() => opLabel(decl.name, args), () => noGrad(() => decl.gpu(plan, ...args)));
    if (isGradEnabled() && decl.differentiable !== false) recordOp(decl, plan, args, out);
    return out;
  };
  return Object.assign(run, {
    opName: decl.name,
    cpu: (...args: HostArgs<A>) => decl.cpu(decl.check(...(args as unknown as MetaArgs<A>)), ...args),
    decl,
  });
}

/**
 * Tensor arguments in order: tensors, tensors inside arrays, and tensors among the values of an options object
 * (e.g. a bias), in that object's key order. Backward rules return one gradient per entry, in this order.
 */
export function tensorArgs(args: readonly unknown[]): Tensor[] {
  const out: Tensor[] = [];
  for (const a of args) {
    if (a instanceof Tensor) {
      out.push(a);
    } else if (Array.isArray(a)) {
      for (const x of a) if (x instanceof Tensor) out.push(x);
    } else if (a && typeof a === 'object' && Object.getPrototypeOf(a) === Object.prototype) {
      for (const v of Object.values(a)) if (v instanceof Tensor) out.push(v);
    }
  }
  return out;
}

/** The op and its tensor shapes, for messages: `conv2d [1, 64, 64, 3] [3, 3, 3, 8]`. */
export function opLabel(name: string, args: readonly unknown[]): string {
  return [name, ...tensorArgs(args).map((t) => fmtShape(t.shape))].join(' ');
}

/** Every tensor argument must live on one engine: a tensor of another engine holds another device's buffer. */
export function checkOneEngine(op: string, args: readonly unknown[]): void {
  const ts = tensorArgs(args);
  const engine = ts[0]?.engine;
  for (const t of ts) {
    if (t.engine !== engine) {
      throw new ShapeError(op, `${t} belongs to another engine than ${ts[0]}: each engine has its own GPU device; copy it over with engine.tensor(await t.read(), t.shape, t.dtype)`);
    }
  }
}

function recordOp<A extends unknown[], P extends Plan>(decl: OpDecl<A, P>, plan: P, args: A, out: Tensor): void {
  const inputs = tensorArgs(args);
  if (!inputs.some((t) => t.requiresGrad)) return;
  const rule = decl.backward;
  if (!rule) {
    out.dispose();
    throw new ShapeError(decl.name, `has no backward rule, but an input requires a gradient (${inputs.map((t) => fmtShape(t.shape)).join(', ')}); run it under noGrad() or detach() the input`);
  }
  const needsGrad = inputs.map((t) => t.requiresGrad);
  record(decl.name, inputs, out, rule.save?.(args, out) ?? [], (saved) => (dy) => rule.grad({ plan, args, saved, needsGrad }, dy));
}
