/**
 * Ops whose one fused launch writes several tensors (a backward writing dx and da, a normalisation saving its
 * statistics, a loss with its gradient). Declared like `defineOp` — shape check, GPU launch, CPU reference —
 * but returning a record of named outputs. They are not recorded by autograd: they are the backward kernels
 * and fused training steps that single-output ops' backward rules call. Given an input that requires a
 * gradient while recording, they throw rather than silently drop the gradient.
 */
import { fmtShape, ShapeError } from '../device/errors.js';
import { isGradEnabled } from '../graph/autograd.js';
import type { HostTensor, TensorMeta } from '../graph/host.js';
import type { Tensor } from '../graph/tensor.js';
import { withOp } from '../graph/op-context.js';
import { checkOneEngine, opLabel, tensorArgs, type HostArgs, type MetaArgs } from './op.js';

/** What the shape check hands to both implementations: each output's shape and dtype. */
export interface MultiPlan<O extends string> {
  outputs: Record<O, TensorMeta>;
}

export interface MultiOpDecl<A extends unknown[], O extends string, P extends MultiPlan<O>> {
  name: string;
  check(...args: MetaArgs<A>): P;
  gpu(plan: P, ...args: A): Record<O, Tensor>;
  cpu(plan: P, ...args: HostArgs<A>): Record<O, HostTensor>;
}

export interface MultiOp<A extends unknown[], O extends string, P extends MultiPlan<O> = MultiPlan<O>> {
  (...args: A): Record<O, Tensor>;
  readonly opName: string;
  /** The CPU reference, with the same shape check. */
  cpu(...args: HostArgs<A>): Record<O, HostTensor>;
  readonly decl: MultiOpDecl<A, O, P>;
}

export function defineMultiOp<A extends unknown[], O extends string, P extends MultiPlan<O>>(decl: MultiOpDecl<A, O, P>): MultiOp<A, O, P> {
  const run = (...args: A): Record<O, Tensor> => {
    checkOneEngine(decl.name, args);
    const plan = decl.check(...(args as unknown as MetaArgs<A>));
    if (isGradEnabled()) {
      const inputs = tensorArgs(args);
      if (inputs.some((t) => t.requiresGrad)) {
        throw new ShapeError(
          decl.name,
          `is a fused multi-output kernel that autograd does not record, but an input requires a gradient (${inputs.map((t) => fmtShape(t.shape)).join(', ')}); use the single-output op, or run it under noGrad() / on detach()ed inputs`,
        );
      }
    }
    return withOp(() => opLabel(decl.name, args), () => decl.gpu(plan, ...args));
  };
  return Object.assign(run, {
    opName: decl.name,
    cpu: (...args: HostArgs<A>) => decl.cpu(decl.check(...(args as unknown as MetaArgs<A>)), ...args),
    decl,
  });
}
