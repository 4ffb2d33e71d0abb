/**
 * BlazeFace face detection (MediaPipe's short-range "back" model, 256×256, as shipped in @vladmandic/human's
 * models/blazeface.json) run through the TF.js graph importer on the engine's kernels, and its decoding:
 * 896 anchors (16×16 cells × 2 at stride 16, then 8×8 × 6 at stride 32), each with a score logit and 16
 * regressors (box centre offset and size, six keypoints, in input pixels), greedy non-maximum suppression as
 * TF's, and boxes scaled back to the image. Platform-neutral: tensors in, plain objects out.
 */
import type { Engine } from '../device/engine.js';
import { noGrad } from '../graph/autograd.js';
import { keep } from '../graph/scope.js';
import type { Tensor } from '../graph/tensor.js';
import { concat } from '../kernels/layout.js';
import { gridSample } from '../kernels/spatial-transformer.js';
import type { FaceBox } from './emotion-input.js';
import { loadTfjsGraphModel, TfjsImportError, type TfjsGraphModel, type TfjsModelJson } from './tfjs-graph.js';

export const BLAZEFACE_SIZE = 256;
/** Score logit, then x, y, w, h, then six (x, y) keypoints: eyes, nose, mouth, ears. */
export const BLAZEFACE_VALUES = 17;
export const BLAZEFACE_KEYPOINTS = ['right eye', 'left eye', 'nose', 'mouth', 'right ear', 'left ear'] as const;

export interface FaceDetection {
  /** In image pixels: the detector's own box (tight around brows to chin). */
  box: FaceBox;
  /** Sigmoid of the logit, in (0, 1). */
  score: number;
  /** Six keypoints in image pixels, in BLAZEFACE_KEYPOINTS order. */
  keypoints: [number, number][];
  /** Which of the 896 anchors it came from. */
  anchor: number;
}

export interface DetectOptions {
  /** Most faces kept (default 10). */
  maxFaces?: number;
  /** Candidates at or below this score are dropped (default 0.5). */
  minScore?: number;
  /** A box overlapping a kept one by more than this intersection-over-union is dropped (default 0.3). */
  iouThreshold?: number;
  /**
   * How a non-square image meets the square input: 'square' (default) pads it to a centred square first, with
   * mid-gray (0 in [−1, 1]), so faces keep their shape; 'stretch' resizes it as it is (as human does by default).
   */
  fit?: Fit;
}

export type Fit = 'square' | 'stretch';

/** Where the input square lies over an h × w image: origin and size in image pixels, per axis. */
export function inputWindow(h: number, w: number, fit: Fit = 'square'): { x: number; y: number; width: number; height: number } {
  if (fit === 'stretch') return { x: 0, y: 0, width: w, height: h };
  const side = Math.max(h, w);
  return { x: -Math.floor((side - w) / 2), y: -Math.floor((side - h) / 2), width: side, height: side };
}

/** Anchor centres (x, y) in input pixels, anchor-major: the 512 of stride 16 first, then the 384 of stride 32. */
export function blazeFaceAnchors(size = BLAZEFACE_SIZE): Float32Array {
  const layers = [
    { stride: size / 16, perCell: 2 },
    { stride: size / 8, perCell: 6 },
  ];
  const out: number[] = [];
  for (const { stride, perCell } of layers) {
    const cells = Math.ceil(size / stride);
    for (let gy = 0; gy < cells; gy++) for (let gx = 0; gx < cells; gx++) for (let k = 0; k < perCell; k++) out.push(stride * (gx + 0.5), stride * (gy + 0.5));
  }
  return Float32Array.from(out);
}

const ANCHORS = blazeFaceAnchors();
export const BLAZEFACE_ANCHORS = ANCHORS.length / 2;

/** [x1, y1, x2, y2] per anchor in input pixels, from the raw rows. */
export function decodeBoxes(raw: Float32Array, anchors: Float32Array = ANCHORS): Float32Array {
  const n = anchors.length / 2;
  if (raw.length !== n * BLAZEFACE_VALUES) throw new Error(`decodeBoxes: ${raw.length} values, expected ${n} anchors × ${BLAZEFACE_VALUES}`);
  const boxes = new Float32Array(n * 4);
  for (let i = 0; i < n; i++) {
    const r = i * BLAZEFACE_VALUES;
    const cx = raw[r + 1]! + anchors[2 * i]!;
    const cy = raw[r + 2]! + anchors[2 * i + 1]!;
    const hw = raw[r + 3]! / 2;
    const hh = raw[r + 4]! / 2;
    boxes.set([cx - hw, cy - hh, cx + hw, cy + hh], 4 * i);
  }
  return boxes;
}

