/**
 * The kernel suites of test/cases in headless Chromium (Debian's package; WebGPU on SwiftShader): the engine and
 * the cases are bundled by esbuild, served from localhost (WebGPU needs a secure context), and run in the page.
 * Each case becomes one test here.
 */
import { build } from 'esbuild';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { suites } from './cases/index.js';
import type { CaseResult } from './browser/entry.js';

const CHROMIUM = process.env.FERGPU_CHROMIUM ?? '/usr/bin/chromium';
const RUN_TIMEOUT_MS = 15 * 60_000;

let server: Server;
let browser: Browser;
let outcome: { adapter: string; results: CaseResult[]; fatal?: string; console: string[] };

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`No Chromium at ${CHROMIUM}: run 'npm run setup' (installs Debian's chromium) or set FERGPU_CHROMIUM`);
  const bundle = await build({
    entryPoints: ['test/browser/entry.ts'],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    loader: { '.wgsl': 'text' },
    logLevel: 'warning',
  });
  const js = bundle.outputFiles[0]!.text;
  const html = '<!doctype html><meta charset="utf-8"><title>fergpu tests</title><script type="module" src="/entry.js"></script>';
  server = createServer((req, res) => {
    if (req.url?.startsWith('/entry.js')) res.writeHead(200, { 'content-type': 'text/javascript' }).end(js);
    else if (req.url === '/' || req.url?.startsWith('/?')) res.writeHead(200, { 'content-type': 'text/html' }).end(html);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--enable-unsafe-webgpu', '--no-sandbox', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = await browser.newPage();
  const consoleLines: string[] = [];
  page.on('console', (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => consoleLines.push(`pageerror: ${e.message}`));
  await page.goto(url);
  await page.waitForFunction(() => window.__fergpu?.done === true, undefined, { timeout: RUN_TIMEOUT_MS, polling: 250 });
  const state = await page.evaluate(() => window.__fergpu!);
  outcome = { adapter: state.adapter, results: state.results, console: consoleLines, ...(state.fatal ? { fatal: state.fatal } : {}) };
  console.log(`Chromium adapter: ${outcome.adapter}`);
}, RUN_TIMEOUT_MS + 60_000);

afterAll(async () => {
  await browser?.close();
  server?.close();
});

describe('in Chromium', () => {
  it('opens a WebGPU adapter', () => {
    expect(outcome.fatal, outcome.console.join('\n')).toBeUndefined();
    expect(outcome.adapter).not.toBe('');
  });
  for (const suite of suites) {
    describe(suite.name, () => {
      for (const c of suite.cases) {
        it(c.name, () => {
          const r = outcome.results.find((x) => x.suite === suite.name && x.name === c.name);
          expect(r, `case did not run; console:\n${outcome.console.join('\n')}`).toBeDefined();
          if (!r!.ok) throw new Error(r!.error);
        });
      }
    });
  }
});

