/**
 * The benchmark page (web/bench.html) as `npm run bench -- --browser` drives it: the bench suites bundled for a
 * browser (bench/suites with web/bench/harness.ts), run in headless Chromium, the rows validated and written to
 * browser-<suite>.json. The quick `peak` suite keeps it short; Node-only suites are refused by name.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseArgs } from '../bench/run.js';
import { ROW_KEYS } from '../bench/harness.js';
import { runBrowserBench } from '../web/tools/bench-browser.js';

const out = mkdtempSync(join(tmpdir(), 'fergpu-web-bench-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('npm run bench -- --browser', () => {
  it('parses --browser', () => {
    expect(parseArgs(['peak', '--browser', '--quick'])).toMatchObject({ suites: ['peak'], browser: true, quick: true });
  });

  it('runs the quick peak suite in Chromium and writes browser-peak.json in the Node format', async () => {
    const lines: string[] = [];
    const written = await runBrowserBench({ suites: ['peak'], quick: true, out, flags: new Set() }, (l) => lines.push(l));
    expect(written).toEqual([join(out, 'browser-peak.json')]);
    const file = JSON.parse(readFileSync(written[0]!, 'utf8'));
    expect(file).toMatchObject({ suite: 'peak', runtime: 'browser', quick: true, wait: 'busy' });
    expect(file.device).toMatch(/./);
    expect(file.browser).toMatch(/Chrome/);
    expect(file.rows.map((r: { case: string }) => r.case)).toContain('fma vec4 chains');
    for (const r of file.rows) {
      expect(Object.keys(r).slice(0, ROW_KEYS.length)).toEqual([...ROW_KEYS]);
      expect(r.ours_ms).toBeGreaterThan(0);
    }
    // The page printed the Node bench's table.
    expect(lines.join('\n')).toMatch(/case\s+shape\s+wait\s+ours_ms/);
  }, 120_000);

  it('refuses suites that run in Node only, by name', async () => {
    await expect(runBrowserBench({ suites: ['matmul', 'soak'], quick: true, out, flags: new Set() })).rejects.toThrow(/^soak runs in Node only/);
  });
});
