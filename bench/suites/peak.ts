/**
 * `peak`: the device's ceilings, from purpose-written microkernels dispatched straight through the runtime.
 * FMA throughput (GFLOP/s) from independent vec4 FMA chains, and memory bandwidth (GB/s, read + write bytes)
 * from copy kernels (buffer → buffer, and texture → buffer since CPU drivers read textures faster), each in
 * every requested wait mode. Other suites compute peak_fraction against the FMA ceiling of the same wait
 * mode through `ceilingsFor`.
 */
import { describeAdapter, type Engine } from '../../src/device/engine.js';
import type { Tensor } from '../../src/graph/tensor.js';
import { Uniforms } from '../../src/kernels/uniforms.js';
import fmaWgsl from '../../shaders/peak_fma.wgsl';
import copyWgsl from '../../shaders/peak_copy.wgsl';
import {
  makeRow,
  randomData,
  readResults,
  setWaitMode,
  timeAsync,
  type Ceilings,
  type Row,
  type Suite,
  type SuiteContext,
  type TimeOptions,
  type Timing,
  type WaitMode,
} from '../harness.js';

const fmaKernel = { name: 'peak_fma', code: fmaWgsl };
const copyKernel = { name: 'peak_copy', code: copyWgsl };

// Chains converge to ADD / (1 - MUL) = 1 slowly, so the stored value still depends on the loop count.
const MUL = 0.9999;
const ADD = 1e-4;

export interface FmaConfig {
  invocations: number;
  /** FMA steps per chain (rounded up to a multiple of `unroll`). */
  iters: number;
  /** Independent vec4 chains per invocation. */
  chains: number;
  unroll: number;
  workgroup: number;
}

export type CopySource = 'buffer' | 'texture';

export interface CopyConfig {
  /** f32 elements per buffer (a multiple of 4). */
  elements: number;
  source: CopySource;
  /** Buffer source only: f32 or vec4f elements, and elements per invocation. */
  vec4: boolean;
  perThread: number;
  workgroup: number;
}

// Tried on lavapipe (2 cores): 8 chains × unroll 4 beat 4 or 16 chains and unroll 1, 8 or 16.
/** Default sizes: about 100 ms of FMA work and 2 × 64 MiB copied per call on lavapipe. */
export const FMA_DEFAULT: FmaConfig = { invocations: 32768, iters: 4096, chains: 8, unroll: 4, workgroup: 64 };
export const FMA_QUICK: FmaConfig = { ...FMA_DEFAULT, invocations: 2048, iters: 256 };
export const COPY_DEFAULT: CopyConfig = { elements: 16 << 20, source: 'buffer', vec4: true, perThread: 4, workgroup: 256 };
export const COPY_QUICK: CopyConfig = { ...COPY_DEFAULT, elements: 1 << 18 };

const roundUp = (n: number, m: number): number => Math.ceil(n / m) * m;

export function fmaFlops(c: FmaConfig): number {
  return c.invocations * roundUp(c.iters, c.unroll) * c.chains * 4 * 2;
}

export function copyBytes(c: CopyConfig): number {
  return c.elements * 4 * 2;
}

// ------------------------------------------------------------------------------------------ FMA

function dispatchFma(engine: Engine, c: FmaConfig, out: Tensor): void {
  engine.runtime.dispatch({
    kernel: fmaKernel,
    defines: { WG: c.workgroup, CHAINS: c.chains, UNROLL: c.unroll },
    label: `peak_fma ${c.invocations}x${c.iters}`,
    uniforms: new Uniforms().u32(roundUp(c.iters, c.unroll), c.invocations).f32(MUL, ADD),
    bindings: [out.binding()],
    grid: Math.ceil(c.invocations / c.workgroup),
  });
}

/** What one invocation stores (the sum of its chains), replaying the loop on the CPU in f32. */
export function fmaExpected(c: FmaConfig, i: number): number[] {
  const seed = Math.fround((i & 1023) * Math.fround(1e-3));
  const m = Math.fround(MUL);
  const a = Math.fround(ADD);
  const steps = roundUp(c.iters, c.unroll);
  const s = [0, 0, 0, 0];
  for (let k = 0; k < c.chains; k++) {
    const start = [seed + k, seed - k, seed * k, seed].map(Math.fround);
    for (let lane = 0; lane < 4; lane++) {
      let x = start[lane]!;
      for (let t = 0; t < steps; t++) x = Math.fround(Math.fround(x * m) + a);
      s[lane] = Math.fround(s[lane]! + x);
    }
  }
  return s;
}

