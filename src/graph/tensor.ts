import { fmtShape, ShapeError } from '../device/errors.js';
import type { Engine } from '../device/engine.js';
import type { Binding } from '../kernels/runtime.js';
import { record, type Accumulate, type GradNode } from './autograd.js';
import { BYTES_PER_ELEMENT, type AnyTypedArray, type DType } from './dtype.js';
import { keep, trackTensor } from './scope.js';
import { checkShape, sizeOf } from './shape.js';

/** A GPU buffer shared by a tensor and its reshaped views; returned to the pool when the last one is disposed. */
export class Storage {
  private refs = 1;
  constructor(
    readonly engine: Engine,
    readonly buffer: GPUBuffer,
  ) {}

  retain(): this {
    this.refs++;
    return this;
  }

  release(): void {
    if (--this.refs === 0) this.engine.releaseBuffer(this.buffer);
  }
}

/** A dense row-major tensor on the GPU. */
export class Tensor {
  private disposed = false;
  readonly size: number;
  /** Whether gradients flow to this tensor: set on leaves (parameters), derived for op outputs. */
  private needsGrad = false;
  /** The node that computed this tensor, when it was recorded for autograd, and which of its outputs this is. */
  private node: GradNode | null = null;
  private slot = 0;
  /** The accumulated gradient of a leaf after `backward()`. */
  grad: Tensor | null = null;

  constructor(
    readonly engine: Engine,
    readonly storage: Storage,
    readonly shape: readonly number[],
    readonly dtype: DType,
  ) {
    this.size = sizeOf(shape);
    trackTensor(this);
  }

  get requiresGrad(): boolean {
    return this.needsGrad;
  }

  /** Marks a leaf tensor (a parameter) as needing a gradient. */
  setRequiresGrad(flag = true): this {
    if (this.node) throw new ShapeError('setRequiresGrad', `only leaf tensors can change it; ${this} was computed by ${this.node.opName}`);
    this.needsGrad = flag;
    return this;
  }

  get gradNode(): GradNode | null {
    return this.node;
  }

  /** Which output of its node this tensor is (0 for single-output ops). */
  get gradSlot(): number {
    return this.slot;
  }

  /** @internal Called by autograd when an op records this tensor as its output `slot`. */
  attachGrad(node: GradNode, slot = 0): void {
    this.node = node;
    this.slot = slot;
    this.needsGrad = true;
  }

  /** @internal Adds a gradient into `.grad` (leaves). */
  accumulateGrad(g: Tensor, accumulate: Accumulate): void {
    // A leaf's gradient outlives any tidy scope that backward() was called in.
    this.grad = keep(this.grad ? accumulate(this.grad, g) : g);
  }

  /** Back-propagates from this tensor; `dy` defaults to ones for a one-element tensor. */
  backward(dy?: Tensor): void {
    this.engine.backward(this, dy);
  }

  /** A tensor sharing this storage with no autograd history. */
  detach(): Tensor {
    this.buffer; // throws if disposed
    return new Tensor(this.engine, this.storage.retain(), this.shape, this.dtype);
  }

  get rank(): number {
    return this.shape.length;
  }

  get bytes(): number {
    return this.size * BYTES_PER_ELEMENT;
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  /** The storage buffer, for binding to a kernel; throws if the tensor was disposed. */
  get buffer(): GPUBuffer {
    if (this.disposed) throw new ShapeError('tensor', `used after dispose (shape ${fmtShape(this.shape)})`);
    return this.storage.buffer;
  }

  binding(): Binding {
    return { buffer: this.buffer, offset: 0, size: Math.max(this.bytes, 4) };
  }

  /** A view with another shape of the same size, sharing this tensor's buffer (no copy). -1 infers one axis. */
  reshape(shape: readonly number[]): Tensor {
    const resolved = inferShape(shape, this.size, this.shape);
    this.buffer; // throws if disposed
    const out = new Tensor(this.engine, this.storage.retain(), resolved, this.dtype);
    const from = this.shape;
    record('reshape', [this], out, [], () => (dy) => [dy.reshape(from)]);
    return out;
  }

  /** Reads the values back (waits for the GPU). */
  read(): Promise<AnyTypedArray> {
    return this.engine.read(this);
  }

  async toArray(): Promise<number[]> {
    return Array.from(await this.read());
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.storage.release();
    this.node?.unref();
    this.node = null;
  }

  toString(): string {
    return `Tensor(${this.dtype}, ${fmtShape(this.shape)})`;
  }
}

function inferShape(shape: readonly number[], size: number, from: readonly number[]): number[] {
  const out = [...shape];
  const unknown = out.indexOf(-1);
  if (unknown >= 0) {
    const known = out.reduce((p, d, i) => (i === unknown ? p : p * d), 1);
    if (known === 0 || size % known !== 0) throw new ShapeError('reshape', `cannot reshape ${fmtShape(from)} to ${fmtShape(shape)}`);
    out[unknown] = size / known;
  }
  checkShape('reshape', out);
  if (sizeOf(out) !== size) throw new ShapeError('reshape', `cannot reshape ${fmtShape(from)} (${size} elements) to ${fmtShape(shape)}`);
  return out;
}
