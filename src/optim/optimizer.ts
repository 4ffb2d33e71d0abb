/**
 * The optimiser base, shaped like torch.optim.Optimizer: parameter groups with their own hyper-parameters,
 * per-parameter state (GPU buffers such as momentum or Adam's moments, plus a step count), `step()` which
 * launches one fused update kernel per parameter that has a gradient, `zeroGrad()`, and state dicts.
 */
import type { Engine } from '../device/engine.js';
import { fmtShape, ShapeError } from '../device/errors.js';
import { noGrad } from '../graph/autograd.js';
import { keep } from '../graph/scope.js';
import { Tensor } from '../graph/tensor.js';

/** Hyper-parameters every optimiser has; subclasses add their own (all JSON values). */
export interface BaseHyperParams {
  lr: number;
  weightDecay: number;
}

/** A group as given to a constructor: its parameters and any hyper-parameters that differ from the defaults. */
export type ParamGroupInput<H extends BaseHyperParams> = { params: readonly Tensor[] } & Partial<H>;

/** A live group: edit its hyper-parameters (schedulers change `lr`); `initialLr` is set by schedulers. */
export type ParamGroup<H extends BaseHyperParams> = H & { params: Tensor[]; initialLr?: number };

/** What an optimiser keeps per parameter. */
export interface ParamState {
  /** Updates applied to this parameter so far (Adam's bias correction uses it). */
  step: number;
  /** GPU buffers with the parameter's shape, by PyTorch's names (`momentum_buffer`, `exp_avg`, …). */
  buffers: Record<string, Tensor>;
}

/**
 * An optimiser's state, as PyTorch's `state_dict()`: parameters are numbered in group order across groups;
 * `state` holds the buffers of those that have any; `paramGroups` holds hyper-parameters (JSON) and indices.
 */
export interface OptimizerStateDict {
  state: Record<number, ParamState>;
  paramGroups: (Record<string, number | boolean | number[] | null> & { params: number[] })[];
}

export abstract class Optimizer<H extends BaseHyperParams> {
  readonly engine: Engine;
  readonly paramGroups: ParamGroup<H>[] = [];
  protected readonly state = new Map<Tensor, ParamState>();

  constructor(
    /** Names the optimiser in error messages. */
    readonly name: string,
    params: readonly Tensor[] | readonly ParamGroupInput<H>[],
    readonly defaults: H,
  ) {
    if (params.length === 0) throw new ShapeError(name, 'got an empty parameter list');
    this.validate(defaults, 'defaults');
    const groups: ParamGroupInput<H>[] = params[0] instanceof Tensor ? [{ params: params as readonly Tensor[] } as ParamGroupInput<H>] : [...(params as readonly ParamGroupInput<H>[])];
    const first = groups.find((g) => Array.isArray(g.params) && g.params.length > 0)?.params[0];
    if (!(first instanceof Tensor)) throw new ShapeError(name, 'got parameter groups with no parameters');
    this.engine = first.engine;
    for (const g of groups) for (const t of g.params) if (t instanceof Tensor && this.engine.isFrozen(t)) throw new ShapeError(name, `parameter ${t} is frozen (engine.freeze): an optimiser cannot update it`);
    for (const g of groups) this.addParamGroup(g);
  }

  /** Adds a group (e.g. a head unfrozen later); missing hyper-parameters come from the defaults. */
  addParamGroup(input: ParamGroupInput<H>): void {
    const where = `parameter group ${this.paramGroups.length}`;
    if (!Array.isArray(input.params)) throw new ShapeError(this.name, `${where}: params must be an array of tensors`);
    const group = { ...this.defaults, ...input, params: [...input.params] } as ParamGroup<H>;
    for (const key of Object.keys(input)) {
      if (key !== 'params' && key !== 'initialLr' && !(key in this.defaults)) throw new ShapeError(this.name, `${where}: unknown option '${key}' (known: ${Object.keys(this.defaults).join(', ')})`);
    }
    this.validate(group, where);
    const seen = new Set(this.paramGroups.flatMap((g) => g.params));
    group.params.forEach((p, i) => {
      if (!(p instanceof Tensor)) throw new ShapeError(this.name, `${where}: parameter ${i} is not a tensor`);
      if (p.dtype !== 'f32') throw new ShapeError(this.name, `${where}: parameter ${i} ${p} is not f32`);
      if (p.engine !== this.engine) throw new ShapeError(this.name, `${where}: parameter ${i} lives on another engine`);
      if (seen.has(p)) throw new ShapeError(this.name, `${where}: parameter ${i} ${p} appears in more than one group (or twice)`);
      seen.add(p);
    });
    this.paramGroups.push(group);
  }

