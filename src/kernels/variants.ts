/**
 * Kernel variants (storage buffers vs textures, with or without subgroups, tile sizes) chosen per device by
 * measuring once. Until a kernel is tuned the first supported variant in declaration order serves; every
 * variant must pass the same CPU-reference tests, which force each one in turn.
 */
import type { Engine } from '../device/engine.js';

export interface Variant<P> {
  name: string;
  /** Whether this device can run it (features, subgroup size, limits). */
  supported(engine: Engine): boolean;
  run(engine: Engine, problem: P): unknown;
}

export interface TunableKernel<P> {
  name: string;
  variants: Variant<P>[];
  /** A representative problem to time the variants on; `dispose` frees its tensors. */
  sample(engine: Engine): { problem: P; dispose(): void };
}

/** Remembers choices across runs (a JSON file in Node, localStorage in a browser). */
export interface TuningStore {
  get(key: string): string | undefined;
  set(key: string, value: string): void;
}

export interface TuneResult {
  kernel: string;
  chosen: string;
  /** Median steady-state ms per variant, and the first (compiling) call's ms. */
  timings: { variant: string; firstMs: number; medianMs: number }[];
}

const registry = new Map<string, TunableKernel<unknown>>();

/** Kernels with variants register themselves when their module loads. */
export function registerTunable<P>(kernel: TunableKernel<P>): TunableKernel<P> {
  registry.set(kernel.name, kernel as TunableKernel<unknown>);
  return kernel;
}

export function tunableKernels(): TunableKernel<unknown>[] {
  return [...registry.values()];
}

export class VariantChooser {
  private readonly chosen = new Map<string, string>();
  private readonly forced = new Map<string, string>();

  constructor(
    private readonly engine: Engine,
    private readonly store?: TuningStore,
  ) {}

  /** The variant to use now: forced, else measured (this run or remembered), else the first supported. */
  pick<P>(kernel: TunableKernel<P>): Variant<P> {
    const supported = kernel.variants.filter((v) => v.supported(this.engine));
    if (supported.length === 0) throw new Error(`${kernel.name}: no variant runs on this device`);
    const forced = this.forced.get(kernel.name);
    if (forced) {
      const v = kernel.variants.find((x) => x.name === forced);
      if (!v) throw new Error(`${kernel.name}: unknown variant '${forced}' (have ${kernel.variants.map((x) => x.name).join(', ')})`);
      if (!v.supported(this.engine)) throw new Error(`${kernel.name}: variant '${forced}' does not run on this device`);
      return v;
    }
    const name = this.chosen.get(kernel.name) ?? this.store?.get(this.key(kernel));
    return supported.find((v) => v.name === name) ?? supported[0]!;
  }

  /** Names of the variants of `kernel` this device supports. */
  supported<P>(kernel: TunableKernel<P>): string[] {
    return kernel.variants.filter((v) => v.supported(this.engine)).map((v) => v.name);
  }

  /** Pins a variant (tests run each in turn); undefined unpins. */
  force(kernel: string, variant: string | undefined): void {
    if (variant === undefined) this.forced.delete(kernel);
    else this.forced.set(kernel, variant);
  }

  /** Whether a choice is known for the kernel (measured now or remembered). */
  isTuned(kernel: TunableKernel<unknown>): boolean {
    return this.chosen.has(kernel.name) || this.store?.get(this.key(kernel)) !== undefined;
  }

  /**
   * Times every supported variant of each kernel on its sample problem and remembers the fastest.
   * By default only kernels without a remembered choice are measured. After each variant's first (compiling)
   * call, the variants are timed in `reps` interleaved rounds (one call each, the order rotating), so that a
   * slow spell of a shared machine, which lasts seconds, falls on all of them rather than on whichever ran then.
   */
  async tune(kernels: TunableKernel<unknown>[] = tunableKernels(), opts: { force?: boolean; reps?: number } = {}): Promise<TuneResult[]> {
    const results: TuneResult[] = [];
    for (const kernel of kernels) {
      if (!opts.force && this.isTuned(kernel)) continue;
      const sample = kernel.sample(this.engine);
      const variants = kernel.variants.filter((x) => x.supported(this.engine));
      const timeCall = async (v: Variant<unknown>): Promise<number> => {
        const t0 = now();
        dropResult(v.run(this.engine, sample.problem));
        await this.engine.sync();
        return now() - t0;
      };
      const timings: TuneResult['timings'] = [];
      try {
        const first: number[] = [];
        for (const v of variants) first.push(await timeCall(v));
        const times = variants.map(() => [] as number[]);
        for (let r = 0; r < (opts.reps ?? 5); r++) {
          for (let i = 0; i < variants.length; i++) {
            const k = (i + r) % variants.length;
            times[k]!.push(await timeCall(variants[k]!));
          }
        }
        variants.forEach((v, k) => {
          const t = times[k]!.sort((a, b) => a - b);
          timings.push({ variant: v.name, firstMs: first[k]!, medianMs: t[t.length >> 1]! });
        });
      } finally {
        sample.dispose();
      }
      const best = timings.reduce((a, b) => (b.medianMs < a.medianMs ? b : a));
      this.chosen.set(kernel.name, best.variant);
      this.store?.set(this.key(kernel), best.variant);
      results.push({ kernel: kernel.name, chosen: best.variant, timings });
    }
    return results;
  }

  private key(kernel: TunableKernel<unknown>): string {
    const a = this.engine.adapter;
    return `${a.vendor}|${a.architecture}|${a.device}|${a.description}|${kernel.name}|${kernel.variants.map((v) => v.name).join(',')}`;
  }
}

function now(): number {
  return performance.now();
}

function dropResult(r: unknown): void {
  if (r && typeof (r as { dispose?: unknown }).dispose === 'function') (r as { dispose(): void }).dispose();
}
