/** Side-by-side panels: M4's input, its warped input and the occlusion saliency map over the input; stacking helpers. */
import type { Image8 } from '../data/types.js';
import { attentionOverlay } from './attention.js';
import { BLACK, Canvas, WHITE, checkImage, floatToImage8, textWidth, type RGB } from './canvas.js';

/** A single picture, height × width (× channels, default 1), values in [0, 1] (saliency: any scale). */
export interface GrayPlane {
  data: Float32Array;
  height: number;
  width: number;
  channels?: 1 | 3;
}

function checkPlane(fn: string, name: string, p: GrayPlane): void {
  const c = p.channels ?? 1;
  if (!(Number.isInteger(p.height) && p.height > 0 && Number.isInteger(p.width) && p.width > 0)) throw new Error(`${fn}: ${name} is ${p.height}×${p.width} (positive size expected)`);
  if (p.data.length !== p.height * p.width * c) throw new Error(`${fn}: ${name} holds ${p.data.length} values, ${p.height}×${p.width}×${c} = ${p.height * p.width * c} expected`);
  const bad = p.data.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) throw new Error(`${fn}: ${name} (${p.height}×${p.width}×${c}) has ${p.data[bad]} at index ${bad}`);
}

/** The image with a caption centred under it (font scale 2 by default when the image is wide enough). */
export function captioned(img: Image8, caption: string, scale?: number, background: RGB = WHITE): Image8 {
  checkImage('captioned', img);
  const ts = scale ?? (img.width >= 120 && textWidth(caption, 2) <= img.width ? 2 : 1);
  const c = new Canvas(Math.max(img.width, textWidth(caption, ts) + 4), img.height + 9 * ts + 8, background);
  c.blit(img, Math.round((c.width - img.width) / 2), 0);
  c.textCentred(caption, c.width / 2, img.height + 5, BLACK, ts);
  return c.image();
}

/**
 * Input | warped input | occlusion saliency over the input, each enlarged `scale` times (integer) and captioned.
 * Negative saliency (occluding there raised the class score) shows as the coldest colour.
 */
export function occlusionPanel(input: GrayPlane, saliency: GrayPlane, warped: GrayPlane, scale = 4): Image8 {
  const fn = 'occlusionPanel';
  checkPlane(fn, 'input', input);
  checkPlane(fn, 'saliency map', saliency);
  checkPlane(fn, 'warped input', warped);
  if ((saliency.channels ?? 1) !== 1) throw new Error(`${fn}: the saliency map must have 1 channel, got ${saliency.channels}`);
  if (input.height !== warped.height || input.width !== warped.width) {
    throw new Error(`${fn}: input ${input.height}×${input.width} and warped input ${warped.height}×${warped.width} differ`);
  }
  if (!(Number.isInteger(scale) && scale >= 1)) throw new Error(`${fn}: scale must be a positive integer, got ${scale}`);
  const big = (p: GrayPlane): Image8 => {
    const img = floatToImage8(p.data, p.height, p.width, p.channels ?? 1);
    const c = new Canvas(p.width * scale, p.height * scale);
    c.blit(img, 0, 0, { scale, filter: 'bilinear' });
    return c.image();
  };
  const heat = attentionOverlay(
    { frames: input.data, count: 1, height: input.height, width: input.width, channels: input.channels ?? 1 },
    { maps: saliency.data.map((v) => Math.max(0, v)), height: saliency.height, width: saliency.width },
    { scale, alpha: 0.5, gap: 0 },
  );
  const ts = input.width * scale >= 120 ? 2 : 1;
  return hstack([captioned(big(input), 'input', ts), captioned(big(warped), 'warped', ts), captioned(heat, 'saliency', ts)], 8);
}

function checkAll(fn: string, images: readonly Image8[]): void {
  if (images.length === 0) throw new Error(`${fn}: no images`);
  images.forEach((img, i) => checkImage(`${fn} (image ${i})`, img));
}

/** Images left to right, tops aligned, `gap` pixels between and around them. */
export function hstack(images: readonly Image8[], gap = 4, background: RGB = WHITE): Image8 {
  checkAll('hstack', images);
  const c = new Canvas(images.reduce((w, i) => w + i.width, 0) + gap * (images.length + 1), Math.max(...images.map((i) => i.height)) + 2 * gap, background);
  let x = gap;
  for (const i of images) {
    c.blit(i, x, gap);
    x += i.width + gap;
  }
  return c.image();
}

/** Images top to bottom, centred horizontally, `gap` pixels between and around them. */
export function vstack(images: readonly Image8[], gap = 4, background: RGB = WHITE): Image8 {
  checkAll('vstack', images);
  const W = Math.max(...images.map((i) => i.width));
  const c = new Canvas(W + 2 * gap, images.reduce((h, i) => h + i.height, 0) + gap * (images.length + 1), background);
  let y = gap;
  for (const i of images) {
    c.blit(i, gap + Math.floor((W - i.width) / 2), y);
    y += i.height + gap;
  }
  return c.image();
}
