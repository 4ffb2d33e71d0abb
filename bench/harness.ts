/**
 * Shared benchmark helpers: timing GPU work with tinybench (first, compiling call apart; then medians of
 * calls that each wait for the GPU), engines in polite and busy wait modes, TensorFlow.js's WebGPU backend
 * on the same Dawn GPU as the anchor, the result-row format, table printing and the JSON results files.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Bench } from 'tinybench';
import { describeAdapter, type Engine } from '../src/device/engine.js';
import { busyWaiter, type Waiter, type WaitMode } from '../src/device/waiter.js';
import { dawnGPU, dawnVersion } from '../src/node/dawn.js';
import { createEngine } from '../src/node/index.js';
import { politeWaiter } from '../src/node/polite-waiter.js';

export type { WaitMode };
export const WAIT_MODES: readonly WaitMode[] = ['polite', 'busy'];

// ------------------------------------------------------------------------------------------- rows

/**
 * One result row. The first eight fields are the fixed format every suite writes; `ratio` is
 * anchor_ms / ours_ms measured in the same run (> 1: ours is faster). Suites add extra fields
 * (wait mode, first-call ms, GB/s, chosen variant…).
 */
export interface Row {
  case: string;
  shape: string;
  ours_ms: number;
  anchor: string | null;
  anchor_ms: number | null;
  ratio: number | null;
  gflops: number | null;
  peak_fraction: number | null;
  [extra: string]: unknown;
}

export const ROW_KEYS = ['case', 'shape', 'ours_ms', 'anchor', 'anchor_ms', 'ratio', 'gflops', 'peak_fraction'] as const;

export interface RowInput {
  case: string;
  shape: string;
  wait: WaitMode;
  ours: Timing;
  anchor?: { name: string; timing: Timing };
  /** Floating-point operations per call, for GFLOP/s. */
  flops?: number;
  /** Bytes moved per call (read + write), for GB/s. */
  bytes?: number;
  /** GFLOP/s ceiling of this wait mode, for peak_fraction. */
  fmaCeiling?: number;
  extra?: Record<string, unknown>;
}

/** Builds a row from timings; derived figures are rounded so the JSON stays readable. */
export function makeRow(r: RowInput): Row {
  const oursMs = r.ours.medianMs;
  const gflops = r.flops !== undefined && oursMs > 0 ? r.flops / (oursMs * 1e6) : null;
  const row: Row = {
    case: r.case,
    shape: r.shape,
    ours_ms: round(oursMs),
    anchor: r.anchor?.name ?? null,
    anchor_ms: r.anchor ? round(r.anchor.timing.medianMs) : null,
    ratio: r.anchor && oursMs > 0 ? round(r.anchor.timing.medianMs / oursMs) : null,
    gflops: gflops === null ? null : round(gflops),
    peak_fraction: gflops !== null && r.fmaCeiling ? round(gflops / r.fmaCeiling) : null,
    wait: r.wait,
    ours_first_ms: round(r.ours.firstMs),
    ours_samples: r.ours.samples,
  };
  if (r.anchor) {
    row.anchor_first_ms = round(r.anchor.timing.firstMs);
    row.anchor_samples = r.anchor.timing.samples;
    if (r.flops !== undefined) row.anchor_gflops = round(r.flops / (r.anchor.timing.medianMs * 1e6));
  }
  if (r.bytes !== undefined && oursMs > 0) row.gbps = round(r.bytes / (oursMs * 1e6));
  return Object.assign(row, r.extra);
}

/** Four significant digits (at least 3 decimals below 1). */
export function round(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const digits = Math.max(0, 3 - Math.floor(Math.log10(Math.abs(x))));
  return Number(x.toFixed(Math.min(digits, 6)));
}

/** Throws naming the row and field when a row is not in the fixed format. */
export function validateRow(row: Row, where = 'row'): void {
  const fail = (msg: string): never => {
    throw new Error(`${where} (${row.case ?? '?'}): ${msg}`);
  };
  if (typeof row.case !== 'string' || !row.case) fail('case must be a non-empty string');
  if (typeof row.shape !== 'string') fail('shape must be a string');
  if (!(typeof row.ours_ms === 'number' && row.ours_ms > 0 && Number.isFinite(row.ours_ms))) fail(`ours_ms must be a positive number, got ${row.ours_ms}`);
  const hasAnchor = row.anchor !== null;
  if (hasAnchor && typeof row.anchor !== 'string') fail('anchor must be a string or null');
  for (const k of ['anchor_ms', 'ratio'] as const) {
    const v = row[k];
    if (hasAnchor ? !(typeof v === 'number' && v > 0) : v !== null) fail(`${k} must be ${hasAnchor ? 'a positive number' : 'null without an anchor'}, got ${v}`);
  }
  if (hasAnchor && Math.abs(row.ratio! - row.anchor_ms! / row.ours_ms) > 0.01 * row.ratio! + 1e-3) fail(`ratio ${row.ratio} is not anchor_ms / ours_ms`);
  for (const k of ['gflops', 'peak_fraction'] as const) {
    const v = row[k];
    if (v !== null && !(typeof v === 'number' && v >= 0 && Number.isFinite(v))) fail(`${k} must be a non-negative number or null, got ${v}`);
  }
}

