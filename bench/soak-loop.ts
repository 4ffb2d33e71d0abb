/**
 * Soak loops: many inferences or training steps of one model in one process, sampling process memory, the
 * engine's pool and every GPU-object counter at a fixed interval. A long-lived process (a server, a browser
 * tab, a long training run) must be flat in all of them once warm; `flatness` says by how much each grew.
 * Shared by the `soak` benchmark suite and the short soak test in `npm test` (which asserts the counters only).
 */
import { makeFaceClip } from '../src/data/synthetic-faces.js';
import { EMOTIONS } from '../src/data/types.js';
import type { Engine } from '../src/device/engine.js';
import { noGrad } from '../src/graph/autograd.js';
import { keep, tidy } from '../src/graph/scope.js';
import type { Tensor } from '../src/graph/tensor.js';
import { gpuObjects, type GpuObjects } from '../src/kernels/objects.js';
import { makeBatch } from '../src/train/batches.js';
import { makeOptimizer, type InputSpec, type Recipe } from '../src/train/recipes.js';
import type { ForwardModel } from '../src/train/trainer.js';

export interface SoakSample extends GpuObjects {
  iteration: number;
  /** Process resident set, MB (Node; null in browsers). */
  rss_mb: number | null;
  /** V8 heap in use, MB (Node; null in browsers). */
  heap_mb: number | null;
  /** Memory mappings of the process (Linux; null elsewhere): what Dawn's descriptor pools exhausted before. */
  maps: number | null;
  live_bytes: number;
  pooled_bytes: number;
  /** Mean ms per iteration over the interval that ends here. */
  ms_per_iter: number;
}

export interface SoakOptions {
  mode: 'infer' | 'train';
  iterations: number;
  /** Sample every this many iterations (and at 0). */
  every: number;
  batch: number;
  /** Process probes; the Node suite supplies them. */
  rss?: () => number;
  heap?: () => number;
  maps?: () => number;
}

/** A few distinct batches of generated faces, cycled through so data varies but costs nothing per step. */
function batches(spec: InputSpec, classes: number, n: number, count: number): { data: Float32Array; shape: number[]; labels: number[] }[] {
  return Array.from({ length: count }, (_, b) => {
    const labels = Array.from({ length: n }, (_, i) => (b * n + i) % classes);
    const clips = labels.map((y, i) =>
      makeFaceClip({ seed: 7, identity: b * n + i, emotion: EMOTIONS[y % EMOTIONS.length]!, frames: Math.max(spec.frames, 2), apexFrame: Math.max(spec.frames, 2) - 1, height: spec.size, width: spec.size, channels: spec.channels }),
    );
    return { ...makeBatch(clips, spec, { train: false }), labels };
  });
}

/** Runs the loop and returns the samples (iteration 0 is after the first, compiling, iteration). */
export async function soak(engine: Engine, recipe: Recipe, model: ForwardModel, spec: InputSpec, classes: number, o: SoakOptions): Promise<SoakSample[]> {
  const data = batches(spec, classes, o.batch, 4);
  const optimizer = o.mode === 'train' ? makeOptimizer(model.parameters(), recipe.optimizer('small')) : null;
  model.train(o.mode === 'train');
  const samples: SoakSample[] = [];
  let t0 = performance.now();
  try {
    for (let i = 0; i <= o.iterations; i++) {
      const b = data[i % data.length]!;
      const x = engine.tensor(b.data, b.shape);
      let out: Tensor;
      if (optimizer) {
        out = tidy(() => {
          optimizer.zeroGrad();
          const l = recipe.loss(model, model.forward(x), b.labels);
          l.backward();
          optimizer.step();
          return keep(l.detach());
        });
      } else {
        out = noGrad(() => tidy(() => keep(recipe.probabilities(model.forward(x)))));
      }
      x.dispose();
      const v = await out.read();
      out.dispose();
      if (!Number.isFinite(v[0]!)) throw new Error(`soak ${recipe.name} ${o.mode}: non-finite output ${v[0]} at iteration ${i}`);
      if (i % o.every === 0) {
        const now = performance.now();
        const mem = engine.memory();
        samples.push({
          iteration: i,
          rss_mb: o.rss ? Math.round(o.rss() / 1e5) / 10 : null,
          heap_mb: o.heap ? Math.round(o.heap() / 1e5) / 10 : null,
          maps: o.maps ? o.maps() : null,
          live_bytes: mem.liveBytes,
          pooled_bytes: mem.pooledBytes,
          ...gpuObjects(engine),
          ms_per_iter: Math.round(((now - t0) / (i === 0 ? 1 : o.every)) * 100) / 100,
        });
        t0 = performance.now();
      }
    }
  } finally {
    optimizer?.dispose();
  }
  return samples;
}

/** Counters that must not move in a steady state, and process figures that may drift a little. */
export const FLAT_COUNTERS = ['live_bytes', 'pooled_bytes', 'buffers', 'buffersCreated', 'textures', 'pipelines', 'shaderModules', 'bindGroups', 'bindGroupsCreated', 'uniformBuffers'] as const;

/**
 * Growth of each figure from the sample at `from` (the first after warm-up) to the last, as a fraction of its
 * value at `from`; `ms_per_iter` compares the mean of the last two intervals with the first two.
 */
export function flatness(samples: readonly SoakSample[], from = 100): Record<string, number> {
  const start = samples.find((s) => s.iteration >= from) ?? samples[0]!;
  const end = samples[samples.length - 1]!;
  const out: Record<string, number> = {};
  const keys = [...FLAT_COUNTERS, 'rss_mb', 'maps'] as const;
  for (const k of keys) {
    const a = start[k];
    const b = end[k];
    if (a === null || b === null) continue;
    out[k] = a === 0 ? (b === 0 ? 0 : Infinity) : Math.round(((b - a) / a) * 1e4) / 1e4;
  }
  const timed = samples.filter((s) => s.iteration > start.iteration);
  if (timed.length >= 4) {
    const mean = (xs: SoakSample[]) => xs.reduce((t, s) => t + s.ms_per_iter, 0) / xs.length;
    out.ms_per_iter = Math.round((mean(timed.slice(-2)) / mean(timed.slice(0, 2)) - 1) * 1e4) / 1e4;
  }
  return out;
}
