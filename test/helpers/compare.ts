/**
 * GPU-vs-CPU comparison and finite-difference gradient checks. Platform-neutral: the same helpers run under
 * vitest in Node and in the Chromium test page. Failures throw with max abs/rel error and the worst element.
 */
import type { Engine } from '../../src/device/engine.js';
import { HostTensor } from '../../src/graph/host.js';
import { Tensor } from '../../src/graph/tensor.js';
import type { HostArgs, Op, Plan } from '../../src/kernels/op.js';
import { noGrad } from '../../src/graph/autograd.js';

export interface Tolerance {
  abs: number;
  rel: number;
}

export interface CloseReport {
  maxAbs: number;
  maxRel: number;
  worst: number;
}

/** Passes when |a − e| ≤ abs + rel·|e| everywhere (NaN must meet NaN, ±∞ must be equal). */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tolerance, what: string): CloseReport {
  if (actual.length !== expected.length) throw new Error(`${what}: ${actual.length} values, expected ${expected.length}`);
  let maxAbs = 0;
  let maxRel = 0;
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (Number.isNaN(e) || Number.isNaN(a) || !Number.isFinite(e)) {
      if (!(Object.is(a, e) || (Number.isNaN(a) && Number.isNaN(e)))) throw new Error(`${what}: element ${i} is ${a}, expected ${e}`);
      continue;
    }
    const err = Math.abs(a - e);
    const rel = err / Math.max(Math.abs(e), 1e-30);
    maxAbs = Math.max(maxAbs, err);
    if (err > tol.abs) maxRel = Math.max(maxRel, rel);
    const excess = err - (tol.abs + tol.rel * Math.abs(e));
    if (excess > worstExcess) {
      worstExcess = excess;
      worst = i;
    }
  }
  if (worst >= 0) {
    throw new Error(
      `${what}: max abs error ${maxAbs.toExponential(3)}, max rel error ${maxRel.toExponential(3)} over tolerance ` +
        `(abs ${tol.abs}, rel ${tol.rel}); worst at element ${worst}: got ${actual[worst]}, expected ${expected[worst]}`,
    );
  }
  return { maxAbs, maxRel, worst };
}

/** Deterministic uniform values in [lo, hi) (mulberry32). */
export function randomHost(shape: readonly number[], seed: number, lo = -1, hi = 1): HostTensor {
  const t = HostTensor.zeros(shape);
  let s = seed >>> 0;
  for (let i = 0; i < t.size; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let r = Math.imul(s ^ (s >>> 15), 1 | s);
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r;
    t.data[i] = lo + (hi - lo) * (((r ^ (r >>> 14)) >>> 0) / 4294967296);
  }
  return t;
}

export function toGpu(engine: Engine, h: HostTensor): Tensor {
  return engine.tensor(h.data, h.shape, h.dtype);
}

export async function toHost(t: Tensor): Promise<HostTensor> {
  return new HostTensor(t.shape, await t.read(), t.dtype);
}

/** Runs an op on the GPU and through its CPU reference on the same inputs and compares. */
export async function checkOp<A extends unknown[], P extends Plan>(engine: Engine, op: Op<A, P>, hostArgs: HostArgs<A>, tol: Tolerance): Promise<CloseReport> {
  const uploaded: Tensor[] = [];
  const gpuArgs = (hostArgs as unknown[]).map((a) => {
    if (a instanceof HostTensor) {
      const t = toGpu(engine, a);
      uploaded.push(t);
      return t;
    }
    if (Array.isArray(a) && a.every((x) => x instanceof HostTensor)) {
      return a.map((x: HostTensor) => {
        const t = toGpu(engine, x);
        uploaded.push(t);
        return t;
      });
    }
    return a;
  }) as unknown as A;
  const out = op(...gpuArgs);
  try {
    const expected = op.cpu(...hostArgs);
    const got = await out.read();
    const shapes = (hostArgs as unknown[]).map((a) => (a instanceof HostTensor ? `[${a.shape}]` : typeof a === 'object' && a !== null && !Array.isArray(a) ? 'engine' : JSON.stringify(a))).join(', ');
    if (out.shape.join() !== expected.shape.join()) throw new Error(`${op.opName}(${shapes}): shape [${out.shape}], expected [${expected.shape}]`);
    if (out.dtype !== expected.dtype) throw new Error(`${op.opName}(${shapes}): dtype ${out.dtype}, expected ${expected.dtype}`);
    return expectClose(got, expected.data, tol, `${op.opName}(${shapes})`);
  } finally {
    out.dispose();
    uploaded.forEach((t) => t.dispose());
  }
}