  /** Checks hyper-parameters (ranges, incompatible options); throws naming the group. */
  protected abstract validate(h: H, where: string): void;

  /** Records one fused update for `param`, creating its state on the first call. */
  protected abstract update(param: Tensor, grad: Tensor, group: ParamGroup<H>, state: ParamState): void;

  /** The state buffers a parameter has after at least one step under `group`'s options. */
  protected abstract bufferNames(group: H): string[];

  /** Applies one update to every parameter that has a gradient (parameters without one are skipped). */
  step(): void {
    noGrad(() => {
      this.paramGroups.forEach((group, gi) => {
        group.params.forEach((param, pi) => {
          const grad = param.grad;
          if (!grad) return;
          if (grad.shape.join() !== param.shape.join() || grad.dtype !== 'f32') {
            throw new ShapeError(this.name, `group ${gi} parameter ${pi}: gradient ${grad.dtype} ${fmtShape(grad.shape)} does not match the parameter f32 ${fmtShape(param.shape)}`);
          }
          let state = this.state.get(param);
          if (!state) this.state.set(param, (state = { step: 0, buffers: {} }));
          this.update(param, grad, group, state);
        });
      });
    });
  }

  /** Disposes every parameter's gradient and clears it (PyTorch's `zero_grad(set_to_none=True)`). */
  zeroGrad(): void {
    for (const group of this.paramGroups) {
      for (const p of group.params) {
        p.grad?.dispose();
        p.grad = null;
      }
    }
  }

  /** A pooled state buffer for `param`, kept out of any enclosing `tidy` scope (it lives as long as the optimiser). */
  protected newBuffer(param: Tensor): Tensor {
    return keep(this.engine.empty(param.shape));
  }

  /**
   * The current state. The tensors are the optimiser's own (updated in place by later steps; do not dispose
   * them): read or save them before the next step.
   */
  stateDict(): OptimizerStateDict {
    const state: Record<number, ParamState> = {};
    let index = 0;
    const paramGroups = this.paramGroups.map((group) => {
      const { params, ...hyper } = group;
      const indices = params.map((p) => {
        const s = this.state.get(p);
        if (s) state[index] = { step: s.step, buffers: { ...s.buffers } };
        return index++;
      });
      return { ...(structuredCloneJson(hyper) as Record<string, number | boolean | number[] | null>), params: indices };
    });
    return { state, paramGroups };
  }