/** Runs the FMA kernel once and checks a few invocations against a CPU replay: the loop really ran. */
export async function verifyFma(engine: Engine, c: FmaConfig): Promise<void> {
  const out = engine.empty([c.invocations, 4]);
  try {
    dispatchFma(engine, c, out);
    const got = await engine.read(out);
    for (const i of new Set([0, 1, Math.min(777, c.invocations - 1), c.invocations - 1])) {
      const want = fmaExpected(c, i);
      for (let lane = 0; lane < 4; lane++) {
        const g = got[4 * i + lane]!;
        const w = want[lane]!;
        // Fused vs separate multiply-add rounding drifts a little over thousands of steps.
        if (!(Math.abs(g - w) <= 1e-3 * Math.max(1, Math.abs(w)))) {
          throw new Error(`peak_fma: invocation ${i} lane ${lane} stored ${g}, expected ${w} after ${c.iters} steps of ${c.chains} chains`);
        }
      }
    }
  } finally {
    out.dispose();
  }
}

export async function timeFma(engine: Engine, c: FmaConfig, opts: TimeOptions): Promise<Timing> {
  const out = engine.empty([c.invocations, 4]);
  try {
    return await timeAsync(`fma ${engine.waitMode}`, async () => {
      dispatchFma(engine, c, out);
      await engine.sync();
    }, opts);
  } finally {
    out.dispose();
  }
}

// ----------------------------------------------------------------------------------------- copy

/** A copy source: a tensor, or an rgba32float texture holding the same values row by row. */
interface CopyInput {
  binding: { view: GPUTextureView } | ReturnType<Tensor['binding']>;
  width: number;
  height: number;
  dispose(): void;
}

function copyInput(engine: Engine, c: CopyConfig, data: Float32Array): CopyInput {
  if (c.source === 'buffer') {
    const t = engine.tensor(data, [c.elements]);
    return { binding: t.binding(), width: 0, height: 0, dispose: () => t.dispose() };
  }
  const texels = c.elements / 4;
  const width = Math.min(1024, texels);
  const height = Math.ceil(texels / width);
  const texture = engine.device.createTexture({
    size: [width, height],
    format: 'rgba32float',
    usage: GPUTextureUsage.STORAGE_BINDING | GPUTextureUsage.COPY_DST,
    label: 'peak_copy source',
  });
  const padded = new Float32Array(width * height * 4);
  padded.set(data);
  engine.device.queue.writeTexture({ texture }, padded, { bytesPerRow: width * 16, rowsPerImage: height }, [width, height]);
  return { binding: { view: texture.createView() }, width, height, dispose: () => texture.destroy() };
}

function dispatchCopy(engine: Engine, c: CopyConfig, src: CopyInput, dst: Tensor): void {
  if (c.elements % 4 !== 0) throw new Error(`peak_copy: ${c.elements} elements is not a multiple of 4`);
  if (c.source === 'texture') {
    engine.runtime.dispatch({
      kernel: copyKernel,
      defines: { TEXTURE: 1, WG: c.workgroup },
      label: `peak_copy texture ${c.elements}`,
      uniforms: new Uniforms().u32(c.elements / 4, 0, src.width, 0),
      bindings: [src.binding, dst.binding()],
      grid: [Math.ceil(src.width / c.workgroup), src.height, 1],
    });
    return;
  }
  const n = c.vec4 ? c.elements / 4 : c.elements;
  const groups = Math.ceil(Math.ceil(n / c.perThread) / c.workgroup);
  engine.runtime.dispatch({
    kernel: copyKernel,
    defines: { T: c.vec4 ? 'vec4f' : 'f32', PER_THREAD: c.perThread, WG: c.workgroup },
    label: `peak_copy buffer ${c.elements}`,
    uniforms: new Uniforms().u32(n, groups * c.workgroup, 0, 0),
    bindings: [src.binding, dst.binding()],
    grid: groups,
  });
}

/** Copies random data once and checks every element arrived. */
export async function verifyCopy(engine: Engine, c: CopyConfig): Promise<void> {
  const data = randomData(c.elements, 7);
  const src = copyInput(engine, c, data);
  const dst = engine.empty([c.elements]);
  try {
    dispatchCopy(engine, c, src, dst);
    const got = await engine.read(dst);
    for (let i = 0; i < c.elements; i++) {
      if (got[i] !== data[i]) throw new Error(`peak_copy (${c.source}): element ${i} is ${got[i]}, expected ${data[i]}`);
    }
  } finally {
    src.dispose();
    dst.dispose();
  }
}

