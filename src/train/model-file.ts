/**
 * Trained models as safetensors with enough metadata to rebuild them: which model, configuration, constructor
 * options, class labels and input. Loading checks the metadata against what the caller asked for and then every
 * tensor (all mismatches named in one error), so weights for another model or configuration never load silently.
 */
import { EMOTIONS } from '../data/types.js';
import type { Engine } from '../device/engine.js';
import { safetensorsMetadata } from '../io/safetensors.js';
import { loadModule, saveModule } from '../models/checkpoint.js';
import { configFor, recipeFor, type ConfigName, type InputSpec, type ModelOptions, type Recipe } from './recipes.js';
import type { ForwardModel } from './trainer.js';

export interface ModelFileInfo {
  model: string;
  config: ConfigName;
  options: ModelOptions;
  labels: string[];
  input: InputSpec;
  epoch: number;
  /** Optimiser steps taken in all (written by fergpu train; absent in older files). */
  step?: number;
  /** The model's host-side training state (Module.extraState: dropout call counters), so a resume is bit-identical. */
  extra?: Record<string, number>;
}

const KEY = 'fergpu';

export async function saveModelFile(model: ForwardModel, info: ModelFileInfo): Promise<Uint8Array> {
  const extra = model.extraState();
  return saveModule(model, { [KEY]: JSON.stringify(Object.keys(extra).length ? { ...info, extra } : info), format: 'pt' });
}

/** The metadata of a model file, or null when the file was not written by fergpu (a PyTorch export, say). */
export function readModelFileInfo(bytes: Uint8Array): ModelFileInfo | null {
  const meta = safetensorsMetadata(bytes);
  if (!meta[KEY]) return null;
  try {
    return JSON.parse(meta[KEY]) as ModelFileInfo;
  } catch {
    throw new Error(`the checkpoint's ${KEY} metadata is not valid JSON`);
  }
}

export interface LoadedModel {
  recipe: Recipe;
  model: ForwardModel;
  info: ModelFileInfo;
}

/**
 * Builds the model a file describes and loads its weights. `expect.model` / `expect.config` (from the command
 * line) must agree with the file; a file without metadata is loaded into `expect`'s model (default options).
 */
export function loadModelFile(engine: Engine, bytes: Uint8Array, expect: { model?: string; config?: string; classes?: number } = {}, what = 'weights'): LoadedModel {
  const info = readModelFileInfo(bytes);
  const wanted = expect.model ? recipeFor(expect.model) : undefined;
  if (info) {
    const recipe = recipeFor(info.model);
    if (wanted && wanted.name !== recipe.name) throw new Error(`${what} are for model ${recipe.name} (${recipe.title}), not ${wanted.name}`);
    if (expect.config && configFor(expect.config) !== info.config) {
      // Build the asked configuration so the report names every tensor that differs.
      const asked = recipe.create(engine, recipe.options(configFor(expect.config), info.labels.length)) as ForwardModel;
      try {
        loadModule(asked, bytes);
      } catch (e) {
        throw new Error(`${what} were trained with configuration '${info.config}', not '${expect.config}': ${(e as Error).message}`);
      } finally {
        asked.dispose();
      }
    }
    const model = recipe.create(engine, info.options) as ForwardModel;
    try {
      loadModule(model, bytes);
      if (info.extra) model.loadExtraState(info.extra);
    } catch (e) {
      model.dispose();
      throw new Error(`${what}: ${(e as Error).message}`);
    }
    return { recipe, model, info };
  }
  if (!wanted) throw new Error(`${what} carry no fergpu metadata: name the model with --model (${'m1…m5'})`);
  const config = configFor(expect.config ?? 'small');
  const classes = expect.classes ?? 7;
  const options = wanted.options(config, classes);
  const model = wanted.create(engine, options) as ForwardModel;
  try {
    loadModule(model, bytes);
  } catch (e) {
    model.dispose();
    throw new Error(`${what} do not fit model ${wanted.name} (${config}): ${(e as Error).message}`);
  }
  const labels = classes === EMOTIONS.length ? [...EMOTIONS] : Array.from({ length: classes }, (_, i) => `class ${i}`);
  return { recipe: wanted, model, info: { model: wanted.name, config, options, labels, input: wanted.input(config), epoch: 0 } };
}
