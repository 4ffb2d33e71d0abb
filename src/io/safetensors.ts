/**
 * The safetensors format (https://huggingface.co/docs/safetensors), written and read without a dependency and
 * without platform APIs (bytes in, bytes out):
 *   8 bytes   little-endian u64 N, the header's length
 *   N bytes   UTF-8 JSON: { "__metadata__"?: {string: string}, name: { dtype, shape, data_offsets: [begin, end] } }
 *   the rest  the data section; offsets are relative to its start, and the tensors tile it exactly
 * Reading validates everything and refuses a truncated or corrupt file with an error that says what is wrong.
 * Engine helpers `saveTensors` / `loadTensors` move GPU tensors through the format bit-exactly.
 */
import { float16ToNumber } from './float16.js';
import type { Engine } from '../device/engine.js';
import { fmtShape } from '../device/errors.js';
import type { AnyTypedArray, DType } from '../graph/dtype.js';
import type { Tensor } from '../graph/tensor.js';

export type SafetensorsDType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U64' | 'U32' | 'U16' | 'U8' | 'BOOL';

type ArrayCtor = { new (buffer: ArrayBuffer): ArrayBufferView & ArrayLike<number | bigint>; readonly BYTES_PER_ELEMENT: number; readonly name: string };

/** Byte size and the typed array that holds each dtype's elements (F16/BF16 as raw bits, BOOL as bytes). */
const DTYPES: Record<SafetensorsDType, { bytes: number; array: ArrayCtor }> = {
  F64: { bytes: 8, array: Float64Array },
  F32: { bytes: 4, array: Float32Array },
  F16: { bytes: 2, array: Uint16Array },
  BF16: { bytes: 2, array: Uint16Array },
  I64: { bytes: 8, array: BigInt64Array as unknown as ArrayCtor },
  I32: { bytes: 4, array: Int32Array },
  I16: { bytes: 2, array: Int16Array },
  I8: { bytes: 1, array: Int8Array },
  U64: { bytes: 8, array: BigUint64Array as unknown as ArrayCtor },
  U32: { bytes: 4, array: Uint32Array },
  U16: { bytes: 2, array: Uint16Array },
  U8: { bytes: 1, array: Uint8Array },
  BOOL: { bytes: 1, array: Uint8Array },
};

/** The typed array a dtype's data is held in. */
export type SafetensorsData = Float64Array | Float32Array | Uint16Array | BigInt64Array | Int32Array | Int16Array | Int8Array | BigUint64Array | Uint32Array | Uint8Array;

export interface SafetensorsEntry {
  dtype: SafetensorsDType;
  shape: readonly number[];
  data: SafetensorsData;
}

/** A tensor's description in the header; `begin`/`end` are byte offsets into the data section. */
export interface SafetensorsTensorInfo {
  dtype: SafetensorsDType;
  shape: number[];
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  tensors: Record<string, SafetensorsTensorInfo>;
  metadata: Record<string, string>;
  /** Where the data section starts in the file. */
  dataStart: number;
}

/** A malformed file or an unwritable entry. */
export class SafetensorsError extends Error {
  constructor(message: string) {
    super(`safetensors: ${message}`);
    this.name = 'SafetensorsError';
  }
}

/** A checkpoint whose names, shapes or dtypes differ from what was expected; lists every difference. */
export class CheckpointMismatchError extends Error {
  constructor(readonly mismatches: string[]) {
    super(`checkpoint does not match the expected tensors (${mismatches.length} problem${mismatches.length === 1 ? '' : 's'}):\n  ${mismatches.join('\n  ')}`);
    this.name = 'CheckpointMismatchError';
  }
}

/** The official implementation's cap: larger headers are refused before parsing. */
const MAX_HEADER_BYTES = 100_000_000;
const METADATA_KEY = '__metadata__';

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function requireLittleEndian(): void {
  if (!LITTLE_ENDIAN) throw new SafetensorsError('this platform is big-endian; safetensors data is little-endian and byte swapping is not implemented');
}

function isDType(s: unknown): s is SafetensorsDType {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(DTYPES, s);
}