/** A copy kernel as a timed call: its source filled once, each call dispatching the copy and waiting for it. */
export function copyCall(engine: Engine, c: CopyConfig): { call(): Promise<void>; bytes: number; dispose(): void } {
  const src = copyInput(engine, c, randomData(c.elements, 3));
  const dst = engine.empty([c.elements]);
  return {
    bytes: copyBytes(c),
    async call() {
      dispatchCopy(engine, c, src, dst);
      await engine.sync();
    },
    dispose() {
      src.dispose();
      dst.dispose();
    },
  };
}

export async function timeCopy(engine: Engine, c: CopyConfig, opts: TimeOptions): Promise<Timing> {
  const copy = copyCall(engine, c);
  try {
    return await timeAsync(`copy ${c.source} ${engine.waitMode}`, copy.call, opts);
  } finally {
    copy.dispose();
  }
}

/** The driver's own buffer copy (copyBufferToBuffer, a memcpy on CPU drivers): a reference, not a kernel. */
export async function timeDriverCopy(engine: Engine, elements: number, opts: TimeOptions): Promise<Timing> {
  const src = engine.tensor(randomData(elements, 5), [elements]);
  const dst = engine.empty([elements]);
  try {
    return await timeAsync(`copyBufferToBuffer ${engine.waitMode}`, async () => {
      engine.runtime.copyBuffer(src.buffer, 0, dst.buffer, 0, elements * 4, 'peak copyBufferToBuffer');
      await engine.sync();
    }, opts);
  } finally {
    src.dispose();
    dst.dispose();
  }
}

// ---------------------------------------------------------------------------------------- suite

/** Ceilings measured in this process, by wait mode (the peak suite fills it; ceilingsFor reads it first). */
const measured = new Map<WaitMode, Ceilings>();
/** Ceilings measured on the spot for --quick runs: reused within the run, never in place of full ones. */
const measuredQuick = new Map<WaitMode, Ceilings>();

const FMA_CASE = 'fma vec4 chains';
const copyCase = (s: CopySource) => `copy ${s}->buffer`;
const DRIVER_COPY_CASE = 'copyBufferToBuffer (driver)';

export interface PeakSizes {
  fma: FmaConfig;
  copy: CopyConfig;
  time: TimeOptions;
}

export function peakSizes(quick: boolean): PeakSizes {
  return quick
    ? { fma: FMA_QUICK, copy: COPY_QUICK, time: { budgetMs: 200, minIterations: 3, maxIterations: 20 } }
    : { fma: FMA_DEFAULT, copy: COPY_DEFAULT, time: { budgetMs: 2500, minIterations: 10, maxIterations: 100 } };
}

export async function runPeak(ctx: SuiteContext, sizes = peakSizes(ctx.quick)): Promise<Row[]> {
  const { engine, log } = ctx;
  const copies: CopyConfig[] = [sizes.copy, { ...sizes.copy, source: 'texture', workgroup: 64 }];
  // Correctness once, on small problems: the FMA loop ran and was stored; the copies moved every element.
  await verifyFma(engine, { ...sizes.fma, invocations: Math.min(sizes.fma.invocations, 2048), iters: Math.min(sizes.fma.iters, 1024) });
  for (const c of copies) await verifyCopy(engine, { ...c, elements: Math.min(c.elements, 1 << 16) });
  log('peak: FMA and copy kernels verified');

  const rows: Row[] = [];
  const fmaShape = `${sizes.fma.invocations} inv x ${roundUp(sizes.fma.iters, sizes.fma.unroll)} steps x ${sizes.fma.chains} vec4`;
  const flops = fmaFlops(sizes.fma);
  for (const wait of ctx.waits) {
    setWaitMode(engine, wait);
    const fma = await timeFma(engine, sizes.fma, sizes.time);
    const gflops = flops / (fma.medianMs * 1e6);
    log(`peak: ${wait} FMA ${gflops.toFixed(1)} GFLOP/s`);
    rows.push(makeRow({ case: FMA_CASE, shape: fmaShape, wait, ours: fma, flops, fmaCeiling: gflops }));
    let best = 0;
    for (const c of copies) {
      const t = await timeCopy(engine, c, sizes.time);
      const gbps = copyBytes(c) / (t.medianMs * 1e6);
      best = Math.max(best, gbps);
      log(`peak: ${wait} copy from ${c.source} ${gbps.toFixed(2)} GB/s`);
      rows.push(makeRow({ case: copyCase(c.source), shape: `${c.elements} f32 (${(c.elements * 4) / 2 ** 20} MiB)`, wait, ours: t, bytes: copyBytes(c) }));
    }
    const driver = await timeDriverCopy(engine, sizes.copy.elements, sizes.time);
    const mib = (sizes.copy.elements * 4) / 2 ** 20;
    log(`peak: ${wait} copyBufferToBuffer ${(copyBytes(sizes.copy) / (driver.medianMs * 1e6)).toFixed(2)} GB/s`);
    rows.push(makeRow({ case: DRIVER_COPY_CASE, shape: `${sizes.copy.elements} f32 (${mib} MiB)`, wait, ours: driver, bytes: copyBytes(sizes.copy) }));
    measured.set(wait, { wait, fmaGflops: gflops, copyGbps: best, source: 'this run' });
  }
  // How much each wait mode loses against the best one, for the FMA ceiling.
  const fmaRows = rows.filter((r) => r.case === FMA_CASE);
  const top = Math.max(...fmaRows.map((r) => r.gflops ?? 0));
  for (const r of fmaRows) r.vs_best_wait = Number(((r.gflops ?? 0) / top).toFixed(3));
  return rows;
}

