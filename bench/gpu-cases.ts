/**
 * Every kernel and model case of test/cases on the Node engine, without vitest: what `bench/gpu-check.sh` runs on
 * a machine with a real GPU, where only a Node binary and this bundle travel. Prints one line per failure and the
 * closing `N passed, N failed` line; writes `<out>/gpu-cases.json` (adapter, every case with its ms and error).
 * Usage: node dist/gpu/cases.js [--out DIR] [--suite NAME]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeAdapter } from '../src/device/engine.js';
import { createEngine } from '../src/node/index.js';
import { suites } from '../test/cases/index.js';

const argv = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const out = flag('--out') ?? 'bench/results';
const only = flag('--suite');

const engine = await createEngine({ persistTuning: false });
const adapter = describeAdapter(engine.adapter);
console.log(`device: ${adapter}`);
const results: { suite: string; name: string; ok: boolean; ms: number; error?: string }[] = [];
for (const suite of suites) {
  if (only && suite.name !== only) continue;
  for (const c of suite.cases) {
    const t0 = performance.now();
    try {
      await c.run(engine);
      results.push({ suite: suite.name, name: c.name, ok: true, ms: Math.round(performance.now() - t0) });
    } catch (e) {
      const error = `${(e as Error).name}: ${(e as Error).message}`;
      results.push({ suite: suite.name, name: c.name, ok: false, ms: Math.round(performance.now() - t0), error });
      console.log(`FAIL ${suite.name} > ${c.name}: ${error}`);
    }
  }
}
const passed = results.filter((r) => r.ok).length;
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'gpu-cases.json'), JSON.stringify({ device: adapter, date: new Date().toISOString(), node: process.version, passed, failed: results.length - passed, results }, null, 2));
console.log(`${passed} passed, ${results.length - passed} failed`);
process.exit(results.length === passed ? 0 : 1);
