/**
 * BlazeFace (@vladmandic/human's models/blazeface.json) on the engine against TensorFlow.js's CPU backend running
 * the same graph: the resize, the raw outputs on the same input, and whole detections (TF's resizeBilinear with
 * half-pixel centres, the anchors and box decoding as human writes them with tf ops, tf.image.nonMaxSuppression)
 * on the astronaut and on the photos shipped with face-api and human (shrunk to 640 pixels, as the web app's frames):
 * the same faces, boxes within a few pixels.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfc from '@tensorflow/tfjs-converter';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../src/device/engine.js';
import type { Image8 } from '../src/data/types.js';
import { BLAZEFACE_ANCHORS, BLAZEFACE_VALUES, BlazeFace, blazeFaceAnchors, nonMaxSuppression, squareFaceBox, type FaceDetection, type Fit } from '../src/import/blazeface.js';
import { cropBoxes, frameTensor, grayForEmotion } from '../src/import/face-crop.js';
import { emotionInput, type FaceBox } from '../src/import/emotion-input.js';
import { concatShards } from '../src/import/tfjs-graph.js';
import { readImage } from '../src/node/image-files.js';
import { readTfjsModelFiles } from '../src/node/tfjs-model-files.js';
import { testEngine } from './helpers/node-engine.js';

const MODEL = 'node_modules/@vladmandic/human/models/blazeface.json';
const PHOTOS = [
  'test/fixtures/astronaut.png',
  ...[1, 2, 3, 4, 5, 6].map((i) => `node_modules/@vladmandic/face-api/demo/sample${i}.jpg`),
  'node_modules/@vladmandic/human/assets/samples.jpg',
];
const OPTIONS = { maxFaces: 20, minScore: 0.5, iouThreshold: 0.3 };
/** Box corners may differ by this many image pixels (the 640-pixel photos are scaled 2.5× from the 256 input). */
const BOX_PX = 3;
/** Photos are shrunk to at most this side first, as the web app does with frames (and TF.js's CPU resize of a 1920-pixel photo takes seconds). */
const WORK_SIDE = 640;

/** Integer-factor box average down to ≤ WORK_SIDE (exact and the same input for both sides). */
function shrink(img: Image8): Image8 {
  const k = Math.ceil(Math.max(img.width, img.height) / WORK_SIDE);
  if (k <= 1) return img;
  const [w, h, c] = [Math.floor(img.width / k), Math.floor(img.height / k), img.channels];
  const data = new Uint8Array(w * h * c);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let ch = 0; ch < c; ch++) {
        let s = 0;
        for (let dy = 0; dy < k; dy++) for (let dx = 0; dx < k; dx++) s += img.data[((y * k + dy) * img.width + x * k + dx) * c + ch]!;
        data[(y * w + x) * c + ch] = Math.round(s / (k * k));
      }
  return { width: w, height: h, channels: c, data };
}

const photos = new Map<string, Image8>();
/** Each photo decoded and shrunk once for all the tests. */
function photo(path: string): Image8 {
  let img = photos.get(path);
  if (!img) photos.set(path, (img = shrink(readImage(path))));
  return img;
}

let engine: Engine;
let ours: BlazeFace;
let reference: tfc.GraphModel;

beforeAll(async () => {
  engine = await testEngine();
  const { modelJson, weightBuffers } = await readTfjsModelFiles(MODEL);
  ours = BlazeFace.load(engine, modelJson, weightBuffers);
  await tf.setBackend('cpu');
  const handler: tf.io.IOHandler = {
    load: async () => ({
      modelTopology: modelJson.modelTopology as unknown as {},
      weightSpecs: modelJson.weightsManifest.flatMap((g) => g.weights) as tf.io.WeightsManifestEntry[],
      weightData: concatShards(weightBuffers).buffer,
      format: modelJson.format,
    }),
  };
  reference = await tfc.loadGraphModel(handler);
}, 120_000);

afterAll(() => {
  ours?.dispose();
  reference?.dispose();
});

/** Human's anchors (facemeshutil.generateAnchors for a 256 input), written out again for the reference. */
function humanAnchors(): [number, number][] {
  const out: [number, number][] = [];
  for (const [stride, count] of [[16, 2], [32, 6]] as const) {
    for (let y = 0; y < 256 / stride; y++) for (let x = 0; x < 256 / stride; x++) for (let n = 0; n < count; n++) out.push([stride * (x + 0.5), stride * (y + 0.5)]);
  }
  return out;
}

const rgb = (img: Image8) => tf.tensor4d(Float32Array.from(img.data), [1, img.height, img.width, img.channels]);

/** Human's square padding: the image centred in a square (pad at the start ⌊(side − size) / 2⌋). */
function squarePad(img: Image8): { side: number; top: number; left: number } {
  const side = Math.max(img.width, img.height);
  return { side, top: Math.floor((side - img.height) / 2), left: Math.floor((side - img.width) / 2) };
}

