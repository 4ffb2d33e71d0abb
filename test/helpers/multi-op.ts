/** GPU-vs-CPU comparison for multi-output ops (defineMultiOp), output by output. Platform-neutral. */
import type { Engine } from '../../src/device/engine.js';
import { HostTensor } from '../../src/graph/host.js';
import type { Tensor } from '../../src/graph/tensor.js';
import type { MultiOp, MultiPlan } from '../../src/kernels/multi-op.js';
import type { HostArgs } from '../../src/kernels/op.js';
import { expectClose, toGpu, toHost, type Tolerance } from './compare.js';

/** Uploads HostTensor arguments, runs `fn` on the GPU copies, disposes the uploads. */
export async function withGpuArgs<R>(engine: Engine, hostArgs: readonly unknown[], fn: (args: unknown[]) => Promise<R>): Promise<R> {
  const uploaded: Tensor[] = [];
  const args = hostArgs.map((a) => {
    if (!(a instanceof HostTensor)) return a;
    const t = toGpu(engine, a);
    uploaded.push(t);
    return t;
  });
  try {
    return await fn(args);
  } finally {
    uploaded.forEach((t) => t.dispose());
  }
}

/** Runs a multi-output op on the GPU and through its CPU reference; compares each output (tolerance per output or shared). */
export async function checkMultiOp<A extends unknown[], O extends string, P extends MultiPlan<O>>(
  engine: Engine,
  op: MultiOp<A, O, P>,
  hostArgs: HostArgs<A>,
  tol: Tolerance | Record<O, Tolerance>,
): Promise<Record<O, HostTensor>> {
  const expected = op.cpu(...hostArgs);
  return withGpuArgs(engine, hostArgs as unknown as unknown[], async (args) => {
    const outs = op(...(args as A));
    const got = {} as Record<O, HostTensor>;
    try {
      const shapes = (hostArgs as unknown as unknown[]).map((a) => (a instanceof HostTensor ? `[${a.shape}]` : typeof a === 'object' && a !== null && !Array.isArray(a) && !ArrayBuffer.isView(a) ? JSON.stringify(a) : String(a))).join(', ');
      for (const name of Object.keys(expected) as O[]) {
        const t = outs[name];
        const e = expected[name];
        const what = `${op.opName}(${shapes}).${name}`;
        if (t.shape.join() !== e.shape.join()) throw new Error(`${what}: shape [${t.shape}], expected [${e.shape}]`);
        if (t.dtype !== e.dtype) throw new Error(`${what}: dtype ${t.dtype}, expected ${e.dtype}`);
        const h = await toHost(t);
        const tl = 'abs' in tol ? (tol as Tolerance) : (tol as Record<O, Tolerance>)[name];
        expectClose(h.data, e.data, tl, what);
        got[name] = h;
      }
      return got;
    } finally {
      for (const t of Object.values(outs) as Tensor[]) t.dispose();
    }
  });
}

/** Runs a GPU function on uploaded host inputs and reads back its (first) tensor result. */
export async function gpuHost(engine: Engine, inputs: readonly HostTensor[], fn: (...ts: Tensor[]) => Tensor): Promise<HostTensor> {
  return withGpuArgs(engine, inputs, async (ts) => {
    const y = fn(...(ts as Tensor[]));
    try {
      return await toHost(y);
    } finally {
      y.dispose();
    }
  });
}

/** Like gpuHost, for functions returning several tensors: reads back the named ones, in order. */
export async function gpuHostMany(engine: Engine, inputs: readonly HostTensor[], fn: (...ts: Tensor[]) => Record<string, Tensor>, names: readonly string[]): Promise<HostTensor[]> {
  return withGpuArgs(engine, inputs, async (ts) => {
    const outs = fn(...(ts as Tensor[]));
    try {
      return await Promise.all(names.map((n) => toHost(outs[n]!)));
    } finally {
      for (const t of Object.values(outs)) t.dispose();
    }
  });
}
