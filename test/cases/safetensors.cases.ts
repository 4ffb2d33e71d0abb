/**
 * The safetensors format layer: byte layout, round trips of every dtype (NaN payloads, −0, denormals), refusal of
 * truncated and corrupt files with messages that say what is wrong, dtype conversion on load, bit-exact GPU
 * save → load, and checkpoint checks that list every mismatch at once.
 */
import {
  CheckpointMismatchError,
  decodeSafetensors,
  encodeSafetensors,
  loadTensors,
  parseSafetensorsHeader,
  safetensorsMetadata,
  saveTensors,
  type SafetensorsEntry,
} from '../../src/io/safetensors.js';
import { expectThrows, type Case, type Suite } from './types.js';

function check(cond: boolean, message: string): void {
  if (!cond) throw new Error(message);
}

/** Bit patterns that a float round trip through JS numbers could alter: NaN payloads (quiet and signalling), −0, denormals, ±∞. */
const F32_BITS = [0x7fc00001, 0x7f800001, 0xffc12345, 0x7fffffff, 0x80000000, 0x00000001, 0x007fffff, 0x80000001, 0x7f800000, 0xff800000, 0x3f800000, 0x7f7fffff];

function f32FromBits(bits: number[]): Float32Array {
  return new Float32Array(Uint32Array.from(bits).buffer);
}

function sameBytes(a: ArrayBufferView, b: ArrayBufferView, what: string): void {
  const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  check(x.length === y.length, `${what}: ${x.length} bytes, expected ${y.length}`);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) throw new Error(`${what}: byte ${i} is ${x[i]}, expected ${y[i]}`);
}

