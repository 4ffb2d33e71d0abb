/**
 * Benchmark CLI: `node dist/bench.js <suite...> [--wait polite|busy|both] [--quick] [--out DIR] [suite flags]`
 * (built by `npm run bench -- <suite...>`). Runs each suite on one engine, prints a table per suite and
 * writes `<out>/<suite>.json` (default bench/results/).
 */
import { loadavg } from 'node:os';
import { pathToFileURL } from 'node:url';
import { describeAdapter, type Engine } from '../src/device/engine.js';
import { benchEngine, defaultResultsDir, formatTable, resultsHeader, writeResults, type Log, type Row, type Suite, type SuiteContext, type WaitMode } from './harness.js';
import { ceilingsFor, type CeilingSource } from './suites/peak.js';
import { SUITES } from './suites/index.js';

export interface RunOptions {
  suites: string[];
  waits: WaitMode[];
  quick: boolean;
  out: string;
  flags: Set<string>;
  /** Keep variant choices in ~/.cache/fergpu (off for tests). */
  persistTuning: boolean;
  /** Where ceilings for peak_fraction come from when `peak` did not run first in this process. */
  ceilings: CeilingSource;
  /** Run the suites in headless Chromium's WebGPU (web/bench.html) and write <out>/browser-<suite>.json. */
  browser?: boolean;
}

export const USAGE = `usage: node dist/bench.js <suite...> [options]    (npm run bench -- <suite...> [options])
suites: ${Object.keys(SUITES).join(', ')}, or all
options:
  --wait polite|busy|both   wait mode(s) to measure (default both)
  --quick                   small sizes and few iterations (a smoke run)
  --out DIR                 where <suite>.json goes (default bench/results)
  --ceilings measure|file   FMA ceiling for peak_fraction when 'peak' is not run first: measured now under
                            the same load (default, a few seconds) or read from <out>/peak.json
  --browser                 run them in headless Chromium (web/bench.html, ours and tfjs-webgpu in one page);
                            writes <out>/browser-<suite>.json
  --list                    list the suites and their flags
  suite flags, e.g. matmul --all-variants, --retune: see --list`;

export class UsageError extends Error {
  override name = 'UsageError';
}

/** Parses the command line; throws UsageError naming the problem (and the suites, for an unknown one). */
export function parseArgs(argv: readonly string[]): RunOptions | 'list' | 'help' {
  const opts: RunOptions = { suites: [], waits: ['polite', 'busy'], quick: false, out: defaultResultsDir(), flags: new Set(), persistTuning: true, ceilings: 'measure' };
  const suiteFlags = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = (): string => {
      const v = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : argv[++i];
      if (v === undefined || v.startsWith('--')) throw new UsageError(`${arg} needs a value`);
      return v;
    };
    const name = arg.split('=')[0]!;
    if (name === '--help' || name === '-h') return 'help';
    else if (name === '--list') return 'list';
    else if (name === '--quick') opts.quick = true;
    else if (name === '--browser') opts.browser = true;
    else if (name === '--wait') {
      const w = value();
      if (w === 'both') opts.waits = ['polite', 'busy'];
      else if (w === 'polite' || w === 'busy') opts.waits = [w];
      else throw new UsageError(`--wait must be polite, busy or both, not '${w}'`);
    } else if (name === '--out') opts.out = value();
    else if (name === '--ceilings') {
      const c = value();
      if (c !== 'measure' && c !== 'file') throw new UsageError(`--ceilings must be measure or file, not '${c}'`);
      opts.ceilings = c;
    }
    else if (name.startsWith('--')) suiteFlags.add(name.slice(2));
    else if (arg === 'all') opts.suites.push(...Object.keys(SUITES));
    else if (arg in SUITES) opts.suites.push(arg);
    else throw new UsageError(`unknown suite '${arg}'; the suites are: ${Object.keys(SUITES).join(', ')}`);
  }
  if (opts.suites.length === 0) throw new UsageError(`name at least one suite: ${Object.keys(SUITES).join(', ')}`);
  opts.suites = [...new Set(opts.suites)];
  opts.flags = suiteFlags;
  return opts;
}

/** Checks suite flags against what the chosen suites understand. */
function checkFlags(suites: Suite[], flags: ReadonlySet<string>): void {
  const known = new Set(suites.flatMap((s) => Object.keys(s.flags ?? {})));
  for (const f of flags) {
    if (!known.has(f)) throw new UsageError(`unknown option --${f}${known.size ? ` (suite flags here: ${[...known].map((k) => `--${k}`).join(', ')})` : ''}`);
  }
}

export interface SuiteResult {
  suite: string;
  rows: Row[];
  path: string;
}

/** Runs suites in order on one engine; each suite's JSON is written as soon as it finishes. */
export async function runSuites(opts: RunOptions, log: Log = console.log, engine?: Engine): Promise<SuiteResult[]> {
  const suites = await Promise.all(opts.suites.map((s) => SUITES[s]!()));
  checkFlags(suites, opts.flags);
  const own = !engine;
  const eng = engine ?? (await benchEngine(opts.waits[0], opts.persistTuning));
  log(`device: ${describeAdapter(eng.adapter)}`);
  log(`wait modes: ${opts.waits.join(', ')}${opts.quick ? ' (quick)' : ''}; load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  const results: SuiteResult[] = [];
  try {
    for (const suite of suites) {
      const ctx: SuiteContext = {
        engine: eng,
        waits: opts.waits,
        quick: opts.quick,
        log,
        resultsDir: opts.out,
        ceilings: (wait) => ceilingsFor(eng, wait, opts.out, opts.ceilings, opts.quick),
        flags: opts.flags,
      };
      log(`\n== ${suite.name}: ${suite.description}`);
      const t0 = performance.now();
      const load = loadavg()[0]!;
      const rows = await suite.run(ctx);
      const path = writeResults(opts.out, resultsHeader(eng, suite.name, opts.waits, opts.quick, rows, load));
      log(`\n${formatTable(rows)}\n\n${suite.name}: ${rows.length} rows in ${((performance.now() - t0) / 1000).toFixed(1)} s -> ${path}`);
      results.push({ suite: suite.name, rows, path });
    }
  } finally {
    if (own) eng.destroy();
  }
  return results;
}

async function main(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(`bench: ${e.message}\n\n${USAGE}`);
    return 2;
  }
  if (parsed === 'help') {
    console.log(USAGE);
    return 0;
  }
  if (parsed === 'list') {
    for (const [name, load] of Object.entries(SUITES)) {
      const s = await load();
      const flags = Object.entries(s.flags ?? {}).map(([f, d]) => `\n    --${f}: ${d}`).join('');
      console.log(`${name}: ${s.description}${flags}`);
    }
    return 0;
  }
  try {
    if (parsed.browser) {
      const { runBrowserBench } = await import('../web/tools/bench-browser.js');
      try {
        await runBrowserBench(parsed);
      } catch (e) {
        console.error(`bench --browser: ${(e as Error).message}`);
        return 1;
      }
      return 0;
    }
    await runSuites(parsed);
    return 0;
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(`bench: ${e.message}\n\n${USAGE}`);
    return 2;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  // tfjs keeps its own device alive, so leave explicitly once done.
  main(process.argv.slice(2)).then((code) => process.exit(code), (e) => {
    console.error(e);
    process.exit(1);
  });
}