const supported = Object.keys(DTYPES).join(', ');

function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

// ----------------------------------------------------------------------------------------------- writing

/**
 * Encodes tensors (and optional string metadata) into a safetensors file. Tensors are laid out by decreasing
 * element size, then name (as the reference writer does, so every tensor stays aligned), and the header is
 * padded with spaces so the data section starts at a multiple of 8.
 */
export function encodeSafetensors(entries: Record<string, SafetensorsEntry>, metadata?: Record<string, string>): Uint8Array {
  requireLittleEndian();
  const names = Object.keys(entries);
  for (const name of names) {
    const e = entries[name]!;
    const what = `tensor '${name}'`;
    if (name === '' || name === METADATA_KEY) throw new SafetensorsError(`${what}: the name is reserved or empty`);
    if (!isDType(e.dtype)) throw new SafetensorsError(`${what}: dtype ${String(e.dtype)} is not supported (supported: ${supported})`);
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new SafetensorsError(`${what}: shape ${JSON.stringify(e.shape)} is not a list of non-negative integers`);
    const { array, bytes } = DTYPES[e.dtype];
    if (!ArrayBuffer.isView(e.data) || (e.data as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT !== bytes || e.data.constructor.name !== array.name) {
      throw new SafetensorsError(`${what}: dtype ${e.dtype} needs its data in a ${array.name}, got ${e.data?.constructor?.name ?? typeof e.data}`);
    }
    const n = elementCount(e.shape);
    if (e.data.length !== n) throw new SafetensorsError(`${what}: ${e.data.length} values for shape ${fmtShape(e.shape)} (${n} elements)`);
  }
  if (metadata !== undefined) {
    if (typeof metadata !== 'object' || metadata === null) throw new SafetensorsError('metadata must be an object of strings');
    for (const [k, v] of Object.entries(metadata)) if (typeof v !== 'string') throw new SafetensorsError(`metadata '${k}' is a ${typeof v}; safetensors metadata values must be strings`);
  }
  names.sort((a, b) => DTYPES[entries[b]!.dtype].bytes - DTYPES[entries[a]!.dtype].bytes || (a < b ? -1 : a > b ? 1 : 0));
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length) header[METADATA_KEY] = metadata;
  let offset = 0;
  for (const name of names) {
    const e = entries[name]!;
    const length = e.data.byteLength;
    header[name] = { dtype: e.dtype, shape: [...e.shape], data_offsets: [offset, offset + length] };
    offset += length;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil((8 + json.length) / 8) * 8 - 8;
  const out = new Uint8Array(8 + padded + offset);
  const view = new DataView(out.buffer);
  view.setUint32(0, padded, true);
  view.setUint32(4, Math.floor(padded / 2 ** 32), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + padded);
  let at = 8 + padded;
  for (const name of names) {
    const d = entries[name]!.data;
    // Byte copies only: going through JS numbers would canonicalise NaN payloads.
    out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), at);
    at += d.byteLength;
  }
  return out;
}

// ----------------------------------------------------------------------------------------------- reading

