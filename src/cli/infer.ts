/**
 * `fergpu infer`: a trained model + clips (folders of frames, or image files) → per-clip emotion probabilities,
 * the top emotion and the frame weights, as a table or JSON; `--save-attention DIR` draws what the model attended
 * to (spatial maps over the frames, frame weights as bars, M4's occlusion saliency and warped input).
 */
import { mkdir, readFile, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { clipFromImages } from '../data/resize.js';
import type { Clip } from '../data/types.js';
import type { Engine } from '../device/engine.js';
import { noGrad } from '../graph/autograd.js';
import { keep, tidy } from '../graph/scope.js';
import type { Tensor } from '../graph/tensor.js';
import { occlusionSaliency, type DeepEmotion } from '../models/m4-deep-emotion.js';
import { readImage, writePng } from '../node/image-files.js';
import { isImageFile, listFrames } from '../node/image-folder.js';
import { framesFor, makeBatch } from '../train/batches.js';
import { loadModelFile, type LoadedModel } from '../train/model-file.js';
import { attentionOverlay } from '../viz/attention.js';
import { barChart } from '../viz/charts.js';
import { occlusionPanel } from '../viz/panels.js';

export interface InferArgs {
  model?: string;
  config?: string;
  weights: string;
  inputs: string[];
  json?: boolean;
  saveAttention?: string;
}

export interface ClipPrediction {
  input: string;
  probabilities: Record<string, number>;
  top: string;
  confidence: number;
  frameWeights?: number[];
  pictures?: string[];
}

/** A clip from a path: a folder of frames (sorted by name) or one image. */
export async function readClip(path: string, size: number, channels: 1 | 3, notice: (m: string) => void): Promise<Clip> {
  let s;
  try {
    s = await stat(path);
  } catch {
    throw new Error(`${path}: no such file or folder`);
  }
  let files: string[];
  if (s.isDirectory()) {
    files = listFrames(path);
    if (files.length === 0) throw new Error(`${path}: the clip folder holds no PNG or JPEG frames`);
  } else {
    if (!isImageFile(path)) throw new Error(`${path}: not a PNG or JPEG image (or a folder of them)`);
    files = [path];
  }
  const images = files.map((f) => readImage(f));
  const first = images[0]!;
  if (first.width !== size || first.height !== size) notice(`${path}: frames are ${first.width}×${first.height}, resized to ${size}×${size}`);
  return clipFromImages(images, { height: size, width: size }, channels, { source: path, peakFrame: images.length - 1 });
}

export async function runInfer(engine: Engine, a: InferArgs): Promise<ClipPrediction[]> {
  if (a.inputs.length === 0) throw new Error('infer: give at least one clip (a folder of frames) or image');
  let loaded: LoadedModel;
  try {
    loaded = loadModelFile(engine, new Uint8Array(await readFile(a.weights)), { ...(a.model ? { model: a.model } : {}), ...(a.config ? { config: a.config } : {}) }, a.weights);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`${a.weights}: no such weights file`);
    throw e;
  }
  const { recipe, model, info } = loaded;
  const spec = info.input;
  model.freeze(); // inference only: kernels keep the packed weights
  const results: ClipPrediction[] = [];
  if (a.saveAttention) await mkdir(a.saveAttention, { recursive: true });
  try {
    for (const path of a.inputs) {
      const clip = await readClip(path, spec.size, spec.channels, (m) => console.warn(`notice: ${m}`));
      const batch = makeBatch([clip], spec, { train: false });
      const x = engine.tensor(batch.data, batch.shape);
      const got = noGrad(() =>
        tidy(() => {
          const out = model.forward(x);
          const keepIf = (t: Tensor | undefined): Tensor | undefined => (t ? keep(t) : undefined);
          return {
            probs: keep(recipe.probabilities(out)),
            weights: keepIf(recipe.frameWeights ? out[recipe.frameWeights] : undefined),
            map: keepIf(recipe.spatialMap?.(out)),
            warped: keepIf(out.warped),
          };
        }),
      );
      const probs = (await got.probs.read()) as Float32Array;
      const weights = got.weights ? Array.from((await got.weights.read()) as Float32Array) : undefined;
      const prediction: ClipPrediction = { input: path, probabilities: {}, top: '', confidence: 0, ...(weights ? { frameWeights: weights } : {}) };
      info.labels.forEach((l, i) => (prediction.probabilities[l] = probs[i]!));
      const best = probs.indexOf(Math.max(...probs));
      prediction.top = info.labels[best]!;
      prediction.confidence = probs[best]!;
      if (a.saveAttention) prediction.pictures = await drawAttention(a.saveAttention, path, clip, loaded, x, got, weights, probs);
      for (const t of Object.values(got)) t?.dispose();
      x.dispose();
      results.push(prediction);
    }
  } finally {
    model.dispose();
  }
  if (a.json) console.log(JSON.stringify({ model: info.model, config: info.config, labels: info.labels, clips: results }, null, 2));
  else printTable(results, info.labels);
  return results;
}