function iou(b: Float32Array, i: number, j: number): number {
  const [ax1, ay1, ax2, ay2] = [Math.min(b[4 * i]!, b[4 * i + 2]!), Math.min(b[4 * i + 1]!, b[4 * i + 3]!), Math.max(b[4 * i]!, b[4 * i + 2]!), Math.max(b[4 * i + 1]!, b[4 * i + 3]!)];
  const [bx1, by1, bx2, by2] = [Math.min(b[4 * j]!, b[4 * j + 2]!), Math.min(b[4 * j + 1]!, b[4 * j + 3]!), Math.max(b[4 * j]!, b[4 * j + 2]!), Math.max(b[4 * j + 1]!, b[4 * j + 3]!)];
  const areaA = (ax2 - ax1) * (ay2 - ay1);
  const areaB = (bx2 - bx1) * (by2 - by1);
  if (areaA <= 0 || areaB <= 0) return 0;
  const inter = Math.max(Math.min(ax2, bx2) - Math.max(ax1, bx1), 0) * Math.max(Math.min(ay2, by2) - Math.max(ay1, by1), 0);
  return inter / (areaA + areaB - inter);
}

/**
 * Greedy non-maximum suppression as TF's (tf.image.nonMaxSuppression): candidates above `minScore` by falling
 * score (ties by index), each kept unless it overlaps a kept box by IoU > `iouThreshold`. Returns box indices.
 */
export function nonMaxSuppression(boxes: Float32Array, scores: ArrayLike<number>, maxOut: number, iouThreshold: number, minScore: number): number[] {
  const order = Array.from({ length: scores.length }, (_, i) => i).filter((i) => scores[i]! > minScore);
  order.sort((a, b) => scores[b]! - scores[a]! || a - b);
  const kept: number[] = [];
  for (const i of order) {
    if (kept.length >= maxOut) break;
    if (kept.every((k) => iou(boxes, i, k) <= iouThreshold)) kept.push(i);
  }
  return kept;
}

/** Detections from the model's raw rows ([896 × 17], anchor-major) for an image of width × height. */
export function decodeDetections(raw: Float32Array, width: number, height: number, o: DetectOptions = {}): FaceDetection[] {
  const boxes = decodeBoxes(raw);
  const n = BLAZEFACE_ANCHORS;
  const scores = new Float32Array(n);
  for (let i = 0; i < n; i++) scores[i] = 1 / (1 + Math.exp(-raw[i * BLAZEFACE_VALUES]!));
  const keep = nonMaxSuppression(boxes, scores, o.maxFaces ?? 10, o.iouThreshold ?? 0.3, o.minScore ?? 0.5);
  const win = inputWindow(height, width, o.fit);
  const sx = win.width / BLAZEFACE_SIZE;
  const sy = win.height / BLAZEFACE_SIZE;
  return keep.map((i) => {
    const [x1, y1, x2, y2] = boxes.subarray(4 * i, 4 * i + 4);
    const r = i * BLAZEFACE_VALUES;
    const point = (k: number): [number, number] => [(raw[r + 5 + 2 * k]! + ANCHORS[2 * i]!) * sx + win.x, (raw[r + 6 + 2 * k]! + ANCHORS[2 * i + 1]!) * sy + win.y];
    const keypoints = BLAZEFACE_KEYPOINTS.map((_, k) => point(k));
    return { box: { x: x1! * sx + win.x, y: y1! * sy + win.y, width: (x2! - x1!) * sx, height: (y2! - y1!) * sy }, score: scores[i]!, keypoints, anchor: i };
  });
}

/** A square box around a detection, `scale` times its larger side (the crop the emotion models take). */
export function squareFaceBox(box: FaceBox, scale = 1): FaceBox {
  const side = Math.max(box.width, box.height) * scale;
  return { x: box.x + box.width / 2 - side / 2, y: box.y + box.height / 2 - side / 2, width: side, height: side };
}

