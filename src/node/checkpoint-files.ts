/** Safetensors checkpoints on disk (Node). Writes go to a temporary file renamed into place, so a crash never leaves a truncated checkpoint. */
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import type { Engine } from '../device/engine.js';
import type { Tensor } from '../graph/tensor.js';
import { loadTensors, saveTensors, type ExpectedTensor } from '../io/safetensors.js';

/** Writes bytes atomically: a sibling temporary file, then a rename over `path`. */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
  try {
    await writeFile(tmp, bytes);
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/** Reads the tensors back from the GPU and writes them to `path` as safetensors. */
export async function saveSafetensorsFile(path: string, tensors: Record<string, Tensor>, metadata?: Record<string, string>): Promise<void> {
  await writeFileAtomic(path, await saveTensors(tensors, metadata));
}

/** Loads a safetensors file onto the GPU; with `expected`, every name, shape and dtype is checked first (see loadTensors). */
export async function loadSafetensorsFile(engine: Engine, path: string, expected?: Record<string, ExpectedTensor>): Promise<Record<string, Tensor>> {
  const buf = await readFile(path);
  const bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  try {
    return loadTensors(engine, bytes, expected);
  } catch (e) {
    (e as Error).message = `${path}: ${(e as Error).message}`;
    throw e;
  }
}
