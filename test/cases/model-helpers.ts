/** Checks shared by the model suites (platform-neutral: they also run in Chromium). */
import type { Engine } from '../../src/device/engine.js';
import { noGrad } from '../../src/graph/autograd.js';
import { HostTensor } from '../../src/graph/host.js';
import { tidy } from '../../src/graph/scope.js';
import type { Tensor } from '../../src/graph/tensor.js';
import { loadTensors, saveTensors } from '../../src/io/safetensors.js';
import type { Module } from '../../src/models/module.js';
import { Adam } from '../../src/optim/adam.js';
import { gradCheck, randomHost, type Tolerance } from '../helpers/compare.js';
import { expectThrows } from './types.js';

export function check(cond: boolean, message: string): void {
  if (!cond) throw new Error(message);
}

/** Every parameter and buffer in the engine's internal layout (HWIO convs), by state-dict name. */
export async function hostState(model: Module): Promise<Map<string, HostTensor>> {
  const out = new Map<string, HostTensor>();
  for (const [n, t] of [...model.namedParameters(), ...model.namedBuffers()]) out.set(n, new HostTensor(t.shape, (await t.read()) as Float32Array));
  return out;
}

/** A seeded NHWC input uploaded to the GPU, with its host copy. */
export function input(engine: Engine, shape: number[], seed: number): { host: HostTensor; gpu: Tensor } {
  const host = randomHost(shape, seed);
  return { host, gpu: engine.tensor(host.data, shape) };
}

export function checkNames(model: Module, expected: string[]): void {
  const names = model.stateEntries().map((e) => e.name);
  const missing = expected.filter((n) => !names.includes(n));
  const extra = names.filter((n) => !expected.includes(n));
  check(!missing.length && !extra.length, `state dict names: missing [${missing.join(', ')}], unexpected [${extra.join(', ')}]`);
}

/** Train-mode forward + backward: every parameter gets a finite, not-all-zero gradient. */
export async function checkAllGradients(model: Module, lossOf: () => Tensor): Promise<void> {
  model.train();
  for (const p of model.parameters()) {
    p.grad?.dispose();
    p.grad = null;
  }
  const loss = lossOf();
  loss.backward();
  loss.dispose();
  const bad: string[] = [];
  for (const [n, p] of model.namedParameters()) {
    if (!p.grad) {
      bad.push(`${n}: no gradient`);
      continue;
    }
    const g = (await p.grad.read()) as Float32Array;
    if (!g.every(Number.isFinite)) bad.push(`${n}: non-finite gradient`);
    else if (g.every((v) => v === 0)) bad.push(`${n}: all-zero gradient`);
    p.grad.dispose();
    p.grad = null;
  }
  check(!bad.length, `gradients: ${bad.join('; ')}`);
}

/**
 * Finite differences of the scalar loss against autograd on a few elements of each named parameter. Forwards run
 * one at a time because they share the model's parameter tensors.
 */
export async function checkParameterGradients(engine: Engine, model: Module, names: string[], lossOf: () => Tensor, opts: { probes?: number; eps?: number; tol?: Tolerance } = {}): Promise<void> {
  const params = new Map(model.namedParameters());
  let chain: Promise<unknown> = Promise.resolve();
  for (const name of names) {
    const p = params.get(name);
    if (!p) throw new Error(`no parameter ${name}`);
    const original = new HostTensor(p.shape, (await p.read()) as Float32Array);
    const forward = (xs: HostTensor[]): Promise<HostTensor> => {
      const run = chain.then(async () => {
        engine.write(p, xs[0]!.data);
        const l = noGrad(() => lossOf());
        const v = (await l.read()) as Float32Array;
        l.dispose();
        return new HostTensor([1], Float32Array.of(v[0]!));
      });
      chain = run;
      return run;
    };
    await gradCheck({
      what: `parameter ${name}`,
      inputs: [original],
      forward,
      backward: async (xs, dy) => {
        await chain;
        engine.write(p, xs[0]!.data);
        for (const q of model.parameters()) {
          q.grad?.dispose();
          q.grad = null;
        }
        const l = lossOf();
        l.backward();
        l.dispose();
        const g = (await p.grad!.read()) as Float32Array;
        return [new HostTensor(p.shape, g.map((v) => v * dy.data[0]!))];
      },
      probes: opts.probes ?? 4,
      eps: opts.eps ?? 1e-2,
      tol: opts.tol ?? { abs: 2e-3, rel: 3e-2 },
    });
    await chain;
    engine.write(p, original.data);
  }
  for (const q of model.parameters()) {
    q.grad?.dispose();
    q.grad = null;
  }
}

