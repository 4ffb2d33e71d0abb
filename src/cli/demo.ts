/**
 * `fergpu demo` (= `npm run demo`): a dense layer on the GPU checked against the CPU reference; the shipped M1
 * weights predicting the emotion of a generated clip, with its attention drawn to demo-output/; and the pretrained
 * TensorFlow.js emotion model imported and run on the astronaut photo.
 */
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EMOTIONS } from '../data/types.js';
import { describeAdapter, type Engine } from '../device/engine.js';
import { writePng } from '../node/image-files.js';
import { readModelFileInfo } from '../train/model-file.js';
import { demoClip } from './demo-clip.js';
import { runInfer } from './infer.js';
import { ensureWritableFolder } from './infer-checks.js';
import { inferTfjsModel } from './infer-tfjs.js';
import { HostTensor } from '../graph/host.js';
import { matmul, matmulCpu } from '../kernels/matmul.js';
import { Rng } from '../models/random.js';

export async function runDemo(engine: Engine): Promise<number> {
  console.log(`adapter: ${describeAdapter(engine.adapter)}`);
  console.log(`waiting: ${engine.waitMode}`);

  // 1. One dense layer, relu(x·W + b), on the GPU against the plain TypeScript reference.
  const rng = new Rng(1);
  const hx = new HostTensor([64, 256], rng.uniform(64 * 256, -1, 1));
  const hw = new HostTensor([256, 128], rng.uniform(256 * 128, -0.1, 0.1));
  const hb = new HostTensor([128], rng.uniform(128, -0.1, 0.1));
  const t0 = performance.now();
  const [x, w, b] = [hx, hw, hb].map((h) => engine.tensor(h.data, h.shape));
  const y = matmul(x!, w!, { bias: b!, activation: 'relu' });
  const got = await y.read();
  const ms = performance.now() - t0;
  const expected = matmulCpu(hx, hw, { bias: hb, activation: 'relu' });
  let maxErr = 0;
  for (let i = 0; i < got.length; i++) maxErr = Math.max(maxErr, Math.abs(got[i]! - expected.data[i]!));
  const denseOk = maxErr <= 1e-4;
  console.log(`dense layer relu(x·W + b), x [64, 256], W [256, 128]: ${ms.toFixed(1)} ms on the GPU (first call, compiles included)`);
  console.log(`  max |GPU − CPU reference| = ${maxErr.toExponential(2)} → ${denseOk ? 'OK' : 'MISMATCH'}`);
  [x, w, b, y].forEach((t) => t!.dispose());

  // 2. The shipped M1 weights (trained by `fergpu train` on synthetic faces) on a generated clip the model never saw.
  const fer = await ferDemo(engine);
  // 3. A pretrained network nobody here wrote: the tfjs emotion model of @vladmandic/human on the astronaut photo.
  await tfjsDemo(engine);
  const mem = engine.memory();
  console.log(`GPU memory: ${mem.liveBytes} B live, ${mem.pooledBytes} B pooled, peak ${mem.peakLiveBytes} B, ${mem.created} buffers created; ${engine.runtime.counters.dispatches} dispatches in ${engine.runtime.counters.submits} submits, ${engine.runtime.counters.bindGroupHits} bind groups reused`);
  engine.destroy();
  return denseOk && fer ? 0 : 1;
}

/** Where the demo writes its pictures (relative to the working directory). */
export const DEMO_OUTPUT = 'demo-output';
const SHIPPED_WEIGHTS = new URL('../assets/weights/m1-small.safetensors', import.meta.url);

async function ferDemo(engine: Engine): Promise<boolean> {
  const weights = fileURLToPath(SHIPPED_WEIGHTS);
  const clipDir = join(DEMO_OUTPUT, 'clip');
  try {
    await rm(DEMO_OUTPUT, { recursive: true, force: true });
  } catch (e) {
    throw new Error(`demo: cannot clear its picture folder ${DEMO_OUTPUT}/ in ${process.cwd()} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); run the demo from a writable folder`);
  }
  await ensureWritableFolder(resolve(clipDir), 'demo: the picture folder', 'run the demo from a writable folder');
  // A face from the held-out identities of the shipped weights' training run, so the model has not seen it.
  const info = readModelFileInfo(new Uint8Array(await readFile(weights)))!;
  const clip = demoClip(info.input.size, info.input.channels);
  const frameSize = clip.height * clip.width * clip.channels;
  for (let f = 0; f < clip.frameCount; f++) {
    const frame = clip.frames.subarray(f * frameSize, (f + 1) * frameSize);
    writePng(join(clipDir, `frame-${String(f + 1).padStart(2, '0')}.png`), { width: clip.width, height: clip.height, channels: clip.channels, data: Uint8Array.from(frame, (v) => Math.round(v * 255)) });
  }
  console.log(`\nM1 (${info.config}, trained ${info.epoch} epochs on synthetic faces, shipped in assets/weights): a generated ${EMOTIONS[clip.label]} clip of ${clip.frameCount} frames, ${clip.width}×${clip.height}, written to ${clipDir}/`);
  const t0 = performance.now();
  const [r] = await runInfer(engine, { weights, inputs: [clipDir], saveAttention: DEMO_OUTPUT });
  const correct = r!.top === EMOTIONS[clip.label];
  console.log(`predicted ${r!.top} (${(100 * r!.confidence).toFixed(1)}%) for a ${EMOTIONS[clip.label]} clip → ${correct ? 'correct' : 'WRONG'} (${(performance.now() - t0).toFixed(0)} ms, first call, shaders compiled)`);
  return correct;
}

async function tfjsDemo(engine: Engine): Promise<void> {
  const model = fileURLToPath(new URL('../node_modules/@vladmandic/human/models/emotion.json', import.meta.url));
  const photo = fileURLToPath(new URL('../test/fixtures/astronaut.png', import.meta.url));
  if (!existsSync(model)) {
    console.log(`\n(skipping the tfjs emotion model: ${model} is not installed; it is a dev dependency: npm ci)`);
    return;
  }
  console.log(`\nTensorFlow.js graph model ${model} (mini-Xception, FER2013) on the astronaut photo (face box ${ASTRONAUT_BOX.join(',')}):`);
  const [x, y, width, height] = ASTRONAUT_BOX;
  await inferTfjsModel(engine, model, [photo], { box: { x, y, width, height } });
}

/** Eileen Collins' face in scikit-image's astronaut.png (x, y, width, height). */
const ASTRONAUT_BOX = [168, 62, 112, 124] as const;