export const peakSuite: Suite = {
  name: 'peak',
  description: 'FMA (GFLOP/s) and copy bandwidth (GB/s) ceilings from WGSL microkernels, per wait mode',
  run: (ctx) => runPeak(ctx),
};

/** Ceilings from a peak results file for this device and wait mode, if it has them. */
export function ceilingsFromFile(resultsDir: string, device: string, wait: WaitMode): Ceilings | undefined {
  const file = readResults(resultsDir, 'peak');
  if (!file || file.device !== device || file.quick) return undefined;
  const rows = file.rows.filter((r) => r.wait === wait);
  const fma = rows.find((r) => r.case === FMA_CASE)?.gflops;
  const copy = Math.max(0, ...rows.map((r) => (r.case !== DRIVER_COPY_CASE && typeof r.gbps === 'number' ? r.gbps : 0)));
  if (!fma || !copy) return undefined;
  return { wait, fmaGflops: fma, copyGbps: copy, source: 'peak.json' };
}

export type CeilingSource = 'measure' | 'file';

/** The copy that stands for the bandwidth ceiling in other suites: 16 MiB read and written (4 MiB quick). */
export function ceilingCopy(quick: boolean): CopyConfig {
  return { ...COPY_DEFAULT, elements: quick ? 1 << 20 : 4 << 20 };
}

/**
 * The ceiling copy as a call to time beside a memory-bound case (`timeSides`), so that both see the same
 * machine: on a shared 2-core machine the copy rate drifts by ±30% over seconds.
 */
export function copyCeilingSide(engine: Engine, quick: boolean): ReturnType<typeof copyCall> {
  return copyCall(engine, ceilingCopy(quick));
}

/**
 * The ceilings for peak_fraction in a wait mode. Measured earlier in this process (by the peak suite) if so;
 * else with `from: 'measure'` (the default) measured now on smaller problems (a few seconds), so that the
 * fraction compares figures taken under the same load; with `from: 'file'` read from the last full
 * bench/results/peak.json of the same device, falling back to measuring.
 */
export async function ceilingsFor(engine: Engine, wait: WaitMode, resultsDir: string, from: CeilingSource = 'measure', quick = false): Promise<Ceilings> {
  const known =
    measured.get(wait) ??
    (from === 'file' ? ceilingsFromFile(resultsDir, describeAdapter(engine.adapter), wait) : undefined) ??
    (quick ? measuredQuick.get(wait) : undefined);
  if (known) return known;
  const previous = engine.inFlight.waiter;
  setWaitMode(engine, wait);
  try {
    const time = quick ? { budgetMs: 150, minIterations: 3, maxIterations: 20 } : { budgetMs: 800, minIterations: 5, maxIterations: 30 };
    const fma: FmaConfig = { ...FMA_DEFAULT, invocations: quick ? 4096 : 16384, iters: quick ? 512 : 2048 };
    const copy = ceilingCopy(quick);
    const f = await timeFma(engine, fma, time);
    const c = await timeCopy(engine, copy, time);
    const result: Ceilings = { wait, fmaGflops: fmaFlops(fma) / (f.medianMs * 1e6), copyGbps: copyBytes(copy) / (c.medianMs * 1e6), source: 'quick measurement' };
    (quick ? measuredQuick : measured).set(wait, result);
    return result;
  } finally {
    engine.setWaiter(previous);
  }
}
