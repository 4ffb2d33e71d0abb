/**
 * `fergpu train`: trains one of the five models on synthetic or folder data with a progress bar, evaluates on the
 * held-out split every epoch, and commits a checkpoint (model, optimiser state and log together, see
 * node/run-folder.ts) after every epoch, every `saveEvery` steps and when stopped (SIGINT, `signal`). `--resume DIR`
 * checks the whole checkpoint before training and continues it bit-identically, into DIR.
 */
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Engine } from '../device/engine.js';
import { encodePng } from '../node/image-files.js';
import { writeFileAtomic } from '../node/checkpoint-files.js';
import { clearRun, commitCheckpoint, holdsRun, openCheckpoint, RunFolderError, type RunManifest, type RunSettings } from '../node/run-folder.js';
import { saveOptimizerState } from '../optim/checkpoint.js';
import { saveModelFile, type ModelFileInfo } from '../train/model-file.js';
import { configFor, makeOptimizer, recipeFor, type LrScheduleKind, type OptimizerSettings, type Recipe } from '../train/recipes.js';
import { Trainer, type EpochProgress, type ForwardModel } from '../train/trainer.js';
import { lineChart } from '../viz/charts.js';
import { openData } from './data.js';
import { ProgressBar } from './progress.js';
import { restoreRun, type TrainLog } from './train-resume.js';

export type { SchedulePlan, TrainLog } from './train-resume.js';

export interface TrainArgs {
  model: string;
  /** The settings below default to the resumed run's, or for a new run to: small, synthetic, 1, 80, 8, the recipe's batch. */
  config?: string;
  data?: string;
  /** A new run: epochs to train (default 10). A resume: epochs more, counting an unfinished one (default: finish the run's plan). */
  epochs?: number;
  batch?: number;
  seed?: number;
  identities?: number;
  clipFrames?: number;
  /** Default: the resumed folder, or runs/<model>-<config> for a new run. */
  out?: string;
  resume?: string;
  /** Replace a run that `out` already holds. */
  force?: boolean;
  /** Also commit a checkpoint every this many steps inside an epoch. */
  saveEvery?: number;
  optimizer?: Partial<OptimizerSettings>;
  /** Default: the recipe's for the configuration. */
  schedule?: LrScheduleKind;
  quiet?: boolean;
  /** Once aborted, training stops after the step in flight and commits a checkpoint (the CLI aborts on SIGINT). */
  signal?: AbortSignal;
}

export interface TrainResult {
  log: TrainLog;
  out: string;
  /** Stopped by `signal` before the planned epochs were done (a checkpoint to resume from is committed). */
  interrupted: boolean;
}

