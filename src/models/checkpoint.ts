/** A module's state dict as safetensors bytes, in PyTorch names and layouts. */
import { loadTensors, saveTensors, type ExpectedTensor } from '../io/safetensors.js';
import type { Module } from './module.js';

/** Reads every parameter and buffer back and encodes them (bit-exact). */
export async function saveModule(module: Module, metadata?: Record<string, string>): Promise<Uint8Array> {
  const state = module.stateDict();
  try {
    return await saveTensors(Object.fromEntries(state), metadata);
  } finally {
    state.forEach((t) => t.dispose());
  }
}

/**
 * Loads safetensors bytes into a module. Strict (default): every name, shape and dtype must match and all
 * mismatches are listed in one error before anything is uploaded. Non-strict: the module's entries must all be
 * present and right, extra tensors in the file (a classifier of another task, say) are ignored.
 */
export function loadModule(module: Module, bytes: Uint8Array, opts: { strict?: boolean } = {}): void {
  const strict = opts.strict !== false;
  const expected: Record<string, ExpectedTensor> = Object.fromEntries(module.stateEntries().map((e) => [e.name, { shape: e.shape, dtype: e.dtype }]));
  const tensors = loadTensors(module.engine, bytes, strict ? expected : undefined);
  try {
    module.loadStateDict(tensors, { strict });
  } finally {
    Object.values(tensors).forEach((t) => t.dispose());
  }
}