/** The model's input as TF.js makes it: v / 127.5 − 1, padded to a square with 0 ('square'), resizeBilinear (half-pixel centres). */
function tfInput(img: Image8, fit: Fit = 'square'): tf.Tensor4D {
  return tf.tidy(() => {
    let x = tf.sub(tf.div(rgb(img), 127.5), 1) as tf.Tensor4D;
    if (fit === 'square') {
      const { side, top, left } = squarePad(img);
      x = tf.pad(x, [[0, 0], [top, side - img.height - top], [left, side - img.width - left], [0, 0]]);
    }
    return tf.image.resizeBilinear(x, [256, 256], false, true);
  });
}

/** The graph's four outputs in human's order: [896, 17] (512 rows of stride 16, then 384 of stride 32). */
function tfRows(input: tf.Tensor4D): tf.Tensor2D {
  return tf.tidy(() => {
    const res = (reference.execute(input) as tf.Tensor[]).slice().sort((a, b) => a.size - b.size);
    const rows384 = tf.concat([res[0]!, res[2]!], 2);
    const rows512 = tf.concat([res[1]!, res[3]!], 2);
    return tf.squeeze(tf.concat([rows512, rows384], 1), [0]) as tf.Tensor2D;
  });
}

/** Detections the TF.js way: boxes decoded with tf ops as human's decodeBoxes, then tf.image.nonMaxSuppression. */
async function tfDetect(img: Image8, fit: Fit): Promise<FaceDetection[]> {
  const input = tfInput(img, fit);
  const rows = tfRows(input);
  const anchors = tf.tensor2d(humanAnchors());
  const [boxes, scores] = tf.tidy(() => {
    const centers = tf.add(tf.slice(rows, [0, 1], [-1, 2]), anchors);
    const half = tf.div(tf.slice(rows, [0, 3], [-1, 2]), 2);
    return [tf.concat([tf.sub(centers, half), tf.add(centers, half)], 1) as tf.Tensor2D, tf.squeeze(tf.sigmoid(tf.slice(rows, [0, 0], [-1, 1]))) as tf.Tensor1D];
  });
  const nms = tf.image.nonMaxSuppression(boxes, scores, OPTIONS.maxFaces, OPTIONS.iouThreshold, OPTIONS.minScore);
  const keep = Array.from(await nms.data());
  const b = await boxes.data();
  const s = await scores.data();
  [input, rows, anchors, boxes, scores, nms].forEach((t) => t.dispose());
  const { side, top, left } = fit === 'square' ? squarePad(img) : { side: 0, top: 0, left: 0 };
  const sx = (fit === 'square' ? side : img.width) / 256;
  const sy = (fit === 'square' ? side : img.height) / 256;
  return keep.map((i) => ({ box: { x: b[4 * i]! * sx - left, y: b[4 * i + 1]! * sy - top, width: (b[4 * i + 2]! - b[4 * i]!) * sx, height: (b[4 * i + 3]! - b[4 * i + 1]!) * sy }, score: s[i]!, keypoints: [], anchor: i }));
}

async function ourDetect(img: Image8, fit: Fit): Promise<FaceDetection[]> {
  const frame = frameTensor(engine, img);
  try {
    return await ours.detect(frame, { ...OPTIONS, fit });
  } finally {
    frame.dispose();
  }
}

const fmt = (d: FaceDetection) => `#${d.anchor} ${d.score.toFixed(3)} [${[d.box.x, d.box.y, d.box.width, d.box.height].map((v) => v.toFixed(1)).join(', ')}]`;

