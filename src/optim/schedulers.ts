/**
 * Learning-rate schedulers with torch.optim.lr_scheduler's semantics: they rewrite each parameter group's `lr`
 * (a uniform of the update kernels, so nothing recompiles). Call `step()` once per epoch after the optimiser's
 * steps (ReduceLROnPlateau: `step(metric)`).
 */
import { ShapeError } from '../device/errors.js';

/** What a scheduler needs of an optimiser. */
export interface LrGroups {
  paramGroups: { lr: number; initialLr?: number }[];
}

type Json = number | string | boolean | null | Json[] | { [k: string]: Json };

/** The base of epoch-indexed schedulers (PyTorch's LRScheduler). */
export abstract class LRScheduler {
  lastEpoch: number;
  readonly baseLrs: number[];
  protected lastLr: number[] = [];

  constructor(
    readonly optimizer: LrGroups,
    lastEpoch: number,
    protected readonly name: string,
  ) {
    if (!Number.isInteger(lastEpoch) || lastEpoch < -1) throw new ShapeError(name, `lastEpoch = ${lastEpoch} must be an integer ≥ -1`);
    optimizer.paramGroups.forEach((g, i) => {
      if (lastEpoch === -1) g.initialLr ??= g.lr;
      else if (g.initialLr === undefined) throw new ShapeError(name, `resuming at lastEpoch ${lastEpoch} needs initialLr in parameter group ${i} (set by a scheduler created at lastEpoch -1)`);
    });
    this.baseLrs = optimizer.paramGroups.map((g) => g.initialLr!);
    this.lastEpoch = lastEpoch;
  }

  /** The learning rates for `lastEpoch`, computed from the groups' current ones (PyTorch's chainable form). */
  protected abstract getLr(): number[];

  /** Advances one epoch and writes the new learning rates into the groups. */
  step(): void {
    this.lastEpoch++;
    this.apply(this.getLr());
  }

  protected apply(lrs: number[]): void {
    this.optimizer.paramGroups.forEach((g, i) => (g.lr = lrs[i]!));
    this.lastLr = [...lrs];
  }

  /** The learning rates set by the last step. */
  getLastLr(): number[] {
    return [...this.lastLr];
  }

  /** The scheduler's counters and settings, as JSON. */
  stateDict(): Record<string, Json> {
    const out: Record<string, Json> = {};
    for (const [k, v] of Object.entries(this)) if (k !== 'optimizer') out[k] = JSON.parse(JSON.stringify(v)) as Json;
    return out;
  }

  loadStateDict(state: Record<string, Json>): void {
    for (const [k, v] of Object.entries(state)) if (k !== 'optimizer' && k in this) (this as Record<string, unknown>)[k] = v;
  }
}

/** Multiplies every group's lr by `gamma` each `stepSize` epochs (torch.optim.lr_scheduler.StepLR). */
export class StepLR extends LRScheduler {
  readonly stepSize: number;
  readonly gamma: number;

  constructor(optimizer: LrGroups, stepSize: number, gamma = 0.1, lastEpoch = -1) {
    super(optimizer, lastEpoch, 'StepLR');
    if (!Number.isInteger(stepSize) || stepSize < 1) throw new ShapeError('StepLR', `stepSize = ${stepSize} must be a positive integer`);
    if (!Number.isFinite(gamma)) throw new ShapeError('StepLR', `gamma = ${gamma} must be a finite number`);
    this.stepSize = stepSize;
    this.gamma = gamma;
    this.step();
  }

  protected getLr(): number[] {
    const groups = this.optimizer.paramGroups;
    if (this.lastEpoch === 0 || this.lastEpoch % this.stepSize !== 0) return groups.map((g) => g.lr);
    return groups.map((g) => g.lr * this.gamma);
  }
}

/**
 * Cosine annealing from each base lr to `etaMin` over T_i epochs, restarting with T_i ← T_i·T_mult
 * (torch.optim.lr_scheduler.CosineAnnealingWarmRestarts, SGDR). `step(epoch)` accepts fractional epochs
 * (per-batch updates: `step(epoch + i / iters)`).
 */
