/**
 * Safetensors checkpoints on disk (Node). Writes go to a temporary file that is flushed to the disk and then
 * renamed into place (and the folder flushed), so a crash or power loss never leaves a truncated checkpoint.
 */
import { open, readFile, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Engine } from '../device/engine.js';
import type { Tensor } from '../graph/tensor.js';
import { loadTensors, saveTensors, type ExpectedTensor } from '../io/safetensors.js';

/** Writes `bytes` to `path` and flushes them to the disk before returning (not atomic by itself). */
export async function writeFileDurable(path: string, bytes: Uint8Array | string): Promise<void> {
  const f = await open(path, 'w');
  try {
    await f.writeFile(bytes);
    await f.sync();
  } finally {
    await f.close();
  }
}

/** Flushes a folder's entries (renames into it) to the disk; a no-op where folders cannot be opened (Windows). */
export async function syncFolder(dir: string): Promise<void> {
  let f;
  try {
    f = await open(dir, 'r');
  } catch {
    return;
  }
  try {
    await f.sync();
  } catch {
    // Some file systems refuse fsync on a folder; the rename is then as durable as they make it.
  } finally {
    await f.close();
  }
}

/** Writes bytes atomically and durably: a flushed sibling temporary file, then a rename over `path`. */
export async function writeFileAtomic(path: string, bytes: Uint8Array | string): Promise<void> {
  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
  try {
    await writeFileDurable(tmp, bytes);
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  await syncFolder(dirname(path));
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
