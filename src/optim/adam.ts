/** Adam and AdamW (torch.optim.Adam / AdamW), one fused kernel per parameter. */
import type { Engine } from '../device/engine.js';
import { fmtShape, ShapeError } from '../device/errors.js';
import type { Tensor } from '../graph/tensor.js';
import adamWgsl from '../../shaders/optim_adam.wgsl';
import { launchUpdate } from './launch.js';
import { checkRange, Optimizer, type ParamGroup, type ParamGroupInput, type ParamState } from './optimizer.js';

export interface AdamOptions {
  lr: number;
  betas: [number, number];
  eps: number;
  weightDecay: number;
  amsgrad: boolean;
  maximize: boolean;
}

/** Adam's state buffers for one parameter (maxExpAvgSq only with amsgrad). */
export interface AdamBuffers<T> {
  expAvg: T;
  expAvgSq: T;
  maxExpAvgSq: T | null;
}

const kernel = { name: 'optim_adam', code: adamWgsl };

/** The per-step scalars PyTorch computes on the host (in double) for step number `step` (1-based). */
export function adamScalars(o: AdamOptions, step: number): { stepSize: number; biasCorrection2Sqrt: number } {
  const [beta1, beta2] = o.betas;
  const biasCorrection1 = 1 - beta1 ** step;
  const biasCorrection2 = 1 - beta2 ** step;
  return { stepSize: o.lr / biasCorrection1, biasCorrection2Sqrt: Math.sqrt(biasCorrection2) };
}

/**
 * Records one Adam (decoupled = false) or AdamW (decoupled = true) update of `param` in place, for step number
 * `step` (1-based). On step 1 the state buffers are not read (they may be uninitialised pool memory).
 */
export function adamUpdate(engine: Engine, param: Tensor, grad: Tensor, s: AdamBuffers<Tensor>, o: AdamOptions, step: number, decoupled: boolean): void {
  if (o.amsgrad && !s.maxExpAvgSq) throw new ShapeError('adamUpdate', 'amsgrad needs a max_exp_avg_sq buffer');
  const { stepSize, biasCorrection2Sqrt } = adamScalars(o, step);
  const [beta1, beta2] = o.betas;
  const flags = (step === 1 ? 1 : 0) | (o.maximize ? 2 : 0) | (decoupled ? 4 : 0);
  const tensors = [param, grad, s.expAvg, s.expAvgSq];
  if (o.amsgrad) tensors.push(s.maxExpAvgSq!);
  const label = `${decoupled ? 'adamw' : 'adam'} step ${fmtShape(param.shape)}`;
  launchUpdate(engine, kernel, { AMSGRAD: o.amsgrad ? 1 : 0 }, label, tensors, (u) =>
    u.u32(flags).f32(o.weightDecay, 1 - o.lr * o.weightDecay, 1 - beta1, beta2, 1 - beta2, o.eps, stepSize, biasCorrection2Sqrt),
  );
}

/** torch.lerp on f32 values. */
function lerpF32(a: number, b: number, w: number): number {
  const f = Math.fround;
  return w < 0.5 ? f(a + f(w * f(b - a))) : f(b - f(f(b - a) * f(1 - w)));
}

/**
 * The CPU reference: PyTorch's Adam/AdamW single-tensor update on f32 arrays, in place, rounding to f32 after each
 * tensor op. `step` is 1-based; on step 1 the state arrays are treated as zeros (as PyTorch initialises them).
 */