export async function runTrain(engine: Engine, a: TrainArgs): Promise<TrainResult> {
  const recipe = recipeFor(a.model);
  const say = (m: string): void => {
    if (!a.quiet) console.log(m);
  };
  const changed = Object.keys(a.optimizer ?? {});
  if (a.resume && changed.length) throw new RunFolderError(`--resume continues the optimiser of ${a.resume} with its saved state and settings; ${changed.map((k) => `--${k === 'weightDecay' ? 'weight-decay' : k === 'kind' ? 'optimizer' : k}`).join(', ')} cannot change them (start a new run with --out to use other settings)`);
  const opened = a.resume ? await openCheckpoint(a.resume) : undefined;
  for (const r of opened?.repaired ?? []) console.warn(`notice: ${a.resume}: ${r}`);
  const settings = runSettings(recipe, a, opened?.manifest.settings);
  const config = configFor(settings.config);
  const out = a.out ?? a.resume ?? `runs/${recipe.name}-${config}`;
  const continuing = a.resume !== undefined && resolve(out) === resolve(a.resume);
  if (!continuing && holdsRun(out) && !a.force) throw new RunFolderError(`${out} already holds a training run: --resume ${out} continues it, --force replaces it, --out DIR trains into another folder`);

  const spec = recipe.input(config);
  const data = openData(spec, { data: settings.data, seed: settings.seed, identities: settings.identities, clipFrames: settings.clipFrames, onNotice: (m) => console.warn(`notice: ${m}`) });
  if (data.train.size === 0 || data.test.size === 0) throw new Error(`train: the data has ${data.train.size} training and ${data.test.size} held-out clips; both must be non-empty`);
  const batch = settings.batch;

  // Everything is read and checked before the first step, so a bad folder costs no training.
  const state = opened ? restoreRun(engine, recipe, config, opened, a.resume!) : newRun(engine, recipe, config, a, settings, data.train.labels, data.describe);
  const { model, optimizer } = state;
  let { info, log } = state;
  const done = opened?.manifest.epoch ?? 0;
  const target = a.epochs !== undefined ? done + a.epochs : opened ? log.schedule!.epochs : 10;
  let progress: EpochProgress | null = opened?.manifest.progress ?? null;
  try {
    if (target <= done && !progress) {
      say(`${out}: the run has trained ${done} of its ${log.schedule!.epochs} planned epochs; --epochs N trains N more`);
      return { log, out, interrupted: false };
    }
    // A resumed run keeps its plan unless a schedule is asked for again (then it spans the epochs so far and these).
    if (!opened || a.schedule) log.schedule = { kind: a.schedule ?? recipe.schedule(config), epochs: target };
    const plan = log.schedule!;
    const trainer = new Trainer(engine, recipe, config, model, optimizer, { batchSize: batch, seed: settings.seed, ...(plan.kind === 'cosine' ? { schedule: { epochs: plan.epochs } } : {}) });
    trainer.epoch = done;
    let step = opened?.manifest.step ?? 0;
    await mkdir(out, { recursive: true }).catch((e: NodeJS.ErrnoException) => {
      throw new RunFolderError(`--out ${out}: cannot create the run folder (${e.code === 'ENOTDIR' || e.code === 'EEXIST' ? 'a file is in the way' : e.code === 'EACCES' || e.code === 'EROFS' ? 'not writable' : e.message})`);
    });
    if (!continuing && a.force) await clearRun(out);

    const save = async (p: EpochProgress | null): Promise<RunManifest> => {
      info = { ...info, epoch: trainer.epoch, step };
      const files = {
        'model.safetensors': await saveModelFile(model, info),
        'optimizer.safetensors': await saveOptimizerState(optimizer, { 'fergpu.run': JSON.stringify({ epoch: trainer.epoch, step }) }),
        'log.json': new TextEncoder().encode(JSON.stringify(log, null, 2)),
      };
      return commitCheckpoint(out, files, { settings, epoch: trainer.epoch, step, progress: p });
    };

    say(`model ${recipe.name}: ${recipe.title}; configuration ${config}, ${(model.parameterCount() / 1e6).toFixed(3)} M parameters`);
    say(`data: ${data.describe}`);
    const shown = { ...log.optimizer, lr: optimizer.paramGroups[0]!.initialLr ?? log.optimizer.lr };
    say(`optimiser: ${shown.kind} lr ${shown.lr}${plan.kind === 'cosine' ? ` (cosine-annealed over ${plan.epochs} epochs)` : ''} weight decay ${shown.weightDecay}${shown.momentum ? ` momentum ${shown.momentum}` : ''}; batch ${batch}`);
    if (opened) say(`resuming from ${a.resume} after epoch ${done}${progress ? ` and ${progress.step} of its ${progress.steps} steps` : ''} (step ${step}), to epoch ${target}`);
    const bar = new ProgressBar();
    let interrupted = false;
    let stopped: EpochProgress | null = null;
    while (trainer.epoch < target || progress) {
      if (a.signal?.aborted) {
        interrupted = true;
        break;
      }
      const epoch = trainer.epoch + 1;
      const report = await trainer.trainEpoch(
        data.train,
        (r) => {
          step++;
          if (!a.quiet) bar.update(r.step, r.steps, `epoch ${epoch}`, `loss ${r.loss.toFixed(4)} acc ${(100 * r.accuracy).toFixed(1)}% ${r.clipsPerSecond.toFixed(1)} clips/s`);
        },
        { ...(progress ? { resume: progress } : {}), ...(a.signal ? { signal: a.signal } : {}), ...(a.saveEvery ? { checkpoint: { every: a.saveEvery, save: async (p) => void (await save(p)) } } : {}) },
      );
      progress = null;
      if (!a.quiet) bar.done();
      if (report.interrupted) {
        await save(report.interrupted);
        stopped = report.interrupted;
        interrupted = true;
        break;
      }
      const test = await trainer.evaluate(data.test);
      log.epochs.push({ ...report, test });
      say(`epoch ${report.epoch} (lr ${report.lr.toPrecision(3)}): train loss ${report.loss.toFixed(4)} acc ${(100 * report.accuracy).toFixed(1)}% (${report.seconds.toFixed(1)} s) · held-out loss ${test.loss.toFixed(4)} acc ${(100 * test.accuracy).toFixed(1)}%`);
      await save(null);
    }
    if (log.epochs.length) await writeFileAtomic(join(out, 'curves.png'), encodePng(trainingCurves(log)));
    if (interrupted) {
      const where = stopped ? `epoch ${stopped.epoch}, step ${stopped.step} of ${stopped.steps}` : `the end of epoch ${trainer.epoch}`;
      console.error(`stopped at ${where} (step ${step} in all); the checkpoint in ${out} is committed. Continue with: fergpu train --model ${recipe.name} --resume ${out}`);
    } else {
      say(`wrote ${out}/model.safetensors, optimizer.safetensors, log.json, checkpoint.json and curves.png`);
    }
    return { log, out, interrupted };
  } finally {
    optimizer.dispose();
    model.dispose();
  }
}

