/** Input validation at the engine's edges: host data conversion, bad labels, cross-engine tensors, empty axes, limits. */
import { createEngine } from '../../src/device/engine.js';
import { ShapeError } from '../../src/device/errors.js';
import type { HostData } from '../../src/graph/dtype.js';
import { CheckpointValueError, decodeSafetensors, encodeSafetensors, loadTensors, type SafetensorsEntry } from '../../src/io/safetensors.js';
import { loadModule, saveModule } from '../../src/models/checkpoint.js';
import { BatchNorm2d } from '../../src/models/layers/batchnorm.js';
import { Linear, Sequential } from '../../src/models/layers/basic.js';
import * as ops from '../../src/kernels/ops.js';
import { expectThrows, type Case, type Suite } from './types.js';

/** The error `fn` throws (or a failure when it throws nothing). */
function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error; nothing was thrown');
}

function check(cond: boolean, message: string): void {
  if (!cond) throw new Error(message);
}

async function expectStored(engine: Parameters<Case['run']>[0], data: HostData, dtype: string, expected: number[], asDtype?: 'f32' | 'i32' | 'u32'): Promise<void> {
  const name = ArrayBuffer.isView(data) ? data.constructor.name : 'number[]';
  const t = engine.tensor(data, undefined, asDtype);
  try {
    check(t.dtype === dtype, `${name}${asDtype ? ` as ${asDtype}` : ''}: stored as ${t.dtype}, expected ${dtype}`);
    const got = Array.from(await t.read());
    check(got.length === expected.length && got.every((v, i) => Object.is(v, expected[i]) || (Number.isNaN(v) && Number.isNaN(expected[i]!))), `${name}: read back [${got}], expected [${expected}]`);
  } finally {
    t.dispose();
  }
}

