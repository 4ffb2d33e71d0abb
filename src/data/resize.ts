/**
 * Picture plumbing between decoded files and clips: resizing (bilinear, widened into a triangle filter when
 * shrinking so downscaled frames do not alias), crops, gray↔RGB, 8-bit ↔ float, and frames → Clip.
 */
import type { Clip, Image8 } from './types.js';

export interface Size {
  readonly height: number;
  readonly width: number;
}

function checkSize(what: string, h: number, w: number): void {
  if (!(Number.isInteger(h) && h >= 1 && Number.isInteger(w) && w >= 1)) throw new Error(`${what}: size must be positive integers, got ${h}×${w}`);
}

/**
 * Per output coordinate, the input taps and weights of a separable triangle filter with half-pixel centres
 * (align_corners = false). Upscaling: exactly bilinear. Downscaling by s: the triangle is s pixels wide (area-like).
 */
function taps(inN: number, outN: number): { start: Int32Array; count: Int32Array; weights: Float32Array; stride: number } {
  const scale = inN / outN;
  const support = Math.max(1, scale);
  const stride = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outN);
  const count = new Int32Array(outN);
  const weights = new Float32Array(outN * stride);
  for (let o = 0; o < outN; o++) {
    const centre = (o + 0.5) * scale - 0.5;
    const lo = Math.max(0, Math.ceil(centre - support));
    const hi = Math.min(inN - 1, Math.floor(centre + support));
    let sum = 0;
    let n = 0;
    for (let i = lo; i <= hi && n < stride; i++, n++) {
      const w = Math.max(0, 1 - Math.abs(i - centre) / support);
      weights[o * stride + n] = w;
      sum += w;
    }
    if (sum === 0) {
      // Beyond the edges: clamp to the nearest pixel.
      start[o] = Math.min(inN - 1, Math.max(0, Math.round(centre)));
      count[o] = 1;
      weights[o * stride] = 1;
      continue;
    }
    for (let k = 0; k < n; k++) weights[o * stride + k]! /= sum;
    start[o] = lo;
    count[o] = n;
  }
  return { start, count, weights, stride };
}

/** Resizes an HWC float picture. */
export function resizeFloat(src: Float32Array, height: number, width: number, channels: number, outHeight: number, outWidth: number): Float32Array {
  checkSize('resizeFloat', outHeight, outWidth);
  if (src.length !== height * width * channels) throw new Error(`resizeFloat: ${src.length} values for ${height}×${width}×${channels}`);
  if (height === outHeight && width === outWidth) return src.slice();
  const tx = taps(width, outWidth);
  const ty = taps(height, outHeight);
  const C = channels;
  // Horizontal pass into height × outWidth, then vertical.
  const mid = new Float32Array(height * outWidth * C);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < outWidth; x++) {
      const s = tx.start[x]!;
      const n = tx.count[x]!;
      for (let c = 0; c < C; c++) {
        let acc = 0;
        for (let k = 0; k < n; k++) acc += tx.weights[x * tx.stride + k]! * src[(y * width + s + k) * C + c]!;
        mid[(y * outWidth + x) * C + c] = acc;
      }
    }
  }
  const out = new Float32Array(outHeight * outWidth * C);
  for (let y = 0; y < outHeight; y++) {
    const s = ty.start[y]!;
    const n = ty.count[y]!;
    for (let x = 0; x < outWidth; x++) {
      for (let c = 0; c < C; c++) {
        let acc = 0;
        for (let k = 0; k < n; k++) acc += ty.weights[y * ty.stride + k]! * mid[((s + k) * outWidth + x) * C + c]!;
        out[(y * outWidth + x) * C + c] = acc;
      }
    }
  }
  return out;
}

/** Resizes an 8-bit picture (rounded back to bytes). */
export function resizeImage8(img: Image8, outHeight: number, outWidth: number): Image8 {
  const f = new Float32Array(img.data.length);
  for (let i = 0; i < f.length; i++) f[i] = img.data[i]!;
  const r = resizeFloat(f, img.height, img.width, img.channels, outHeight, outWidth);
  const data = new Uint8Array(r.length);
  for (let i = 0; i < r.length; i++) data[i] = Math.min(255, Math.max(0, Math.round(r[i]!)));
  return { width: outWidth, height: outHeight, channels: img.channels, data };
}

/** The box [x, y, x + width) × [y, y + height) of an 8-bit picture. */
export function cropImage8(img: Image8, x: number, y: number, width: number, height: number): Image8 {
  checkSize('cropImage8', height, width);
  if (!(Number.isInteger(x) && Number.isInteger(y) && x >= 0 && y >= 0 && x + width <= img.width && y + height <= img.height)) {
    throw new Error(`cropImage8: box ${width}×${height} at (${x}, ${y}) does not fit in ${img.width}×${img.height}`);
  }
  const C = img.channels;
  const data = new Uint8Array(width * height * C);
  for (let r = 0; r < height; r++) data.set(img.data.subarray(((y + r) * img.width + x) * C, ((y + r) * img.width + x + width) * C), r * width * C);
  return { width, height, channels: C, data };
}

/** The largest centred box with the aspect ratio of `size` (so a later resize does not distort). */
export function centerCropToAspect(img: Image8, size: Size): Image8 {
  const want = size.width / size.height;
  let w = img.width;
  let h = Math.round(w / want);
  if (h > img.height) {
    h = img.height;
    w = Math.max(1, Math.min(img.width, Math.round(h * want)));
  }
  h = Math.max(1, Math.min(img.height, h));
  if (w === img.width && h === img.height) return img;
  return cropImage8(img, (img.width - w) >> 1, (img.height - h) >> 1, w, h);
}

