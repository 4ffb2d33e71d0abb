/**
 * One declaration per op: its shape check, its GPU kernel launch and its CPU reference, all sharing the
 * plan the check returns. Tests derive GPU-vs-CPU comparisons from the declaration; autograd (the graph)
 * attaches backward rules by op name.
 */
import type { HostTensor, TensorMeta } from '../graph/host.js';
import type { Tensor } from '../graph/tensor.js';

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
}

export interface Op<A extends unknown[], P extends Plan = Plan> {
  (...args: A): Tensor;
  readonly opName: string;
  /** The CPU reference, with the same shape check. */
  cpu(...args: HostArgs<A>): HostTensor;
  readonly decl: OpDecl<A, P>;
}

export function defineOp<A extends unknown[], P extends Plan>(decl: OpDecl<A, P>): Op<A, P> {
  const run = (...args: A): Tensor => decl.gpu(decl.check(...(args as unknown as MetaArgs<A>)), ...args);
  return Object.assign(run, {
    opName: decl.name,
    cpu: (...args: HostArgs<A>) => decl.cpu(decl.check(...(args as unknown as MetaArgs<A>)), ...args),
    decl,
  });
}
