/**
 * One frame through the app's pipeline, all on the engine's kernels: upload → BlazeFace (resize, detect, one
 * readback of the 896 rows, decode and NMS on the CPU) → face crops by grid sampling (RGB for M1, gray for the
 * mini-Xception) → the emotion models → one readback of every result. Between stages the queue is drained so
 * each stage's milliseconds are its own. M1 sees the last `frames` crops of the tracked face as its clip.
 */
import type { Engine } from '../src/device/engine.js';
import { noGrad } from '../src/graph/autograd.js';
import { keep, tidy } from '../src/graph/scope.js';
import type { Tensor } from '../src/graph/tensor.js';
import { squareFaceBox, type DetectOptions, type FaceDetection } from '../src/import/blazeface.js';
import { FER2013_LABELS, type FaceBox } from '../src/import/emotion-input.js';
import { cropBoxes, frameTensor, grayForEmotion, type Pixels } from '../src/import/face-crop.js';
import { concat, slice } from '../src/kernels/layout.js';
import type { AppModels } from './models.js';

export const EMOTION_SIZE = 64;

export interface FaceResult extends FaceDetection {
  /** The square the emotion models saw, in frame pixels. */
  crop: FaceBox;
  /** mini-Xception probabilities, FER2013_LABELS order. */
  emotion: number[];
}

export interface ClipResult {
  labels: readonly string[];
  probs: number[];
  /** One weight per clip frame, oldest first (sums to 1). */
  frameWeights: number[];
  /** Spatial attention of the newest frame, h × w, row-major. */
  attention: { data: Float32Array; height: number; width: number };
  /** How many distinct frames the clip holds so far (the first is repeated until it is full). */
  filled: number;
}

export interface StageTimes {
  detect: number;
  crop: number;
  model: number;
  readback: number;
  total: number;
}

export interface FrameResult {
  width: number;
  height: number;
  /** False when the faces of an earlier frame were reused (PipelineOptions.detectEvery). */
  detected: boolean;
  faces: FaceResult[];
  /** Index into faces of the tracked face (M1's), or −1. */
  primary: number;
  m1?: ClipResult;
  ms: StageTimes;
}

export interface PipelineOptions {
  detect?: DetectOptions;
  /** The emotion crop's side as a multiple of the detector's box (default 1.2). */
  cropScale?: number;
  /**
   * Run the detector on every n-th frame and reuse its faces in between (default 1: every frame), as human's
   * skipFrames: on a slow GPU the detector costs more than both emotion models together. A frame without faces,
   * or of another size, always detects.
   */
  detectEvery?: number;
}

const iou = (a: FaceBox, b: FaceBox): number => {
  const ix = Math.max(0, Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x));
  const iy = Math.max(0, Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y));
  return (ix * iy) / (a.width * a.height + b.width * b.height - ix * iy);
};

export class FacePipeline {
  readonly emotionLabels = FER2013_LABELS;
  private clip: Tensor[] = [];
  private tracked: FaceBox | undefined;
  private lastFaces: { dets: FaceDetection[]; size: string; age: number } | undefined;
  frames = 0;

  constructor(
    readonly engine: Engine,
    readonly models: AppModels,
    readonly options: PipelineOptions = {},
  ) {}

  get clipLength(): number {
    return this.models.m1?.info.input.frames ?? 0;
  }

  /** Forgets the tracked face and its clip (a new source). */
  reset(): void {
    for (const t of this.clip) t.dispose();
    this.clip = [];
    this.tracked = undefined;
    this.lastFaces = undefined;
  }