/** The run's settings: a resume takes the run's, and refuses a differing one that would change its data or batches. */
function runSettings(recipe: Recipe, a: TrainArgs, run: RunSettings | undefined): RunSettings {
  const asked: Partial<RunSettings> = { ...(a.config !== undefined ? { config: configFor(a.config) } : {}), ...(a.data !== undefined ? { data: a.data } : {}), ...(a.seed !== undefined ? { seed: a.seed } : {}), ...(a.identities !== undefined ? { identities: a.identities } : {}), ...(a.clipFrames !== undefined ? { clipFrames: a.clipFrames } : {}), ...(a.batch !== undefined ? { batch: a.batch } : {}) };
  if (!run) {
    const config = asked.config ?? 'small';
    return { model: recipe.name, config, data: asked.data ?? 'synthetic', seed: asked.seed ?? 1, identities: asked.identities ?? 80, clipFrames: asked.clipFrames ?? 8, batch: asked.batch ?? recipe.batchSize(configFor(config)) };
  }
  if (run.model !== recipe.name) throw new RunFolderError(`${a.resume} is a run of model ${run.model}, not ${recipe.name}`);
  const why: Record<keyof RunSettings, string> = {
    model: '',
    config: 'another configuration is another model',
    data: 'other data',
    seed: 'another seed changes the held-out identities (test clips would leak into training) and the order',
    identities: 'other identities change the split',
    clipFrames: 'other frames change the clips',
    batch: 'another batch size changes the steps of an epoch',
  };
  const clashes = (Object.keys(asked) as (keyof RunSettings)[]).filter((k) => asked[k] !== run[k]);
  if (clashes.length) throw new RunFolderError(`${a.resume} was trained with ${clashes.map((k) => `${flag(k)} ${run[k]}`).join(', ')}; resuming with ${clashes.map((k) => `${flag(k)} ${asked[k]}`).join(', ')} is refused: ${clashes.map((k) => why[k]).join('; ')}. Leave ${clashes.length > 1 ? 'them' : 'it'} out to continue the run, or start a new run with --out`);
  return run;
}

const flag = (k: keyof RunSettings): string => ({ model: '--model', config: '--config', data: '--data', seed: '--seed', identities: '--identities', clipFrames: '--frames', batch: '--batch' })[k];

function newRun(engine: Engine, recipe: Recipe, config: ReturnType<typeof configFor>, a: TrainArgs, s: RunSettings, labels: readonly string[], describe: string): { model: ForwardModel; optimizer: ReturnType<typeof makeOptimizer>; info: ModelFileInfo; log: TrainLog } {
  const options = recipe.options(config, labels.length);
  const model = recipe.create(engine, { ...options, seed: s.seed }) as ForwardModel;
  const settings: OptimizerSettings = { ...recipe.optimizer(config), ...a.optimizer };
  const info: ModelFileInfo = { model: recipe.name, config, options: { ...options, seed: s.seed }, labels: [...labels], input: recipe.input(config), epoch: 0, step: 0 };
  return { model, optimizer: makeOptimizer(model.parameters(), settings), info, log: { model: recipe.name, config, data: describe, optimizer: settings, batchSize: s.batch, epochs: [] } };
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
