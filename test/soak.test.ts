/**
 * Long-lived process checks in Node: a short soak of M1 training (the model whose steps used to create ~840 new
 * bind groups each and grow RSS by megabytes a step), and all five models built, trained a step and disposed
 * round after round. Counters are asserted, timings are not (the `soak` benchmark reports those).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { keep, tidy } from '../src/graph/scope.js';
import { gpuObjects } from '../src/kernels/objects.js';
import { MODEL_NAMES, RECIPES } from '../src/train/recipes.js';
import type { ForwardModel } from '../src/train/trainer.js';
import { makeBatch } from '../src/train/batches.js';
import { makeFaceClip } from '../src/data/synthetic-faces.js';
import { FLAT_COUNTERS, flatness, soak } from '../bench/soak-loop.js';
import { testEngine } from './helpers/node-engine.js';

const maps = (): number => readFileSync('/proc/self/maps', 'utf8').split('\n').length - 1;
const hasProc = (() => {
  try {
    return maps() > 0;
  } catch {
    return false;
  }
})();

describe('soak', () => {
  it('M1 small training: no GPU-object, pool or mapping growth after warm-up (250 steps)', async () => {
    const engine = await testEngine();
    const recipe = RECIPES.m1;
    // The small configuration at 32 px: the same kernels and dispatch count per step as 64 px, at a quarter of the work.
    const spec = { ...recipe.input('small'), size: 32 };
    const model = recipe.create(engine, { ...recipe.options('small', 7), seed: 5 }) as ForwardModel;
    try {
      const samples = await soak(engine, recipe, model, spec, 7, { mode: 'train', iterations: 250, every: 50, batch: 2, ...(hasProc ? { maps } : {}) });
      const growth = flatness(samples, 50);
      for (const k of FLAT_COUNTERS) expect(growth[k], `${k}: ${samples.map((s) => s[k]).join(' → ')}`).toBe(0);
      if (hasProc) expect(Math.abs(growth.maps!), `maps: ${samples.map((s) => s.maps).join(' → ')}`).toBeLessThan(0.05);
      // A step repeated hits the bind-group cache for every dispatch once warm.
      expect(samples[samples.length - 1]!.bindGroupsCreated).toBe(samples[1]!.bindGroupsCreated);
    } finally {
      model.dispose();
    }
  });

  it('all five models built, trained a step and disposed, three rounds: GPU objects stay bounded', async () => {
    const engine = await testEngine();
    const rounds: ReturnType<typeof gpuObjects>[] = [];
    const mapCounts: number[] = [];
    for (let round = 0; round < 3; round++) {
      for (const name of MODEL_NAMES) {
        const recipe = RECIPES[name];
        const spec = { ...recipe.input('small') };
        const model = recipe.create(engine, { ...recipe.options('small', 7), seed: 1 }) as ForwardModel;
        const clips = [0, 1].map((i) => makeFaceClip({ seed: 2, identity: i, emotion: 'happiness', frames: Math.max(2, spec.frames), apexFrame: 1, height: spec.size, width: spec.size, channels: spec.channels }));
        const batch = makeBatch(clips, spec, { train: false });
        const x = engine.tensor(batch.data, batch.shape);
        model.train();
        const loss = tidy(() => {
          const l = recipe.loss(model, model.forward(x), [3, 4]);
          l.backward();
          return keep(l.detach());
        });
        const v = await loss.read();
        expect(Number.isFinite(v[0]!), `${name} loss ${v[0]}`).toBe(true);
        loss.dispose();
        x.dispose();
        model.dispose();
      }
      await engine.sync();
      rounds.push(gpuObjects(engine));
      if (hasProc) mapCounts.push(maps());
    }
    const [first, , last] = rounds as [ReturnType<typeof gpuObjects>, unknown, ReturnType<typeof gpuObjects>];
    // Rebuilt models reuse the pool's buffers, the staging textures and the compiled pipelines.
    for (const k of ['buffers', 'buffersCreated', 'textures', 'pipelines', 'shaderModules', 'uniformBuffers'] as const) {
      expect(last[k], `${k} per round: ${rounds.map((r) => r[k]).join(', ')}`).toBe(first[k]);
    }
    expect(last.bindGroups).toBeLessThanOrEqual(4096);
    expect(engine.memory().liveBytes, 'every model disposed').toBe(0);
    if (hasProc) expect(mapCounts[2]! / mapCounts[0]!, `maps per round: ${mapCounts.join(', ')}`).toBeLessThan(1.05);
  });
});
