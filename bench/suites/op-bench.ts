/**
 * Shared by the `conv`, `attention` and `train` suites: one op (or a short chain of ops) of ours against the
 * same work in tfjs-webgpu, timed as a pair in each wait mode. Both sides end with "the GPU is idle":
 * `engine.sync()` for ours, and for tfjs a submit of its pending command buffer followed by
 * `queue.onSubmittedWorkDone()` (under the same waiter), so no readback is counted on either side.
 */
import type { Engine } from '../../src/device/engine.js';
import type { Waiter } from '../../src/device/waiter.js';
import type { Tensor } from '../../src/graph/tensor.js';
import type { TunableKernel, TuneResult } from '../../src/kernels/variants.js';
import { copyCeilingSide } from './peak.js';
import { makeRow, setWaitMode, tfjsWebGPU, timeSides, withWaiter, type Row, type SuiteContext, type Tf, type TimeOptions, type Timing } from '../harness.js';

/** A tfjs tensor as far as these suites use it. */
export type TfTensor = ReturnType<Tf['tensor']>;

interface TfWebGPUBackend {
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
  device: GPUDevice;
}

/** Waits until tfjs's WebGPU work so far has run: flushes its batched commands, then waits on the queue. */
export async function tfSync(tf: Tf, waiter: Waiter): Promise<void> {
  const backend = tf.backend() as unknown as TfWebGPUBackend;
  // As tfjs does before its own readbacks: close the open pass, then submit the batched commands.
  backend.ensureCommandEncoderReady();
  backend.endComputePassEncoder();
  backend.submitQueue();
  await withWaiter(waiter, () => backend.device.queue.onSubmittedWorkDone());
}

let gradients: Promise<unknown> | undefined;

/**
 * tfjs-webgpu with tfjs's gradient functions registered (tf.grads, optimisers). tfjs-core's Node bundle has
 * none (the `@tensorflow/tfjs` union package registers them); its ESM registration module is bundled into the
 * benchmark by path. It registers into tfjs's global registry, and its ops run on the global tfjs engine
 * (tfjs-core is written to tolerate a second copy), so it must load after tfjsWebGPU() created that engine.
 */
export async function tfjsWithGradients(): Promise<Tf> {
  const tf = await tfjsWebGPU();
  gradients ??= import('../../node_modules/@tensorflow/tfjs-core/dist/register_all_gradients.js');
  await gradients;
  return tf;
}

export function disposeAll(x: Tensor | Tensor[] | Record<string, Tensor | null | undefined> | null | undefined): void {
  if (!x) return;
  if (Array.isArray(x)) x.forEach((t) => t.dispose());
  else if ('dispose' in x && typeof x.dispose === 'function') (x as Tensor).dispose();
  else for (const t of Object.values(x)) t?.dispose();
}

function disposeTf(x: TfTensor | TfTensor[] | { [k: string]: TfTensor }): void {
  if (Array.isArray(x)) x.forEach((t) => t.dispose());
  else if ('dispose' in x && typeof x.dispose === 'function') (x as TfTensor).dispose();
  else for (const t of Object.values(x)) t.dispose();
}

export interface Tuned {
  ms: number;
  results: TuneResult[];
}

/** Tunes the suite's kernels (remembered per device unless --retune) before any timing. */
export async function tuneFirst(ctx: SuiteContext, kernels: TunableKernel<never>[]): Promise<Tuned> {
  const t0 = performance.now();
  const results = await ctx.engine.variants.tune(kernels as TunableKernel<unknown>[], { force: ctx.flags.has('retune') });
  const ms = performance.now() - t0;
  for (const k of kernels) {
    const r = results.find((x) => x.kernel === k.name);
    ctx.log(`${k.name}: variant ${ctx.engine.variants.pick(k).name} (${r ? `tuned now: ${r.timings.map((t) => `${t.variant} ${t.medianMs.toFixed(1)} ms`).join(', ')}` : 'remembered for this device'})`);
  }
  return { ms, results };
}

/** The variant the engine would run for each kernel, as a row field ("a + b" when a case runs several). */
export function variantOf(engine: Engine, kernels: TunableKernel<never>[]): string | null {
  if (kernels.length === 0) return null;
  return kernels.map((k) => engine.variants.pick(k as TunableKernel<unknown>).name).join(' + ');
}

/** Largest |ours − ref| relative to the largest |ref| value. */
export function relDiff(ours: Float32Array, ref: Float32Array): number {
  if (ours.length !== ref.length) return Infinity;
  let diff = 0;
  let scale = 1e-6;
  for (let i = 0; i < ref.length; i++) {
    diff = Math.max(diff, Math.abs(ours[i]! - ref[i]!));
    scale = Math.max(scale, Math.abs(ref[i]!));
  }
  return diff / scale;
}

export interface OpCase {
  name: string;
  shape: string;
  /** FLOPs per call (compute cases: GFLOP/s and the FMA-ceiling fraction). */
  flops?: number;
  /** Bytes read + written per call (memory-bound cases: GB/s and the copy-ceiling fraction). */
  bytes?: number;
  /** Tunable kernels this case runs (recorded as the row's variant). */
  kernels: TunableKernel<never>[];
  /** Our call: records GPU work and returns what it allocated (disposed after the sync). */
  ours(): Tensor | Tensor[] | Record<string, Tensor | null | undefined>;
  anchor?: { name: string; call(): TfTensor | TfTensor[] | { [k: string]: TfTensor } };
  /** Outputs to compare once (outside the timings): ours and the anchor's, same layout. */
  check?: () => Promise<[Float32Array, Float32Array]>;
  extra?: Record<string, unknown>;
}