describe('BlazeFace on the engine vs TF.js CPU', () => {
  it('has 896 anchors in human order', () => {
    expect(BLAZEFACE_ANCHORS).toBe(896);
    expect(Array.from(blazeFaceAnchors())).toEqual(humanAnchors().flat());
  });

  it.each(['square', 'stretch'] as const)('resizes a non-square photo like TF.js (%s: tf.pad, resizeBilinear with half-pixel centres)', async (fit) => {
    const img = photo('node_modules/@vladmandic/face-api/demo/sample2.jpg');
    const frame = frameTensor(engine, img);
    const resized = ours.resize(frame, fit);
    const input = (await resized.read()) as Float32Array;
    const want = tfInput(img, fit);
    const wantData = await want.data();
    let worst = 0;
    for (let i = 0; i < input.length; i++) worst = Math.max(worst, Math.abs(input[i]! - wantData[i]!));
    expect(worst).toBeLessThan(1e-4); // f32 rounding of the sampling coordinates: ~1e-5
    [frame, resized, want].forEach((t) => t.dispose());
  });

  it('gives the same raw outputs as TF.js on the same input', async () => {
    const img = readImage('test/fixtures/astronaut.png');
    const frame = frameTensor(engine, img);
    const resized = ours.resize(frame);
    const input = (await resized.read()) as Float32Array;
    const rows = ours.run(resized);
    expect(rows.shape).toEqual([1, 896, BLAZEFACE_VALUES]);
    const got = (await rows.read()) as Float32Array;
    const refRows = tfRows(tf.tensor4d(input, [1, 256, 256, 3]));
    const exp = await refRows.data();
    let maxErr = 0;
    for (let i = 0; i < got.length; i++) maxErr = Math.max(maxErr, Math.abs(got[i]! - exp[i]!) / (1 + Math.abs(exp[i]!)));
    expect(maxErr).toBeLessThan(1e-3);
    [frame, resized, rows].forEach((t) => t.dispose());
    refRows.dispose();
  });

  const runs = [...PHOTOS.map((p) => [p, 'square'] as const), ...PHOTOS.slice(1, 2).map((p) => [p, 'stretch'] as const)];
  it.each(runs)('finds the same faces as TF.js in %s (%s), boxes within a few pixels', async (path, fit) => {
    const img = photo(path);
    const [got, want] = [await ourDetect(img, fit), await tfDetect(img, fit)];
    console.log(`${path} (${img.width}×${img.height}, ${fit}): ${got.length} face(s): ${got.map(fmt).join('; ')}`);
    // Faces within 0.01 of the score threshold may fall on either side of it in f32; all others must agree.
    const clear = (ds: FaceDetection[]) => ds.filter((d) => d.score >= OPTIONS.minScore + 0.01);
    const [g, w0] = [clear(got), clear(want)];
    expect(g.map((d) => d.anchor), `ours ${got.map(fmt).join('; ')}\nTF.js ${want.map(fmt).join('; ')}`).toEqual(w0.map((d) => d.anchor));
    g.forEach((d, i) => {
      const w = w0[i]!;
      expect(Math.abs(d.score - w.score)).toBeLessThan(2e-3);
      for (const k of ['x', 'y', 'width', 'height'] as const) expect(Math.abs(d.box[k] - w.box[k]), `${fmt(d)} vs ${fmt(w)}: ${k}`).toBeLessThan(BOX_PX);
    });
    if (path.endsWith('astronaut.png')) {
      expect(got).toHaveLength(1);
      const face: FaceBox = { x: 168, y: 62, width: 112, height: 124 }; // by eye
      const b = got[0]!.box;
      const inter = Math.max(0, Math.min(b.x + b.width, face.x + face.width) - Math.max(b.x, face.x)) * Math.max(0, Math.min(b.y + b.height, face.y + face.height) - Math.max(b.y, face.y));
      expect(inter / (b.width * b.height + face.width * face.height - inter)).toBeGreaterThan(0.5);
    } else if (path.includes('face-api/demo')) {
      expect(got.length).toBeGreaterThan(0); // every demo photo shows people
    }
  }, 120_000);
});

describe('face crops on the GPU', () => {
  it('cropBoxes + grayForEmotion equal emotionInput (the CPU preprocessing) for boxes inside the frame', async () => {
    const img = readImage('test/fixtures/astronaut.png');
    const boxes: FaceBox[] = [{ x: 168, y: 62, width: 112, height: 124 }, squareFaceBox({ x: 200.5, y: 90.25, width: 61, height: 77 }, 1.3)];
    const frame = frameTensor(engine, img);
    const crops = cropBoxes(frame, boxes, 64);
    const gray = grayForEmotion(crops);
    expect(gray.shape).toEqual([2, 64, 64, 1]);
    const got = (await gray.read()) as Float32Array;
    boxes.forEach((b, n) => {
      const want = emotionInput(img, b);
      let worst = 0;
      for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[n * 4096 + i]! - want[i]!));
      expect(worst, `box ${n}`).toBeLessThan(1e-4);
    });
    [frame, crops, gray].forEach((t) => t.dispose());
  });

  it('nonMaxSuppression keeps the best of overlapping boxes and drops low scores', () => {
    const boxes = Float32Array.from([0, 0, 10, 10, 1, 1, 11, 11, 20, 20, 30, 30, 0, 0, 10, 10]);
    expect(nonMaxSuppression(boxes, [0.9, 0.95, 0.6, 0.3], 10, 0.3, 0.5)).toEqual([1, 2]);
    expect(nonMaxSuppression(boxes, [0.9, 0.95, 0.6, 0.3], 1, 0.3, 0.5)).toEqual([1]);
    expect(nonMaxSuppression(boxes, [0.9, 0.95, 0.6, 0.3], 10, 0.9, 0.2)).toEqual([1, 0, 2]); // 3 repeats 0 (IoU 1)
  });
});