/** A file built by hand: the header text as given (as another writer might produce it), then the data bytes. */
function handmade(header: string, data: number[] | Uint8Array, headerLength?: number): Uint8Array {
  const json = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setUint32(0, headerLength ?? json.length, true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

const sample = (): Record<string, SafetensorsEntry> => ({
  'conv.weight': { dtype: 'F32', shape: [2, 3, 2], data: f32FromBits(F32_BITS) },
  'bn.num_batches_tracked': { dtype: 'I64', shape: [], data: BigInt64Array.of(-(2n ** 40n)) },
  labels: { dtype: 'I32', shape: [4], data: Int32Array.of(-2147483648, -1, 0, 2147483647) },
  ids: { dtype: 'U32', shape: [2], data: Uint32Array.of(0, 4294967295) },
  double: { dtype: 'F64', shape: [2], data: Float64Array.of(Math.PI, -0) },
  half: { dtype: 'F16', shape: [3], data: Uint16Array.of(0x3c00, 0x8001, 0x7e01) },
  brain: { dtype: 'BF16', shape: [1, 2], data: Uint16Array.of(0x3f80, 0xff81) },
  mask: { dtype: 'BOOL', shape: [3], data: Uint8Array.of(1, 0, 1) },
  bytes: { dtype: 'U8', shape: [1], data: Uint8Array.of(255) },
  small: { dtype: 'I8', shape: [2], data: Int8Array.of(-128, 127) },
  short: { dtype: 'I16', shape: [1], data: Int16Array.of(-32768) },
  ushort: { dtype: 'U16', shape: [1], data: Uint16Array.of(65535) },
  big: { dtype: 'U64', shape: [1], data: BigUint64Array.of(2n ** 64n - 1n) },
  empty: { dtype: 'F32', shape: [0, 3], data: new Float32Array(0) },
});

const cases: Case[] = [
  {
    name: 'encode writes the documented layout',
    async run() {
      const bytes = encodeSafetensors({ b: { dtype: 'I32', shape: [1], data: Int32Array.of(7) }, a: { dtype: 'F32', shape: [2], data: Float32Array.of(1, 2) }, c: { dtype: 'F64', shape: [1], data: Float64Array.of(0.5) } }, { format: 'pt' });
      const view = new DataView(bytes.buffer, bytes.byteOffset);
      const n = view.getUint32(0, true);
      check(view.getUint32(4, true) === 0, 'the header length is a u64');
      check((8 + n) % 8 === 0, `the data section starts at ${8 + n}, not 8-byte aligned`);
      const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<string, unknown>;
      // Widest dtype first, then by name: c (F64), a, b.
      const want = {
        __metadata__: { format: 'pt' },
        c: { dtype: 'F64', shape: [1], data_offsets: [0, 8] },
        a: { dtype: 'F32', shape: [2], data_offsets: [8, 16] },
        b: { dtype: 'I32', shape: [1], data_offsets: [16, 20] },
      };
      check(JSON.stringify(header) === JSON.stringify(want), `header ${JSON.stringify(header)}`);
      check(bytes.length === 8 + n + 20, `file of ${bytes.length} bytes`);
      sameBytes(bytes.subarray(8 + n + 8, 8 + n + 16), Uint8Array.of(0, 0, 0x80, 0x3f, 0, 0, 0, 0x40), 'little-endian f32 1, 2');
      check(bytes[8 + n - 1] === 0x20 || bytes[8 + n - 1] === 0x7d, 'the header is padded with spaces');
    },
  },
  {
    name: 'every dtype round-trips byte for byte, with metadata, scalars and empty tensors',
    async run() {
      const entries = sample();
      const bytes = encodeSafetensors(entries, { format: 'pt', note: 'ünïcode ✓' });
      const back = decodeSafetensors(bytes);
      check(Object.keys(back).sort().join() === Object.keys(entries).sort().join(), `names ${Object.keys(back)}`);
      for (const [name, e] of Object.entries(entries)) {
        const d = back[name]!;
        check(d.dtype === e.dtype && d.shape.join() === e.shape.join(), `${name}: ${d.dtype} [${d.shape}]`);
        check(d.data.constructor === e.data.constructor, `${name}: decoded into a ${d.data.constructor.name}`);
        sameBytes(d.data, e.data, name);
      }
      check(safetensorsMetadata(bytes).note === 'ünïcode ✓', 'metadata');
      check(Object.keys(safetensorsMetadata(encodeSafetensors({}))).length === 0 && Object.keys(decodeSafetensors(encodeSafetensors({}))).length === 0, 'an empty file');
    },
  },
  {
    name: 'files written by another writer decode: any tensor order, padded header, metadata',
    async run() {
      // As the Python writer lays it out: I64 first (alignment), header padded with spaces.
      const data = [...new Uint8Array(BigInt64Array.of(5n).buffer), ...new Uint8Array(Float32Array.of(1, -2, 0.5, 4).buffer)];
      const bytes = handmade('{"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2,2],"data_offsets":[8,24]},"step":{"dtype":"I64","shape":[],"data_offsets":[0,8]}}      ', data);
      const d = decodeSafetensors(bytes);
      check(Array.from(d.w!.data as Float32Array).join() === '1,-2,0.5,4' && (d.step!.data as BigInt64Array)[0] === 5n, 'values');
      check(parseSafetensorsHeader(bytes).metadata.format === 'pt', 'metadata');
    },
  },
  {
    name: 'every truncation of a valid file is refused',
    async run() {
      const bytes = encodeSafetensors({ a: { dtype: 'F32', shape: [3], data: Float32Array.of(1, 2, 3) }, b: { dtype: 'I32', shape: [2], data: Int32Array.of(4, 5) } });
      for (let len = 0; len < bytes.length; len++) {
        let message = '';
        try {
          decodeSafetensors(bytes.subarray(0, len));
        } catch (e) {
          message = (e as Error).message;
        }
        check(message.startsWith('safetensors: '), `a file cut to ${len} of ${bytes.length} bytes was accepted`);
        check(/truncated|too short/.test(message), `cut to ${len} bytes: "${message}" does not say the file is truncated`);
      }
      expectThrows(() => decodeSafetensors(bytes.subarray(0, bytes.length - 1)), "tensor 'b'", 'data_offsets [12, 20]', 'run past the end of the data section (19 bytes)', 'truncated');
    },
  },
  {
    name: 'corrupt files are refused with an error that says what is wrong',
    async run() {
      const f32 = (n: number) => new Uint8Array(4 * n);
      expectThrows(() => decodeSafetensors(new Uint8Array(5)), 'too short for the 8-byte header length');
      expectThrows(() => decodeSafetensors(handmade('{}', [], 1e6)), 'header length field says 1000000 bytes', 'truncated');
      expectThrows(() => decodeSafetensors(handmade('[1, 2]', [])), "does not start with '{'");
      expectThrows(() => decodeSafetensors(handmade('{"a": {"dtype": "F32",', [])), 'not valid JSON');
      const badUtf8 = handmade('{"a":1}', []);
      badUtf8[10] = 0xff;
      expectThrows(() => decodeSafetensors(badUtf8), 'not valid UTF-8');
      expectThrows(() => decodeSafetensors(handmade('{"a":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}}', [0])), "tensor 'a'", 'dtype "F8_E4M3" is not supported', 'F32');
      expectThrows(() => decodeSafetensors(handmade('{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}', f32(1))), "tensor 'a'", 'shape [-1]');
      expectThrows(() => decodeSafetensors(handmade('{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}', f32(1))), 'data_offsets [4,0]');
      expectThrows(() => decodeSafetensors(handmade('{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}}', f32(3))), "tensor 'a'", 'shape [2, 2] of F32 needs 16 bytes', 'hold 12');
      expectThrows(
        () => decodeSafetensors(handmade('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}', f32(3))),
        "tensors 'a' and 'b' overlap",
      );
      expectThrows(
        () => decodeSafetensors(handmade('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}', f32(3))),
        'bytes 4–8 of the data section belong to no tensor', "between 'a' and 'b'",
      );
      expectThrows(() => decodeSafetensors(handmade('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', f32(2))), '4 bytes after', "'a'", 'belong to no tensor');
      expectThrows(() => decodeSafetensors(handmade('{"__metadata__":{"epoch":3}}', [])), '__metadata__.epoch is a number, not a string');
      expectThrows(() => decodeSafetensors(handmade('{"a":[0,4]}', f32(1))), "tensor 'a'", 'dtype');
    },
  },
  {
    name: 'encode refuses entries that do not describe their data',
    async run() {
      expectThrows(() => encodeSafetensors({ a: { dtype: 'F32', shape: [3], data: Float32Array.of(1, 2) } }), "tensor 'a'", '2 values for shape [3]');
      expectThrows(() => encodeSafetensors({ a: { dtype: 'F32', shape: [2], data: Int32Array.of(1, 2) } }), 'needs its data in a Float32Array', 'Int32Array');
      expectThrows(() => encodeSafetensors({ a: { dtype: 'F17' as never, shape: [1], data: Float32Array.of(1) } }), 'dtype F17 is not supported');
      expectThrows(() => encodeSafetensors({ __metadata__: { dtype: 'F32', shape: [1], data: Float32Array.of(1) } }), 'reserved');
      expectThrows(() => encodeSafetensors({}, { epoch: 3 as unknown as string }), "metadata 'epoch' is a number");
    },
  },
  {
    name: 'GPU save → load round-trips bit-exactly (NaN payloads, −0, denormals, integer extremes)',
    async run(engine) {
      const f = engine.tensor(f32FromBits(F32_BITS), [3, 4]);
      const i = engine.tensor(Int32Array.of(-2147483648, -1, 0, 2147483647, 5), [5]);
      const u = engine.tensor(Uint32Array.of(0, 1, 4294967295), [1, 3]);
      const s = engine.tensor(Float32Array.of(-0), []);
      const bytes = await saveTensors({ f, i, u, s }, { epoch: '3' });
      const loaded = loadTensors(engine, bytes, { f, i, u, s });
      for (const [name, orig] of Object.entries({ f, i, u, s })) {
        const t = loaded[name]!;
        check(t.dtype === orig.dtype && t.shape.join() === orig.shape.join(), `${name}: ${t}`);
        sameBytes(await t.read(), await orig.read(), `${name} after save → load`);
      }
      sameBytes(decodeSafetensors(bytes).f!.data, f32FromBits(F32_BITS), 'f in the file');
      check(safetensorsMetadata(bytes).epoch === '3', 'metadata');
      [f, i, u, s, ...Object.values(loaded)].forEach((t) => t.dispose());
    },
  },
  {
    name: 'loading checks names, shapes and dtypes and lists every mismatch before uploading anything',
    async run(engine) {
      const bytes = encodeSafetensors({
        a: { dtype: 'F32', shape: [2, 3], data: new Float32Array(6) },
        b: { dtype: 'I32', shape: [4], data: new Int32Array(4) },
        c: { dtype: 'F32', shape: [5], data: new Float32Array(5) },
        e: { dtype: 'F16', shape: [1], data: Uint16Array.of(0x3c00) },
      });
      await engine.sync();
      const live = engine.memory().liveBytes;
      let err: unknown;
      try {
        loadTensors(engine, bytes, { a: { shape: [3, 2], dtype: 'f32' }, b: { shape: [4], dtype: 'f32' }, d: { shape: [1], dtype: 'f32' }, e: { shape: [1], dtype: 'f32' } });
      } catch (e) {
        err = e;
      }
      check(err instanceof CheckpointMismatchError, `expected a CheckpointMismatchError, got ${String(err)}`);
      const m = (err as CheckpointMismatchError).mismatches;
      check(m.length === 4, `4 problems expected, got ${m.length}: ${m.join('; ')}`);
      const message = (err as Error).message;
      for (const part of ['4 problems', "wrong shape: 'a' is [2, 3] in the file, [3, 2] expected", "wrong dtype: 'b' is I32 in the file (loads as i32), f32 expected", "missing: 'd' [1] f32", "unexpected: 'c' [5] F32"]) {
        check(message.includes(part), `"${message}" does not mention "${part}"`);
      }
      check(engine.memory().liveBytes === live, 'tensors were uploaded before the check failed');
    },
  },
  {
    name: 'wider and narrower dtypes convert on load, refusing values out of range',
    async run(engine) {
      const bytes = encodeSafetensors({
        half: { dtype: 'F16', shape: [5], data: Uint16Array.of(0x3c00, 0xc000, 0x0001, 0x7c00, 0x3555) },
        brain: { dtype: 'BF16', shape: [2], data: Uint16Array.of(0x3f80, 0xc049) },
        double: { dtype: 'F64', shape: [2], data: Float64Array.of(0.1, -3.5) },
        long: { dtype: 'I64', shape: [2], data: BigInt64Array.of(-7n, 2147483647n) },
        mask: { dtype: 'BOOL', shape: [2], data: Uint8Array.of(1, 0) },
      });
      const t = loadTensors(engine, bytes, { half: { shape: [5], dtype: 'f32' }, brain: { shape: [2] }, double: { shape: [2], dtype: 'f32' }, long: { shape: [2], dtype: 'i32' }, mask: { shape: [2], dtype: 'i32' } });
      const near = (got: ArrayLike<number>, want: number[], what: string) => want.forEach((w, k) => check(got[k] === w || Math.abs(got[k]! - w) <= 1e-7 * Math.abs(w), `${what}[${k}] = ${got[k]}, expected ${w}`));
      near(await t.half!.read(), [1, -2, 2 ** -24, Infinity, 0.333251953125], 'F16');
      near(await t.brain!.read(), [1, -3.140625], 'BF16');
      near(await t.double!.read(), [Math.fround(0.1), -3.5], 'F64');
      check((await t.long!.read()).join() === '-7,2147483647' && t.long!.dtype === 'i32', 'I64 → i32');
      check((await t.mask!.read()).join() === '1,0', 'BOOL → i32');
      Object.values(t).forEach((x) => x.dispose());
      expectThrows(() => loadTensors(engine, encodeSafetensors({ n: { dtype: 'I64', shape: [2], data: BigInt64Array.of(1n, 2n ** 31n) } })), "tensor 'n'", 'I64 element 1 = 2147483648', 'outside the i32 range');
      expectThrows(() => loadTensors(engine, encodeSafetensors({ x: { dtype: 'F64', shape: [1], data: Float64Array.of(1e39) } })), "tensor 'x'", 'outside the f32 range');
    },
  },
];

export const safetensorsSuite: Suite = { name: 'safetensors', cases };
