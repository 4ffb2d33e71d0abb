/**
 * From camera frames to model inputs on the GPU: an RGBA or RGB frame becomes an NHWC tensor in [−1, 1]; face
 * boxes are cut out and resized by one bilinear grid sample (pixel centres aligned, zeros outside the frame, as
 * TF's cropAndResize); the mini-Xception emotion model's gray input is a 1×1 projection of those crops.
 * Platform-neutral.
 */
import type { Engine } from '../device/engine.js';
import { noGrad } from '../graph/autograd.js';
import type { Tensor } from '../graph/tensor.js';
import { matmul } from '../kernels/matmul.js';
import { affineGrid, gridSample } from '../kernels/spatial-transformer.js';
import type { FaceBox } from './emotion-input.js';

/** Pixels as they come from a canvas (RGBA) or a decoder (RGB or gray), row-major. */
export interface Pixels {
  width: number;
  height: number;
  channels: 1 | 3 | 4;
  data: Uint8Array | Uint8ClampedArray;
}

/** [1, H, W, 3] with v / 127.5 − 1 per channel (alpha dropped, gray repeated). */
export function frameTensor(engine: Engine, px: Pixels): Tensor {
  const { width: w, height: h, channels: c, data } = px;
  if (!(w > 0 && h > 0) || data.length < w * h * c) throw new Error(`frameTensor: ${data.length} bytes for ${w}×${h}×${c}`);
  const out = new Float32Array(w * h * 3);
  for (let i = 0, o = 0; i < w * h; i++, o += 3) {
    const p = i * c;
    const r = data[p]!;
    out[o] = r / 127.5 - 1;
    out[o + 1] = (c === 1 ? r : data[p + 1]!) / 127.5 - 1;
    out[o + 2] = (c === 1 ? r : data[p + 2]!) / 127.5 - 1;
  }
  return engine.tensor(out, [1, h, w, 3]);
}

/**
 * θ for affineGrid (alignCorners false) that maps the output square onto `box` of a w × h frame: normalised
 * −1 and +1 are the outer pixel edges, so box edge e (in pixels) is 2e / size − 1.
 */
export function boxTheta(box: FaceBox, w: number, h: number): number[] {
  const sx = box.width / w;
  const sy = box.height / h;
  return [sx, 0, (2 * box.x + box.width) / w - 1, 0, sy, (2 * box.y + box.height) / h - 1];
}

/** Crops [N, size, size, C] of one frame [1, H, W, C], one per box (pixel boxes; outside the frame reads 0). */
export function cropBoxes(frame: Tensor, boxes: readonly FaceBox[], size: number): Tensor {
  const [n, h, w, c] = frame.shape;
  if (frame.rank !== 4 || n !== 1) throw new Error(`cropBoxes: the frame must be one NHWC image [1, H, W, C], got [${frame.shape.join(', ')}]`);
  if (boxes.length === 0) throw new Error('cropBoxes: no boxes');
  for (const b of boxes) if (!(b.width > 0 && b.height > 0)) throw new Error(`cropBoxes: a box needs a positive size, got ${JSON.stringify(b)}`);
  return noGrad(() => {
    const theta = frame.engine.tensor(boxes.flatMap((b) => boxTheta(b, w!, h!)), [boxes.length, 2, 3]);
    const grids = affineGrid(theta, [boxes.length, size, size]);
    // The N grids stacked as one tall grid over the one frame: no copy of the frame per box.
    const tall = grids.reshape([1, boxes.length * size, size, 2]);
    const sampled = gridSample(frame, tall);
    const out = sampled.reshape([boxes.length, size, size, c!]);
    [theta, grids, tall, sampled].forEach((t) => t.dispose());
    return out;
  });
}

/** FER2013 gray from RGB crops in [−1, 1]: (0.2989 R + 0.587 G + 0.114 B on [0, 1] − 0.5) · 2, [N, S, S, 1]. */
export function grayForEmotion(crops: Tensor): Tensor {
  const [n, s, s2, c] = crops.shape;
  if (crops.rank !== 4 || c !== 3) throw new Error(`grayForEmotion: expects RGB crops [N, S, S, 3], got [${crops.shape.join(', ')}]`);
  return noGrad(() => {
    const engine = crops.engine;
    // On x' = 2v − 1: Σ wᵢ x'ᵢ = 2·gray − Σ wᵢ, so the offset is Σ wᵢ − 1.
    const w = engine.tensor([0.2989, 0.587, 0.114], [3, 1]);
    const bias = engine.tensor([0.2989 + 0.587 + 0.114 - 1], [1]);
    const flat = crops.reshape([n! * s! * s2!, 3]);
    const y = matmul(flat, w, { bias });
    const out = y.reshape([n!, s!, s2!, 1]);
    [w, bias, flat, y].forEach((t) => t.dispose());
    return out;
  });
}
