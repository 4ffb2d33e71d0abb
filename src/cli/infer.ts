/**
 * `fergpu infer`: a trained model + clips (folders of frames, or image files) → per-clip emotion probabilities,
 * the top emotion and the frame weights, as a table or JSON; `--save-attention DIR` draws what the model attended
 * to (spatial maps over the frames, frame weights as bars, M4's occlusion saliency and warped input).
 */
import { readFile, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { clipFromImages } from '../data/resize.js';
import type { Clip } from '../data/types.js';
import type { Engine } from '../device/engine.js';
import { GpuError } from '../device/errors.js';
import { noGrad } from '../graph/autograd.js';
import { keep, tidy } from '../graph/scope.js';
import type { Tensor } from '../graph/tensor.js';
import { occlusionSaliency, type DeepEmotion } from '../models/m4-deep-emotion.js';
import { readImage, writePng } from '../node/image-files.js';
import { isImageFile, listFrames } from '../node/image-folder.js';
import { framesFor, makeBatch } from '../train/batches.js';
import { loadModelFile, readModelFileInfo, type LoadedModel } from '../train/model-file.js';
import { attentionOverlay } from '../viz/attention.js';
import { checkModelInfo, describeFsError, ensureWritableFolder } from './infer-checks.js';
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
  } catch (e) {
    throw new Error(describeFsError(path, e, 'file or folder'));
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
  const odd = images.findIndex((im) => im.width !== first.width || im.height !== first.height);
  if (odd > 0) throw new Error(`${path}: frames differ in size: ${files[0]} is ${first.width}×${first.height}, ${files[odd]} is ${images[odd]!.width}×${images[odd]!.height}`);
  if (first.width !== size || first.height !== size) notice(`${path}: frames are ${first.width}×${first.height}, resized to ${size}×${size}`);
  return clipFromImages(images, { height: size, width: size }, channels, { source: path, peakFrame: images.length - 1 });
}

/** An input that could not be read or gave no valid result, and why. */
export interface InferFailure {
  input: string;
  error: string;
}

/** Some inputs failed; the others were printed as they finished. */
export class InferInputsError extends Error {
  constructor(
    readonly failures: InferFailure[],
    total: number,
  ) {
    super(`infer: ${failures.length} of ${total} input${total === 1 ? '' : 's'} failed: ${failures.map((f) => f.input).join(', ')}`);
    this.name = 'InferInputsError';
  }
}

/**
 * Runs the model on every input in turn, printing each result as soon as it is ready (the table; JSON is printed
 * once at the end). An input that cannot be read, or whose result is not finite, is reported on stderr and the
 * others still run; then an InferInputsError says which failed (the CLI exits non-zero). GPU errors stop the run.
 */
export async function runInfer(engine: Engine, a: InferArgs): Promise<ClipPrediction[]> {
  if (a.inputs.length === 0) throw new Error('infer: give at least one clip (a folder of frames) or image');
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(a.weights));
  } catch (e) {
    throw new Error(describeFsError(a.weights, e, 'weights file'));
  }
  // The metadata is checked before the model is built from it.
  let fileInfo;
  try {
    fileInfo = readModelFileInfo(bytes);
  } catch (e) {
    throw new Error(`${a.weights}: ${(e as Error).message}`);
  }
  if (fileInfo) checkModelInfo(fileInfo, a.weights);
  if (a.saveAttention) await ensureWritableFolder(a.saveAttention, '--save-attention');
  const loaded = loadModelFile(engine, bytes, { ...(a.model ? { model: a.model } : {}), ...(a.config ? { config: a.config } : {}) }, a.weights);
  const { info, model } = loaded;
  model.freeze(); // inference only: kernels keep the packed weights
  const results: ClipPrediction[] = [];
  const failures: InferFailure[] = [];
  const width = Math.max(10, ...a.inputs.map((p) => basename(p).length));
  if (!a.json) printHeader(info.labels, width);
  try {
    for (const path of a.inputs) {
      let prediction: ClipPrediction;
      try {
        prediction = await predictClip(engine, loaded, path, a);
      } catch (e) {
        if (e instanceof GpuError || e instanceof ModelOutputError) throw e;
        failures.push({ input: path, error: (e as Error).message });
        console.error(`error: ${(e as Error).message}`);
        continue;
      }
      results.push(prediction);
      if (!a.json) printRow(prediction, info.labels, width);
    }
  } finally {
    model.dispose();
  }
  if (a.json) console.log(JSON.stringify({ model: info.model, config: info.config, labels: info.labels, clips: results, ...(failures.length ? { failed: failures } : {}) }, null, 2));
  if (failures.length) throw new InferInputsError(failures, a.inputs.length);
  return results;
}

/** The model's output does not fit its metadata: every input would fail alike, so the run stops. */
class ModelOutputError extends Error {}

async function predictClip(engine: Engine, loaded: LoadedModel, path: string, a: InferArgs): Promise<ClipPrediction> {
  const { recipe, model, info } = loaded;
  const spec = info.input;
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
  try {
    const probs = (await got.probs.read()) as Float32Array;
    if (probs.length !== info.labels.length) {
      throw new ModelOutputError(`${a.weights}: the model outputs ${probs.length} classes but its metadata lists ${info.labels.length} labels (${info.labels.join(', ')})`);
    }
    const weights = got.weights ? Array.from((await got.weights.read()) as Float32Array) : undefined;
    const bad = [...probs, ...(weights ?? [])].some((v) => !Number.isFinite(v));
    if (bad) throw new Error(`${path}: the model's output is not finite (probabilities ${Array.from(probs, (v) => v.toPrecision(3)).join(', ')}): the input or the weights in ${a.weights} hold NaN or infinite values`);
    const best = probs.indexOf(Math.max(...probs));
    const prediction: ClipPrediction = { input: path, probabilities: {}, top: info.labels[best]!, confidence: probs[best]!, ...(weights ? { frameWeights: weights } : {}) };
    info.labels.forEach((l, i) => (prediction.probabilities[l] = probs[i]!));
    if (a.saveAttention) prediction.pictures = await drawAttention(a.saveAttention, path, clip, loaded, x, got, weights, probs);
    return prediction;
  } finally {
    for (const t of Object.values(got)) t?.dispose();
    x.dispose();
  }
}

export function printTable(results: ClipPrediction[], labels: readonly string[]): void {
  const w = Math.max(10, ...results.map((r) => basename(r.input).length));
  printHeader(labels, w);
  for (const r of results) printRow(r, labels, w);
}

function printHeader(labels: readonly string[], w: number): void {
  console.log(`${'input'.padEnd(w)}  ${labels.map((l) => l.slice(0, 9).padStart(9)).join(' ')}  top`);
}

function printRow(r: ClipPrediction, labels: readonly string[], w: number): void {
  console.log(`${basename(r.input).padEnd(w)}  ${labels.map((l) => (100 * r.probabilities[l]!).toFixed(1).padStart(8) + '%').join(' ')}  ${r.top} (${(100 * r.confidence).toFixed(1)}%)`);
  if (r.frameWeights) console.log(`${''.padEnd(w)}  frame weights: ${r.frameWeights.map((v) => v.toFixed(3)).join(' ')}`);
  for (const p of r.pictures ?? []) console.log(`${''.padEnd(w)}  wrote ${p}`);
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
