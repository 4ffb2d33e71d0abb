/**
 * `replay`: recorded replay (`engine.record`, src/kernels/recording.ts) against the normal call of the same eval
 * forward, for small models where the host's planning is a large part of a call: the shipped M1 small weights on a
 * clip, M4 small and M3 small on a face. Per case: ms per call (forward + readback of the logits) both ways, in
 * alternating slices; `ratio` = normal / replay (> 1: replay is faster; the anchor is our own normal call, not
 * tfjs); and the host time per dispatch (the synchronous JavaScript of one call divided by its dispatches), which
 * is what replay removes: planning, shape checks, variant choice, bind-group lookup.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Engine } from '../../src/device/engine.js';
import { noGrad } from '../../src/graph/autograd.js';
import { keep, tidy } from '../../src/graph/scope.js';
import type { Tensor } from '../../src/graph/tensor.js';
import { loadModelFile } from '../../src/train/model-file.js';
import { RECIPES, type ModelName } from '../../src/train/recipes.js';
import type { ForwardModel } from '../../src/train/trainer.js';
import { makeRow, randomData, repoRoot, setWaitMode, timePair, type Row, type Suite, type SuiteContext, type WaitMode } from '../harness.js';

interface ReplayCase {
  model: ModelName;
  batch: number;
  shipped?: boolean;
}

const CASES: ReplayCase[] = [
  { model: 'm1', batch: 1, shipped: true },
  { model: 'm4', batch: 1 },
  { model: 'm3', batch: 1 },
];

function build(engine: Engine, c: ReplayCase): ForwardModel {
  const recipe = RECIPES[c.model];
  if (c.shipped) {
    const bytes = readFileSync(join(repoRoot(), 'assets', 'weights', `${c.model}-small.safetensors`));
    return loadModelFile(engine, new Uint8Array(bytes), { model: c.model, config: 'small' }, 'shipped weights').model;
  }
  return recipe.create(engine, { ...recipe.options('small', 7), seed: 3 }) as ForwardModel;
}

/** Mean host milliseconds of `call` (synchronous part only: the GPU work and the readback are awaited outside). */
async function hostMs(call: () => Tensor, iterations: number): Promise<number> {
  let total = 0;
  for (let i = 0; i < iterations; i++) {
    const t0 = performance.now();
    const y = call();
    total += performance.now() - t0;
    await y.read();
  }
  return total / iterations;
}

async function runCase(ctx: SuiteContext, c: ReplayCase, wait: WaitMode): Promise<Row> {
  const { engine } = ctx;
  const spec = RECIPES[c.model].input('small');
  const shape = spec.frames === 1 ? [c.batch, spec.size, spec.size, spec.channels] : [c.batch, spec.frames, spec.size, spec.size, spec.channels];
  const model = build(engine, c).eval();
  const data = randomData(shape.reduce((a, b) => a * b, 1), 11);
  const x = engine.tensor(data, shape);
  const forward = (input: Tensor): Tensor => noGrad(() => tidy(() => keep(model.forward(input).logits!)));
  const normal = (): Tensor => forward(x);
  const rec = engine.record([shape], (input) => model.forward(input).logits!, `${c.model} eval`);
  try {
    // Same numbers both ways before anything is timed.
    const [a, b] = [await normal().read(), await rec.run(data).read()];
    const diff = Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i]!)));
    const before = engine.runtime.counters.dispatches;
    const once = normal();
    const dispatches = engine.runtime.counters.dispatches - before;
    await once.read();
    once.dispose();
    const timing = await timePair(
      `${c.model} replay`,
      () => rec.run(data).read(),
      async () => {
        const y = normal();
        await y.read();
        y.dispose();
      },
      ctx.quick ? { budgetMs: 300, minIterations: 3, maxIterations: 10 } : { budgetMs: 3000, minIterations: 10, maxIterations: 200 },
    );
    const iterations = ctx.quick ? 10 : 40;
    const hostNormal = await hostMs(normal, iterations);
    const hostReplay = await hostMs(() => rec.run(data), iterations);
    return makeRow({
      case: `${c.model.toUpperCase()} small eval, replayed`,
      shape: shape.join('×'),
      wait,
      ours: timing.ours,
      anchor: { name: 'normal call (ours)', timing: timing.anchor },
      extra: {
        dispatches,
        commands: rec.commands,
        host_us_per_dispatch: Number(((1000 * hostNormal) / dispatches).toFixed(2)),
        host_us_per_dispatch_replay: Number(((1000 * hostReplay) / rec.commands).toFixed(2)),
        host_ms_normal: Number(hostNormal.toFixed(3)),
        host_ms_replay: Number(hostReplay.toFixed(3)),
        max_abs_diff: diff,
        ...(c.shipped ? { weights: 'assets/weights (shipped)' } : {}),
      },
    });
  } finally {
    rec.dispose();
    x.dispose();
    model.dispose();
  }
}

export const replaySuite: Suite = {
  name: 'replay',
  description: 'recorded replay vs the normal call of small eval forwards (M1 shipped, M4, M3): ms per call and host µs per dispatch',
  async run(ctx: SuiteContext): Promise<Row[]> {
    const rows: Row[] = [];
    for (const wait of ctx.waits) {
      setWaitMode(ctx.engine, wait);
      for (const c of CASES) rows.push(await runCase(ctx, c, wait));
    }
    return rows;
  },
};
