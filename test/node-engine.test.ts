/** The Node platform: Dawn adapter discovery, the no-adapter message, polite waiting. */
import { describe, expect, it } from 'vitest';
import { createEngine as createCoreEngine, NO_ADAPTER_HELP } from '../src/device/engine.js';
import { InFlight } from '../src/device/waiter.js';
import { add } from '../src/kernels/ops.js';
import { createEngine } from '../src/node/index.js';
import { politeWaiter } from '../src/node/polite-waiter.js';

describe('node engine', () => {
  it('opens Dawn, requests the limits kernels need and reports the adapter', async () => {
    const engine = await createEngine({ persistTuning: false });
    expect(engine.adapter.description.length + engine.adapter.vendor.length).toBeGreaterThan(0);
    expect(engine.limits.maxStorageBufferBindingSize).toBe(engine.adapter.limits.maxStorageBufferBindingSize);
    expect(engine.limits.maxComputeInvocationsPerWorkgroup).toBeGreaterThanOrEqual(256);
    for (const f of ['subgroups', 'shader-f16', 'timestamp-query']) {
      expect(engine.features.has(f)).toBe(engine.adapter.features.includes(f));
    }
    expect(engine.waitMode).toBe('polite');
    engine.destroy();
  });

  it('collects garbage after every 2048 bind groups evicted from the cache, with V8\'s gc by default', async () => {
    let calls = 0;
    const engine = await createEngine({ persistTuning: false, collectGarbage: () => void calls++ });
    // 90 × 90 distinct operand pairs: 8100 bind groups, 4004 evicted past the 4096 cached.
    const xs = Array.from({ length: 90 }, (_, i) => engine.tensor([i, i + 1], [2]));
    for (const a of xs) for (const b of xs) add(a, b).dispose();
    await engine.sync();
    expect(engine.runtime.counters.bindGroupsCreated).toBeGreaterThanOrEqual(8100);
    expect(calls).toBe(Math.floor((engine.runtime.counters.bindGroupsCreated - 4096) / 2048));
    expect(engine.runtime.counters.collections).toBe(calls);
    for (const x of xs) x.dispose();
    engine.destroy();
    const plain = await createEngine({ persistTuning: false });
    expect(plain.runtime.collectGarbage).toBeTypeOf('function'); // V8's, reached without --expose-gc
    plain.runtime.collectGarbage!();
    plain.destroy();
  });

  it('says how to get an adapter when there is none', async () => {
    const noAdapter = { requestAdapter: async () => null } as unknown as GPU;
    await expect(createCoreEngine({ gpu: noAdapter })).rejects.toThrow(NO_ADAPTER_HELP);
    expect(NO_ADAPTER_HELP).toContain('npm run setup');
  });

  it('gives the same results waiting politely and busily', async () => {
    const busy = await createEngine({ wait: 'busy', persistTuning: false });
    const polite = await createEngine({ wait: 'polite', persistTuning: false });
    const values = Float32Array.from({ length: 5000 }, (_, i) => Math.sin(i));
    const [a, b] = await Promise.all([busy.tensor(values).read(), polite.tensor(values).read()]);
    expect(Array.from(a)).toEqual(Array.from(values));
    expect(Array.from(b)).toEqual(Array.from(values));
    busy.destroy();
    polite.destroy();
  });

  it('keeps the polite waiter active exactly while promises are pending', async () => {
    const events: string[] = [];
    const inner = politeWaiter();
    const flight = new InFlight({ mode: 'polite', begin: () => (events.push('begin'), inner.begin()), end: () => (events.push('end'), inner.end()) });
    let release!: () => void;
    const p1 = flight.track(new Promise<void>((r) => (release = r)));
    const p2 = flight.track(new Promise<void>((r) => setTimeout(r, 5)));
    expect(flight.pending).toBe(2);
    await p2;
    expect(events).toEqual(['begin']);
    release();
    await p1;
    await new Promise((r) => setImmediate(r));
    expect(events).toEqual(['begin', 'end']);
    expect(flight.pending).toBe(0);
  });

  it('names each wait by the work recorded before it: the same work, the same name', async () => {
    const names: (string | undefined)[] = [];
    const engine = await createEngine({ persistTuning: false, waiter: { mode: 'polite', begin: (work) => names.push(work), end() {} } });
    const a = engine.tensor(Float32Array.from({ length: 12 }, (_, i) => i - 6), [3, 4]);
    const b = engine.tensor(Float32Array.from({ length: 20 }, (_, i) => i - 6), [4, 5]);
    const step = async (t: typeof a) => {
      const from = names.length;
      const y = t.relu();
      await engine.sync();
      y.dispose();
      // The wait on the relu, not the short ones after it that collect error scopes (no work: '0:…').
      return names.slice(from).filter((n) => !n?.startsWith('0:'));
    };
    await step(a);
    const [x1, x2, x3] = [await step(a), await step(a), await step(b)];
    expect(x1).toHaveLength(1);
    expect(x1![0]).toMatch(/^1:/);
    expect(x2).toEqual(x1);
    expect(x3).toHaveLength(1);
    expect(x3![0]).not.toBe(x1![0]);
    engine.destroy();
  });
});