/** Save to safetensors, load into a differently seeded twin: every tensor equal. */
export async function checkSafetensorsRoundTrip(engine: Engine, model: Module, twin: Module): Promise<void> {
  const state = model.stateDict();
  const bytes = await saveTensors(Object.fromEntries(state));
  state.forEach((t) => t.dispose());
  const loaded = loadTensors(engine, bytes);
  twin.loadStateDict(loaded);
  Object.values(loaded).forEach((t) => t.dispose());
  const a = await hostState(model);
  const b = await hostState(twin);
  for (const [n, t] of a) {
    const u = b.get(n)!;
    check(t.data.every((v, i) => v === u.data[i]), `${n} differs after the safetensors round trip`);
  }
}

/** Loading another configuration's state names every tensor that differs (missing, unexpected, mis-shaped). */
export function checkMismatchReport(model: Module, other: Module): void {
  const mine = new Map(model.stateEntries().map((e) => [e.name, e.shape.join('x')]));
  const theirs = new Map(other.stateEntries().map((e) => [e.name, e.shape.join('x')]));
  const expected = [...new Set([...mine.keys(), ...theirs.keys()])].filter((n) => mine.get(n) !== theirs.get(n));
  check(expected.length > 0, 'the two configurations have identical state dicts');
  const state = other.stateDict();
  let message = '';
  try {
    model.loadStateDict(state);
  } catch (e) {
    message = (e as Error).message;
  }
  state.forEach((t) => t.dispose());
  check(message.includes(`${expected.length} mismatch`), `expected ${expected.length} mismatches, got: ${message.slice(0, 300)}`);
  for (const n of expected) check(message.includes(n), `the mismatch report does not name ${n}`);
  expectThrows(() => model.loadStateDict(new Map()), 'missing');
}

/** A few Adam steps on one batch: the loss falls; live GPU memory is flat after the first steps. */
export async function checkTraining(engine: Engine, model: Module, lossOf: () => Tensor, opts: { steps?: number; lr?: number } = {}): Promise<{ first: number; last: number; live: number[] }> {
  model.train();
  const opt = new Adam(model.parameters(), { lr: opts.lr ?? 1e-3 });
  const losses: number[] = [];
  const live: number[] = [];
  const steps = opts.steps ?? 10;
  for (let i = 0; i < steps; i++) {
    const l = tidy(() => {
      opt.zeroGrad();
      const loss = lossOf();
      check(loss.shape.length === 0, `the loss must be 0-d (shape []), as PyTorch's; got [${loss.shape}]`);
      loss.backward();
      opt.step();
      return loss;
    });
    losses.push(((await l.read()) as Float32Array)[0]!);
    l.dispose();
    await engine.sync();
    live.push(engine.memory().liveBytes);
  }
  opt.dispose();
  const first = losses[0]!;
  const last = losses[losses.length - 1]!;
  check(losses.every(Number.isFinite), `non-finite loss: ${losses.join(', ')}`);
  check(last < first, `loss did not fall: ${losses.map((v) => v.toFixed(4)).join(' → ')}`);
  // After the optimiser state exists (step 2), every step must end with the same live bytes.
  const steady = live.slice(2);
  check(steady.every((v) => v === steady[0]), `live bytes drift over training steps: ${live.join(', ')}`);
  return { first, last, live };
}
