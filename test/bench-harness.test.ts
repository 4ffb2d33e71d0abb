/** The benchmark harness: row format, table, results files, CLI parsing, timing, and a quick `peak` run. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { formatTable, makeRow, readResults, ROW_KEYS, summarise, timeAsync, timePair, validateRow, writeResults, type ResultsFile, type Row, type Timing } from '../bench/harness.js';
import { parseArgs, runSuites, UsageError } from '../bench/run.js';
import { runMatmul } from '../bench/suites/matmul.js';
import { matmulKernel } from '../src/kernels/matmul.js';
import { ceilingsFor, ceilingsFromFile, fmaExpected } from '../bench/suites/peak.js';
import { testEngine } from './helpers/node-engine.js';

const dir = mkdtempSync(join(tmpdir(), 'fergpu-bench-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const timing = (medianMs: number, firstMs = medianMs * 10): Timing => ({ firstMs, medianMs, meanMs: medianMs, minMs: medianMs, madMs: 0, samples: 5 });

describe('result rows', () => {
  it('derives ratio, GFLOP/s, GB/s and peak fraction from the timings', () => {
    const row = makeRow({
      case: 'square 512',
      shape: '512x512x512',
      wait: 'polite',
      ours: timing(10),
      anchor: { name: 'tfjs-webgpu', timing: timing(25) },
      flops: 2e9,
      bytes: 5e7,
      fmaCeiling: 400,
      extra: { variant: 'texture' },
    });
    expect(Object.keys(row).slice(0, ROW_KEYS.length)).toEqual([...ROW_KEYS]);
    expect(row).toMatchObject({ ours_ms: 10, anchor: 'tfjs-webgpu', anchor_ms: 25, ratio: 2.5, gflops: 200, peak_fraction: 0.5, gbps: 5, anchor_gflops: 80 });
    expect(row).toMatchObject({ wait: 'polite', ours_first_ms: 100, variant: 'texture' });
    validateRow(row);
  });

  it('leaves anchor fields null without an anchor', () => {
    const row = makeRow({ case: 'copy', shape: '1 MiB', wait: 'busy', ours: timing(0.5), bytes: 2e6 });
    expect(row).toMatchObject({ anchor: null, anchor_ms: null, ratio: null, gflops: null, peak_fraction: null, gbps: 4 });
    validateRow(row);
  });

  it('rejects rows out of format', () => {
    const good = makeRow({ case: 'x', shape: 's', wait: 'busy', ours: timing(2), anchor: { name: 'a', timing: timing(4) } });
    expect(() => validateRow({ ...good, ratio: 3 })).toThrow(/ratio 3 is not anchor_ms \/ ours_ms/);
    expect(() => validateRow({ ...good, anchor_ms: null })).toThrow(/anchor_ms must be a positive number/);
    expect(() => validateRow({ ...good, anchor: null })).toThrow(/anchor_ms must be null without an anchor/);
    expect(() => validateRow({ ...good, ours_ms: 0 })).toThrow(/ours_ms/);
    expect(() => validateRow({ ...good, gflops: -1 })).toThrow(/gflops/);
  });
});

describe('table', () => {
  it('aligns columns, drops all-null ones and shows extra fields', () => {
    const rows: Row[] = [
      makeRow({ case: 'a long case name', shape: '1x2', wait: 'polite', ours: timing(2), anchor: { name: 'tfjs', timing: timing(5) }, extra: { variant: 'v1' } }),
      makeRow({ case: 'b', shape: '3x4x5', wait: 'busy', ours: timing(123.456), extra: { variant: 'v22', note: 'hi' } }),
    ];
    const lines = formatTable(rows).split('\n');
    expect(lines).toHaveLength(4);
    const header = lines[0]!.split(/\s+/);
    expect(header.slice(0, 5)).toEqual(['case', 'shape', 'wait', 'variant', 'ours_ms']);
    expect(header).toContain('note');
    expect(header).toContain('ratio');
    expect(header).not.toContain('gflops'); // null in every row
    expect(header).not.toContain('ours_samples');
    // Text left-aligned, numbers right-aligned, columns two spaces apart.
    expect(lines[2]).toMatch(/^a long case name {2}1x2 {4}polite {2}v1 {7}/);
    expect(lines[3]).toMatch(/^b {17}3x4x5 {2}busy {4}v22 {6}/);
    expect(lines[2]).toMatch(/ 2\.50 /); // ratio 5 / 2
    expect(lines[3]).toMatch(/v22 +123\.5 +1235 +- /); // median, first call, no anchor
    expect(formatTable([])).toBe('(no rows)');
  });
});

describe('results files', () => {
  it('writes and reads back the wrapping object with rows in the fixed format', () => {
    const rows = [makeRow({ case: 'c', shape: 's', wait: 'polite', ours: timing(3), anchor: { name: 'tfjs', timing: timing(6) }, flops: 3e6 })];
    const file: ResultsFile = { suite: 'unit', device: 'dev', dawn: '0', node: process.version, wait: 'polite', quick: true, date: new Date().toISOString(), cpus: 2, load_1m: { before: 1, after: 2 }, rows };
    const path = writeResults(dir, file);
    expect(path).toBe(join(dir, 'unit.json'));
    const back = readResults(dir, 'unit')!;
    expect(back).toEqual(JSON.parse(JSON.stringify(file)));
    expect(back.rows[0]).toMatchObject({ ratio: 2, gflops: 1 });
    expect(readResults(dir, 'missing')).toBeUndefined();
    expect(() => writeResults(dir, { ...file, suite: 'bad', rows: [{ ...rows[0]!, ratio: 7 }] })).toThrow(/bad row 0/);
  });
});

describe('command line', () => {
  it('parses suites, wait modes and flags', () => {
    const o = parseArgs(['peak', 'matmul', '--wait', 'busy', '--quick', '--out=/x', '--retune']);
    expect(o).toMatchObject({ suites: ['peak', 'matmul'], waits: ['busy'], quick: true, out: '/x' });
    expect(o !== 'list' && o !== 'help' && [...o.flags]).toEqual(['retune']);
    expect(parseArgs(['peak'])).toMatchObject({ waits: ['polite', 'busy'], quick: false });
    expect(parseArgs(['--list'])).toBe('list');
    expect(parseArgs(['matmul', '--ceilings', 'file'])).toMatchObject({ ceilings: 'file' });
    expect(parseArgs(['matmul'])).toMatchObject({ ceilings: 'measure' });
    expect(() => parseArgs(['matmul', '--ceilings', 'guess'])).toThrow(/--ceilings must be measure or file/);
  });

  it('names the suites when one is unknown', () => {
    expect(() => parseArgs(['peek'])).toThrow(UsageError);
    expect(() => parseArgs(['peek'])).toThrow(/unknown suite 'peek'; the suites are: peak, matmul/);
    expect(() => parseArgs([])).toThrow(/name at least one suite/);
    expect(() => parseArgs(['peak', '--wait', 'lazy'])).toThrow(/--wait must be polite, busy or both/);
  });
});

describe('timing', () => {
  it('reports the first call apart from the steady-state median', async () => {
    let calls = 0;
    const t = await timeAsync('sleepy', () => new Promise((r) => setTimeout(r, calls++ === 0 ? 60 : 2)), { budgetMs: 20, minIterations: 4, maxIterations: 8 });
    expect(t.firstMs).toBeGreaterThanOrEqual(55);
    expect(t.medianMs).toBeGreaterThanOrEqual(1.5);
    expect(t.medianMs).toBeLessThan(40);
    expect(t.samples).toBeGreaterThanOrEqual(4);
    expect(t.samples).toBeLessThanOrEqual(8);
    expect(calls).toBe(2 + t.samples); // first + one warm-up + measured
  });
});

describe('pair timing', () => {
  it('summarises samples with median, mean, min and median absolute deviation', () => {
    expect(summarise(9, [10, 1, 3, 2])).toEqual({ firstMs: 9, medianMs: 2.5, meanMs: 4, minMs: 1, madMs: 1, samples: 4 });
    expect(summarise(0, [5, 1, 3]).medianMs).toBe(3);
    expect(() => summarise(0, [])).toThrow(/no samples/);
  });

  it('alternates slices of ours and the anchor', async () => {
    const log: string[] = [];
    const sleep = (tag: string, ms: number) => () => {
      log.push(tag);
      return new Promise((r) => setTimeout(r, ms));
    };
    const { ours, anchor } = await timePair('pair', sleep('o', 1), sleep('a', 6), { budgetMs: 10, minIterations: 3, maxIterations: 3, rounds: 3 });
    expect(ours.samples).toBe(3);
    expect(anchor.samples).toBe(3);
    expect(anchor.medianMs).toBeGreaterThan(ours.medianMs);
    // first + warm-up of each, then three rounds of one call each, alternating.
    expect(log.join('')).toBe('ooaaoaoaoa');
  });
});

describe('peak suite', () => {
  it('runs quick in both wait modes and writes well-formed rows', async () => {
    const engine = await testEngine();
    const lines: string[] = [];
    const [result] = await runSuites({ suites: ['peak'], waits: ['polite', 'busy'], quick: true, out: dir, flags: new Set(), persistTuning: false, ceilings: 'measure' }, (l) => lines.push(l), engine);
    const file = JSON.parse(readFileSync(result!.path, 'utf8')) as ResultsFile;
    expect(file).toMatchObject({ suite: 'peak', wait: 'both', quick: true });
    expect(file.device).toContain(engine.adapter.description);
    expect(file.rows).toHaveLength(8);
    for (const r of file.rows) validateRow(r);
    for (const wait of ['polite', 'busy']) {
      const rows = file.rows.filter((r) => r.wait === wait);
      expect(rows.map((r) => r.case)).toEqual(['fma vec4 chains', 'copy buffer->buffer', 'copy texture->buffer', 'copyBufferToBuffer (driver)']);
      expect(rows[0]!.gflops).toBeGreaterThan(0);
      expect(rows[0]!.peak_fraction).toBe(1);
      for (const r of rows.slice(1)) expect(r.gbps).toBeGreaterThan(0);
    }
    expect(lines.join('\n')).toContain('fma vec4 chains');
    // Later suites get the ceilings this run measured.
    const c = await ceilingsFor(engine, 'busy', dir);
    expect(c.source).toBe('this run');
    const g = file.rows.find((r) => r.wait === 'busy')!.gflops!;
    expect(Math.abs(c.fmaGflops - g) / g).toBeLessThan(1e-3);
  });

  it('reads ceilings from a full peak.json of the same device only', () => {
    const sub = join(dir, 'file-ceilings');
    const rows = [
      makeRow({ case: 'fma vec4 chains', shape: 's', wait: 'busy', ours: timing(10), flops: 5e8, fmaCeiling: 50 }),
      makeRow({ case: 'copy buffer->buffer', shape: 's', wait: 'busy', ours: timing(10), bytes: 3e7 }),
      makeRow({ case: 'copy texture->buffer', shape: 's', wait: 'busy', ours: timing(10), bytes: 4e7 }),
      makeRow({ case: 'copyBufferToBuffer (driver)', shape: 's', wait: 'busy', ours: timing(10), bytes: 9e7 }),
    ];
    const file: ResultsFile = { suite: 'peak', device: 'dev A', dawn: '0', node: '', wait: 'busy', quick: false, date: '', cpus: 2, load_1m: { before: 0, after: 0 }, rows };
    writeResults(sub, file);
    // The driver's copy is a reference, not a ceiling: the best kernel copy is 4 GB/s.
    expect(ceilingsFromFile(sub, 'dev A', 'busy')).toEqual({ wait: 'busy', fmaGflops: 50, copyGbps: 4, source: 'peak.json' });
    expect(ceilingsFromFile(sub, 'dev B', 'busy')).toBeUndefined();
    expect(ceilingsFromFile(sub, 'dev A', 'polite')).toBeUndefined();
    writeResults(sub, { ...file, quick: true });
    expect(ceilingsFromFile(sub, 'dev A', 'busy')).toBeUndefined();
  });

  it('checks the FMA kernel against a replay that depends on the loop count', () => {
    const cfg = { invocations: 4, iters: 100, chains: 2, unroll: 4, workgroup: 64 };
    const a = fmaExpected(cfg, 3);
    const b = fmaExpected({ ...cfg, iters: 200 }, 3);
    expect(a.every((x, i) => x !== b[i])).toBe(true);
  });
});

describe('matmul suite', () => {
  it('times ours against tfjs-webgpu on tiny shapes and records the chosen variant', async () => {
    const engine = await testEngine();
    const rows = await runMatmul(
      { engine, waits: ['busy'], quick: true, log: () => {}, resultsDir: dir, flags: new Set(), ceilings: async (wait) => ({ wait, fmaGflops: 100, copyGbps: 1, source: 'this run' }) },
      [
        { name: 'odd', batch: 1, M: 5, K: 7, N: 3 },
        { name: 'fused', batch: 2, M: 4, K: 9, N: 6, transB: true, fused: 'relu' },
      ],
      { tune: false }, // tuning times every variant on 512³: too slow for a unit test
    );
    expect(rows.map((r) => [r.case, r.shape])).toEqual([
      ['odd', '5x7x3'],
      ['fused', '2x4x9x6'],
    ]);
    for (const r of rows) {
      validateRow(r);
      expect(r).toMatchObject({ anchor: 'tfjs-webgpu', wait: 'busy', chosen: true, fma_ceiling: 100, tune: 'skipped' });
      expect(engine.variants.supported(matmulKernel)).toContain(r.variant);
      expect(r.peak_fraction).toBeCloseTo(r.gflops! / 100, 3);
      // Both compute the same product (tfjs as the reference).
      expect(r.max_rel_diff).toBeLessThan(1e-5);
    }
  });
});