const cases: Case[] = [
  {
    name: 'engine.tensor converts every typed array with a defined conversion and refuses the rest naming the type',
    async run(engine) {
      const f64 = [1.5, -2, 3e9, 0.1, 1e39, -1e39, NaN, 16777217];
      await expectStored(engine, new Float64Array(f64), 'f32', f64.map(Math.fround));
      await expectStored(engine, new Int8Array([-128, 0, 127]), 'i32', [-128, 0, 127]);
      await expectStored(engine, new Int16Array([-32768, 7, 32767]), 'i32', [-32768, 7, 32767]);
      await expectStored(engine, new Uint8Array([0, 200, 255]), 'u32', [0, 200, 255]);
      await expectStored(engine, new Uint8ClampedArray([0, 255]), 'u32', [0, 255]);
      await expectStored(engine, new Uint16Array([1, 65535]), 'u32', [1, 65535]);
      await expectStored(engine, new Uint8Array([3, 255]), 'f32', [3, 255], 'f32');
      await expectStored(engine, new Float64Array([-3, 4]), 'i32', [-3, 4], 'i32');
      await expectStored(engine, new Int32Array([-5, 2147483647]), 'f32', [-5, 2147483648], 'f32');
      for (const bad of [new BigInt64Array(2), new BigUint64Array(2)]) {
        expectThrows(() => engine.tensor(bad as unknown as HostData), 'tensor', bad.constructor.name, 'no conversion');
      }
      expectThrows(() => engine.tensor(new DataView(new ArrayBuffer(8)) as unknown as HostData, [2]), 'tensor', 'DataView');
      // Integer dtypes hold integers exactly or refuse: no truncation, no wrap-around.
      expectThrows(() => engine.tensor(new Float32Array([1, 1.5]), [2], 'i32'), 'tensor', '1.5', 'index 1', 'Float32Array', 'i32');
      expectThrows(() => engine.tensor([NaN], [1], 'i32'), 'tensor', 'NaN', 'i32');
      expectThrows(() => engine.tensor(new Uint32Array([4000000000]), [1], 'i32'), 'tensor', '4000000000', 'i32');
      expectThrows(() => engine.tensor(new Int32Array([-1]), [1], 'u32'), 'tensor', '-1', 'u32');
      const t = engine.zeros([3]);
      engine.write(t, new Float64Array([0.1, 2, -1e40]));
      const got = Array.from(await t.read());
      check(got[0] === Math.fround(0.1) && got[1] === 2 && got[2] === -Infinity, `write of a Float64Array read back [${got}]`);
      const i = engine.zeros([1], 'i32');
      expectThrows(() => engine.write(i, [2.5]), 'write', '2.5', 'i32');
      check((() => { try { engine.write(i, [2.5]); } catch (e) { return e instanceof ShapeError; } return false; })(), 'a bad write is a ShapeError');
      [t, i].forEach((x) => x.dispose());
    },
  },
  {
    name: 'loaders refuse NaN/Inf weights and negative running variances, naming the file and every tensor',
    async run(engine) {
      const model = new Sequential(engine, new Linear(engine, 3, 4), new BatchNorm2d(engine, 4));
      const good = await saveModule(model);
      const damaged = (edit: (e: Record<string, SafetensorsEntry>) => void): Uint8Array => {
        const entries = decodeSafetensors(good);
        edit(entries);
        return encodeSafetensors(entries);
      };
      const names = Object.keys(decodeSafetensors(good));
      const weight = names.find((n) => n.endsWith('weight') && n.startsWith('0'))!;
      const runningVar = names.find((n) => n.endsWith('running_var'))!;
      check(weight !== undefined && runningVar !== undefined, `state names ${names}`);
      const nan = damaged((e) => ((e[weight]!.data as Float32Array)[5] = NaN));
      const err = thrown(() => loadModule(model, nan, { source: 'runs/m1/model.safetensors' }));
      check(err instanceof CheckpointValueError, `a NaN weight gave ${err.name}: ${err.message}`);
      for (const f of ['runs/m1/model.safetensors', `'${weight}'`, '[4, 3]', '1 of 12 values is NaN or infinite', 'element 5 = NaN']) check(err.message.includes(f), `"${err.message}" does not mention ${f}`);
      // Every bad tensor is listed, a negative variance among them; nothing reaches the module.
      const both = damaged((e) => {
        (e[weight]!.data as Float32Array)[0] = Infinity;
        (e[runningVar]!.data as Float32Array).set([1, -0.5, 2, -3]);
      });
      expectThrows(() => loadModule(model, both), '2 tensors', `'${weight}'`, 'element 0 = Infinity', `'${runningVar}' [4]`, '2 of 4 values are negative', 'variance', 'element 1 = -0.5');
      const state = model.stateDict();
      const after = await state.get(runningVar)!.read();
      state.forEach((t) => t.dispose());
      check(after.every((v) => v === 1), 'a refused file changed the module');
      // Opt-outs: a NaN weight loads when asked for; plain tensor loading keeps NaN unless told to check.
      loadModule(model, nan, { allowNonFinite: true });
      const raw = loadTensors(engine, nan);
      check(Number.isNaN((await raw[weight]!.read())[5]!), 'loadTensors without finite changed a NaN');
      Object.values(raw).forEach((t) => t.dispose());
      expectThrows(() => loadTensors(engine, nan, undefined, { finite: true, source: 'x.safetensors' }), 'x.safetensors', weight, 'NaN');
      model.dispose();
    },
  },
  {
    name: 'out-of-range i32 label tensors are caught on the GPU and raised by the next read, naming the op',
    async run(engine) {
      const logits = engine.tensor(Float32Array.from({ length: 28 }, (_, i) => Math.sin(i)), [4, 7]);
      const good = engine.tensor(Int32Array.of(0, 6, 2, 3), [4]);
      const bad = engine.tensor(Int32Array.of(0, 9, 2, -1), [4]);
      const other = engine.tensor([1, 2, 3]);
      // Valid labels: reads pass, and keep passing.
      const ok = ops.softmaxCrossEntropy(logits, good);
      check(Number.isFinite((await ok.read())[0]!), 'a valid loss is not finite');
      // Bad labels: no readback of their own; the next read of anything throws, naming the op, the range and the row.
      const losses = [1, 2, 3].map(() => ops.softmaxCrossEntropy(logits, bad));
      let err: Error | undefined;
      try {
        await other.read();
      } catch (e) {
        err = e as Error;
      }
      check(err instanceof ShapeError, `expected a ShapeError at the next read, got ${err ? `${err.name}: ${err.message}` : 'none'}`);
      for (const f of ['softmaxCrossEntropy [4, 7]', 'i32 labels must lie in [0, 7)', '6 were not', 'first at row 1']) check(err!.message.includes(f), `"${err!.message}" does not mention ${f}`);
      // Reported once: the checks were reset in command order, so the next read is clean.
      check((await other.read()).length === 3, 'the read after the report failed');
      // The backward and the temporal loss check theirs too.
      const dl = engine.ones([1]);
      const g = ops.softmaxCrossEntropyBackward(dl, logits, bad);
      await expectReadThrows(g, 'softmaxCrossEntropyBackward [4, 7]', '[0, 7)');
      const scores = engine.tensor(Float32Array.from({ length: 4 * 3 * 7 }, (_, i) => Math.cos(i)), [4, 3, 7]);
      const tl = ops.temporalSoftmaxPoolLoss(scores, bad);
      await expectReadThrows(tl, 'temporalSoftmaxPoolLoss [4, 3, 7]', '[0, 7)', 'first at row 1');
      [logits, good, bad, other, ok, ...losses, dl, g, scores, tl].forEach((t) => t.dispose());
    },
  },
  {
    name: 'softmax over an empty axis, an allocation over the device limit and a tensor of another engine are ShapeErrors naming the op',
    async run(engine) {
      const empty = engine.empty([3, 0]);
      expectThrows(() => ops.softmax(empty, 1), 'softmax', 'axis 1 of [3, 0] is empty');
      expectThrows(() => ops.logSoftmax(empty, -1), 'logSoftmax', 'axis -1 of [3, 0] is empty');
      // No rows but a non-empty axis is fine: an empty result.
      const rows0 = engine.empty([0, 5]);
      const y = ops.softmax(rows0, 1);
      check(y.shape.join() === '0,5' && (await y.read()).length === 0, 'softmax of [0, 5]');
      // An output past maxStorageBufferBindingSize from small inputs: the op that asked is named, not `empty`.
      const n = Math.ceil(Math.sqrt(engine.limits.maxStorageBufferBindingSize / 4)) + 1;
      const col = engine.zeros([n, 1]);
      const row = engine.zeros([1, n]);
      expectThrows(() => ops.add(col, row), `add [${n}, 1] [1, ${n}]`, `needs a tensor [${n}, ${n}]`, 'storage-binding limit');
      expectThrows(() => engine.empty([n, n]), 'empty', 'storage-binding limit');
      // A tensor of another engine: its buffer belongs to another device.
      const other = await createEngine(engine.options);
      try {
        const mine = engine.tensor([1, 2, 3]);
        const theirs = other.tensor([4, 5, 6]);
        expectThrows(() => ops.add(mine, theirs), 'add', 'Tensor(f32, [3]) belongs to another engine', 'engine.tensor(await t.read()');
        expectThrows(() => ops.softmaxCrossEntropyWithGrad(theirs.reshape([1, 3]), engine.tensor(Int32Array.of(0), [1])), 'softmaxCrossEntropyWithGrad', 'another engine');
        await engine.read(theirs).then(
          () => { throw new Error('engine.read of another engine\'s tensor did not throw'); },
          (e: Error) => check(e instanceof ShapeError && e.message.startsWith('read:'), `read: ${e.message}`),
        );
        expectThrows(() => engine.copy(mine, theirs), 'copy', 'another engine');
        check(Array.from(await ops.add(mine, mine).read()).join() === '2,4,6', 'the engine still works');
        mine.dispose();
      } finally {
        other.destroy();
      }
      [empty, rows0, y, col, row].forEach((t) => t.dispose());
    },
  },
];

async function expectReadThrows(t: { read(): Promise<unknown> }, ...fragments: string[]): Promise<void> {
  let message: string | undefined;
  try {
    await t.read();
  } catch (e) {
    message = (e as Error).message;
  }
  if (message === undefined) throw new Error(`expected the read to throw mentioning ${fragments.join(', ')}`);
  for (const f of fragments) if (!message.includes(f)) throw new Error(`error "${message}" does not mention "${f}"`);
}

export const validationSuite: Suite = { name: 'validation', cases };
