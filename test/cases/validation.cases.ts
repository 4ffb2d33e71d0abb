/** Input validation at the engine's edges: host data conversion, bad labels, cross-engine tensors, empty axes, limits. */
import { ShapeError } from '../../src/device/errors.js';
import type { HostData } from '../../src/graph/dtype.js';
import { expectThrows, type Case, type Suite } from './types.js';

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
];

export const validationSuite: Suite = { name: 'validation', cases };