  /**
   * Restores state saved by `stateDict()` (of an optimiser with the same groups and parameter shapes): buffers are
   * copied (the caller keeps ownership of the given tensors) and hyper-parameters replace the groups' own.
   */
  loadStateDict(dict: OptimizerStateDict): void {
    const where = `${this.name}.loadStateDict`;
    if (!dict || !Array.isArray(dict.paramGroups) || typeof dict.state !== 'object') throw new ShapeError(where, 'expects { state, paramGroups }');
    if (dict.paramGroups.length !== this.paramGroups.length) throw new ShapeError(where, `the state has ${dict.paramGroups.length} parameter groups, the optimiser ${this.paramGroups.length}`);
    const params = this.paramGroups.flatMap((g) => g.params);
    const problems: string[] = [];
    const hypers: H[] = [];
    dict.paramGroups.forEach((saved, gi) => {
      const group = this.paramGroups[gi]!;
      if (!Array.isArray(saved.params) || saved.params.length !== group.params.length) {
        problems.push(`group ${gi} has ${saved.params?.length} parameters in the state, ${group.params.length} in the optimiser`);
        return;
      }
      const { params: _indices, ...rest } = saved;
      const hyper = { ...this.defaults, ...pickKnown(rest, this.defaults) } as H;
      if (typeof rest.initialLr === 'number') (hyper as ParamGroup<H>).initialLr = rest.initialLr;
      try {
        this.validate(hyper, `group ${gi}`);
      } catch (e) {
        problems.push((e as Error).message);
      }
      hypers.push(hyper);
    });
    const indexOf = new Map<number, Tensor>();
    const groupOf = new Map<number, number>();
    let offset = 0;
    dict.paramGroups.forEach((saved, gi) => {
      saved.params.forEach((savedIndex, k) => {
        indexOf.set(savedIndex, params[offset + k]!);
        groupOf.set(savedIndex, gi);
      });
      offset += saved.params?.length ?? 0;
    });
    for (const [key, s] of Object.entries(dict.state)) {
      const index = Number(key);
      const param = indexOf.get(index);
      if (!param) {
        problems.push(`state for parameter ${key}, which no group lists`);
        continue;
      }
      if (!Number.isInteger(s.step) || s.step < 0) problems.push(`parameter ${index}: step ${s.step} is not a non-negative integer`);
      const hyper = hypers[groupOf.get(index)!];
      const wanted = s.step > 0 && hyper ? this.bufferNames(hyper) : [];
      for (const name of wanted) if (!s.buffers?.[name]) problems.push(`parameter ${index} ${fmtShape(param.shape)}: buffer '${name}' is missing`);
      for (const [name, t] of Object.entries(s.buffers ?? {})) {
        if (!(t instanceof Tensor)) problems.push(`parameter ${index}: buffer '${name}' is not a tensor`);
        else if (t.shape.join() !== param.shape.join() || t.dtype !== 'f32') problems.push(`parameter ${index}: buffer '${name}' is ${t.dtype} ${fmtShape(t.shape)}, the parameter f32 ${fmtShape(param.shape)}`);
      }
    }
    if (problems.length) throw new ShapeError(where, `the state does not fit this optimiser:\n  ${problems.join('\n  ')}`);
    // Everything checked: replace the state.
    for (const s of this.state.values()) for (const t of Object.values(s.buffers)) t.dispose();
    this.state.clear();
    for (const [key, s] of Object.entries(dict.state)) {
      const param = indexOf.get(Number(key))!;
      const buffers: Record<string, Tensor> = {};
      for (const [name, t] of Object.entries(s.buffers)) {
        const copy = this.newBuffer(param);
        if (t.size > 0) this.engine.runtime.copyBuffer(t.buffer, 0, copy.buffer, 0, t.bytes, `${this.name} state ${name}`);
        buffers[name] = copy;
      }
      this.state.set(param, { step: s.step, buffers });
    }
    this.paramGroups.forEach((group, gi) => {
      const { initialLr, ...h } = hypers[gi] as ParamGroup<H>;
      Object.assign(group, h);
      if (initialLr !== undefined) group.initialLr = initialLr;
    });
  }

  /** Frees every state buffer (the parameters and their gradients are the caller's). */
  dispose(): void {
    for (const s of this.state.values()) for (const t of Object.values(s.buffers)) t.dispose();
    this.state.clear();
  }
}

function structuredCloneJson(v: unknown): unknown {
  return JSON.parse(JSON.stringify(v));
}

function pickKnown(values: Record<string, unknown>, known: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(values)) if (k in known) out[k] = v;
  return out;
}

/** Throws unless `v` is a finite number in [lo, hi] (hi exclusive when `open`). */
export function checkRange(op: string, where: string, name: string, v: unknown, lo: number, hi = Infinity, open = false): void {
  const ok = typeof v === 'number' && Number.isFinite(v) && v >= lo && (open ? v < hi : v <= hi);
  if (!ok) throw new ShapeError(op, `${where}: ${name} = ${v} is invalid (expected a number in [${lo}, ${hi}${open ? ')' : ']'})`);
}
