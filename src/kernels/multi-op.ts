/**
 * Ops whose one fused launch writes several tensors (attention output and weights, a normalisation and its
 * statistics, a loss with its gradient, the gradients of a backward pass). Declared like `defineOp` — shape
 * check, GPU launch, CPU reference — but returning a record of named outputs. With a backward rule they are
 * recorded by autograd as one node with several outputs: the rule receives the gradients of all outputs that
 * got one and returns every input's gradient in one call. Without one (the backward kernels themselves),
 * given an input that requires a gradient while recording, they throw rather than silently drop it.
 */
import { fmtShape, ShapeError } from '../device/errors.js';
import { isGradEnabled, noGrad, recordMulti } from '../graph/autograd.js';
import type { HostTensor, TensorMeta } from '../graph/host.js';
import type { Tensor } from '../graph/tensor.js';
import { withOp } from '../graph/op-context.js';
import { checkOneEngine, opLabel, tensorArgs, type HostArgs, type MetaArgs } from './op.js';

/** What the shape check hands to both implementations: each output's shape and dtype. */
export interface MultiPlan<O extends string> {
  outputs: Record<O, TensorMeta>;
}

export interface MultiBackwardRule<A extends unknown[], O extends string, P extends MultiPlan<O>> {
  /** Tensors the rule reads (inputs or outputs); kept alive as aliases until the node has run. */
  save?(args: A, outs: Record<O, Tensor>, plan: P): Tensor[];
  /**
   * Gradients for each tensor input in argument order (as `defineOp`'s rules), from the gradients of the outputs
   * (absent for an output that nothing downstream used; at least one is present). Read tensor data from `saved`.
   */
  grad(ctx: { plan: P; args: A; saved: Tensor[]; needsGrad: readonly boolean[] }, dys: Partial<Record<O, Tensor>>): (Tensor | null)[];
}

export interface MultiOpDecl<A extends unknown[], O extends string, P extends MultiPlan<O>> {
  name: string;
  check(...args: MetaArgs<A>): P;
  gpu(plan: P, ...args: A): Record<O, Tensor>;
  cpu(plan: P, ...args: HostArgs<A>): Record<O, HostTensor>;
  /** The autograd rule over all outputs. Only f32 outputs carry gradients (indices never do). */
  backward?: MultiBackwardRule<A, O, P>;
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
    const inputs = isGradEnabled() ? tensorArgs(args) : [];
    const needsGrad = inputs.map((t) => t.requiresGrad);
    const recorded = needsGrad.some(Boolean);
    if (recorded && !decl.backward) {
      throw new ShapeError(
        decl.name,
        `is a fused multi-output kernel that autograd does not record, but an input requires a gradient (${inputs.map((t) => fmtShape(t.shape)).join(', ')}); use the single-output op, or run it under noGrad() / on detach()ed inputs`,
      );
    }
    const outs = withOp(() => opLabel(decl.name, args), () => noGrad(() => decl.gpu(plan, ...args)));
    if (recorded) {
      const rule = decl.backward!;
      const names = (Object.keys(plan.outputs) as O[]).filter((n) => plan.outputs[n].dtype === 'f32' && outs[n]);
      recordMulti(decl.name, inputs, names.map((n) => outs[n]), rule.save?.(args, outs, plan) ?? [], (saved) => (dys) => {
        const byName: Partial<Record<O, Tensor>> = {};
        names.forEach((n, i) => {
          if (dys[i]) byName[n] = dys[i]!;
        });
        return rule.grad({ plan, args, saved, needsGrad }, byName);
      });
    }
    return outs;
  };
  return Object.assign(run, {
    opName: decl.name,
    cpu: (...args: HostArgs<A>) => decl.cpu(decl.check(...(args as unknown as MetaArgs<A>)), ...args),
    decl,
  });
}
