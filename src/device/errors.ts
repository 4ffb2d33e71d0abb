/** Errors the engine raises: each names the op or kernel and the shapes involved. */

export type Shape = readonly number[];

export function fmtShape(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

/** Bad input to an op: thrown synchronously, before any GPU work is recorded. */
export class ShapeError extends Error {
  constructor(op: string, message: string) {
    super(`${op}: ${message}`);
    this.name = 'ShapeError';
  }
}

/** A GPU validation, out-of-memory or internal error, attributed to the kernel(s) that caused it. */
export class GpuError extends Error {
  constructor(
    readonly kind: 'validation' | 'out-of-memory' | 'internal' | 'device-lost',
    readonly kernels: string[],
    message: string,
  ) {
    super(`GPU ${kind} error in ${kernels.length ? kernels.join(', ') : 'the engine'}: ${message}`);
    this.name = 'GpuError';
  }
}

export function assert(cond: unknown, op: string, message: () => string): asserts cond {
  if (!cond) throw new ShapeError(op, message());
}