/** Centre crop of a given size. */
export function centerCrop(img: Image8, width: number, height: number): Image8 {
  return cropImage8(img, (img.width - width) >> 1, (img.height - height) >> 1, width, height);
}

/** Gray (ITU-R BT.601 luma); alpha is dropped. */
export function toGray(img: Image8): Image8 {
  if (img.channels === 1) return img;
  const n = img.width * img.height;
  const C = img.channels;
  const data = new Uint8Array(n);
  for (let i = 0; i < n; i++) data[i] = Math.round(0.299 * img.data[i * C]! + 0.587 * img.data[i * C + 1]! + 0.114 * img.data[i * C + 2]!);
  return { width: img.width, height: img.height, channels: 1, data };
}

/** RGB: gray is replicated, alpha is dropped. */
export function toRGB(img: Image8): Image8 {
  if (img.channels === 3) return img;
  const n = img.width * img.height;
  const C = img.channels;
  const data = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    if (C === 1) data[3 * i] = data[3 * i + 1] = data[3 * i + 2] = img.data[i]!;
    else {
      data[3 * i] = img.data[i * C]!;
      data[3 * i + 1] = img.data[i * C + 1]!;
      data[3 * i + 2] = img.data[i * C + 2]!;
    }
  }
  return { width: img.width, height: img.height, channels: 3, data };
}

/** Gray or RGB as asked. */
export function toChannels(img: Image8, channels: 1 | 3): Image8 {
  return channels === 1 ? toGray(img) : toRGB(img);
}

/** 8-bit → floats in [0, 1] (same layout). */
export function image8ToFloat(img: Image8): Float32Array {
  const out = new Float32Array(img.data.length);
  for (let i = 0; i < out.length; i++) out[i] = img.data[i]! / 255;
  return out;
}

/** Floats in [0, 1] (HWC) → 8-bit, clamped and rounded. */
export function floatToImage8(data: Float32Array, height: number, width: number, channels: 1 | 3 | 4): Image8 {
  if (data.length !== height * width * channels) throw new Error(`floatToImage8: ${data.length} values for ${height}×${width}×${channels}`);
  const out = new Uint8Array(data.length);
  for (let i = 0; i < out.length; i++) out[i] = Math.round(Math.min(1, Math.max(0, data[i]!)) * 255);
  return { width, height, channels, data: out };
}

/** Frame t of a clip as an 8-bit picture. */
export function clipFrameToImage8(clip: Clip, t: number): Image8 {
  if (!(Number.isInteger(t) && t >= 0 && t < clip.frameCount)) throw new Error(`clipFrameToImage8: frame ${t} outside 0..${clip.frameCount - 1}`);
  const n = clip.height * clip.width * clip.channels;
  return floatToImage8(clip.frames.subarray(t * n, (t + 1) * n), clip.height, clip.width, clip.channels);
}

/**
 * Frames → Clip at `size`: each frame is converted to `channels`, centre-cropped to the target aspect when it
 * differs, and resized when its size differs.
 */
export function clipFromImages(
  images: readonly Image8[],
  size: Size,
  channels: 1 | 3,
  meta: { label?: number; identity?: string; peakFrame?: number; source?: string } = {},
): Clip {
  if (images.length === 0) throw new Error(`clipFromImages: no frames${meta.source ? ` (${meta.source})` : ''}`);
  checkSize('clipFromImages', size.height, size.width);
  const n = size.height * size.width * channels;
  const frames = new Float32Array(images.length * n);
  images.forEach((img, t) => {
    let im = toChannels(img, channels);
    if (im.width !== size.width || im.height !== size.height) im = resizeImage8(centerCropToAspect(im, size), size.height, size.width);
    for (let i = 0; i < n; i++) frames[t * n + i] = im.data[i]! / 255;
  });
  return {
    frames,
    frameCount: images.length,
    height: size.height,
    width: size.width,
    channels,
    label: meta.label ?? 0,
    identity: meta.identity ?? 'unknown',
    ...(meta.peakFrame !== undefined ? { peakFrame: meta.peakFrame } : {}),
    ...(meta.source !== undefined ? { source: meta.source } : {}),
  };
}

/** Pictures tiled row-major into one sheet (all converted to the first one's channel count; sizes may differ). */
export function contactSheet(images: readonly Image8[], columns: number, gap = 2, background = 255): Image8 {
  if (images.length === 0) throw new Error('contactSheet: no images');
  const C = images[0]!.channels;
  const rows = Math.ceil(images.length / columns);
  const cellW = Math.max(...images.map((i) => i.width));
  const cellH = Math.max(...images.map((i) => i.height));
  const width = columns * cellW + (columns + 1) * gap;
  const height = rows * cellH + (rows + 1) * gap;
  const data = new Uint8Array(width * height * C).fill(background);
  images.forEach((src, k) => {
    const img = C === 1 ? toGray(src) : C === 3 ? toRGB(src) : src;
    if (img.channels !== C) throw new Error('contactSheet: cannot mix RGBA with other channel counts');
    const x0 = gap + (k % columns) * (cellW + gap);
    const y0 = gap + Math.floor(k / columns) * (cellH + gap);
    for (let r = 0; r < img.height; r++) data.set(img.data.subarray(r * img.width * C, (r + 1) * img.width * C), ((y0 + r) * width + x0) * C);
  });
  return { width, height, channels: C, data };
}
