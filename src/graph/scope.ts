/**
 * Scopes that dispose intermediates: `tidy(fn)` disposes every tensor created inside `fn` except those it
 * returns (and those passed to `keep`). JavaScript's GC knows nothing of GPU memory, so this is how a
 * forward pass keeps only what is live.
 */
import type { Tensor } from './tensor.js';

const scopes: Set<Tensor>[] = [];

/** Called by every new tensor. */
export function trackTensor(t: Tensor): void {
  scopes[scopes.length - 1]?.add(t);
}

/** Removes a tensor from the enclosing scopes so it outlives them. */
export function keep<T extends Tensor>(t: T): T {
  for (const s of scopes) s.delete(t);
  return t;
}

/** Runs `fn`; disposes the tensors it created except those reachable in its result (tensor, array or object of tensors). */
export function tidy<R>(fn: () => R): R {
  const scope = new Set<Tensor>();
  scopes.push(scope);
  let result: R;
  try {
    result = fn();
  } finally {
    scopes.pop();
  }
  if (result instanceof Promise) throw new Error('tidy: the function must be synchronous (await outside the scope)');
  const kept = new Set<Tensor>();
  collectTensors(result, kept);
  for (const t of scope) {
    if (kept.has(t)) scopes[scopes.length - 1]?.add(t); // returned tensors belong to the enclosing scope
    else t.dispose();
  }
  return result;
}

function collectTensors(value: unknown, into: Set<Tensor>, depth = 0): void {
  if (value === null || typeof value !== 'object' || depth > 4) return;
  if (isTensor(value)) {
    into.add(value);
    return;
  }
  const items = Array.isArray(value) ? value : value instanceof Map ? [...value.values()] : Object.values(value);
  for (const v of items) collectTensors(v, into, depth + 1);
}

function isTensor(v: object): v is Tensor {
  return typeof (v as Tensor).dispose === 'function' && 'storage' in v && 'shape' in v;
}