export class CosineAnnealingWarmRestarts extends LRScheduler {
  readonly T0: number;
  readonly TMult: number;
  readonly etaMin: number;
  Ti: number;
  Tcur: number;

  constructor(optimizer: LrGroups, T0: number, TMult = 1, etaMin = 0, lastEpoch = -1) {
    super(optimizer, lastEpoch, 'CosineAnnealingWarmRestarts');
    if (!Number.isInteger(T0) || T0 <= 0) throw new ShapeError(this.name, `T0 = ${T0} must be a positive integer`);
    if (!Number.isInteger(TMult) || TMult < 1) throw new ShapeError(this.name, `TMult = ${TMult} must be an integer ≥ 1`);
    if (!Number.isFinite(etaMin)) throw new ShapeError(this.name, `etaMin = ${etaMin} must be a finite number`);
    this.T0 = T0;
    this.TMult = TMult;
    this.etaMin = etaMin;
    this.Ti = T0;
    this.Tcur = lastEpoch;
    this.step();
  }

  protected getLr(): number[] {
    return this.baseLrs.map((base) => this.etaMin + ((base - this.etaMin) * (1 + Math.cos((Math.PI * this.Tcur) / this.Ti))) / 2);
  }

  /** Advances one epoch, or jumps to `epoch` (possibly fractional). */
  override step(epoch?: number): void {
    if (epoch === undefined && this.lastEpoch < 0) epoch = 0;
    if (epoch === undefined) {
      epoch = this.lastEpoch + 1;
      this.Tcur += 1;
      if (this.Tcur >= this.Ti) {
        this.Tcur -= this.Ti;
        this.Ti *= this.TMult;
      }
    } else {
      if (!(epoch >= 0) || !Number.isFinite(epoch)) throw new ShapeError(this.name, `expected a non-negative epoch, got ${epoch}`);
      if (epoch >= this.T0) {
        if (this.TMult === 1) {
          this.Tcur = epoch % this.T0;
        } else {
          const n = Math.floor(Math.log((epoch / this.T0) * (this.TMult - 1) + 1) / Math.log(this.TMult));
          this.Tcur = epoch - (this.T0 * (this.TMult ** n - 1)) / (this.TMult - 1);
          this.Ti = this.T0 * this.TMult ** n;
        }
      } else {
        this.Ti = this.T0;
        this.Tcur = epoch;
      }
    }
    this.lastEpoch = Math.floor(epoch);
    this.apply(this.getLr());
  }
}

export interface ReduceLROnPlateauOptions {
  /** 'min': lower metric is better (a loss); 'max': higher is better (an accuracy). */
  mode: 'min' | 'max';
  factor: number;
  /** Epochs without improvement tolerated before reducing. */
  patience: number;
  threshold: number;
  thresholdMode: 'rel' | 'abs';
  /** Epochs to wait after a reduction before counting bad epochs again. */
  cooldown: number;
  /** A floor for every group, or one per group. */
  minLr: number | number[];
  /** Reductions smaller than this are skipped. */
  eps: number;
}

/**
 * Multiplies the lrs by `factor` when the metric has not improved for more than `patience` epochs
 * (torch.optim.lr_scheduler.ReduceLROnPlateau; defaults: min, ×0.1, patience 10, threshold 1e-4 relative).
 */
export class ReduceLROnPlateau {
  readonly mode: 'min' | 'max';
  readonly factor: number;
  readonly patience: number;
  readonly threshold: number;
  readonly thresholdMode: 'rel' | 'abs';
  readonly cooldown: number;
  readonly minLrs: number[];
  readonly eps: number;
  best: number;
  numBadEpochs = 0;
  cooldownCounter = 0;
  lastEpoch = 0;
  private lastLr: number[];