export interface GradCheckOptions {
  what: string;
  inputs: HostTensor[];
  /** The function whose gradient is checked (a CPU reference, or the GPU forward read back). */
  forward(inputs: HostTensor[]): HostTensor | Promise<HostTensor>;
  /** The analytic gradient of Σ forward(inputs)·dy with respect to each input (the backward kernels). */
  backward(inputs: HostTensor[], dy: HostTensor): HostTensor[] | Promise<HostTensor[]>;
  eps?: number;
  tol?: Tolerance;
  /** Elements probed per input (all when the input is smaller). */
  probes?: number;
  seed?: number;
}

/**
 * Central finite differences of L = Σ forward(x)·dy at randomly chosen elements, against the analytic
 * gradients. Differences are taken in float64 arithmetic over the f32 forward values.
 */
export async function gradCheck(o: GradCheckOptions): Promise<void> {
  const eps = o.eps ?? 1e-2;
  const tol = o.tol ?? { abs: 2e-3, rel: 2e-2 };
  const y0 = await o.forward(o.inputs);
  const dy = randomHost(y0.shape, (o.seed ?? 7) + 1);
  const grads = await o.backward(o.inputs, dy);
  const loss = async (xs: HostTensor[]): Promise<number> => {
    const y = await o.forward(xs);
    let s = 0;
    for (let i = 0; i < y.size; i++) s += y.data[i]! * dy.data[i]!;
    return s;
  };
  let seed = o.seed ?? 7;
  for (let k = 0; k < o.inputs.length; k++) {
    const x = o.inputs[k]!;
    const g = grads[k]!;
    if (g.shape.join() !== x.shape.join()) throw new Error(`${o.what}: gradient ${k} has shape [${g.shape}], input has [${x.shape}]`);
    const count = Math.min(o.probes ?? 24, x.size);
    const picks = count === x.size ? [...Array(x.size).keys()] : Array.from({ length: count }, () => ((seed = (seed * 1103515245 + 12345) >>> 0) % x.size));
    // All perturbed forwards are issued before any is awaited, so GPU work batches and readbacks overlap.
    const withInput = (t: HostTensor) => o.inputs.map((v, j) => (j === k ? t : v));
    const numeric = await Promise.all(
      picks.map(async (i) => {
        const plus = HostTensor.from(x.data, x.shape, x.dtype);
        const minus = HostTensor.from(x.data, x.shape, x.dtype);
        plus.data[i] = x.data[i]! + eps;
        minus.data[i] = x.data[i]! - eps;
        const [lp, lm] = await Promise.all([loss(withInput(plus)), loss(withInput(minus))]);
        return (lp - lm) / (plus.data[i]! - minus.data[i]!);
      }),
    );
    const analytic = picks.map((i) => g.data[i]!);
    expectClose(analytic, numeric, tol, `${o.what}: gradient of input ${k} vs finite differences`);
  }
}

/**
 * Checks autograd through `fn` (a composition of GPU ops) against finite differences of the same GPU forward:
 * the inputs are uploaded as leaves that require a gradient, `fn(...).backward(dy)` fills their `.grad`.
 */
export async function autogradCheck(
  engine: Engine,
  what: string,
  fn: (...xs: Tensor[]) => Tensor,
  inputs: HostTensor[],
  opts: { eps?: number; tol?: Tolerance; probes?: number } = {},
): Promise<void> {
  const forward = async (xs: HostTensor[]): Promise<HostTensor> => {
    const ts = xs.map((x) => toGpu(engine, x));
    const y = noGrad(() => fn(...ts));
    const out = await toHost(y);
    y.dispose();
    ts.forEach((t) => t.dispose());
    return out;
  };
  await gradCheck({
    what,
    inputs,
    forward,
    async backward(xs, dy) {
      const ts = xs.map((x) => toGpu(engine, x).setRequiresGrad());
      const y = fn(...ts);
      const g = toGpu(engine, dy);
      y.backward(g);
      const grads = await Promise.all(
        ts.map(async (t) => {
          if (!t.grad) throw new Error(`${what}: no gradient reached an input of shape [${t.shape}]`);
          return toHost(t.grad);
        }),
      );
      [y, g, ...ts].forEach((t) => t.dispose());
      ts.forEach((t) => t.grad?.dispose());
      return grads;
    },
    ...opts,
  });
}