// -------------------------------------------------------------------------------------- results

export interface ResultsFile {
  suite: string;
  /** describeAdapter(engine.adapter) */
  device: string;
  dawn: string;
  node: string;
  /** The wait modes the rows were measured in ('polite', 'busy' or 'both'); each row names its own. */
  wait: WaitMode | 'both';
  quick: boolean;
  date: string;
  /** CPU count and 1-minute load average before and after the suite: other work on the machine skews timings. */
  cpus: number;
  load_1m: { before: number; after: number };
  rows: Row[];
}

/** The repository root: the nearest folder above this module with fergpu's package.json (works from bench/ and dist/). */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'fergpu') return dir;
    const up = dirname(dir);
    if (up === dir) return process.cwd();
    dir = up;
  }
}

export function defaultResultsDir(): string {
  return join(repoRoot(), 'bench', 'results');
}

/** Writes `<dir>/<suite>.json` atomically (a temporary file then a rename) after validating every row. */
export function writeResults(dir: string, file: ResultsFile): string {
  file.rows.forEach((r, i) => validateRow(r, `${file.suite} row ${i}`));
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${file.suite}.json`);
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, JSON.stringify(file, null, 2) + '\n');
  renameSync(tmp, path);
  return path;
}

export function readResults(dir: string, suite: string): ResultsFile | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, `${suite}.json`), 'utf8')) as ResultsFile;
  } catch {
    return undefined;
  }
}

export function resultsHeader(engine: Engine, suite: string, waits: readonly WaitMode[], quick: boolean, rows: Row[], loadBefore = loadavg()[0]!): ResultsFile {
  return {
    suite,
    device: describeAdapter(engine.adapter),
    dawn: dawnVersion(),
    node: process.version,
    wait: waits.length === 1 ? waits[0]! : 'both',
    quick,
    date: new Date().toISOString(),
    cpus: cpus().length,
    load_1m: { before: loadBefore, after: loadavg()[0]! },
    rows,
  };
}

// ---------------------------------------------------------------------------------------- table

const TABLE_ORDER = ['case', 'shape', 'wait', 'variant', 'ours_ms', 'ours_first_ms', 'anchor', 'anchor_ms', 'anchor_first_ms', 'ratio', 'gflops', 'anchor_gflops', 'gbps', 'peak_fraction'];
/** Extra fields not worth a column. */
const TABLE_SKIP = new Set(['ours_samples', 'anchor_samples', 'tune', 'ceiling_source', 'chosen']);

/** A plain-text table of rows: the known columns first, then any extra scalar field; all-null columns dropped. */
export function formatTable(rows: readonly Row[]): string {
  if (rows.length === 0) return '(no rows)';
  const keys: string[] = [];
  for (const k of TABLE_ORDER) if (rows.some((r) => r[k] !== undefined && r[k] !== null)) keys.push(k);
  for (const r of rows) {
    for (const [k, v] of Object.entries(r)) {
      if (keys.includes(k) || TABLE_SKIP.has(k) || v === null || v === undefined || typeof v === 'object') continue;
      keys.push(k);
    }
  }
  const cell = (v: unknown): string => (v === null || v === undefined ? '-' : typeof v === 'number' ? fmtNumber(v) : String(v));
  const body = rows.map((r) => keys.map((k) => cell(r[k])));
  const widths = keys.map((k, i) => Math.max(k.length, ...body.map((b) => b[i]!.length)));
  const numeric = keys.map((k) => rows.every((r) => r[k] === null || r[k] === undefined || typeof r[k] === 'number'));
  const line = (cells: string[]) => cells.map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(keys), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

function fmtNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v) && Math.abs(v) < 1e6) return String(v);
  const a = Math.abs(v);
  return a >= 100 ? v.toFixed(1) : a >= 1 ? v.toFixed(2) : v.toFixed(3);
}

// --------------------------------------------------------------------------------------- timing

export interface Timing {
  /** The first call, which compiles shaders (and allocates): reported apart from steady state. */
  firstMs: number;
  medianMs: number;
  meanMs: number;
  minMs: number;
  /** Median absolute deviation. */
  madMs: number;
  samples: number;
}

export interface TimeOptions {
  /** Steady-state time to spend, in ms (split into iterations from an estimate). */
  budgetMs?: number;
  minIterations?: number;
  maxIterations?: number;
  /** Untimed calls between the first call and the measured ones. */
  warmup?: number;
}

/** The first (compiling) call timed alone, then `warmup` untimed calls; returns the first and last call's ms. */
async function firstAndWarm(fn: () => Promise<unknown>, warmup: number): Promise<{ firstMs: number; estimateMs: number }> {
  let t0 = performance.now();
  await fn();
  const firstMs = performance.now() - t0;
  let estimateMs = firstMs;
  for (let i = 0; i < warmup; i++) {
    t0 = performance.now();
    await fn();
    estimateMs = performance.now() - t0;
  }
  return { firstMs, estimateMs };
}

function iterationsFor(estimateMs: number, o: Required<Omit<TimeOptions, 'warmup'>>): number {
  return Math.max(o.minIterations, Math.min(o.maxIterations, Math.ceil(o.budgetMs / Math.max(estimateMs, 1e-3))));
}

/** Latency samples (ms) of `iterations` calls, through tinybench. */
async function samplesOf(name: string, fn: () => Promise<unknown>, iterations: number): Promise<number[]> {
  // time 0: the iteration count alone bounds the run (slow GPU calls would otherwise take minutes).
  const bench = new Bench({ name, iterations, time: 0, warmup: false, throws: true, retainSamples: true });
  bench.add(name, fn, { async: true });
  await bench.run();
  const result = bench.getTask(name)!.result;
  if (result.state !== 'completed') throw new Error(`benchmark ${name} ended in state ${result.state}`);
  return [...(result.latency.samples ?? [])];
}

/** Median, mean, min and median absolute deviation of samples. */
export function summarise(firstMs: number, samples: readonly number[]): Timing {
  if (samples.length === 0) throw new Error('no samples');
  const sorted = [...samples].sort((a, b) => a - b);
  const median = (xs: number[]): number => {
    const m = xs.length >> 1;
    return xs.length % 2 ? xs[m]! : (xs[m - 1]! + xs[m]!) / 2;
  };
  const medianMs = median(sorted);
  return {
    firstMs,
    medianMs,
    meanMs: sorted.reduce((a, b) => a + b, 0) / sorted.length,
    minMs: sorted[0]!,
    madMs: median(sorted.map((x) => Math.abs(x - medianMs)).sort((a, b) => a - b)),
    samples: sorted.length,
  };
}

const TIME_DEFAULTS = { budgetMs: 2000, minIterations: 5, maxIterations: 200, warmup: 1 };

/**
 * Times an async call that includes waiting for its GPU work (`await engine.sync()` or a readback). The first
 * call is timed on its own; after the warm-up calls, tinybench runs enough iterations to fill the budget
 * (clamped to [minIterations, maxIterations]) and the median is the figure.
 */
export async function timeAsync(name: string, fn: () => Promise<unknown>, opts: TimeOptions = {}): Promise<Timing> {
  const o = { ...TIME_DEFAULTS, ...opts };
  const { firstMs, estimateMs } = await firstAndWarm(fn, o.warmup);
  return summarise(firstMs, await samplesOf(name, fn, iterationsFor(estimateMs, o)));
}

/**
 * Times several calls against each other: every first call apart, then the measured iterations in `rounds`
 * alternating slices (a, b, c, a, b, c, …) so that load from other work on the machine, which drifts over
 * seconds, falls on every side alike. Each side gets its own budget.
 */
export async function timeSides(name: string, sides: readonly { name: string; call: () => Promise<unknown> }[], opts: TimeOptions & { rounds?: number } = {}): Promise<Timing[]> {
  const o = { ...TIME_DEFAULTS, ...opts };
  const rounds = Math.max(1, opts.rounds ?? 3);
  const warm: { firstMs: number; estimateMs: number }[] = [];
  for (const s of sides) warm.push(await firstAndWarm(s.call, o.warmup));
  const perRound = (est: number) => Math.ceil(iterationsFor(est, o) / rounds);
  const samples = sides.map(() => [] as number[]);
  for (let r = 0; r < rounds; r++) {
    for (const [i, s] of sides.entries()) samples[i]!.push(...(await samplesOf(`${name} ${s.name}`, s.call, perRound(warm[i]!.estimateMs))));
  }
  return sides.map((_, i) => summarise(warm[i]!.firstMs, samples[i]!));
}

/** Times ours against an anchor for a ratio, in alternating slices (`timeSides`). */
export async function timePair(
  name: string,
  ours: () => Promise<unknown>,
  anchor: () => Promise<unknown>,
  opts: TimeOptions & { rounds?: number } = {},
): Promise<{ ours: Timing; anchor: Timing }> {
  const [o, a] = await timeSides(name, [{ name: 'ours', call: ours }, { name: 'anchor', call: anchor }], opts);
  return { ours: o!, anchor: a! };
}

/** Runs `fn` with `waiter` active, for GPU work outside the engine (tfjs) that should wait the same way. */
export async function withWaiter<T>(waiter: Waiter, fn: () => Promise<T>): Promise<T> {
  waiter.begin();
  try {
    return await fn();
  } finally {
    waiter.end();
  }
}

// -------------------------------------------------------------------------------------- engines

/** A waiter for the given mode: Dawn's own busy polling, or the Node polite waiter (sleeps between polls). */
export function waiterFor(mode: WaitMode): Waiter {
  return mode === 'busy' ? busyWaiter : politeWaiter();
}

/** An engine for benchmarks; variant choices persist (tuned once per device) unless persistTuning is false. */
export function benchEngine(wait: WaitMode = 'polite', persistTuning = true): Promise<Engine> {
  return createEngine({ wait, persistTuning });
}

/** Switches an engine's wait mode; returns the waiter to use for anchors run in the same mode. */
export function setWaitMode(engine: Engine, mode: WaitMode): Waiter {
  engine.setWaiter(waiterFor(mode));
  return waiterFor(mode);
}

// ----------------------------------------------------------------------------------------- tfjs

/** The parts of tfjs-core the suites use (typed loosely so the core never depends on tfjs's types). */
export type Tf = typeof import('@tensorflow/tfjs-core');

let tfPromise: Promise<Tf> | undefined;

/**
 * TensorFlow.js with its WebGPU backend on the same Dawn GPU as the engine. tfjs registers the backend only
 * if `navigator.gpu` exists when the backend module loads, so `navigator` is defined first; imports are
 * dynamic so nothing outside the benchmarks loads tfjs.
 */
export function tfjsWebGPU(): Promise<Tf> {
  tfPromise ??= (async () => {
    const gpu = await dawnGPU();
    const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
    if (!nav?.gpu) Object.defineProperty(globalThis, 'navigator', { value: { ...(nav ?? {}), gpu }, configurable: true, writable: true });
    const tf = await import('@tensorflow/tfjs-core');
    await import('@tensorflow/tfjs-backend-webgpu');
    if (!(await tf.setBackend('webgpu'))) throw new Error('tfjs: the WebGPU backend failed to initialise on the Dawn adapter');
    return tf;
  })();
  return tfPromise;
}

// ------------------------------------------------------------------------------------------ misc

/** Deterministic pseudo-random floats in [lo, hi) (benchmark inputs need no quality, only speed). */
export function randomData(n: number, seed = 1, lo = -1, hi = 1): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = lo + ((s >>> 0) / 4294967296) * (hi - lo);
  }
  return out;
}

export type Log = (line: string) => void;

// ---------------------------------------------------------------------------------------- suites

/** Device ceilings measured by the `peak` suite, per wait mode. */
export interface Ceilings {
  wait: WaitMode;
  fmaGflops: number;
  /** Best WGSL copy kernel (not the driver's copyBufferToBuffer, which the peak suite reports for reference). */
  copyGbps: number;
  /** Where the figures came from: this run, the last bench/results/peak.json, or a quick measurement. */
  source: 'this run' | 'peak.json' | 'quick measurement';
}

export interface SuiteContext {
  engine: Engine;
  /** Wait modes to measure, in order; the engine is switched with setWaitMode. */
  waits: readonly WaitMode[];
  /** A fast smoke run: small sizes, few iterations. */
  quick: boolean;
  log: Log;
  resultsDir: string;
  /** The ceilings for peak_fraction in a wait mode. */
  ceilings(wait: WaitMode): Promise<Ceilings>;
  /** Suite-specific command-line flags given (without the leading --). */
  flags: ReadonlySet<string>;
}

export interface Suite {
  name: string;
  description: string;
  /** Suite-specific flags it understands, e.g. { 'all-variants': 'time every variant' }. */
  flags?: Record<string, string>;
  run(ctx: SuiteContext): Promise<Row[]>;
}