  constructor(
    readonly optimizer: LrGroups,
    options: Partial<ReduceLROnPlateauOptions> = {},
  ) {
    const o: ReduceLROnPlateauOptions = { mode: 'min', factor: 0.1, patience: 10, threshold: 1e-4, thresholdMode: 'rel', cooldown: 0, minLr: 0, eps: 1e-8, ...options };
    const where = 'ReduceLROnPlateau';
    if (!(o.factor < 1) || !(o.factor >= 0)) throw new ShapeError(where, `factor = ${o.factor} must be in [0, 1)`);
    if (o.mode !== 'min' && o.mode !== 'max') throw new ShapeError(where, `mode '${o.mode}' is unknown (min or max)`);
    if (o.thresholdMode !== 'rel' && o.thresholdMode !== 'abs') throw new ShapeError(where, `thresholdMode '${o.thresholdMode}' is unknown (rel or abs)`);
    for (const k of ['patience', 'cooldown'] as const) if (!Number.isInteger(o[k]) || o[k] < 0) throw new ShapeError(where, `${k} = ${o[k]} must be a non-negative integer`);
    const groups = optimizer.paramGroups.length;
    if (Array.isArray(o.minLr) && o.minLr.length !== groups) throw new ShapeError(where, `${o.minLr.length} minLr values for ${groups} parameter groups`);
    this.mode = o.mode;
    this.factor = o.factor;
    this.patience = o.patience;
    this.threshold = o.threshold;
    this.thresholdMode = o.thresholdMode;
    this.cooldown = o.cooldown;
    this.minLrs = Array.isArray(o.minLr) ? [...o.minLr] : new Array<number>(groups).fill(o.minLr);
    this.eps = o.eps;
    this.best = this.mode === 'min' ? Infinity : -Infinity;
    this.lastLr = optimizer.paramGroups.map((g) => g.lr);
  }

  get inCooldown(): boolean {
    return this.cooldownCounter > 0;
  }

  /** Whether `a` improves on `best` by more than the threshold. */
  isBetter(a: number, best: number): boolean {
    if (this.mode === 'min') return this.thresholdMode === 'rel' ? a < best * (1 - this.threshold) : a < best - this.threshold;
    return this.thresholdMode === 'rel' ? a > best * (this.threshold + 1) : a > best + this.threshold;
  }

  /** Records one epoch's metric and reduces the lrs when it has stalled. */
  step(metric: number): void {
    if (typeof metric !== 'number') throw new ShapeError('ReduceLROnPlateau', `step() needs the epoch's metric as a number, got ${typeof metric}`);
    this.lastEpoch++;
    if (this.isBetter(metric, this.best)) {
      this.best = metric;
      this.numBadEpochs = 0;
    } else {
      this.numBadEpochs++;
    }
    if (this.inCooldown) {
      this.cooldownCounter--;
      this.numBadEpochs = 0; // bad epochs during cooldown do not count
    }
    if (this.numBadEpochs > this.patience) {
      this.optimizer.paramGroups.forEach((g, i) => {
        const next = Math.max(g.lr * this.factor, this.minLrs[i]!);
        if (g.lr - next > this.eps) g.lr = next;
      });
      this.cooldownCounter = this.cooldown;
      this.numBadEpochs = 0;
    }
    this.lastLr = this.optimizer.paramGroups.map((g) => g.lr);
  }

  getLastLr(): number[] {
    return [...this.lastLr];
  }

  stateDict(): Record<string, Json> {
    const { best, numBadEpochs, cooldownCounter, lastEpoch, lastLr } = this;
    // ±Infinity is not JSON: keep it as a string.
    return { best: Number.isFinite(best) ? best : String(best), numBadEpochs, cooldownCounter, lastEpoch, lastLr };
  }

  loadStateDict(s: Record<string, Json>): void {
    this.best = Number(s.best);
    this.numBadEpochs = Number(s.numBadEpochs);
    this.cooldownCounter = Number(s.cooldownCounter);
    this.lastEpoch = Number(s.lastEpoch);
    if (Array.isArray(s.lastLr)) this.lastLr = s.lastLr.map(Number);
  }
}