/** Parses and validates the header of a safetensors file (the data is not copied). */
export function parseSafetensorsHeader(bytes: Uint8Array): SafetensorsHeader {
  if (!(bytes instanceof Uint8Array)) throw new SafetensorsError(`expected the file's bytes as a Uint8Array, got ${(bytes as object)?.constructor?.name ?? typeof bytes}`);
  if (bytes.length < 8) throw new SafetensorsError(`the file is ${bytes.length} bytes long, too short for the 8-byte header length: it is truncated or not a safetensors file`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getUint32(0, true) + view.getUint32(4, true) * 2 ** 32;
  if (headerLength > bytes.length - 8) {
    throw new SafetensorsError(`the header length field says ${headerLength} bytes, but only ${bytes.length - 8} bytes follow it: the file is truncated or not a safetensors file`);
  }
  if (headerLength > MAX_HEADER_BYTES) throw new SafetensorsError(`the header is ${headerLength} bytes, over the ${MAX_HEADER_BYTES}-byte limit`);
  if (headerLength < 2 || bytes[8] !== 0x7b) throw new SafetensorsError(`the header (${headerLength} bytes) does not start with '{': not a safetensors file, or a corrupt header length`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLength));
  } catch {
    throw new SafetensorsError(`the ${headerLength}-byte header is not valid UTF-8: the file is corrupt`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new SafetensorsError(`the ${headerLength}-byte header is not valid JSON (${(e as Error).message}): the file is corrupt or truncated inside the header`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new SafetensorsError('the header is JSON but not an object');
  const dataStart = 8 + headerLength;
  const dataLength = bytes.length - dataStart;
  const metadata: Record<string, string> = {};
  const tensors: Record<string, SafetensorsTensorInfo> = {};
  for (const [name, raw] of Object.entries(parsed as Record<string, unknown>)) {
    if (name === METADATA_KEY) {
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new SafetensorsError(`${METADATA_KEY} must be an object of strings`);
      for (const [k, v] of Object.entries(raw)) {
        if (typeof v !== 'string') throw new SafetensorsError(`${METADATA_KEY}.${k} is a ${v === null ? 'null' : typeof v}, not a string`);
        metadata[k] = v;
      }
      continue;
    }
    const what = `tensor '${name}'`;
    if (typeof raw !== 'object' || raw === null) throw new SafetensorsError(`${what}: its header entry is not an object`);
    const { dtype, shape, data_offsets: offsets } = raw as Record<string, unknown>;
    if (!isDType(dtype)) throw new SafetensorsError(`${what}: dtype ${JSON.stringify(dtype)} is not supported (supported: ${supported})`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new SafetensorsError(`${what}: shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((d) => Number.isSafeInteger(d) && d >= 0) || offsets[0] > offsets[1]) {
      throw new SafetensorsError(`${what}: data_offsets ${JSON.stringify(offsets)} is not [begin, end] with 0 ≤ begin ≤ end`);
    }
    const [begin, end] = offsets as [number, number];
    if (end > dataLength) {
      throw new SafetensorsError(`${what}: data_offsets [${begin}, ${end}] run past the end of the data section (${dataLength} bytes): the file is truncated`);
    }
    const expected = elementCount(shape) * DTYPES[dtype].bytes;
    if (end - begin !== expected) {
      throw new SafetensorsError(`${what}: shape ${fmtShape(shape)} of ${dtype} needs ${expected} bytes, but data_offsets [${begin}, ${end}] hold ${end - begin}`);
    }
    tensors[name] = { dtype, shape: [...shape], begin, end };
  }
  // The tensors must tile the data section: no overlap, no gap, nothing after the last one.
  const spans = Object.entries(tensors).sort(([, a], [, b]) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let previous = '';
  for (const [name, t] of spans) {
    if (t.begin < covered) throw new SafetensorsError(`tensors '${previous}' and '${name}' overlap (bytes ${t.begin}–${covered} of the data section): the header is corrupt`);
    if (t.begin > covered) throw new SafetensorsError(`bytes ${covered}–${t.begin} of the data section belong to no tensor (${previous ? `between '${previous}' and '${name}'` : `before '${name}'`}): the header is corrupt`);
    covered = t.end;
    previous = name;
  }
  if (covered !== dataLength) {
    throw new SafetensorsError(`the data section is ${dataLength} bytes but the tensors cover ${covered}: ${dataLength - covered} bytes after ${previous ? `'${previous}'` : 'the header'} belong to no tensor (trailing garbage or a corrupt header)`);
  }
  return { tensors, metadata, dataStart };
}

/** The metadata strings of a safetensors file (the header is fully validated). */
export function safetensorsMetadata(bytes: Uint8Array): Record<string, string> {
  return parseSafetensorsHeader(bytes).metadata;
}

/** Decodes every tensor of a safetensors file into typed arrays (copies, so they are aligned and independent of `bytes`). */
export function decodeSafetensors(bytes: Uint8Array): Record<string, SafetensorsEntry> {
  requireLittleEndian();
  const header = parseSafetensorsHeader(bytes);
  const out: Record<string, SafetensorsEntry> = {};
  for (const [name, t] of Object.entries(header.tensors)) {
    const copy = bytes.slice(header.dataStart + t.begin, header.dataStart + t.end);
    out[name] = { dtype: t.dtype, shape: t.shape, data: new DTYPES[t.dtype].array(copy.buffer) as SafetensorsData };
  }
  return out;
}

// ------------------------------------------------------------------------------------------ engine level

const TO_FILE: Record<DType, SafetensorsDType> = { f32: 'F32', i32: 'I32', u32: 'U32' };

/** The engine dtype a file dtype loads as (wider or narrower types are converted, with range checks). */
export function engineDTypeOf(dtype: SafetensorsDType): DType {
  switch (dtype) {
    case 'F64':
    case 'F32':
    case 'F16':
    case 'BF16':
      return 'f32';
    case 'U32':
    case 'U64':
      return 'u32';
    default:
      return 'i32';
  }
}

/** Reads the tensors back from the GPU and encodes them (bit-exact: values are copied as bytes). */
export async function saveTensors(tensors: Record<string, Tensor>, metadata?: Record<string, string>): Promise<Uint8Array> {
  const names = Object.keys(tensors);
  // Issue every readback before awaiting any, so they share submits.
  const data = await Promise.all(names.map((n) => tensors[n]!.read()));
  const entries: Record<string, SafetensorsEntry> = {};
  names.forEach((n, i) => {
    const t = tensors[n]!;
    entries[n] = { dtype: TO_FILE[t.dtype], shape: t.shape, data: data[i]! };
  });
  return encodeSafetensors(entries, metadata);
}

/** What a loader expects of one tensor: any tensor or `{ shape, dtype }`; an omitted dtype is not checked. */
export interface ExpectedTensor {
  readonly shape: readonly number[];
  readonly dtype?: DType;
}

/**
 * Lists every difference between a file's tensors and the expected ones: missing, unexpected, wrong shape,
 * wrong dtype (after conversion: an F16 file loads as f32). Empty when they match.
 */
export function checkpointMismatches(header: SafetensorsHeader, expected: Record<string, ExpectedTensor>): string[] {
  const problems: string[] = [];
  for (const [name, e] of Object.entries(expected)) {
    const t = header.tensors[name];
    if (!t) {
      problems.push(`missing: '${name}' ${fmtShape(e.shape)}${e.dtype ? ` ${e.dtype}` : ''} is not in the file`);
      continue;
    }
    if (t.shape.join() !== e.shape.join()) problems.push(`wrong shape: '${name}' is ${fmtShape(t.shape)} in the file, ${fmtShape(e.shape)} expected`);
    if (e.dtype && engineDTypeOf(t.dtype) !== e.dtype) problems.push(`wrong dtype: '${name}' is ${t.dtype} in the file (loads as ${engineDTypeOf(t.dtype)}), ${e.dtype} expected`);
  }
  for (const [name, t] of Object.entries(header.tensors)) {
    if (!(name in expected)) problems.push(`unexpected: '${name}' ${fmtShape(t.shape)} ${t.dtype} is in the file but not expected`);
  }
  return problems;
}

/** Converts one decoded entry to the engine dtype's array, refusing values the target cannot hold. */
function toEngineArray(name: string, e: SafetensorsEntry): AnyTypedArray {
  const d = e.data;
  switch (e.dtype) {
    case 'F32':
    case 'I32':
    case 'U32':
      return d as AnyTypedArray;
    case 'F16':
      return Float32Array.from(d as Uint16Array, float16ToNumber);
    case 'BF16': {
      const out = new Uint32Array(d.length);
      for (let i = 0; i < d.length; i++) out[i] = (d as Uint16Array)[i]! << 16; // bf16 is the top half of an f32
      return new Float32Array(out.buffer);
    }
    case 'F64': {
      const out = new Float32Array(d.length);
      for (let i = 0; i < d.length; i++) {
        const v = (d as Float64Array)[i]!;
        out[i] = v;
        if (Number.isFinite(v) && !Number.isFinite(out[i]!)) throw new SafetensorsError(`tensor '${name}': F64 element ${i} = ${v} is outside the f32 range`);
      }
      return out;
    }
    case 'I64':
    case 'U64': {
      const unsigned = e.dtype === 'U64';
      const [lo, hi] = unsigned ? [0n, 0xffffffffn] : [-0x80000000n, 0x7fffffffn];
      const out = unsigned ? new Uint32Array(d.length) : new Int32Array(d.length);
      for (let i = 0; i < d.length; i++) {
        const v = (d as BigInt64Array)[i]!;
        if (v < lo || v > hi) throw new SafetensorsError(`tensor '${name}': ${e.dtype} element ${i} = ${v} is outside the ${unsigned ? 'u32' : 'i32'} range`);
        out[i] = Number(v);
      }
      return out;
    }
    default:
      return Int32Array.from(d as ArrayLike<number>);
  }
}

/** Tensors whose values a loader refuses (NaN weights, a negative variance); lists every problem found. */
export class CheckpointValueError extends Error {
  constructor(
    readonly problems: string[],
    source?: string,
  ) {
    const n = problems.length;
    super(`${source ? `${source}: ` : ''}the checkpoint holds invalid values (${n} tensor${n === 1 ? '' : 's'}):\n  ${problems.join('\n  ')}`);
    this.name = 'CheckpointValueError';
  }
}

export interface LoadTensorsOptions {
  /** Refuse NaN and ±Infinity in float tensors (model weights: a damaged file or a diverged run). Default false. */
  finite?: boolean;
  /** A check of one tensor's values on the host, before anything is uploaded: a problem, or null when fine. */
  check?: (name: string, data: AnyTypedArray, shape: readonly number[]) => string | null;
  /** Names the file in error messages. */
  source?: string;
}

/** The first offending element and the count, for value problems: "3 of 64 values are X (first: element 5 = -2)". */
export function describeBadValues(data: ArrayLike<number>, bad: (v: number) => boolean, what: string): string | null {
  let count = 0;
  let first = -1;
  for (let i = 0; i < data.length; i++) {
    if (bad(data[i]!)) {
      if (first < 0) first = i;
      count++;
    }
  }
  return count ? `${count} of ${data.length} values ${count === 1 ? 'is' : 'are'} ${what} (first: element ${first} = ${data[first]})` : null;
}

/**
 * Uploads every tensor of a safetensors file. With `expected` (e.g. a model's state dict, or `{shape, dtype}`
 * records), every name, shape and dtype is checked first and all mismatches are reported in one
 * CheckpointMismatchError; then the values (`options.finite`, `options.check`), every problem in one
 * CheckpointValueError. Nothing is uploaded unless everything passes.
 */
export function loadTensors(engine: Engine, bytes: Uint8Array, expected?: Record<string, ExpectedTensor>, options: LoadTensorsOptions = {}): Record<string, Tensor> {
  const where = (e: unknown): unknown => {
    if (options.source && (e instanceof SafetensorsError || e instanceof CheckpointMismatchError)) e.message = `${options.source}: ${e.message}`;
    return e;
  };
  let arrays: (readonly [string, readonly number[], AnyTypedArray])[];
  try {
    const header = parseSafetensorsHeader(bytes);
    if (expected) {
      const problems = checkpointMismatches(header, expected);
      if (problems.length) throw new CheckpointMismatchError(problems);
    }
    const decoded = decodeSafetensors(bytes);
    arrays = Object.entries(decoded).map(([name, e]) => [name, e.shape, toEngineArray(name, e)] as const);
  } catch (e) {
    throw where(e);
  }
  const problems: string[] = [];
  for (const [name, shape, data] of arrays) {
    const found = [
      options.finite && data instanceof Float32Array ? describeBadValues(data, (v) => !Number.isFinite(v), 'NaN or infinite') : null,
      options.check?.(name, data, shape) ?? null,
    ].filter((p): p is string => p !== null);
    for (const p of found) problems.push(`'${name}' ${fmtShape(shape)}: ${p}`);
  }
  if (problems.length) throw new CheckpointValueError(problems, options.source);
  const out: Record<string, Tensor> = {};
  for (const [name, shape, data] of arrays) out[name] = engine.tensor(data, shape);
  return out;
}
