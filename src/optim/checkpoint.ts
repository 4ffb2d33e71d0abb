/**
 * Optimiser state in a safetensors file: buffers as tensors named `state.<param index>.<buffer>` (PyTorch's
 * numbering and buffer names), step counts and hyper-parameters as JSON in the metadata.
 */
import { ShapeError } from '../device/errors.js';
import type { Tensor } from '../graph/tensor.js';
import { describeBadValues, loadTensors, safetensorsMetadata, saveTensors } from '../io/safetensors.js';
import type { BaseHyperParams, Optimizer, OptimizerStateDict, ParamState } from './optimizer.js';

const KEY = 'fergpu.optimizer';

interface SavedMeta {
  optimizer: string;
  steps: Record<number, number>;
  paramGroups: OptimizerStateDict['paramGroups'];
}

/** Encodes an optimiser's state (reads its buffers back from the GPU). */
export async function saveOptimizerState(opt: Optimizer<BaseHyperParams>, metadata: Record<string, string> = {}): Promise<Uint8Array> {
  const dict = opt.stateDict();
  const tensors: Record<string, Tensor> = {};
  const steps: Record<number, number> = {};
  for (const [index, s] of Object.entries(dict.state)) {
    steps[Number(index)] = s.step;
    for (const [name, t] of Object.entries(s.buffers)) tensors[`state.${index}.${name}`] = t;
  }
  const meta: SavedMeta = { optimizer: opt.name, steps, paramGroups: dict.paramGroups };
  return saveTensors(tensors, { ...metadata, [KEY]: JSON.stringify(meta) });
}

/**
 * Restores state written by `saveOptimizerState` into an optimiser with the same groups and parameter shapes.
 * Values are checked before upload: every buffer finite, second moments (`exp_avg_sq`, `max_exp_avg_sq`) ≥ 0.
 * `source` names the file in errors.
 */
export function loadOptimizerState(opt: Optimizer<BaseHyperParams>, bytes: Uint8Array, source?: string): void {
  const where = `${opt.name}: loadOptimizerState`;
  const raw = safetensorsMetadata(bytes)[KEY];
  if (raw === undefined) throw new ShapeError(where, `the file has no '${KEY}' metadata: it was not written by saveOptimizerState`);
  let meta: SavedMeta;
  try {
    meta = JSON.parse(raw) as SavedMeta;
  } catch (e) {
    throw new ShapeError(where, `the '${KEY}' metadata is not valid JSON (${(e as Error).message})`);
  }
  if (meta.optimizer !== opt.name) throw new ShapeError(where, `the file holds ${meta.optimizer} state, not ${opt.name}`);
  const tensors = loadTensors(opt.engine, bytes, undefined, {
    finite: true,
    check: (name, data) => (/exp_avg_sq$/.test(name) ? describeBadValues(data, (v) => v < 0, 'negative (a second moment is a mean of squares)') : null),
    ...(source ? { source } : {}),
  });
  try {
    const state: Record<number, ParamState> = {};
    for (const [index, step] of Object.entries(meta.steps ?? {})) state[Number(index)] = { step, buffers: {} };
    for (const [name, t] of Object.entries(tensors)) {
      const m = /^state\.(\d+)\.(.+)$/.exec(name);
      const s = m && state[Number(m[1])];
      if (!m || !s) throw new ShapeError(where, `tensor '${name}' is not a state buffer of a listed parameter`);
      s.buffers[m[2]!] = t;
    }
    opt.loadStateDict({ state, paramGroups: meta.paramGroups });
  } finally {
    for (const t of Object.values(tensors)) t.dispose();
  }
}
