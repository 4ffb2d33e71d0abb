/** The engine's runtime: pooling, batching, pipeline caching, error reporting, variants, test helpers. */
import { createEngine } from '../../src/device/engine.js';
import { GpuError } from '../../src/device/errors.js';
import { HostTensor } from '../../src/graph/host.js';
import { bucketSize } from '../../src/graph/pool.js';
import { add, mul, neg, relu } from '../../src/kernels/ops.js';
import { VariantChooser, type TunableKernel } from '../../src/kernels/variants.js';
import { expectClose, gradCheck, randomHost } from '../helpers/compare.js';
import { expectThrows, type Case, type Suite } from './types.js';

function check(cond: boolean, message: string): void {
  if (!cond) throw new Error(message);
}

const cases: Case[] = [
  {
    name: 'buckets round up by at most 25%',
    async run() {
      check(bucketSize(1) === 256 && bucketSize(256) === 256, 'small sizes use the 256-byte bucket');
      for (const n of [257, 1000, 4097, 123457, 1e7]) {
        const b = bucketSize(n);
        check(b >= n && b <= n * 1.25 + 1, `bucket ${b} for ${n}`);
        check(bucketSize(b) === b, `bucket of a bucket size ${b} is itself`);
      }
    },
  },
  {
    name: 'released buffers are reused in queue order; host writes submit recorded work first; counters track it',
    async run(engine) {
      await engine.sync();
      const before = engine.memory();
      const a = engine.tensor(new Float32Array(1000).fill(2), [1000]);
      const b = relu(a);
      const live = engine.memory();
      check(live.liveBytes - before.liveBytes === 2 * bucketSize(4000), `live bytes grew by ${live.liveBytes - before.liveBytes}`);
      const buffer = b.buffer;
      // b is read by recorded, unsubmitted work; its buffer is handed out again at once, for GPU-ordered writes.
      const c = neg(b);
      b.dispose();
      const d = engine.empty([1000]);
      check(d.buffer === buffer, 'a released buffer of the same bucket was not reused');
      // A host write into the recycled buffer must not overtake the recorded neg(b).
      engine.write(d, new Float32Array(1000).fill(-7));
      expectClose(await c.read(), new Float32Array(1000).fill(-2), { abs: 0, rel: 0 }, 'neg read a buffer the host overwrote');
      expectClose(await d.read(), new Float32Array(1000).fill(-7), { abs: 0, rel: 0 }, 'host write');
      const after = engine.memory();
      check(after.peakLiveBytes >= after.liveBytes, 'peak below live');
      [a, c, d].forEach((t) => t.dispose());
      check(engine.memory().liveBytes === before.liveBytes, 'live bytes did not return to where they started');
    },
  },
  {
    name: 'reshape is a view; the buffer returns when the last view is disposed',
    async run(engine) {
      const before = engine.memory().liveBytes;
      const a = engine.tensor([1, 2, 3, 4, 5, 6], [2, 3]);
      const v = a.reshape([3, -1]);
      check(v.shape.join() === '3,2' && v.buffer === a.buffer, 'reshape copied or mis-shaped');
      a.dispose();
      expectClose(await v.read(), [1, 2, 3, 4, 5, 6], { abs: 0, rel: 0 }, 'view after the base was disposed');
      check(engine.memory().liveBytes > before, 'storage freed while a view is alive');
      v.dispose();
      check(engine.memory().liveBytes === before, 'storage kept after the last view was disposed');
    },
  },
  {
    name: 'steady state allocates nothing: repeated ops reuse pooled buffers',
    async run(engine) {
      const x = engine.tensor(randomHost([33, 17], 1).data, [33, 17]);
      const step = async () => {
        const r = relu(x);
        const y = mul(r, x);
        const z = add(y, 1);
        r.dispose();
        y.dispose();
        await z.read();
        z.dispose();
      };
      await step();
      await step();
      const created = engine.memory().created;
      for (let i = 0; i < 10; i++) await step();
      check(engine.memory().created === created, `${engine.memory().created - created} buffers created in steady state`);
      x.dispose();
    },
  },
  {
    name: 'dispatches are batched into few submits and pipelines are cached across shapes',
    async run(engine) {
      await engine.sync();
      const x = engine.tensor(randomHost([5, 7], 2).data, [5, 7]);
      const y = engine.tensor(randomHost([9, 3, 11], 3).data, [9, 3, 11]);
      neg(x).dispose();
      await engine.sync();
      const c0 = { ...engine.runtime.counters };
      const outs = [];
      for (let i = 0; i < 40; i++) outs.push(neg(i % 2 ? x : y));
      await engine.sync();
      const c1 = engine.runtime.counters;
      check(c1.dispatches - c0.dispatches === 40, `${c1.dispatches - c0.dispatches} dispatches`);
      check(c1.submits - c0.submits <= 3, `40 dispatches took ${c1.submits - c0.submits} submits`);
      check(c1.pipelinesCompiled === c0.pipelinesCompiled, 'a new shape compiled a new pipeline');
      outs.forEach((t) => t.dispose());
      [x, y].forEach((t) => t.dispose());
    },
  },
  {
    name: 'WGSL #if blocks select code by define',
    async run(engine) {
      const code = `
@group(0) @binding(1) var<storage, read_write> o: array<f32>;
@compute @workgroup_size(1) fn main() {
#if TWO
  o[0] = 2.0;
#else
  o[0] = 1.0;
#if NESTED
  o[0] = 5.0;
#endif
#endif
}`;
      const results: number[] = [];
      const defineSets: Record<string, number>[] = [{ TWO: 1 }, { TWO: 0 }, { TWO: 0, NESTED: 1 }];
      for (const defines of defineSets) {
        const t = engine.empty([1]);
        engine.runtime.dispatch({ kernel: { name: 'ifdef-probe', code }, defines, label: 'ifdef-probe', bindings: [t.binding()], grid: 1 });
        results.push((await t.read())[0]!);
        t.dispose();
      }
      check(results.join() === '2,1,5', `got ${results.join()}`);
    },
  },
  {
    name: 'a GPU validation error surfaces as a JS error naming the kernel and shapes',
    async run(engine) {
      const t = engine.empty([4]);
      const code = '@group(0) @binding(1) var<storage, read_write> o: array<f32>;\n@compute @workgroup_size(1) fn main() { o[0] = undefined_name; }';
      engine.runtime.dispatch({ kernel: { name: 'broken-kernel', code }, label: 'broken-kernel [4]', bindings: [t.binding()], grid: 1 });
      let err: unknown;
      try {
        await engine.sync();
      } catch (e) {
        err = e;
      }
      check(err instanceof GpuError, `expected a GpuError, got ${String(err)}`);
      check((err as Error).message.includes('broken-kernel [4]'), `message does not name the kernel: ${(err as Error).message}`);
      await engine.sync(); // the error was reported once; the engine goes on working
      expectClose(await relu(engine.tensor([-1, 2], [2])).read(), [0, 2], { abs: 0, rel: 0 }, 'relu after an error');
      t.dispose();
    },
  },
  {
    name: 'variants: first supported by default, forced for tests, tuned by measurement',
    async run(engine) {
      const calls: string[] = [];
      const kernel: TunableKernel<number> = {
        name: 'probe-kernel',
        variants: [
          { name: 'unsupported', supported: () => false, run: () => calls.push('unsupported') },
          { name: 'slow', supported: () => true, run: (e, n) => { calls.push('slow'); for (let i = 0; i < n * 20; i++) neg(e.tensor([1], [1])).dispose(); } },
          { name: 'fast', supported: () => true, run: (e) => { calls.push('fast'); neg(e.tensor([1], [1])).dispose(); } },
        ],
        sample: () => ({ problem: 4, dispose() {} }),
      };
      const stored = new Map<string, string>();
      const chooser = new VariantChooser(engine, { get: (k) => stored.get(k), set: (k, v) => void stored.set(k, v) });
      check(chooser.pick(kernel).name === 'slow', 'untuned pick is not the first supported variant');
      check(chooser.supported(kernel).join() === 'slow,fast', 'supported list');
      chooser.force('probe-kernel', 'fast');
      check(chooser.pick(kernel).name === 'fast', 'force ignored');
      expectThrows(() => (chooser.force('probe-kernel', 'unsupported'), chooser.pick(kernel)), 'probe-kernel', 'does not run on this device');
      chooser.force('probe-kernel', undefined);
      const [result] = await chooser.tune([kernel as TunableKernel<unknown>]);
      check(result?.chosen === 'fast' && chooser.pick(kernel).name === 'fast', `tuning chose ${result?.chosen}`);
      check(!calls.includes('unsupported'), 'an unsupported variant ran');
      const again = new VariantChooser(engine, { get: (k) => stored.get(k), set: () => {} });
      check(again.pick(kernel).name === 'fast', 'the choice was not remembered by the store');
      check((await again.tune([kernel as TunableKernel<unknown>])).length === 0, 'a remembered kernel was measured again');
    },
  },
  {
    name: 'gradCheck accepts a right gradient and rejects a wrong one',
    async run() {
      const a = randomHost([3, 4], 11);
      const b = randomHost([3, 4], 12);
      const forward = ([x, y]: HostTensor[]) => mul.cpu(x!, y!);
      await gradCheck({ what: 'mul', inputs: [a, b], forward, backward: ([x, y], dy) => [mul.cpu(dy, y!), mul.cpu(dy, x!)] });
      let rejected = false;
      try {
        await gradCheck({ what: 'mul (wrong)', inputs: [a, b], forward, backward: ([x, y], dy) => [mul.cpu(dy, x!), mul.cpu(dy, y!)] });
      } catch {
        rejected = true;
      }
      check(rejected, 'a wrong gradient passed the check');
    },
  },
  {
    name: 'a lost device: the next op, read and sync raise a GpuError saying so and what to do; a new engine works',
    async run(engine) {
      // A sibling engine of its own: losing the shared one would end the suite.
      const lost = await createEngine(engine.options);
      const a = lost.tensor([1, -2, 3, -4], [4]);
      const recorded = relu(a);
      check(Array.from(await recorded.read()).join() === '1,0,3,0', 'the engine works before the loss');
      const pending = neg(recorded);
      lost.device.destroy(); // as a driver reset or a tab losing its adapter would
      const readError = await pending.read().then(() => null, (e: unknown) => e);
      check(readError instanceof GpuError && readError.kind === 'device-lost', `read after the loss: ${String(readError)}`);
      const message = (readError as GpuError).message;
      check(message.includes('lost') && message.includes('createEngine()') && message.includes('read [4]'), `read's message: ${message}`);
      check(lost.lost !== null, 'engine.lost is set');
      expectThrows(() => relu(a), 'device-lost', 'relu', 'createEngine()');
      expectThrows(() => lost.tensor([1, 2]), 'device-lost', 'createEngine()');
      const syncError = await lost.sync().then(() => null, (e: unknown) => e);
      check(syncError instanceof GpuError && syncError.kind === 'device-lost', `sync after the loss: ${String(syncError)}`);
      a.dispose(); // disposing what the lost engine held is harmless
      recorded.dispose();
      pending.dispose();
      const fresh = await createEngine(engine.options);
      const b = fresh.tensor([1, -2, 3, -4], [4]);
      check(Array.from(await relu(b).read()).join() === '1,0,3,0', 'a new engine works after the loss');
      fresh.destroy();
      expectThrows(() => fresh.tensor([1]), 'engine.destroy() was called');
    },
  },
];

export const runtimeSuite: Suite = { name: 'runtime', cases };