/**
 * Per-case timing. Heavy cases (above 1 GFLOP) have anchors taking seconds per call (tfjs's filter gradient of
 * the 16×56×56 3×3 conv: 6–14 s here), so they skip the warm-up call (the first call is timed apart anyway)
 * and take two samples per side at least, in two slices, to keep the suite within about three minutes.
 */
export function opTiming(quick: boolean, heavy = false): TimeOptions & { rounds?: number } {
  if (quick) return { budgetMs: 100, minIterations: 2, maxIterations: 8 };
  return heavy ? { budgetMs: 2000, minIterations: 2, maxIterations: 20, warmup: 0, rounds: 2 } : { budgetMs: 1000, minIterations: 3, maxIterations: 60 };
}

/** Times one case in every wait mode of the context; returns its rows. */
export async function runOpCase(ctx: SuiteContext, tf: Tf, c: OpCase, timing: TimeOptions & { rounds?: number }, suite: string, tuned: Tuned): Promise<Row[]> {
  const { engine, log } = ctx;
  const rows: Row[] = [];
  for (const wait of ctx.waits) {
    const waiter = setWaitMode(engine, wait);
    const ceilings = await ctx.ceilings(wait);
    const ours = async () => {
      const out = c.ours();
      await engine.sync();
      disposeAll(out);
    };
    const anchorCall = c.anchor?.call;
    const anchor = anchorCall
      ? async () => {
          const out = anchorCall();
          await tfSync(tf, waiter);
          disposeTf(out);
        }
      : undefined;
    // A memory-bound case times the ceiling copy in the same alternating slices as itself and its anchor.
    const copy = c.bytes !== undefined ? copyCeilingSide(engine, ctx.quick) : undefined;
    const sides = [{ name: 'ours', call: ours }, ...(anchor ? [{ name: 'anchor', call: anchor }] : []), ...(copy ? [{ name: 'ceiling copy', call: copy.call }] : [])];
    let timings: Timing[];
    try {
      timings = await timeSides(`${c.name} ${wait}`, sides, timing);
    } finally {
      copy?.dispose();
    }
    const t: { ours: Timing; anchor?: Timing } = { ours: timings[0]!, ...(anchor ? { anchor: timings[1]! } : {}) };
    const copyGbps = copy ? copy.bytes / (timings[timings.length - 1]!.medianMs * 1e6) : undefined;
    const variant = variantOf(engine, c.kernels);
    const tuneInfo = c.kernels.length ? tuned.results.filter((r) => c.kernels.some((k) => k.name === r.kernel)) : [];
    const row = makeRow({
      case: c.name,
      shape: c.shape,
      wait,
      ours: t.ours,
      ...(t.anchor && c.anchor ? { anchor: { name: c.anchor.name, timing: t.anchor } } : {}),
      ...(c.flops !== undefined ? { flops: c.flops, fmaCeiling: ceilings.fmaGflops } : {}),
      ...(c.bytes !== undefined ? { bytes: c.bytes } : {}),
      extra: {
        variant,
        ...(c.flops !== undefined ? { fma_ceiling: Number(ceilings.fmaGflops.toFixed(2)) } : {}),
        ...(c.bytes !== undefined && copyGbps !== undefined
          ? {
              copy_ceiling: Number(copyGbps.toFixed(2)),
              bandwidth_fraction: Number((c.bytes / (t.ours.medianMs * 1e6) / copyGbps).toFixed(3)),
              // The ceiling measured once at the start of this wait mode, for comparison.
              copy_ceiling_start: Number(ceilings.copyGbps.toFixed(2)),
            }
          : {}),
        ...(c.bytes !== undefined && t.anchor ? { anchor_gbps: Number((c.bytes / (t.anchor.medianMs * 1e6)).toFixed(3)) } : {}),
        ceiling_source: copyGbps !== undefined ? 'copy timed in alternation with this case' : ceilings.source,
        // The first wait mode's first calls compile the pipelines; later modes start warm.
        first_compiles: wait === ctx.waits[0],
        tune: tuneInfo.length ? { ms: Math.round(tuned.ms), timings: tuneInfo.map((r) => ({ kernel: r.kernel, timings: r.timings })) } : c.kernels.length ? 'remembered' : null,
        ...c.extra,
      },
    });
    const perf = row.gflops !== null ? `${row.gflops} GFLOP/s` : row.gbps !== undefined ? `${row.gbps as number} GB/s` : '';
    log(`${suite}: ${wait} ${c.name} ${c.shape}${variant ? ` ${variant}` : ''}: ours ${row.ours_ms} ms${row.anchor ? `, ${row.anchor} ${row.anchor_ms} ms, ratio ${row.ratio}` : ''}, ${perf}`);
    rows.push(row);
  }
  // Same answer from both, checked after the timings (so that the timed first calls are the compiling ones).
  if (c.check) {
    const [a, b] = await c.check();
    const check = relDiff(a, b);
    if (check > 1e-3) log(`${suite}: WARNING ${c.name} differs from ${c.anchor?.name ?? 'the reference'} by ${check.toExponential(2)} (relative)`);
    for (const row of rows) row.max_rel_diff = Number(check.toPrecision(2));
  }
  return rows;
}
