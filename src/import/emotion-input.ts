/**
 * Input for the FER2013 mini-Xception emotion model shipped with @vladmandic/human (emotion.json):
 * a face crop resized to 64×64, grayscale, scaled to [-1, 1]. Platform-neutral (pixels in, floats out).
 */
import type { Image8 } from '../data/types.js';
import type { Engine } from '../device/engine.js';
import type { Tensor } from '../graph/tensor.js';

/** The model's classes, in its output order (FER2013's). */
export const FER2013_LABELS = ['angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral'] as const;

export interface FaceBox {
  x: number;
  y: number;
  width: number;
  height: number;
}

export const EMOTION_INPUT_SIZE = 64;

/** Channel i of pixel (x, y) on [0, 1]; gray for 1-channel images. */
function grayAt(img: Image8, x: number, y: number): number {
  const o = (y * img.width + x) * img.channels;
  const d = img.data;
  if (img.channels === 1) return d[o]! / 255;
  return (0.2989 * d[o]! + 0.587 * d[o + 1]! + 0.114 * d[o + 2]!) / 255;
}

/**
 * The box (default: the whole image) resized bilinearly to size × size (pixel centres aligned, samples
 * outside the image clamp to its edge), converted to gray = 0.2989 R + 0.587 G + 0.114 B on [0, 1], then
 * mapped to (gray − 0.5) · 2. Returns size × size floats, row-major (one NHWC image with C = 1).
 */
export function emotionInput(img: Image8, box?: FaceBox, size = EMOTION_INPUT_SIZE): Float32Array {
  if (img.width <= 0 || img.height <= 0) throw new Error(`emotionInput: empty image ${img.width}×${img.height}`);
  if (img.data.length < img.width * img.height * img.channels) throw new Error(`emotionInput: ${img.data.length} bytes for ${img.width}×${img.height}×${img.channels}`);
  const b = box ?? { x: 0, y: 0, width: img.width, height: img.height };
  if (!(b.width > 0 && b.height > 0)) throw new Error(`emotionInput: the face box must have a positive size, got ${JSON.stringify(b)}`);
  // Gray first (bilinear interpolation is linear, so the order does not change the result).
  const gray = new Float32Array(img.width * img.height);
  for (let y = 0; y < img.height; y++) for (let x = 0; x < img.width; x++) gray[y * img.width + x] = grayAt(img, x, y);
  const out = new Float32Array(size * size);
  const clamp = (v: number, hi: number) => Math.min(Math.max(v, 0), hi);
  for (let oy = 0; oy < size; oy++) {
    const sy = clamp(b.y + ((oy + 0.5) * b.height) / size - 0.5, img.height - 1);
    const y0 = Math.floor(sy);
    const y1 = Math.min(y0 + 1, img.height - 1);
    const fy = sy - y0;
    for (let ox = 0; ox < size; ox++) {
      const sx = clamp(b.x + ((ox + 0.5) * b.width) / size - 0.5, img.width - 1);
      const x0 = Math.floor(sx);
      const x1 = Math.min(x0 + 1, img.width - 1);
      const fx = sx - x0;
      const top = gray[y0 * img.width + x0]! * (1 - fx) + gray[y0 * img.width + x1]! * fx;
      const bot = gray[y1 * img.width + x0]! * (1 - fx) + gray[y1 * img.width + x1]! * fx;
      out[oy * size + ox] = (top * (1 - fy) + bot * fy - 0.5) * 2;
    }
  }
  return out;
}

/** A batch [N, 64, 64, 1] on the GPU from images and optional per-image boxes. */
export function emotionBatch(engine: Engine, images: readonly Image8[], boxes?: readonly (FaceBox | undefined)[], size = EMOTION_INPUT_SIZE): Tensor {
  const data = new Float32Array(images.length * size * size);
  images.forEach((img, i) => data.set(emotionInput(img, boxes?.[i], size), i * size * size));
  return engine.tensor(data, [images.length, size, size, 1]);
}