  async process(px: Pixels): Promise<FrameResult> {
    const engine = this.engine;
    const t0 = performance.now();
    const frame = frameTensor(engine, px);
    const size = `${px.width}x${px.height}`;
    const last = this.lastFaces;
    const reuse = last !== undefined && last.size === size && last.age + 1 < (this.options.detectEvery ?? 1);
    let dets: FaceDetection[];
    if (reuse) {
      dets = last.dets;
      last.age++;
    } else {
      try {
        dets = await this.models.detector.detect(frame, { maxFaces: 5, minScore: 0.5, ...this.options.detect });
      } catch (e) {
        frame.dispose();
        throw e;
      }
    }
    const t1 = performance.now();
    this.frames++;
    const base = { width: px.width, height: px.height, detected: !reuse };
    if (dets.length === 0) {
      frame.dispose();
      this.reset();
      return { ...base, faces: [], primary: -1, ms: { detect: t1 - t0, crop: 0, model: 0, readback: 0, total: t1 - t0 } };
    }
    if (!reuse) this.lastFaces = { dets, size, age: 0 };
    const crops = dets.map((d) => squareFaceBox(d.box, this.options.cropScale ?? 1.2));
    const primary = this.track(crops);
    const m1 = this.models.m1;
    const staged = noGrad(() =>
      tidy(() => {
        const rgb = cropBoxes(frame, crops, EMOTION_SIZE);
        const gray = grayForEmotion(rgb);
        if (m1) this.push(keep(slice(rgb, [primary], [primary + 1])));
        return { gray: keep(gray) };
      }),
    );
    frame.dispose();
    await engine.sync();
    const t2 = performance.now();
    const out: { emotion: Tensor; probs?: Tensor; weights?: Tensor; map?: Tensor } = noGrad(() =>
      tidy(() => {
        const emotion = keep(this.models.emotion.predict(staged.gray));
        if (!m1) return { emotion };
        const T = this.clipLength;
        const frames = Array.from({ length: T }, (_, i) => this.clip[Math.max(0, i - (T - this.clip.length))]!);
        const x = concat(frames, 0).reshape([1, T, EMOTION_SIZE, EMOTION_SIZE, 3]);
        const res = m1.model.forward(x);
        const map = m1.recipe.spatialMap?.(res);
        const weights = m1.recipe.frameWeights ? res[m1.recipe.frameWeights] : undefined;
        return { emotion, probs: keep(m1.recipe.probabilities(res)), ...(weights ? { weights: keep(weights) } : {}), ...(map ? { map: keep(map) } : {}) };
      }),
    );
    staged.gray.dispose();
    await engine.sync();
    const t3 = performance.now();
    try {
      const [emotion, probs, weights, map] = await Promise.all([out.emotion.read(), out.probs?.read(), out.weights?.read(), out.map?.read()]);
      const t4 = performance.now();
      const faces: FaceResult[] = dets.map((d, i) => ({ ...d, crop: crops[i]!, emotion: Array.from(emotion.subarray(i * 7, i * 7 + 7) as Float32Array) }));
      let clip: ClipResult | undefined;
      if (m1 && probs) {
        const T = this.clipLength;
        const ms = out.map?.shape ?? [T, 0, 0];
        const [h, w] = [ms[ms.length - 2]!, ms[ms.length - 1]!];
        clip = {
          labels: m1.info.labels,
          probs: Array.from(probs as Float32Array),
          frameWeights: weights ? Array.from(weights as Float32Array) : [],
          attention: { data: map ? Float32Array.from((map as Float32Array).subarray((T - 1) * h * w, T * h * w)) : new Float32Array(0), height: h, width: w },
          filled: this.clip.length,
        };
      }
      return { ...base, faces, primary, ...(clip ? { m1: clip } : {}), ms: { detect: t1 - t0, crop: t2 - t1, model: t3 - t2, readback: t4 - t3, total: t4 - t0 } };
    } finally {
      for (const t of Object.values(out)) t?.dispose();
    }
  }

  /** The face nearest the tracked one (IoU > 0.3), else the most confident; a new face starts a new clip. */
  private track(crops: FaceBox[]): number {
    let best = 0;
    let bestIou = 0;
    if (this.tracked) crops.forEach((c, i) => {
      const v = iou(c, this.tracked!);
      if (v > bestIou) [best, bestIou] = [i, v];
    });
    if (!this.tracked || bestIou <= 0.3) {
      for (const t of this.clip) t.dispose();
      this.clip = [];
      best = 0; // detections come by falling score
    }
    this.tracked = crops[best];
    return best;
  }

  private push(t: Tensor): void {
    this.clip.push(t);
    while (this.clip.length > this.clipLength) this.clip.shift()!.dispose();
  }

  dispose(): void {
    this.reset();
  }
}
