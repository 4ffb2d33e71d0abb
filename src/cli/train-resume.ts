/**
 * Restoring a run from its checkpoint for `fergpu train --resume`: the model, the optimiser state and the log are
 * each parsed and checked to stand at the manifest's epoch and step before any training, naming the file at fault.
 */
import { join } from 'node:path';
import type { Engine } from '../device/engine.js';
import { safetensorsMetadata } from '../io/safetensors.js';
import type { OpenedRun } from '../node/run-folder.js';
import { RunFolderError } from '../node/run-folder.js';
import { loadOptimizerState } from '../optim/checkpoint.js';
import { loadModelFile, readModelFileInfo, type ModelFileInfo } from '../train/model-file.js';
import { checkModelInfo } from './infer-checks.js';
import { makeOptimizer, SCHEDULES, type ConfigName, type LrScheduleKind, type OptimizerSettings, type Recipe } from '../train/recipes.js';
import type { EpochReport, EvalReport, ForwardModel } from '../train/trainer.js';

/** The learning-rate plan of a run (cosine over `epochs` in all, counted from the first epoch). */
export interface SchedulePlan {
  kind: LrScheduleKind;
  epochs: number;
}

export interface TrainLog {
  model: string;
  config: string;
  data: string;
  optimizer: OptimizerSettings;
  schedule?: SchedulePlan;
  batchSize: number;
  epochs: (EpochReport & { test: Omit<EvalReport, 'confusion'> & { confusion: number[][] } })[];
}

export interface RestoredRun {
  model: ForwardModel;
  optimizer: ReturnType<typeof makeOptimizer>;
  info: ModelFileInfo;
  log: TrainLog;
}

export function restoreRun(engine: Engine, recipe: Recipe, config: ConfigName, run: OpenedRun, dir: string): RestoredRun {
  const { manifest, files } = run;
  const at = `epoch ${manifest.epoch}, step ${manifest.step}`;
  const log = parseLog(files['log.json'], join(dir, 'log.json'), manifest.epoch, recipe.name);
  const modelPath = join(dir, 'model.safetensors');
  let loaded;
  try {
    const fileInfo = readModelFileInfo(files['model.safetensors']);
    if (fileInfo) checkModelInfo(fileInfo, modelPath);
    loaded = loadModelFile(engine, files['model.safetensors'], { model: recipe.name, config }, modelPath);
  } catch (e) {
    throw new RunFolderError((e as Error).message);
  }
  const { model, info } = loaded;
  try {
    if (info.epoch !== manifest.epoch || info.step !== manifest.step) throw new RunFolderError(`${modelPath} stands at epoch ${info.epoch}, step ${info.step ?? '(none)'}; checkpoint.json says ${at}; refusing to resume a mixed checkpoint`);
    const optimPath = join(dir, 'optimizer.safetensors');
    const optimBytes = files['optimizer.safetensors'];
    const stamp = readStamp(optimBytes, optimPath);
    if (stamp.epoch !== manifest.epoch || stamp.step !== manifest.step) throw new RunFolderError(`${optimPath} stands at epoch ${stamp.epoch}, step ${stamp.step}; checkpoint.json says ${at}; refusing to resume a mixed checkpoint`);
    const optimizer = makeOptimizer(model.parameters(), log.optimizer);
    try {
      loadOptimizerState(optimizer, optimBytes, optimPath);
    } catch (e) {
      optimizer.dispose();
      const m = (e as Error).message;
      throw new RunFolderError(m.startsWith(optimPath) ? m : `${optimPath}: ${m}`);
    }
    return { model, optimizer, info, log };
  } catch (e) {
    model.dispose();
    throw e;
  }
}

function readStamp(bytes: Uint8Array, path: string): { epoch: number; step: number } {
  let raw: string | undefined;
  try {
    raw = safetensorsMetadata(bytes)['fergpu.run'];
  } catch (e) {
    throw new RunFolderError(`${path}: ${(e as Error).message}`);
  }
  const stamp = raw === undefined ? undefined : (JSON.parse(raw) as { epoch?: unknown; step?: unknown });
  if (!stamp || !Number.isInteger(stamp.epoch) || !Number.isInteger(stamp.step)) throw new RunFolderError(`${path} carries no 'fergpu.run' epoch and step: not written by fergpu train`);
  return stamp as { epoch: number; step: number };
}

function parseLog(bytes: Uint8Array, path: string, epochs: number, model: string): TrainLog {
  let log: TrainLog;
  try {
    log = JSON.parse(new TextDecoder().decode(bytes)) as TrainLog;
  } catch (e) {
    throw new RunFolderError(`${path} is not valid JSON (${(e as Error).message}); refusing to resume`);
  }
  const bad = (what: string): never => {
    throw new RunFolderError(`${path} is not a training log of this run: ${what}; refusing to resume`);
  };
  if (typeof log !== 'object' || log === null || Array.isArray(log)) bad('expected an object');
  if (log.model !== model) bad(`it is for model ${JSON.stringify(log.model)}, not ${model}`);
  if (!Array.isArray(log.epochs)) bad('it has no epochs list');
  if (log.epochs.length !== epochs || log.epochs.some((e, i) => e?.epoch !== i + 1)) bad(`it lists epochs [${log.epochs.map((e) => e?.epoch).join(', ')}], the checkpoint has ${epochs}`);
  const o = log.optimizer as Partial<OptimizerSettings> | undefined;
  if (!o || !['adam', 'adamw', 'sgd'].includes(o.kind as string) || !(typeof o.lr === 'number' && o.lr > 0)) bad('its optimizer settings are missing or invalid');
  const s = log.schedule;
  if (!s || !(SCHEDULES as readonly string[]).includes(s.kind) || !Number.isInteger(s.epochs) || s.epochs < 1) bad('its schedule (kind and planned epochs) is missing or invalid');
  return log;
}
