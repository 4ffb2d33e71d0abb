/** Checks shared by the M1 and M3 suites (platform-neutral). */
import type { Engine } from '../../src/device/engine.js';
import { noGrad } from '../../src/graph/autograd.js';
import { HostTensor } from '../../src/graph/host.js';
import { tidy } from '../../src/graph/scope.js';
import type { Tensor } from '../../src/graph/tensor.js';
import { loadTensors, saveTensors } from '../../src/io/safetensors.js';
import type { Module } from '../../src/models/module.js';
import { Adam } from '../../src/optim/adam.js';
import { expectClose, gradCheck, type Tolerance } from '../helpers/compare.js';

export function check(cond: boolean, message: string): void {
  if (!cond) throw new Error(message);
}

/** Compares every named output of the GPU forward with the CPU forward's. */
export async function compareOutputs(gpu: Record<string, Tensor>, cpu: Record<string, HostTensor>, tol: Tolerance, what: string): Promise<void> {
  const gk = Object.keys(gpu).sort();
  const ck = Object.keys(cpu).sort();
  check(gk.join() === ck.join(), `${what}: GPU outputs [${gk.join(', ')}] vs CPU outputs [${ck.join(', ')}]`);
  for (const k of gk) {
    check(gpu[k]!.shape.join() === cpu[k]!.shape.join(), `${what}: ${k} has shape [${gpu[k]!.shape}] on the GPU, [${cpu[k]!.shape}] on the CPU`);
    expectClose(await gpu[k]!.read(), cpu[k]!.data, tol, `${what}: ${k}`);
  }
}

export function disposeAll(out: Record<string, Tensor>): void {
  for (const t of Object.values(out)) t.dispose();
}

export function checkNames(model: Module, expected: string[]): void {
  const names = model.stateEntries().map((e) => e.name);
  const missing = expected.filter((n) => !names.includes(n));
  const extra = names.filter((n) => !expected.includes(n));
  check(!missing.length && !extra.length && names.length === expected.length, `state dict names: missing [${missing.join(', ')}], unexpected [${extra.join(', ')}]`);
}

/** Every parameter gets a finite gradient, and not all of a parameter's gradient is zero. */
export async function checkAllGradients(model: Module, lossOf: () => Tensor): Promise<void> {
  model.train();
  for (const p of model.parameters()) {
    p.grad?.dispose();
    p.grad = null;
  }
  const loss = lossOf();
  loss.backward();
  loss.dispose();
  for (const [name, p] of model.namedParameters()) {
    check(p.grad !== null, `no gradient reached ${name}`);
    const g = await p.grad!.read();
    let nonzero = false;
    for (const v of g) {
      check(Number.isFinite(v), `${name}: gradient ${v}`);
      if (v !== 0) nonzero = true;
    }
    check(nonzero, `${name}: gradient is all zero`);
    p.grad!.dispose();
    p.grad = null;
  }
}

/**
 * Finite differences of the GPU loss against autograd, on `probes` elements of each named parameter. In eval
 * mode (the default) BatchNorm uses its running statistics, which keeps the loss smooth enough for finite
 * differences in a tiny network (batch statistics over a few values are nearly sign functions); train mode is
 * available for larger inputs. BatchNorm's batch-statistics backward has its own gradient checks.
 */
export async function checkParamGradients(engine: Engine, model: Module, names: string[], lossOf: () => Tensor, opts: { probes?: number; eps?: number; tol?: Tolerance; train?: boolean } = {}): Promise<void> {
  model.train(opts.train ?? false);
  const params = new Map(model.namedParameters());
  for (const name of names) {
    const p = params.get(name);
    check(p !== undefined, `no parameter ${name}`);
    const original = new HostTensor(p!.shape, await p!.read());
    const setValues = (h: HostTensor) => {
      const t = engine.tensor(h.data, h.shape);
      engine.copy(t, p!);
      t.dispose();
    };
    try {
      await gradCheck({
        what: `d loss / d ${name}`,
        inputs: [original],
        forward: async ([v]) => {
          setValues(v!);
          const l = noGrad(() => tidy(() => lossOf()));
          const out = new HostTensor([1], await l.read());
          l.dispose();
          return out;
        },
        backward: async ([v], dy) => {
          setValues(v!);
          p!.grad?.dispose();
          p!.grad = null;
          const l = lossOf();
          l.backward();
          l.dispose();
          const g = new HostTensor(p!.shape, await p!.grad!.read());
          for (let i = 0; i < g.size; i++) g.data[i] = g.data[i]! * dy.data[0]!;
          p!.grad!.dispose();
          p!.grad = null;
          return [g];
        },
        probes: opts.probes ?? 3,
        eps: opts.eps ?? 1e-2,
        tol: opts.tol ?? { abs: 2e-3, rel: 5e-2 },
        seed: name.length * 7 + 3,
      });
    } finally {
      setValues(original);
    }
  }
}

/** Save → safetensors bytes → load into `other`; returns the bytes. */
export async function roundTrip(engine: Engine, from: Module, into: Module): Promise<Uint8Array> {
  const state = from.stateDict();
  const bytes = await saveTensors(Object.fromEntries(state));
  state.forEach((t) => t.dispose());
  const loaded = loadTensors(engine, bytes);
  try {
    into.loadStateDict(loaded);
  } finally {
    Object.values(loaded).forEach((t) => t.dispose());
  }
  return bytes;
}

/** Loading another configuration's weights throws one error naming every tensor whose shape differs or that is missing/unexpected. */
export function checkMismatchNamed(engine: Engine, bytes: Uint8Array, into: Module, fromEntries: { name: string; shape: readonly number[] }[]): void {
  const want = new Map(into.stateEntries().map((e) => [e.name, e.shape.join()]));
  const have = new Map(fromEntries.map((e) => [e.name, e.shape.join()]));
  const differing = [...new Set([...want.keys(), ...have.keys()])].filter((n) => want.get(n) !== have.get(n));
  check(differing.length > 0, 'the two configurations should differ');
  const loaded = loadTensors(engine, bytes);
  let message = '';
  try {
    into.loadStateDict(loaded);
  } catch (e) {
    message = (e as Error).message;
  } finally {
    Object.values(loaded).forEach((t) => t.dispose());
  }
  check(message !== '', 'loading another configuration did not throw');
  const unnamed = differing.filter((n) => !new RegExp(`(^|\\s)${n.replace(/\./g, '\\.')}(:|\\s|$)`, 'm').test(message));
  check(unnamed.length === 0, `mismatch error does not name [${unnamed.join(', ')}]:\n${message}`);
  check(message.includes(`${differing.length} mismatch`), `expected ${differing.length} mismatches in:\n${message}`);
}

/** Adam steps on one batch: the loss falls; live GPU bytes are the same after every step from the third on. */
export async function trainSteps(engine: Engine, model: Module, lossOf: () => Tensor, steps: number, lr: number): Promise<{ losses: number[]; live: number[] }> {
  model.train();
  const opt = new Adam(model.parameters(), { lr });
  const losses: number[] = [];
  const live: number[] = [];
  for (let i = 0; i < steps; i++) {
    opt.zeroGrad();
    const loss = lossOf();
    check(loss.shape.length === 0, `the loss must be 0-d (shape []), as PyTorch's; got [${loss.shape}]`);
    loss.backward();
    opt.step();
    losses.push((await loss.read())[0]!);
    loss.dispose();
    await engine.sync();
    live.push(engine.memory().liveBytes);
  }
  opt.zeroGrad();
  opt.dispose();
  return { losses, live };
}
