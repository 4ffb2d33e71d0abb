/** SGD with momentum, dampening, Nesterov and weight decay: torch.optim.SGD, one fused kernel per parameter. */
import type { Engine } from '../device/engine.js';
import { fmtShape, ShapeError } from '../device/errors.js';
import type { Tensor } from '../graph/tensor.js';
import sgdWgsl from '../../shaders/optim_sgd.wgsl';
import { launchUpdate } from './launch.js';
import { checkRange, Optimizer, type ParamGroup, type ParamGroupInput, type ParamState } from './optimizer.js';

export interface SGDOptions {
  lr: number;
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
  maximize: boolean;
}

const SGD_DEFAULTS: Omit<SGDOptions, 'lr'> = { momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, maximize: false };

const kernel = { name: 'optim_sgd', code: sgdWgsl };

/**
 * Records one SGD update of `param` in place. `buffer` is the momentum buffer (required when momentum ≠ 0);
 * `first` means it holds nothing yet and is initialised from the gradient, as PyTorch's first step does.
 */
export function sgdUpdate(engine: Engine, param: Tensor, grad: Tensor, buffer: Tensor | null, o: SGDOptions, first: boolean): void {
  const hasMomentum = o.momentum !== 0;
  if (hasMomentum && !buffer) throw new ShapeError('sgdUpdate', 'momentum ≠ 0 needs a momentum buffer');
  const flags = (first ? 1 : 0) | (o.nesterov ? 2 : 0) | (o.maximize ? 4 : 0);
  const tensors = hasMomentum ? [param, grad, buffer!] : [param, grad];
  launchUpdate(engine, kernel, { MOMENTUM: hasMomentum ? 1 : 0 }, `sgd step ${fmtShape(param.shape)}`, tensors, (u) => u.u32(flags).f32(o.lr, o.weightDecay, o.momentum, 1 - o.dampening));
}

/**
 * The CPU reference: PyTorch's SGD update on f32 arrays, in place, rounding to f32 after each tensor op as
 * PyTorch's f32 tensors do. `buffer` is null when momentum is 0.
 */
export function sgdUpdateCpu(param: Float32Array, grad: Float32Array, buffer: Float32Array | null, o: SGDOptions, first: boolean): void {
  const f = Math.fround;
  const lr = f(o.lr);
  const wd = f(o.weightDecay);
  const mom = f(o.momentum);
  const damp = f(1 - o.dampening);
  for (let i = 0; i < param.length; i++) {
    let g = o.maximize ? -grad[i]! : grad[i]!;
    if (wd !== 0) g = f(g + f(wd * param[i]!)); // grad.add(param, alpha=weight_decay)
    if (o.momentum !== 0) {
      const b = first ? g : f(f(buffer![i]! * mom) + f(damp * g)); // buf.mul_(momentum).add_(grad, alpha=1-dampening)
      buffer![i] = b;
      g = o.nesterov ? f(g + f(mom * b)) : b;
    }
    param[i] = f(param[i]! - f(lr * g)); // param.add_(grad, alpha=-lr)
  }
}

/**
 * `new SGD(params | groups, { lr, momentum, dampening, weightDecay, nesterov, maximize })`, as torch.optim.SGD.
 * State: `momentum_buffer` per parameter when momentum ≠ 0.
 */
export class SGD extends Optimizer<SGDOptions> {
  constructor(params: readonly Tensor[] | readonly ParamGroupInput<SGDOptions>[], options: Partial<SGDOptions> & { lr: number }) {
    super('SGD', params, { ...SGD_DEFAULTS, ...options });
  }

  protected validate(h: SGDOptions, where: string): void {
    checkRange('SGD', where, 'lr', h.lr, 0);
    checkRange('SGD', where, 'momentum', h.momentum, 0);
    checkRange('SGD', where, 'dampening', h.dampening, -Infinity);
    checkRange('SGD', where, 'weightDecay', h.weightDecay, 0);
    if (h.nesterov && (h.momentum <= 0 || h.dampening !== 0)) throw new ShapeError('SGD', `${where}: Nesterov momentum requires a momentum > 0 and zero dampening (momentum ${h.momentum}, dampening ${h.dampening})`);
  }

  protected bufferNames(h: SGDOptions): string[] {
    return h.momentum !== 0 ? ['momentum_buffer'] : [];
  }

  protected update(param: Tensor, grad: Tensor, group: ParamGroup<SGDOptions>, state: ParamState): void {
    let buffer: Tensor | null = null;
    let first = false;
    if (group.momentum !== 0) {
      buffer = state.buffers.momentum_buffer ?? null;
      if (!buffer) {
        buffer = state.buffers.momentum_buffer = this.newBuffer(param);
        first = true;
      }
    }
    sgdUpdate(this.engine, param, grad, buffer, group, first);
    state.step++;
  }
}
