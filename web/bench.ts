/**
 * The benchmark page: bench/suites run in the browser on this page's WebGPU adapter, ours against TensorFlow.js's
 * WebGPU backend in the same page and run, with the table the Node bench prints and each suite's results as JSON
 * to download (the format of bench/results/<suite>.json). `?suites=matmul,conv&quick=1&autorun=1` runs without a
 * click; `window.__bench` is what `npm run bench -- --browser` reads.
 */
import { describeAdapter, type Engine } from '../src/device/engine.js';
import { SUITES } from '../bench/suites/index.js';
import { ceilingsFor } from '../bench/suites/peak.js';
import { benchEngine, formatTable, resultsHeader, validateRow, type ResultsFile, type SuiteContext } from './bench/harness.js';

/** Suites that read the repository's files or Node's process counters stay in Node. */
export const NODE_ONLY = new Set(['soak', 'tfjs-model']);
export const BROWSER_SUITES = Object.keys(SUITES).filter((s) => !NODE_ONLY.has(s));

export interface BenchState {
  state: 'idle' | 'running' | 'done' | 'error';
  log: string[];
  results: ResultsFile[];
  error?: string;
  run(suites: string[], quick: boolean): Promise<ResultsFile[]>;
}

declare global {
  interface Window {
    __bench: BenchState;
  }
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
let engine: Engine | undefined;

const bench: BenchState = { state: 'idle', log: [], results: [], run };
window.__bench = bench;

function log(line: string): void {
  bench.log.push(line);
  const el = $('log');
  el.textContent += `${line}\n`;
  el.scrollTop = el.scrollHeight;
  console.log(line);
}

function showResult(file: ResultsFile): void {
  const box = document.createElement('section');
  const h = document.createElement('h2');
  h.textContent = `${file.suite} — ${file.rows.length} rows${file.quick ? ' (quick)' : ''}`;
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([JSON.stringify(file, null, 2) + '\n'], { type: 'application/json' }));
  a.download = `browser-${file.suite}.json`;
  a.textContent = `download browser-${file.suite}.json`;
  a.className = 'download';
  const pre = document.createElement('pre');
  pre.textContent = formatTable(file.rows);
  box.append(h, a, pre);
  $('results').append(box);
}

async function run(names: string[], quick: boolean): Promise<ResultsFile[]> {
  if (bench.state === 'running') throw new Error('a run is already going');
  for (const n of names) if (!BROWSER_SUITES.includes(n)) throw new Error(`unknown or Node-only suite '${n}'; in a browser: ${BROWSER_SUITES.join(', ')}`);
  bench.state = 'running';
  bench.results = [];
  $('results').replaceChildren();
  setBusy(true);
  try {
    engine ??= await benchEngine();
    log(`device: ${describeAdapter(engine.adapter)}`);
    log(`browser: ${navigator.userAgent}`);
    for (const name of names) {
      const suite = await SUITES[name]!();
      const eng = engine;
      const ctx: SuiteContext = {
        engine: eng,
        waits: ['busy'],
        quick,
        log,
        resultsDir: '',
        ceilings: (wait) => ceilingsFor(eng, wait, '', 'measure', quick),
        flags: new Set(),
      };
      log(`\n== ${suite.name}: ${suite.description}`);
      const t0 = performance.now();
      const rows = await suite.run(ctx);
      rows.forEach((r, i) => validateRow(r, `${suite.name} row ${i}`));
      const file = resultsHeader(eng, suite.name, ctx.waits, quick, rows);
      log(`\n${formatTable(rows)}\n\n${suite.name}: ${rows.length} rows in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      bench.results.push(file);
      showResult(file);
    }
    bench.state = 'done';
  } catch (e) {
    bench.error = (e as Error).stack ?? String(e);
    bench.state = 'error';
    log(`error: ${(e as Error).message}`);
  } finally {
    setBusy(false);
  }
  return bench.results;
}

function setBusy(on: boolean): void {
  $<HTMLButtonElement>('run').disabled = on;
  $('status').textContent = on ? 'running… (the page stays usable; each suite takes seconds to minutes)' : bench.state === 'error' ? 'stopped by an error (see the log)' : bench.state === 'done' ? 'done' : '';
}

function main(): void {
  const params = new URLSearchParams(location.search);
  const chosen = new Set((params.get('suites') ?? 'matmul').split(',').filter(Boolean));
  $('suites').replaceChildren(
    ...BROWSER_SUITES.map((s) => {
      const l = document.createElement('label');
      l.innerHTML = `<input type="checkbox" value="${s}"> ${s}`;
      l.querySelector('input')!.checked = chosen.has(s);
      return l;
    }),
  );
  $<HTMLInputElement>('quick').checked = params.get('quick') === '1';
  $('node-only').textContent = [...NODE_ONLY].join(', ');
  $('run').onclick = () => {
    const names = Array.from(document.querySelectorAll<HTMLInputElement>('#suites input:checked')).map((i) => i.value);
    void run(names, $<HTMLInputElement>('quick').checked);
  };
  if (!('gpu' in navigator) || !navigator.gpu) {
    bench.state = 'error';
    bench.error = 'WebGPU is not available in this browser';
    $('status').textContent = 'WebGPU is not available in this browser: use Chrome or Edge 113+ (on Linux with --enable-unsafe-webgpu), Safari 26+, or Firefox 141+ on Windows.';
    $<HTMLButtonElement>('run').disabled = true;
    return;
  }
  if (params.get('autorun') === '1') void run([...chosen], params.get('quick') === '1');
}

main();