export function adamUpdateCpu(param: Float32Array, grad: Float32Array, s: AdamBuffers<Float32Array>, o: AdamOptions, step: number, decoupled: boolean): void {
  const f = Math.fround;
  const { stepSize, biasCorrection2Sqrt } = adamScalars(o, step);
  const [beta1, beta2] = o.betas;
  const wd = f(o.weightDecay);
  const decay = f(1 - o.lr * o.weightDecay);
  const w1 = f(1 - beta1);
  const b2 = f(beta2);
  const omb2 = f(1 - beta2);
  const eps = f(o.eps);
  const ss = f(stepSize);
  const bc2 = f(biasCorrection2Sqrt);
  for (let i = 0; i < param.length; i++) {
    let p = param[i]!;
    let g = o.maximize ? -grad[i]! : grad[i]!;
    if (wd !== 0) {
      if (decoupled) p = f(p * decay); // param.mul_(1 - lr * weight_decay)
      else g = f(g + f(wd * p)); // grad.add(param, alpha=weight_decay)
    }
    const m = lerpF32(step === 1 ? 0 : s.expAvg[i]!, g, w1); // exp_avg.lerp_(grad, 1 - beta1)
    const v = f(f((step === 1 ? 0 : s.expAvgSq[i]!) * b2) + f(omb2 * f(g * g))); // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
    s.expAvg[i] = m;
    s.expAvgSq[i] = v;
    let vhat = v;
    if (o.amsgrad) {
      vhat = step === 1 ? v : Math.max(s.maxExpAvgSq![i]!, v); // torch.maximum(max_exp_avg_sq, exp_avg_sq)
      s.maxExpAvgSq![i] = vhat;
    }
    const denom = f(f(f(Math.sqrt(vhat)) / bc2) + eps); // (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
    param[i] = f(p - f(ss * f(m / denom))); // param.addcdiv_(exp_avg, denom, value=-step_size)
  }
}

/** Shared by Adam and AdamW: they differ in how weight decay applies and in its default. */
abstract class AdamBase extends Optimizer<AdamOptions> {
  protected abstract readonly decoupled: boolean;

  protected validate(h: AdamOptions, where: string): void {
    checkRange(this.name, where, 'lr', h.lr, 0);
    checkRange(this.name, where, 'eps', h.eps, 0);
    checkRange(this.name, where, 'weightDecay', h.weightDecay, 0);
    if (!Array.isArray(h.betas) || h.betas.length !== 2) throw new ShapeError(this.name, `${where}: betas must be [beta1, beta2], got ${JSON.stringify(h.betas)}`);
    checkRange(this.name, where, 'betas[0]', h.betas[0], 0, 1, true);
    checkRange(this.name, where, 'betas[1]', h.betas[1], 0, 1, true);
  }

  protected bufferNames(h: AdamOptions): string[] {
    return h.amsgrad ? ['exp_avg', 'exp_avg_sq', 'max_exp_avg_sq'] : ['exp_avg', 'exp_avg_sq'];
  }

  protected update(param: Tensor, grad: Tensor, group: ParamGroup<AdamOptions>, state: ParamState): void {
    const b = state.buffers;
    if (state.step === 0) {
      b.exp_avg ??= this.newBuffer(param);
      b.exp_avg_sq ??= this.newBuffer(param);
    }
    if (group.amsgrad && !b.max_exp_avg_sq) {
      // amsgrad switched on after the first step: start the running maximum at zero, as PyTorch's initial state.
      b.max_exp_avg_sq = this.newBuffer(param);
      if (state.step > 0) this.engine.write(b.max_exp_avg_sq, new Float32Array(param.size));
    }
    state.step++;
    adamUpdate(this.engine, param, grad, { expAvg: b.exp_avg!, expAvgSq: b.exp_avg_sq!, maxExpAvgSq: b.max_exp_avg_sq ?? null }, group, state.step, this.decoupled);
  }
}

/** `new Adam(params | groups, { lr = 1e-3, betas = [0.9, 0.999], eps = 1e-8, weightDecay = 0, amsgrad, maximize })`. */
export class Adam extends AdamBase {
  protected readonly decoupled = false;
  constructor(params: readonly Tensor[] | readonly ParamGroupInput<AdamOptions>[], options: Partial<AdamOptions> = {}) {
    super('Adam', params, { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, amsgrad: false, maximize: false, ...options });
  }
}

/** `new AdamW(...)`: Adam with decoupled weight decay (p ← p·(1 − lr·wd)), weightDecay defaulting to 0.01. */
export class AdamW extends AdamBase {
  protected readonly decoupled = true;
  constructor(params: readonly Tensor[] | readonly ParamGroupInput<AdamOptions>[], options: Partial<AdamOptions> = {}) {
    super('AdamW', params, { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 1e-2, amsgrad: false, maximize: false, ...options });
  }
}
