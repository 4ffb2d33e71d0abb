/** A module's state dict as safetensors bytes, in PyTorch names and layouts. */
import { describeBadValues, loadTensors, saveTensors, type ExpectedTensor } from '../io/safetensors.js';
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

export interface LoadModuleOptions {
  /** Default true: names, shapes and dtypes must match exactly (else extra tensors in the file are ignored). */
  strict?: boolean;
  /** The file the bytes came from, named in errors. */
  source?: string;
  /** Accept NaN/±Infinity weights (default false: a damaged file or a diverged run is refused). */
  allowNonFinite?: boolean;
}

/** Value ranges with a meaning, by state-dict name: BatchNorm's running variance cannot be negative. */
function checkRange(name: string, data: ArrayLike<number>): string | null {
  if (/(^|\.)running_var$/.test(name)) return describeBadValues(data, (v) => v < 0, 'negative, and a variance cannot be');
  if (/(^|\.)num_batches_tracked$/.test(name)) return describeBadValues(data, (v) => v < 0, 'negative, and a count cannot be');
  return null;
}

/**
 * Loads safetensors bytes into a module. Strict (default): every name, shape and dtype must match and all
 * mismatches are listed in one error before anything is uploaded. Non-strict: the module's entries must all be
 * present and right, extra tensors in the file (a classifier of another task, say) are ignored. Values are checked
 * too, before upload: NaN or infinite weights and negative running variances are refused, each tensor named.
 */
export function loadModule(module: Module, bytes: Uint8Array, opts: LoadModuleOptions = {}): void {
  const strict = opts.strict !== false;
  const expected: Record<string, ExpectedTensor> = Object.fromEntries(module.stateEntries().map((e) => [e.name, { shape: e.shape, dtype: e.dtype }]));
  const tensors = loadTensors(module.engine, bytes, strict ? expected : undefined, {
    finite: !opts.allowNonFinite,
    check: checkRange,
    ...(opts.source ? { source: opts.source } : {}),
  });
  try {
    module.loadStateDict(tensors, { strict });
  } finally {
    Object.values(tensors).forEach((t) => t.dispose());
  }
}
