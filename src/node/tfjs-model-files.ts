/** TF.js graph models from disk: model.json plus its weight shards (paths relative to model.json). */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { Engine } from '../device/engine.js';
import { loadTfjsGraphModel, TfjsImportError, type TfjsGraphModel, type TfjsModelJson } from '../import/tfjs-graph.js';

export interface TfjsModelFiles {
  modelJson: TfjsModelJson;
  /** The shards in manifest order. */
  weightBuffers: ArrayBuffer[];
}

export async function readTfjsModelFiles(modelJsonPath: string): Promise<TfjsModelFiles> {
  let modelJson: TfjsModelJson;
  try {
    modelJson = JSON.parse(await readFile(modelJsonPath, 'utf8')) as TfjsModelJson;
  } catch (e) {
    throw new TfjsImportError(`cannot read ${modelJsonPath}: ${(e as Error).message}`);
  }
  const dir = dirname(modelJsonPath);
  const weightBuffers: ArrayBuffer[] = [];
  for (const group of modelJson.weightsManifest ?? []) {
    for (const p of group.paths) {
      const path = resolve(dir, p);
      let bytes: Buffer;
      try {
        bytes = await readFile(path);
      } catch (e) {
        throw new TfjsImportError(`cannot read weight shard ${path} (listed in ${modelJsonPath}): ${(e as Error).message}`);
      }
      weightBuffers.push(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
    }
  }
  return { modelJson, weightBuffers };
}

export async function loadTfjsGraphModelFile(engine: Engine, modelJsonPath: string): Promise<TfjsGraphModel> {
  const { modelJson, weightBuffers } = await readTfjsModelFiles(modelJsonPath);
  return loadTfjsGraphModel(engine, modelJson, weightBuffers);
}
