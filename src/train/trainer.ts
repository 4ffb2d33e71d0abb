/**
 * The training loop shared by `fergpu train`, the accuracy benchmark and the tests: seeded shuffling, one tidy
 * scope per step, the loss and predictions of step i read back while step i + 1 is being recorded (so the CPU
 * encodes while the GPU runs), and evaluation on a held-out source. Platform-neutral: no files, no console.
 */
import type { ClipSource } from '../data/types.js';
import type { Engine } from '../device/engine.js';
import { noGrad } from '../graph/autograd.js';
import { keep, tidy } from '../graph/scope.js';
import type { Module } from '../models/module.js';
import { Rng } from '../models/random.js';
import type { BaseHyperParams, Optimizer } from '../optim/optimizer.js';
import { makeBatch } from './batches.js';
import type { ConfigName, ModelOutputs, Recipe } from './recipes.js';

export interface StepReport {
  epoch: number;
  step: number;
  steps: number;
  loss: number;
  /** Running accuracy over the epoch so far. */
  accuracy: number;
  clipsPerSecond: number;
}

export interface EpochReport {
  epoch: number;
  /** The first parameter group's learning rate in this epoch. */
  lr: number;
  loss: number;
  accuracy: number;
  seconds: number;
  clipsPerSecond: number;
}

/**
 * Where an epoch stands after some of its steps: enough to continue it bit-identically (the shuffled order is a
 * function of the seed and epoch, the augmentation stream is at `augment`) and to finish its report.
 */
export interface EpochProgress {
  epoch: number;
  /** Steps of this epoch done. */
  step: number;
  steps: number;
  /** The augmentation stream's position (Rng.position) after step `step`. */
  augment: number;
  lossSum: number;
  correct: number;
  seen: number;
  seconds: number;
}

export interface EpochRun {
  /** Continue an epoch stopped earlier (from a mid-epoch checkpoint). */
  resume?: EpochProgress;
  /** Checked after every step: once aborted, the epoch stops after the step in flight and reports its progress. */
  signal?: AbortSignal;
  /** Calls `save` after every `every` steps, the pipeline drained (not after the last step: the epoch ends there). */
  checkpoint?: { every: number; save: (p: EpochProgress) => Promise<void> };
}

export interface EvalReport {
  loss: number;
  accuracy: number;
  /** confusion[true][predicted] counts. */
  confusion: number[][];
  seconds: number;
}

export type ForwardModel = Module & { forward(x: import('../graph/tensor.js').Tensor): ModelOutputs };

/**
 * Cosine annealing of the learning rate over a planned number of epochs, per epoch (SGDR without restarts):
 * epoch e (1-based) of `epochs` trains at floor + (base − floor)·(1 + cos(π(e − 1)/epochs))/2, floor = base·minFactor;
 * epochs past the plan stay at the floor. A function of the epoch number, so a resumed run continues the curve.
 */
export interface CosineSchedule {
  epochs: number;
  /** The floor as a fraction of the base rate; default 0.02. */
  minFactor?: number;
}

export function cosineLr(base: number, epoch: number, s: CosineSchedule): number {
  const floor = base * (s.minFactor ?? 0.02);
  const t = Math.min(1, (epoch - 1) / Math.max(1, s.epochs));
  return floor + ((base - floor) * (1 + Math.cos(Math.PI * t))) / 2;
}

export class Trainer {
  private readonly rng: Rng;
  epoch = 0;

  constructor(
    readonly engine: Engine,
    readonly recipe: Recipe,
    readonly config: ConfigName,
    readonly model: ForwardModel,
    readonly optimizer: Optimizer<BaseHyperParams>,
    readonly opts: { batchSize: number; seed?: number; schedule?: CosineSchedule },
  ) {
    this.rng = new Rng(opts.seed ?? 1);
    // The base rates survive a resume: `initialLr` is saved with the optimiser's groups (as PyTorch's schedulers do).
    for (const g of optimizer.paramGroups) g.initialLr ??= g.lr;
  }

