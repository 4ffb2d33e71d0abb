/** The library in Node: everything in the core, with Dawn as the GPU and a polite waiter by default. */
import { createEngine as createCoreEngine, type Engine, type EngineOptions } from '../device/engine.js';
import { busyWaiter } from '../device/waiter.js';
import { dawnGPU } from './dawn.js';
import { politeWaiter } from './polite-waiter.js';
import { fileTuningStore } from './tuning-store.js';

export * from '../index.js';
export { dawnGPU, dawnVersion } from './dawn.js';
export { politeWaiter } from './polite-waiter.js';
export { fileTuningStore } from './tuning-store.js';

export interface NodeEngineOptions extends EngineOptions {
  /** 'polite' (default) sleeps while GPU work is pending; 'busy' keeps Dawn's spinning. */
  wait?: 'polite' | 'busy';
  /** Remember variant choices in ~/.cache/fergpu (default true). */
  persistTuning?: boolean;
}

export async function createEngine(options: NodeEngineOptions = {}): Promise<Engine> {
  const gpu = options.gpu ?? (await dawnGPU());
  const waiter = options.waiter ?? (options.wait === 'busy' ? busyWaiter : politeWaiter());
  const tuningStore = options.tuningStore ?? (options.persistTuning === false ? undefined : fileTuningStore());
  return createCoreEngine({ ...options, gpu, waiter, ...(tuningStore ? { tuningStore } : {}) });
}
export { loadSafetensorsFile, saveSafetensorsFile, writeFileAtomic } from './checkpoint-files.js';
