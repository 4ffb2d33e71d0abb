/**
 * `tfjs-model`: a real TensorFlow.js graph model imported with src/import/tfjs-graph.ts, the FER2013
 * mini-Xception emotion model of @vladmandic/human (64×64×1 in, 7 emotions out, ~205k parameters; fused
 * conv + bias + ReLU, depthwise 3×3, 1×1 convs, SAME max-pools, residual adds, mean, softmax). Latency of one
 * forward pass plus reading the [N, 7] probabilities back, batch 1 and 8, ours against the same model.json run
 * by tfjs-converter on tfjs-webgpu (same Dawn adapter) and on tfjs-wasm (SIMD, CPU).
 */
import { join } from 'node:path';
import type { Tensor } from '../../src/graph/tensor.js';
import { conv2dDepthwiseKernel, conv2dKernel } from '../../src/kernels/conv-gpu.js';
import type { TunableKernel } from '../../src/kernels/variants.js';
import { concatShards, loadTfjsGraphModel } from '../../src/import/tfjs-graph.js';
import { readTfjsModelFiles } from '../../src/node/tfjs-model-files.js';
import { makeRow, randomData, repoRoot, setWaitMode, tfjsWebGPU, timePair, withWaiter, type Row, type Suite, type SuiteContext } from '../harness.js';
import { relDiff, tfSync, variantOf, type TfTensor } from './op-bench.js';

const MODEL = 'node_modules/@vladmandic/human/models/emotion.json';
/** Multiply-adds × 2 of every convolution for one 64×64 image (summed layer by layer from the graph's shapes). */
const FLOPS_PER_IMAGE = 131_536_576;
const BATCHES = [1, 8];

interface TfGraphModel {
  predict(x: TfTensor): TfTensor;
  dispose(): void;
}

async function loadTfModel(files: Awaited<ReturnType<typeof readTfjsModelFiles>>): Promise<TfGraphModel> {
  const tfc = await import('@tensorflow/tfjs-converter');
  const { modelJson, weightBuffers } = files;
  const weightData = concatShards(weightBuffers);
  const handler = {
    load: async () => ({
      modelTopology: modelJson.modelTopology as never,
      weightSpecs: modelJson.weightsManifest.flatMap((g) => g.weights) as never,
      weightData: weightData.buffer,
      format: modelJson.format,
    }),
  };
  return (await tfc.loadGraphModel(handler)) as unknown as TfGraphModel;
}

export const tfjsModelSuite: Suite = {
  name: 'tfjs-model',
  description: 'imported TF.js graph model (FER2013 mini-Xception emotion CNN, 64x64): latency vs tfjs-webgpu and tfjs-wasm',
  async run(ctx: SuiteContext): Promise<Row[]> {
    const { engine, log } = ctx;
    const files = await readTfjsModelFiles(join(repoRoot(), MODEL));
    const ours = loadTfjsGraphModel(engine, files.modelJson, files.weightBuffers);
    const tf = await tfjsWebGPU();
    const kernels = [conv2dKernel, conv2dDepthwiseKernel] as TunableKernel<never>[];
    const rows: Row[] = [];
    const opts = ctx.quick ? { budgetMs: 100, minIterations: 2, maxIterations: 5 } : { budgetMs: 2500, minIterations: 5, maxIterations: 60, warmup: 2, rounds: 3 };
    const inputs = BATCHES.map((n) => {
      const data = randomData(n * 64 * 64, 20 + n);
      return { n, data, x: engine.tensor(data, [n, 64, 64, 1]) };
    });
    const oursRun = (x: Tensor) => async () => {
      const y = ours.predict(x);
      await y.read();
      y.dispose();
    };
    const oursOut = async (x: Tensor) => {
      const y = ours.predict(x);
      const v = (await y.read()) as Float32Array;
      y.dispose();
      return v;
    };
    try {
      for (const backend of ['webgpu', 'wasm'] as const) {
        if (backend === 'wasm') {
          const wasm = await import('@tensorflow/tfjs-backend-wasm');
          wasm.setWasmPaths(join(repoRoot(), 'node_modules/@tensorflow/tfjs-backend-wasm/dist') + '/');
          if (!(await tf.setBackend('wasm'))) throw new Error('tfjs: the wasm backend failed to initialise');
        }
        const anchorName = `tfjs-${backend}`;
        const model = await loadTfModel(files);
        try {
          for (const { n, data, x } of inputs) {
            const tx = tf.tensor(data, [n, 64, 64, 1]) as unknown as TfTensor;
            try {
              // Same answer (outside the timings).
              const ty = model.predict(tx);
              const diff = relDiff(await oursOut(x), (await ty.data()) as Float32Array);
              ty.dispose();
              for (const wait of ctx.waits) {
                const waiter = setWaitMode(engine, wait);
                const theirs = async () => {
                  const y = model.predict(tx);
                  if (backend === 'webgpu') await tfSync(tf, waiter);
                  await withWaiter(waiter, () => y.data());
                  y.dispose();
                };
                const t = await timePair(`tfjs-model ${anchorName} b${n} ${wait}`, oursRun(x), theirs, opts);
                const row = makeRow({
                  case: `emotion mini-Xception forward + readback (batch ${n})`,
                  shape: `${n}x64x64x1`,
                  wait,
                  ours: t.ours,
                  anchor: { name: anchorName, timing: t.anchor },
                  flops: n * FLOPS_PER_IMAGE,
                  extra: { variant: variantOf(engine, kernels), max_rel_diff: Number(diff.toPrecision(2)) },
                });
                log(`tfjs-model: ${wait} batch ${n}: ours ${row.ours_ms} ms (first ${row.ours_first_ms}), ${anchorName} ${row.anchor_ms} ms (first ${row.anchor_first_ms as number}), ratio ${row.ratio}, max rel diff ${diff.toExponential(1)}`);
                rows.push(row);
              }
            } finally {
              tx.dispose();
            }
          }
        } finally {
          model.dispose();
        }
      }
    } finally {
      // Later suites in this process expect tfjs on WebGPU.
      await tf.setBackend('webgpu');
      inputs.forEach((i) => i.x.dispose());
      ours.dispose();
    }
    return rows;
  },
};
