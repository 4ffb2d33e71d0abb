/**
 * `fergpu train`: trains one of the five models on synthetic or folder data with a progress bar, evaluates on the
 * held-out split every epoch, writes checkpoints (model + optimiser, safetensors), a JSON log and the training
 * curves as a PNG, and resumes from a checkpoint directory.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Engine } from '../device/engine.js';
import { writeFileAtomic } from '../node/checkpoint-files.js';
import { writePng } from '../node/image-files.js';
import { loadOptimizerState, saveOptimizerState } from '../optim/checkpoint.js';
import { loadModelFile, saveModelFile, type ModelFileInfo } from '../train/model-file.js';
import { configFor, makeOptimizer, recipeFor, type LrScheduleKind, type OptimizerSettings } from '../train/recipes.js';
import { Trainer, type EpochReport, type EvalReport, type ForwardModel } from '../train/trainer.js';
import { lineChart } from '../viz/charts.js';
import { openData } from './data.js';
import { ProgressBar } from './progress.js';

export interface TrainArgs {
  model: string;
  config: string;
  data: string;
  epochs: number;
  /** Default: the recipe's for the configuration. */
  batch?: number;
  seed: number;
  identities: number;
  clipFrames: number;
  out: string;
  resume?: string;
  optimizer?: Partial<OptimizerSettings>;
  /** Default: the recipe's for the configuration. */
  schedule?: LrScheduleKind;
  quiet?: boolean;
}

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

export async function runTrain(engine: Engine, a: TrainArgs): Promise<TrainLog> {
  const recipe = recipeFor(a.model);
  const config = configFor(a.config);
  const spec = recipe.input(config);
  const say = (m: string): void => {
    if (!a.quiet) console.log(m);
  };
  const data = openData(spec, { data: a.data, seed: a.seed, identities: a.identities, clipFrames: a.clipFrames, onNotice: (m) => console.warn(`notice: ${m}`) });
  if (data.train.size === 0 || data.test.size === 0) throw new Error(`train: the data has ${data.train.size} training and ${data.test.size} held-out clips; both must be non-empty`);
  const settings: OptimizerSettings = { ...recipe.optimizer(config), ...a.optimizer };
  const batch = a.batch ?? recipe.batchSize(config);
  await mkdir(a.out, { recursive: true });
  const modelPath = join(a.out, 'model.safetensors');
  const optimPath = join(a.out, 'optimizer.safetensors');
  const logPath = join(a.out, 'log.json');

  let model: ForwardModel;
  let info: ModelFileInfo;
  let log: TrainLog = { model: recipe.name, config, data: data.describe, optimizer: settings, batchSize: batch, epochs: [] };
  if (a.resume) {
    const dir = a.resume;
    const loaded = loadModelFile(engine, new Uint8Array(await readFile(join(dir, 'model.safetensors'))), { model: recipe.name, config }, `checkpoint ${dir}`);
    model = loaded.model;
    info = loaded.info;
    if (existsSync(join(dir, 'log.json'))) log = JSON.parse(await readFile(join(dir, 'log.json'), 'utf8')) as TrainLog;
    say(`resuming ${recipe.name} (${config}) from ${dir} after epoch ${info.epoch}`);
  } else {
    const options = recipe.options(config, data.train.labels.length);
    model = recipe.create(engine, { ...options, seed: a.seed }) as ForwardModel;
    info = { model: recipe.name, config, options: { ...options, seed: a.seed }, labels: [...data.train.labels], input: spec, epoch: 0 };
  }
  const optimizer = makeOptimizer(model.parameters(), settings);
  if (a.resume && existsSync(join(a.resume, 'optimizer.safetensors'))) loadOptimizerState(optimizer, new Uint8Array(await readFile(join(a.resume, 'optimizer.safetensors'))));
  // A resumed run keeps its plan unless a schedule is asked for again (then it spans the epochs so far and these).
  const plan: SchedulePlan = a.schedule || !log.schedule ? { kind: a.schedule ?? recipe.schedule(config), epochs: info.epoch + a.epochs } : log.schedule;
  log.schedule = plan;
  const trainer = new Trainer(engine, recipe, config, model, optimizer, { batchSize: batch, seed: a.seed, ...(plan.kind === 'cosine' ? { schedule: { epochs: plan.epochs } } : {}) });
  trainer.epoch = info.epoch;

  say(`model ${recipe.name}: ${recipe.title}; configuration ${config}, ${(model.parameterCount() / 1e6).toFixed(3)} M parameters`);
  say(`data: ${data.describe}`);
  say(`optimiser: ${settings.kind} lr ${settings.lr}${plan.kind === 'cosine' ? ` (cosine-annealed over ${plan.epochs} epochs)` : ''} weight decay ${settings.weightDecay}${settings.momentum ? ` momentum ${settings.momentum}` : ''}; batch ${batch}`);
  const bar = new ProgressBar();
  try {
    for (let e = 0; e < a.epochs; e++) {
      const epoch = trainer.epoch + 1;
      const report = await trainer.trainEpoch(data.train, (r) => {
        if (!a.quiet) bar.update(r.step, r.steps, `epoch ${epoch}`, `loss ${r.loss.toFixed(4)} acc ${(100 * r.accuracy).toFixed(1)}% ${r.clipsPerSecond.toFixed(1)} clips/s`);
      });
      if (!a.quiet) bar.done();
      const test = await trainer.evaluate(data.test);
      log.epochs.push({ ...report, test });
      info = { ...info, epoch: report.epoch };
      say(`epoch ${report.epoch} (lr ${report.lr.toPrecision(3)}): train loss ${report.loss.toFixed(4)} acc ${(100 * report.accuracy).toFixed(1)}% (${report.seconds.toFixed(1)} s) · held-out loss ${test.loss.toFixed(4)} acc ${(100 * test.accuracy).toFixed(1)}%`);
      await writeFileAtomic(modelPath, await saveModelFile(model, info));
      await writeFileAtomic(optimPath, await saveOptimizerState(optimizer));
      await writeFile(logPath, JSON.stringify(log, null, 2));
    }
    const curves = join(a.out, 'curves.png');
    writePng(curves, trainingCurves(log));
    say(`wrote ${modelPath}, ${optimPath}, ${logPath} and ${curves}`);
    return log;
  } finally {
    optimizer.dispose();
    model.dispose();
  }
}

export function trainingCurves(log: TrainLog): ReturnType<typeof lineChart> {
  return lineChart(
    [
      { name: 'train loss', values: log.epochs.map((e) => e.loss) },
      { name: 'held-out loss', values: log.epochs.map((e) => e.test.loss) },
      { name: 'train accuracy', values: log.epochs.map((e) => e.accuracy), axis: 'right' },
      { name: 'held-out accuracy', values: log.epochs.map((e) => e.test.accuracy), axis: 'right' },
    ],
    { title: `${log.model} training`, xLabel: 'epoch', yLabel: 'loss', yRightLabel: 'accuracy' },
  );
}
