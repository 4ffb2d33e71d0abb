/**
 * Ops as tensor methods (x.add(y).relu().sum()), as a PyTorch user expects. Installed on Tensor's prototype by
 * the library entry, so tensor.ts itself stays free of kernel imports.
 */
import { abs, add, div, exp, log, maximum, minimum, mul, neg, pow, relu, sigmoid, sqrt, sub, tanh } from '../kernels/elementwise.js';
import { concat, expand, permute, slice, transpose } from '../kernels/layout.js';
import { matmul, type MatmulOptions } from '../kernels/matmul.js';
import { argmax, max, mean, min, sum } from '../kernels/reduce.js';
import { softmax, logSoftmax } from '../kernels/softmax.js';
import { Tensor } from './tensor.js';

type Axes = number | readonly number[];

declare module './tensor.js' {
  interface Tensor {
    add(other: Tensor | number): Tensor;
    sub(other: Tensor | number): Tensor;
    mul(other: Tensor | number): Tensor;
    div(other: Tensor | number): Tensor;
    pow(other: Tensor | number): Tensor;
    maximum(other: Tensor | number): Tensor;
    minimum(other: Tensor | number): Tensor;
    neg(): Tensor;
    abs(): Tensor;
    exp(): Tensor;
    log(): Tensor;
    sqrt(): Tensor;
    relu(): Tensor;
    sigmoid(): Tensor;
    tanh(): Tensor;
    matmul(other: Tensor, options?: MatmulOptions): Tensor;
    sum(axes?: Axes, keepDims?: boolean): Tensor;
    mean(axes?: Axes, keepDims?: boolean): Tensor;
    max(axes?: Axes, keepDims?: boolean): Tensor;
    min(axes?: Axes, keepDims?: boolean): Tensor;
    argmax(axis?: number, keepDims?: boolean): Tensor;
    softmax(axis?: number): Tensor;
    logSoftmax(axis?: number): Tensor;
    permute(perm: readonly number[]): Tensor;
    transpose(dim0?: number, dim1?: number): Tensor;
    expand(shape: readonly number[]): Tensor;
    slice(starts: readonly number[], ends: readonly number[], steps?: readonly number[], axes?: readonly number[]): Tensor;
    concat(others: readonly Tensor[], axis?: number): Tensor;
  }
}

const methods = {
  add(this: Tensor, o: Tensor | number) { return add(this, o); },
  sub(this: Tensor, o: Tensor | number) { return sub(this, o); },
  mul(this: Tensor, o: Tensor | number) { return mul(this, o); },
  div(this: Tensor, o: Tensor | number) { return div(this, o); },
  pow(this: Tensor, o: Tensor | number) { return pow(this, o); },
  maximum(this: Tensor, o: Tensor | number) { return maximum(this, o); },
  minimum(this: Tensor, o: Tensor | number) { return minimum(this, o); },
  neg(this: Tensor) { return neg(this); },
  abs(this: Tensor) { return abs(this); },
  exp(this: Tensor) { return exp(this); },
  log(this: Tensor) { return log(this); },
  sqrt(this: Tensor) { return sqrt(this); },
  relu(this: Tensor) { return relu(this); },
  sigmoid(this: Tensor) { return sigmoid(this); },
  tanh(this: Tensor) { return tanh(this); },
  matmul(this: Tensor, o: Tensor, options?: MatmulOptions) { return matmul(this, o, options); },
  sum(this: Tensor, axes?: Axes, keepDims?: boolean) { return sum(this, axes, keepDims); },
  mean(this: Tensor, axes?: Axes, keepDims?: boolean) { return mean(this, axes, keepDims); },
  max(this: Tensor, axes?: Axes, keepDims?: boolean) { return max(this, axes, keepDims); },
  min(this: Tensor, axes?: Axes, keepDims?: boolean) { return min(this, axes, keepDims); },
  argmax(this: Tensor, axis?: number, keepDims?: boolean) { return argmax(this, axis, keepDims); },
  softmax(this: Tensor, axis?: number) { return softmax(this, axis); },
  logSoftmax(this: Tensor, axis?: number) { return logSoftmax(this, axis); },
  permute(this: Tensor, perm: readonly number[]) { return permute(this, perm); },
  transpose(this: Tensor, dim0?: number, dim1?: number) { return transpose(this, dim0, dim1); },
  expand(this: Tensor, shape: readonly number[]) { return expand(this, shape); },
  slice(this: Tensor, starts: readonly number[], ends: readonly number[], steps?: readonly number[], axes?: readonly number[]) { return slice(this, starts, ends, steps, axes); },
  concat(this: Tensor, others: readonly Tensor[], axis?: number) { return concat([this, ...others], axis); },
};

Object.assign(Tensor.prototype, methods);
