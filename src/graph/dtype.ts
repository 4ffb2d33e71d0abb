import { ShapeError } from '../device/errors.js';

export type DType = 'f32' | 'i32' | 'u32';

export type TypedArrayFor<D extends DType> = D extends 'f32' ? Float32Array : D extends 'i32' ? Int32Array : Uint32Array;
export type AnyTypedArray = Float32Array | Int32Array | Uint32Array;

/**
 * Host data the engine accepts (`engine.tensor`, `engine.write`). Each has a defined conversion to a tensor dtype:
 * Float64Array → f32 (rounded to nearest, ties to even, as Math.fround; beyond ±3.4e38 → ±Infinity);
 * Int8/Int16Array → i32 and Uint8/Uint8Clamped/Uint16Array → u32 (exact). BigInt arrays and DataView are refused.
 */
export type HostData = AnyTypedArray | Float64Array | Int8Array | Int16Array | Uint8Array | Uint8ClampedArray | Uint16Array | readonly number[];

export const BYTES_PER_ELEMENT = 4;

export function typedArrayFor(dtype: DType, lengthOrBuffer: number | ArrayBuffer): AnyTypedArray {
  switch (dtype) {
    case 'f32':
      return typeof lengthOrBuffer === 'number' ? new Float32Array(lengthOrBuffer) : new Float32Array(lengthOrBuffer);
    case 'i32':
      return typeof lengthOrBuffer === 'number' ? new Int32Array(lengthOrBuffer) : new Int32Array(lengthOrBuffer);
    case 'u32':
      return typeof lengthOrBuffer === 'number' ? new Uint32Array(lengthOrBuffer) : new Uint32Array(lengthOrBuffer);
  }
}

/** The dtype a typed array is stored as by default; throws naming `op` and the type for arrays with no conversion. */
export function dtypeOf(data: ArrayBufferView, op = 'tensor'): DType {
  if (data instanceof Float32Array || data instanceof Float64Array) return 'f32';
  if (data instanceof Int32Array || data instanceof Int16Array || data instanceof Int8Array) return 'i32';
  if (data instanceof Uint32Array || data instanceof Uint16Array || data instanceof Uint8Array || data instanceof Uint8ClampedArray) return 'u32';
  throw new ShapeError(op, `${data.constructor.name} has no conversion to a tensor dtype; pass a Float32Array/Float64Array (→ f32), an Int8/16/32Array (→ i32), a Uint8/16/32Array (→ u32) or a number array`);
}

const INT_RANGE: Record<Exclude<DType, 'f32'>, [number, number]> = { i32: [-2147483648, 2147483647], u32: [0, 4294967295] };

/**
 * `data` as the typed array of `dtype` (the same array when it already is one, else a converted copy). Values that
 * an integer dtype cannot hold exactly (fractions, NaN, ±Infinity, out of range) are refused rather than wrapped.
 */
export function toDtypeArray(op: string, data: HostData, dtype: DType): AnyTypedArray {
  if (ArrayBuffer.isView(data)) {
    const own = dtypeOf(data, op);
    if (own === dtype && (data instanceof Float32Array || data instanceof Int32Array || data instanceof Uint32Array)) return data;
  }
  const out = typedArrayFor(dtype, data.length);
  if (dtype !== 'f32' && !(ArrayBuffer.isView(data) && dtypeOf(data, op) === dtype)) {
    const [lo, hi] = INT_RANGE[dtype];
    for (let i = 0; i < data.length; i++) {
      const v = data[i]!;
      if (!Number.isInteger(v) || v < lo || v > hi) {
        const from = ArrayBuffer.isView(data) ? data.constructor.name : 'number array';
        throw new ShapeError(op, `value ${v} at index ${i} of the ${from} is not representable as ${dtype} (integers ${lo}..${hi})`);
      }
    }
  }
  out.set(data as ArrayLike<number>);
  return out;
}

/** The WGSL scalar type that stores a dtype. */
export function wgslType(dtype: DType): string {
  return dtype;
}
