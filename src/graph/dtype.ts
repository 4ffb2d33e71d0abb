export type DType = 'f32' | 'i32' | 'u32';

export type TypedArrayFor<D extends DType> = D extends 'f32' ? Float32Array : D extends 'i32' ? Int32Array : Uint32Array;
export type AnyTypedArray = Float32Array | Int32Array | Uint32Array;

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

export function dtypeOf(data: AnyTypedArray): DType {
  if (data instanceof Float32Array) return 'f32';
  if (data instanceof Int32Array) return 'i32';
  return 'u32';
}

/** The WGSL scalar type that stores a dtype. */
export function wgslType(dtype: DType): string {
  return dtype;
}
