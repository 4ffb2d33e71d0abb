/** The library in Node: everything in the core, with Dawn as the GPU and a polite waiter by default. */
import { createEngine as createCoreEngine, type Engine, type EngineOptions } from '../device/engine.js';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
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
  const collectGarbage = options.collectGarbage ?? v8Collector();
  return createCoreEngine({ ...options, gpu, waiter, ...(tuningStore ? { tuningStore } : {}), ...(collectGarbage ? { collectGarbage } : {}) });
}

let collector: (() => void) | null | undefined;

/** V8's gc(), reached without --expose-gc on the command line: the flag set at run time, read from a new context. */
function v8Collector(): (() => void) | undefined {
  if (collector === undefined) {
    try {
      setFlagsFromString('--expose-gc');
      const gc = runInNewContext('gc') as unknown;
      collector = typeof gc === 'function' ? (gc as () => void) : null;
    } catch {
      collector = null;
    }
  }
  return collector ?? undefined;
}
export { loadSafetensorsFile, saveSafetensorsFile, writeFileAtomic } from './checkpoint-files.js';
