/** Plain CPU tensors: the inputs and outputs of every op's CPU reference. */
import { fmtShape, ShapeError } from '../device/errors.js';
import { typedArrayFor, type AnyTypedArray, type DType } from './dtype.js';
import { sizeOf, stridesOf } from './shape.js';

export interface TensorMeta {
  readonly shape: readonly number[];
  readonly dtype: DType;
}

export class HostTensor implements TensorMeta {
  constructor(
    readonly shape: readonly number[],
    readonly data: AnyTypedArray,
    readonly dtype: DType = 'f32',
  ) {
    if (data.length !== sizeOf(shape)) throw new ShapeError('HostTensor', `${data.length} values for shape ${fmtShape(shape)}`);
  }

  static zeros(shape: readonly number[], dtype: DType = 'f32'): HostTensor {
    return new HostTensor(shape, typedArrayFor(dtype, sizeOf(shape)), dtype);
  }

  static from(values: ArrayLike<number>, shape: readonly number[], dtype: DType = 'f32'): HostTensor {
    const data = typedArrayFor(dtype, values.length);
    data.set(values);
    return new HostTensor(shape, data, dtype);
  }

  get size(): number {
    return this.data.length;
  }

  get strides(): number[] {
    return stridesOf(this.shape);
  }

  /** Value at a multi-index. */
  at(...index: number[]): number {
    const s = this.strides;
    let off = 0;
    for (let i = 0; i < index.length; i++) off += index[i]! * s[i]!;
    return this.data[off]!;
  }
}

/** Calls `fn` with every multi-index of `shape` in row-major order and its flat offset. */
export function forEachIndex(shape: readonly number[], fn: (index: number[], flat: number) => void): void {
  const n = sizeOf(shape);
  const idx = new Array<number>(shape.length).fill(0);
  for (let flat = 0; flat < n; flat++) {
    fn(idx, flat);
    for (let a = shape.length - 1; a >= 0; a--) {
      if (++idx[a]! < shape[a]!) break;
      idx[a] = 0;
    }
  }
}
