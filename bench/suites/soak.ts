/**
 * `soak`: a long-lived process. 10,000 inferences of the shipped M1 small weights, then 1,000 training steps
 * (Adam or SGD as the recipe says) of M1 small and of M3 small, all in one process and on one engine, sampling
 * RSS, memory mappings, `engine.memory()`, the GPU-object counters and ms per iteration every 100 iterations.
 * The goal: every figure flat within 5% after the first 100 iterations, and no slowdown over the run. Each row
 * carries its samples and the growth of each figure (`growth`, a fraction; `flat` says whether all are ≤ 5%).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModelFile } from '../../src/train/model-file.js';
import { RECIPES, type ModelName } from '../../src/train/recipes.js';
import type { ForwardModel } from '../../src/train/trainer.js';
import { repoRoot, setWaitMode, type Row, type Suite, type SuiteContext } from '../harness.js';
import { flatness, soak, type SoakSample } from '../soak-loop.js';

const TOLERANCE = 0.05;

function maps(): number {
  try {
    return readFileSync('/proc/self/maps', 'utf8').split('\n').length - 1;
  } catch {
    return 0;
  }
}

interface SoakCase {
  model: ModelName;
  mode: 'infer' | 'train';
  iterations: number;
  batch: number;
  shipped?: boolean;
}

function cases(quick: boolean): SoakCase[] {
  return [
    { model: 'm1', mode: 'infer', iterations: quick ? 300 : 10_000, batch: 1, shipped: true },
    { model: 'm1', mode: 'train', iterations: quick ? 300 : 1_000, batch: 2 },
    { model: 'm3', mode: 'train', iterations: quick ? 300 : 1_000, batch: 2 },
  ];
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[s.length >> 1]! : NaN;
};

async function runCase(ctx: SuiteContext, c: SoakCase): Promise<Row> {
  const { engine } = ctx;
  const recipe = RECIPES[c.model];
  const spec = recipe.input('small');
  let model: ForwardModel;
  let classes = 7;
  if (c.shipped) {
    const bytes = readFileSync(join(repoRoot(), 'assets', 'weights', `${c.model}-small.safetensors`));
    const loaded = loadModelFile(engine, new Uint8Array(bytes), { model: c.model, config: 'small' }, 'shipped weights');
    model = loaded.model;
    classes = loaded.info.labels.length;
  } else {
    model = recipe.create(engine, { ...recipe.options('small', classes), seed: 3 }) as ForwardModel;
  }
  const every = 100;
  let samples: SoakSample[];
  try {
    samples = await soak(engine, recipe, model, spec, classes, { mode: c.mode, iterations: c.iterations, every, batch: c.batch, rss: () => process.memoryUsage().rss, heap: () => process.memoryUsage().heapUsed, maps });
  } finally {
    model.dispose();
  }
  const growth = flatness(samples, every);
  const flat = Object.entries(growth).every(([k, v]) => (k === 'ms_per_iter' ? v <= TOLERANCE : Math.abs(v) <= TOLERANCE));
  const last = samples[samples.length - 1]!;
  ctx.log(
    `${recipe.name} ${c.mode} ×${c.iterations}: ${flat ? 'flat' : 'NOT flat'}; growth after ${every}: ` +
      Object.entries(growth).map(([k, v]) => `${k} ${(100 * v).toFixed(1)}%`).join(', ') +
      `; last: rss ${last.rss_mb} MB, maps ${last.maps}, bind groups created ${last.bindGroupsCreated}`,
  );
  const timed = samples.filter((s) => s.iteration > 0).map((s) => s.ms_per_iter);
  const frames = spec.frames > 1 ? `${spec.frames}×` : '';
  return {
    case: `soak ${recipe.name} ${c.mode}${c.shipped ? ' (shipped weights)' : ''}`,
    shape: `${c.batch}×${frames}${spec.size}×${spec.size}×${spec.channels} ×${c.iterations}`,
    ours_ms: Math.round(median(timed) * 1000) / 1000,
    anchor: null,
    anchor_ms: null,
    ratio: null,
    gflops: null,
    peak_fraction: null,
    wait: engine.waitMode,
    ours_first_ms: samples[0]!.ms_per_iter,
    iterations: c.iterations,
    flat,
    growth,
    // The V8 heap grows to its working size over the first couple of hundred iterations (one major GC):
    // the same figures from iteration 500 on show what a process that has been up a while sees.
    growth_from_500: c.iterations >= 1000 ? flatness(samples, 500) : null,
    samples,
  };
}

export const soakSuite: Suite = {
  name: 'soak',
  description: 'long-lived process: 10,000 M1 inferences, 1,000 M1 and M3 training steps; RSS, pool and GPU objects sampled every 100',
  async run(ctx) {
    // One wait mode: the figures here are counts and their drift, not speed against an anchor.
    setWaitMode(ctx.engine, ctx.waits[0]!);
    const rows: Row[] = [];
    for (const c of cases(ctx.quick)) rows.push(await runCase(ctx, c));
    return rows;
  },
};
