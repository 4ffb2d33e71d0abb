/**
 * `npm run bench -- --browser SUITE…`: the benchmark page (web/bench.html) in headless Chromium, the suites run in
 * the page (ours against TensorFlow.js's WebGPU backend there), the log streamed here, and each suite's results
 * written to <out>/browser-<suite>.json in the format of the Node bench's files. Node only.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ResultsFile } from '../../bench/harness.js';
import { validateRow } from '../../bench/harness.js';
import { SUITES } from '../../bench/suites/index.js';
import { launchChromium } from './chromium.js';
import { buildSite } from './site.js';
import { startStaticServer } from './static-server.js';

/** Suites the page cannot run (they read the repository's files or Node's process counters); web/bench.ts agrees. */
export const NODE_ONLY_SUITES = ['soak', 'tfjs-model'];

export interface BrowserBenchOptions {
  suites: string[];
  quick: boolean;
  out: string;
  flags: ReadonlySet<string>;
}

export async function runBrowserBench(o: BrowserBenchOptions, log: (line: string) => void = console.log): Promise<string[]> {
  const nodeOnly = o.suites.filter((s) => NODE_ONLY_SUITES.includes(s));
  if (nodeOnly.length) throw new Error(`${nodeOnly.join(', ')} ${nodeOnly.length > 1 ? 'run' : 'runs'} in Node only (reading the repository's files or the process's memory counters); in a browser: ${Object.keys(SUITES).filter((n) => !NODE_ONLY_SUITES.includes(n)).join(', ')}`);
  if (o.flags.size) throw new Error(`suite flags (${[...o.flags].map((f) => `--${f}`).join(', ')}) are not passed to the page; run those in Node`);
  const site = await buildSite({ outDir: 'dist/web' });
  const server = await startStaticServer({ mounts: { '/': site.dir } });
  const browser = await launchChromium();
  const written: string[] = [];
  try {
    const page = await browser.newPage();
    page.on('console', (m) => {
      if (m.type() === 'log') log(m.text());
      else if (m.type() === 'error') log(`(page) ${m.text()}`);
    });
    page.on('pageerror', (e) => log(`(page error) ${e.message}`));
    const url = `${server.url}bench.html?suites=${o.suites.join(',')}&quick=${o.quick ? 1 : 0}&autorun=1`;
    log(`bench page: ${url} (headless Chromium, ${await browser.version()})`);
    await page.goto(url);
    await page.waitForFunction(() => window.__bench?.state === 'done' || window.__bench?.state === 'error', undefined, { timeout: 0, polling: 500 });
    const s = await page.evaluate(() => ({ state: window.__bench.state, error: window.__bench.error, results: window.__bench.results }));
    mkdirSync(o.out, { recursive: true });
    for (const file of s.results as ResultsFile[]) {
      file.rows.forEach((r, i) => validateRow(r, `browser ${file.suite} row ${i}`));
      const path = join(o.out, `browser-${file.suite}.json`);
      writeFileSync(`${path}.tmp`, JSON.stringify(file, null, 2) + '\n');
      renameSync(`${path}.tmp`, path);
      log(`-> ${path}`);
      written.push(path);
    }
    if (s.state === 'error') throw new Error(`the bench page stopped: ${s.error}`);
  } finally {
    await browser.close();
    await server.close();
  }
  return written;
}