  private order(n: number, epoch: number): number[] {
    const rng = this.rng.fork(`epoch ${epoch}`);
    const idx = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(rng.next() * (i + 1));
      [idx[i], idx[j]] = [idx[j]!, idx[i]!];
    }
    return idx;
  }

  /**
   * One pass over `source` in shuffled batches (the last partial batch included). `epoch` counts completed epochs:
   * a stopped epoch (see EpochRun.signal) returns with `interrupted` set and leaves it unchanged.
   */
  async trainEpoch(source: ClipSource, onStep?: (r: StepReport) => void, run: EpochRun = {}): Promise<EpochReport & { interrupted?: EpochProgress }> {
    const epoch = this.epoch + 1;
    const from = run.resume;
    if (from && (from.epoch !== epoch || from.step < 0 || from.step >= from.steps)) throw new Error(`training ${this.recipe.name}: cannot continue epoch ${from.epoch} at step ${from.step} of ${from.steps}; the trainer is at epoch ${epoch}`);
    const schedule = this.opts.schedule;
    if (schedule) for (const g of this.optimizer.paramGroups) g.lr = cosineLr(g.initialLr!, epoch, schedule);
    const lr = this.optimizer.paramGroups[0]!.lr;
    const spec = this.recipe.input(this.config);
    const order = this.order(source.size, epoch);
    const B = this.opts.batchSize;
    const steps = Math.ceil(order.length / B);
    if (from && from.steps !== steps) throw new Error(`training ${this.recipe.name}: the stopped epoch had ${from.steps} steps, this data and batch size give ${steps}`);
    const augment = from ? new Rng(from.augment) : this.rng.fork(`augment ${epoch}`);
    const classes = source.labels.length;
    this.model.train();
    const t0 = performance.now() - (from?.seconds ?? 0) * 1000;
    let seen = from?.seen ?? 0;
    let correct = from?.correct ?? 0;
    let lossSum = from?.lossSum ?? 0;
    let pending: Promise<void> | null = null;
    const progress = (step: number): EpochProgress => ({ epoch, step, steps, augment: augment.position, lossSum, correct, seen, seconds: (performance.now() - t0) / 1000 });
    for (let s = from?.step ?? 0; s < steps; s++) {
      const clips = order.slice(s * B, (s + 1) * B).map((i) => source.get(i));
      const batch = makeBatch(clips, spec, { train: true, rng: augment });
      const x = this.engine.tensor(batch.data, batch.shape);
      const { loss, logits } = tidy(() => {
        this.optimizer.zeroGrad();
        const out = this.model.forward(x);
        const l = this.recipe.loss(this.model, out, batch.labels);
        l.backward();
        this.optimizer.step();
        return { loss: keep(l.detach()), logits: keep(out.logits!.detach()) };
      });
      x.dispose();
      const previous: Promise<void> | null = pending;
      pending = (async () => {
        if (previous) await previous;
        const [lv, pv] = await Promise.all([loss.read(), logits.read()]);
        loss.dispose();
        logits.dispose();
        const value = lv[0] as number;
        if (!Number.isFinite(value)) throw new Error(`training ${this.recipe.name}: the loss became ${value} at epoch ${epoch}, step ${s + 1}`);
        lossSum += value * batch.labels.length;
        correct += countCorrect(pv as Float32Array, batch.labels, classes);
        seen += batch.labels.length;
        onStep?.({ epoch, step: s + 1, steps, loss: value, accuracy: correct / seen, clipsPerSecond: seen / ((performance.now() - t0) / 1000) });
      })();
      const last = s + 1 === steps;
      const stop = !last && run.signal?.aborted === true;
      const save = !last && !stop && run.checkpoint !== undefined && (s + 1) % run.checkpoint.every === 0;
      if (stop || save) {
        // Drain the pipeline so the accumulators and the weights both stand after step s.
        await pending;
        pending = null;
        if (stop) return { epoch, lr, loss: lossSum / seen, accuracy: correct / seen, seconds: (performance.now() - t0) / 1000, clipsPerSecond: seen / ((performance.now() - t0) / 1000), interrupted: progress(s + 1) };
        await run.checkpoint!.save(progress(s + 1));
      } else if (previous) {
        // Keep at most one step in flight behind the one being recorded.
        await previous;
      }
    }
    if (pending) await pending;
    this.epoch = epoch;
    const seconds = (performance.now() - t0) / 1000;
    return { epoch, lr, loss: lossSum / seen, accuracy: correct / seen, seconds, clipsPerSecond: seen / seconds };
  }

  async evaluate(source: ClipSource, batchSize = this.opts.batchSize): Promise<EvalReport> {
    return evaluateModel(this.engine, this.recipe, this.config, this.model, source, batchSize);
  }
}

export function countCorrect(logits: Float32Array, labels: readonly number[], classes: number): number {
  let correct = 0;
  labels.forEach((y, n) => {
    if (argmaxRow(logits, n * classes, classes) === y) correct++;
  });
  return correct;
}

export function argmaxRow(v: ArrayLike<number>, offset: number, n: number): number {
  let best = 0;
  for (let i = 1; i < n; i++) if (v[offset + i]! > v[offset + best]!) best = i;
  return best;
}

/** Held-out accuracy, mean loss and the confusion matrix, in eval mode without gradients. */
export async function evaluateModel(engine: Engine, recipe: Recipe, config: ConfigName, model: ForwardModel, source: ClipSource, batchSize: number): Promise<EvalReport> {
  const spec = recipe.input(config);
  const classes = source.labels.length;
  const confusion = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  const wasTraining = model.training;
  model.eval();
  const t0 = performance.now();
  let lossSum = 0;
  let correct = 0;
  try {
    for (let s = 0; s < source.size; s += batchSize) {
      const clips = Array.from({ length: Math.min(batchSize, source.size - s) }, (_, i) => source.get(s + i));
      const batch = makeBatch(clips, spec, { train: false });
      const x = engine.tensor(batch.data, batch.shape);
      const { loss, logits } = noGrad(() =>
        tidy(() => {
          const out = model.forward(x);
          return { loss: keep(recipe.loss(model, out, batch.labels)), logits: keep(out.logits!) };
        }),
      );
      x.dispose();
      const [lv, pv] = await Promise.all([loss.read(), logits.read()]);
      loss.dispose();
      logits.dispose();
      lossSum += (lv[0] as number) * batch.labels.length;
      batch.labels.forEach((y, n) => {
        const p = argmaxRow(pv as Float32Array, n * classes, classes);
        confusion[y]![p]!++;
        if (p === y) correct++;
      });
    }
  } finally {
    model.train(wasTraining);
  }
  return { loss: lossSum / source.size, accuracy: correct / source.size, confusion, seconds: (performance.now() - t0) / 1000 };
}
