/**
 * Modules in the PyTorch manner: parameters, buffers (e.g. BatchNorm running statistics) and sub-modules
 * registered by name; train()/eval(); state dicts with PyTorch names and layouts whatever the internal layout.
 */
import type { Engine } from '../device/engine.js';
import { fmtShape, ShapeError } from '../device/errors.js';
import { noGrad } from '../graph/autograd.js';
import type { DType } from '../graph/dtype.js';
import { keep } from '../graph/scope.js';
import type { Tensor } from '../graph/tensor.js';

/** How a parameter stored in an engine layout maps to PyTorch's layout (e.g. conv HWIO ↔ OIHW). */
export interface TorchLayout {
  torchShape: readonly number[];
  /** Engine layout → PyTorch layout (a new tensor). */
  toTorch(t: Tensor): Tensor;
  /** PyTorch layout → engine layout (a new tensor). */
  fromTorch(t: Tensor): Tensor;
}

interface Slot {
  tensor: Tensor;
  layout?: TorchLayout;
}

export interface StateEntry {
  name: string;
  shape: readonly number[];
  dtype: DType;
}

export abstract class Module {
  training = true;
  private readonly params = new Map<string, Slot>();
  private readonly buffers = new Map<string, Slot>();
  private readonly children = new Map<string, Module>();

  constructor(readonly engine: Engine) {}

  /** Registers a trainable parameter (kept out of tidy scopes; requires a gradient). */
  protected addParameter(name: string, tensor: Tensor, layout?: TorchLayout): Tensor {
    this.checkName(name);
    keep(tensor).setRequiresGrad(true);
    this.params.set(name, layout ? { tensor, layout } : { tensor });
    return tensor;
  }

  /** Registers state that is saved but not trained (running statistics). */
  protected addBuffer(name: string, tensor: Tensor): Tensor {
    this.checkName(name);
    keep(tensor);
    this.buffers.set(name, { tensor });
    return tensor;
  }

  protected addModule<M extends Module>(name: string, module: M): M {
    this.checkName(name);
    this.children.set(name, module);
    return module;
  }

  /** Sub-modules in registration order. */
  modules(): [string, Module][] {
    return [...this.children];
  }