export function printTable(results: ClipPrediction[], labels: readonly string[]): void {
  const w = Math.max(10, ...results.map((r) => basename(r.input).length));
  console.log(`${'input'.padEnd(w)}  ${labels.map((l) => l.slice(0, 9).padStart(9)).join(' ')}  top`);
  for (const r of results) {
    console.log(`${basename(r.input).padEnd(w)}  ${labels.map((l) => (100 * r.probabilities[l]!).toFixed(1).padStart(8) + '%').join(' ')}  ${r.top} (${(100 * r.confidence).toFixed(1)}%)`);
    if (r.frameWeights) console.log(`${''.padEnd(w)}  frame weights: ${r.frameWeights.map((v) => v.toFixed(3)).join(' ')}`);
    for (const p of r.pictures ?? []) console.log(`${''.padEnd(w)}  wrote ${p}`);
  }
}

async function drawAttention(
  dir: string,
  path: string,
  clip: Clip,
  { recipe, model, info }: LoadedModel,
  x: Tensor,
  got: { map?: Tensor | undefined; warped?: Tensor | undefined },
  weights: number[] | undefined,
  probs: Float32Array,
): Promise<string[]> {
  const stem = basename(path, extname(path));
  const spec = info.input;
  const written: string[] = [];
  const frameIdx = framesFor(clip, spec);
  const frameSize = clip.height * clip.width * clip.channels;
  const frames = new Float32Array(frameIdx.length * frameSize);
  frameIdx.forEach((f, i) => frames.set(clip.frames.subarray(f * frameSize, (f + 1) * frameSize), i * frameSize));
  const save = (name: string, img: Parameters<typeof writePng>[1]): void => {
    const file = join(dir, `${stem}-${name}.png`);
    writePng(file, img);
    written.push(file);
  };
  if (got.map) {
    const shape = got.map.shape;
    let maps = (await got.map.read()) as Float32Array;
    const [h, w] = [shape[shape.length - 2]!, shape[shape.length - 1]!];
    if (recipe.name === 'm2') maps = meanOverHeads(maps, frameIdx.length, shape[2]!, h * w); // [N, T, heads, h, w]
    save('attention', attentionOverlay({ frames, count: frameIdx.length, height: clip.height, width: clip.width, channels: clip.channels }, { maps, height: h, width: w }, {
      scale: clip.width < 96 ? 4 : 1,
      ...(weights ? { captions: weights.map((v) => `w ${v.toFixed(3)}`) } : {}),
    }));
  }
  if (weights) save('frame-weights', barChart(weights, weights.map((_, i) => `${frameIdx[i]! + 1}`), { title: 'frame weights' }));
  save('probabilities', barChart(Array.from(probs), info.labels, { title: `${recipe.name}: emotion probabilities` }));
  if (recipe.name === 'm4' && got.warped) {
    const sal = await occlusionSaliency(model as unknown as DeepEmotion, x);
    const warped = (await got.warped.read()) as Float32Array;
    const unit = (v: Float32Array): Float32Array => v.map((p) => (p + 1) / 2); // model input is in [−1, 1]
    const [rows, cols] = [sal.map.shape[1]!, sal.map.shape[2]!];
    save('occlusion', occlusionPanel(
      { data: unit(((await x.read()) as Float32Array)), height: spec.size, width: spec.size },
      { data: sal.map.data as Float32Array, height: rows, width: cols },
      { data: unit(warped), height: spec.size, width: spec.size },
    ));
  }
  return written;
}

function meanOverHeads(maps: Float32Array, t: number, heads: number, hw: number): Float32Array {
  const out = new Float32Array(t * hw);
  for (let f = 0; f < t; f++) for (let h = 0; h < heads; h++) for (let i = 0; i < hw; i++) out[f * hw + i]! += maps[(f * heads + h) * hw + i]! / heads;
  return out;
}