/**
 * The sampling grid that resizes the window of an h × w image (inputWindow) to size × size, in gridSample's
 * normalised coordinates (alignCorners false): pixel centres aligned and clamped to the window's edge pixels, as
 * TF's resizeBilinear with halfPixelCenters of the image padded to the window (padding reads 0).
 */
export function resizeGrid(h: number, w: number, size = BLAZEFACE_SIZE, fit: Fit = 'square'): Float32Array {
  const win = inputWindow(h, w, fit);
  const grid = new Float32Array(size * size * 2);
  const coord = (o: number, span: number, origin: number, n: number) => {
    const src = Math.min(Math.max(((o + 0.5) * span) / size - 0.5, 0), span - 1) + origin;
    return (2 * src + 1) / n - 1;
  };
  for (let y = 0; y < size; y++) {
    const gy = coord(y, win.height, win.y, h);
    for (let x = 0; x < size; x++) grid.set([coord(x, win.width, win.x, w), gy], 2 * (y * size + x));
  }
  return grid;
}

export class BlazeFace {
  private readonly grids = new Map<string, Tensor>();

  constructor(
    readonly engine: Engine,
    readonly model: TfjsGraphModel,
  ) {
    const input = model.inputs[0];
    if (model.inputs.length !== 1 || input?.shape.slice(1).join() !== `${BLAZEFACE_SIZE},${BLAZEFACE_SIZE},3`) {
      throw new TfjsImportError(`BlazeFace expects one input [1, ${BLAZEFACE_SIZE}, ${BLAZEFACE_SIZE}, 3], this model has ${model.inputs.map((i) => `${i.name} [${i.shape.join(', ')}]`).join(', ')}`);
    }
  }

  static load(engine: Engine, modelJson: TfjsModelJson, weightBuffers: readonly ArrayBuffer[]): BlazeFace {
    return new BlazeFace(engine, loadTfjsGraphModel(engine, modelJson, weightBuffers));
  }

  /** An NHWC image [1, H, W, 3] with values in [−1, 1], fitted to the detector's input square. */
  resize(image: Tensor, fit: Fit = 'square'): Tensor {
    const [n, h, w, c] = image.shape;
    if (image.rank !== 4 || n !== 1 || c !== 3) throw new TfjsImportError(`BlazeFace takes one RGB image [1, H, W, 3] in [-1, 1], got [${image.shape.join(', ')}]`);
    const key = `${h}x${w} ${fit}`;
    let grid = this.grids.get(key);
    if (!grid) {
      grid = keep(this.engine.tensor(resizeGrid(h!, w!, BLAZEFACE_SIZE, fit), [1, BLAZEFACE_SIZE, BLAZEFACE_SIZE, 2]));
      this.grids.set(key, grid);
    }
    return noGrad(() => gridSample(image, grid));
  }

  /** The raw rows [1, 896, 17] for a [1, 256, 256, 3] input, anchor-major as blazeFaceAnchors. */
  run(input: Tensor): Tensor {
    return noGrad(() => {
      const out = Object.values(this.model.execute({ [this.model.inputs[0]!.name]: input }));
      const find = (anchors: number, values: number) => {
        const t = out.find((o) => o.shape[1] === anchors && o.shape[2] === values);
        if (!t) throw new TfjsImportError(`BlazeFace: no output [1, ${anchors}, ${values}] among ${out.map((o) => `[${o.shape.join(', ')}]`).join(', ')}`);
        return t;
      };
      const parts = [concat([find(512, 1), find(512, 16)], 2), concat([find(384, 1), find(384, 16)], 2)];
      const rows = concat(parts, 1);
      for (const t of [...out, ...parts]) t.dispose();
      return rows;
    });
  }

  /** Faces in an image [1, H, W, 3] (values in [−1, 1]); one readback. */
  async detect(image: Tensor, o: DetectOptions = {}): Promise<FaceDetection[]> {
    const input = this.resize(image, o.fit);
    const rows = this.run(input);
    input.dispose();
    try {
      return decodeDetections((await rows.read()) as Float32Array, image.shape[2]!, image.shape[1]!, o);
    } finally {
      rows.dispose();
    }
  }

  dispose(): void {
    for (const g of this.grids.values()) g.dispose();
    this.grids.clear();
    this.model.dispose();
  }
}