  /** Parameters with dotted PyTorch-style names, depth first in registration order. */
  namedParameters(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [n, s] of this.params) out.push([prefix + n, s.tensor]);
    for (const [n, m] of this.children) out.push(...m.namedParameters(`${prefix}${n}.`));
    return out;
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }

  namedBuffers(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [n, s] of this.buffers) out.push([prefix + n, s.tensor]);
    for (const [n, m] of this.children) out.push(...m.namedBuffers(`${prefix}${n}.`));
    return out;
  }

  /**
   * Host-side state that is neither parameter nor buffer but changes while training (a dropout layer's call
   * counter), by dotted module path, as PyTorch's get_extra_state: saved with checkpoints so a resumed run draws
   * the same masks as an uninterrupted one.
   */
  extraState(prefix = ''): Record<string, number> {
    const out: Record<string, number> = {};
    const own = this.ownExtraState();
    if (own !== undefined) out[prefix.replace(/\.$/, '') || '.'] = own;
    for (const [n, m] of this.children) Object.assign(out, m.extraState(`${prefix}${n}.`));
    return out;
  }

  /** Restores what `extraState` returned; every entry must name a module that keeps such state. */
  loadExtraState(state: Record<string, number>): void {
    const holders = new Map<string, Module>();
    const walk = (m: Module, prefix: string): void => {
      if (m.ownExtraState() !== undefined) holders.set(prefix.replace(/\.$/, '') || '.', m);
      for (const [n, c] of m.children) walk(c, `${prefix}${n}.`);
    };
    walk(this, '');
    for (const [name, value] of Object.entries(state)) {
      const m = holders.get(name);
      if (!m || !Number.isInteger(value) || value < 0) throw new Error(`${this.constructor.name}.loadExtraState: '${name}' = ${value} is not the state of a module here (expected a non-negative integer for one of: ${[...holders.keys()].join(', ') || 'none'})`);
      m.setOwnExtraState(value);
    }
  }

  /** A module's own extra state (undefined: it keeps none). */
  protected ownExtraState(): number | undefined {
    return undefined;
  }

  protected setOwnExtraState(_value: number): void {}

  /** Number of trainable scalars. */
  parameterCount(): number {
    return this.parameters().reduce((n, t) => n + t.size, 0);
  }

  train(mode = true): this {
    this.training = mode;
    for (const m of this.children.values()) m.train(mode);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /**
   * For inference only from now on: eval mode, and every parameter and buffer frozen (engine.freeze), so kernels
   * keep what they derive from the weights (packed convolution weights) instead of redoing it every call.
   * Optimisers and loadStateDict refuse a frozen module.
   */
  freeze(): this {
    this.eval();
    for (const [, t] of [...this.namedParameters(), ...this.namedBuffers()]) this.engine.freeze(t);
    return this;
  }

  /** Names, PyTorch shapes and dtypes of every entry of the state dict. */
  stateEntries(): StateEntry[] {
    return this.slots().map(([name, s]) => ({ name, shape: s.layout?.torchShape ?? s.tensor.shape, dtype: s.tensor.dtype }));
  }

  /**
   * The state dict in PyTorch names and layouts: parameters then buffers of each module. The tensors are new
   * (caller disposes) so that layout conversions never alias the live parameters.
   */
  stateDict(): Map<string, Tensor> {
    return noGrad(() => new Map(this.slots().map(([name, s]) => [name, keep(s.layout ? s.layout.toTorch(s.tensor) : this.engine.clone(s.tensor))] as const)));
  }

  /**
   * Loads PyTorch-named, PyTorch-layout tensors into the existing parameters and buffers (optimisers holding
   * them stay valid). Every missing, unexpected, mis-shaped or mis-typed entry is listed in one error.
   */
  loadStateDict(state: ReadonlyMap<string, Tensor> | Record<string, Tensor>, opts: { strict?: boolean } = {}): void {
    const given = state instanceof Map ? state : new Map(Object.entries(state));
    const problems: string[] = [];
    const slots = this.slots();
    const known = new Set(slots.map(([n]) => n));
    for (const [name, s] of slots) {
      const t = given.get(name);
      const want = s.layout?.torchShape ?? s.tensor.shape;
      if (!t) problems.push(`missing ${name} ${fmtShape(want)}`);
      else if (t.shape.join() !== want.join()) problems.push(`${name}: shape ${fmtShape(t.shape)}, expected ${fmtShape(want)}`);
      else if (t.dtype !== s.tensor.dtype) problems.push(`${name}: dtype ${t.dtype}, expected ${s.tensor.dtype}`);
    }
    if (opts.strict !== false) for (const name of given.keys()) if (!known.has(name)) problems.push(`unexpected ${name} ${fmtShape(given.get(name)!.shape)}`);
    if (problems.length) throw new ShapeError(`${this.constructor.name}.loadStateDict`, `${problems.length} mismatch(es):\n  ${problems.join('\n  ')}`);
    noGrad(() => {
      for (const [name, s] of slots) {
        const src = given.get(name)!;
        const converted = s.layout ? s.layout.fromTorch(src) : src;
        this.engine.copy(converted, s.tensor);
        if (converted !== src) converted.dispose();
      }
    });
  }

  /** Frees every parameter and buffer. */
  dispose(): void {
    for (const [, s] of this.slots()) {
      s.tensor.grad?.dispose();
      s.tensor.dispose();
    }
  }

  private slots(prefix = ''): [string, Slot][] {
    const out: [string, Slot][] = [];
    for (const [n, s] of this.params) out.push([prefix + n, s]);
    for (const [n, s] of this.buffers) out.push([prefix + n, s]);
    for (const [n, m] of this.children) out.push(...m.slots(`${prefix}${n}.`));
    return out;
  }

  private checkName(name: string): void {
    if (!/^[A-Za-z_][\w]*$|^\d+$/.test(name)) throw new Error(`${this.constructor.name}: bad member name '${name}'`);
    if (this.params.has(name) || this.buffers.has(name) || this.children.has(name)) throw new Error(`${this.constructor.name}: '${name}' registered twice`);
  }
}
