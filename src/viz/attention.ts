/**
 * Spatial attention laid over the frames it was computed on (as Fig. 9 of the M1 paper and Fig. 2 of the M2 one):
 * each map is upsampled bilinearly to its frame, normalised, colour-mapped and alpha-blended over the frame
 * ('heat'), or used as a soft mask that darkens what the model ignores ('mask', the M1 paper's rendering).
 */
import type { Image8 } from '../data/types.js';
import { BLACK, Canvas, colorbar, colormap, textWidth, type ColormapName } from './canvas.js';

/** Frames, channels-last, values in [0, 1]. A `Clip` fits (it has `frameCount`). */
export interface FrameStack {
  /** count × height × width × channels. */
  frames: Float32Array;
  height: number;
  width: number;
  channels: 1 | 3;
  /** Number of frames; defaults to `frameCount`, else to what `frames` holds. */
  count?: number;
  frameCount?: number;
}

export interface MapStack {
  /** One map per frame: count × height × width, any scale (normalised here). */
  maps: Float32Array;
  height: number;
  width: number;
}

export interface OverlayOptions {
  /** Pixels per frame pixel (a positive integer), so 48×48 faces are visible. Default 1. */
  scale?: number;
  /** How the frame is enlarged. Default 'bilinear'. */
  filter?: 'nearest' | 'bilinear';
  /** Opacity of the heat map at the highest attention in 'heat' mode (35 % of it at the lowest). Default 0.6. */
  alpha?: number;
  /** 'heat': colour map blended over the frame; 'mask': frame brightness scaled by attention. Default 'heat'. */
  mode?: 'heat' | 'mask';
  /** 'frame': each map spans the whole colour range; 'global': one range for all frames (compares frames). */
  normalise?: 'frame' | 'global';
  colormap?: ColormapName;
  /** One caption per frame (e.g. the frame weight), drawn under it. */
  captions?: readonly string[];
  title?: string;
  /** Frames per row; default all in one row. */
  columns?: number;
  /** Pixels between frames. Default 4. */
  gap?: number;
  /** Draw a colour bar (low → high) under the grid in 'heat' mode. Default false. */
  legend?: boolean;
}

function describe(f: FrameStack): string {
  return `${f.count ?? f.frameCount ?? '?'}×${f.height}×${f.width}×${f.channels}`;
}

function range(a: Float32Array): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < a.length; i++) {
    const v = a[i]!;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

/** Bilinear sample of an h×w map at frame pixel (x, y) of an H×W frame, pixel centres aligned, edges clamped. */
function sampleMap(m: Float32Array, off: number, h: number, w: number, x: number, y: number, H: number, W: number): number {
  const sy = Math.max(0, Math.min(h - 1, ((y + 0.5) * h) / H - 0.5));
  const sx = Math.max(0, Math.min(w - 1, ((x + 0.5) * w) / W - 0.5));
  const y0 = Math.floor(sy);
  const x0 = Math.floor(sx);
  const y1 = Math.min(h - 1, y0 + 1);
  const x1 = Math.min(w - 1, x0 + 1);
  const fy = sy - y0;
  const fx = sx - x0;
  const r0 = off + y0 * w;
  const r1 = off + y1 * w;
  return (m[r0 + x0]! * (1 - fx) + m[r0 + x1]! * fx) * (1 - fy) + (m[r1 + x0]! * (1 - fx) + m[r1 + x1]! * fx) * fy;
}

/** Frames with their attention maps over them, in a grid (one row by default), with optional captions and title. */
export function attentionOverlay(f: FrameStack, m: MapStack, o: OverlayOptions = {}): Image8 {
  const { height: H, width: W, channels: C } = f;
  const fn = 'attentionOverlay';
  if (!(Number.isInteger(H) && H > 0 && Number.isInteger(W) && W > 0) || (C !== 1 && C !== 3)) {
    throw new Error(`${fn}: frames of ${describe(f)} (positive size and 1 or 3 channels expected)`);
  }
  const count = f.count ?? f.frameCount ?? f.frames.length / (H * W * C);
  if (!(Number.isInteger(count) && count > 0) || f.frames.length !== count * H * W * C) {
    throw new Error(`${fn}: frames hold ${f.frames.length} values, ${count}×${H}×${W}×${C} = ${count * H * W * C} expected`);
  }
  const { height: h, width: w } = m;
  if (!(Number.isInteger(h) && h > 0 && Number.isInteger(w) && w > 0)) throw new Error(`${fn}: maps of ${h}×${w} (positive size expected)`);
  const hw = h * w;
  if (m.maps.length !== count * hw) {
    throw new Error(`${fn}: maps hold ${m.maps.length} values = ${m.maps.length / hw} maps of ${h}×${w}, but there are ${count} frames of ${H}×${W} (one map per frame expected)`);
  }
  const badMap = m.maps.findIndex((v) => !Number.isFinite(v));
  if (badMap >= 0) throw new Error(`${fn}: map ${Math.floor(badMap / hw)} (of ${count}×${h}×${w}) has ${m.maps[badMap]} at (${Math.floor((badMap % hw) / w)}, ${badMap % w})`);
  const badFrame = f.frames.findIndex((v) => Number.isNaN(v));
  if (badFrame >= 0) throw new Error(`${fn}: frame ${Math.floor(badFrame / (H * W * C))} (of ${count}×${H}×${W}×${C}) contains NaN`);
  if (o.captions && o.captions.length !== count) throw new Error(`${fn}: ${o.captions.length} captions for ${count} frames`);
  const scale = o.scale ?? 1;
  if (!(Number.isInteger(scale) && scale >= 1)) throw new Error(`${fn}: scale must be a positive integer, got ${scale}`);
  const alpha = o.alpha ?? 0.6;
  const mode = o.mode ?? 'heat';
  const cmap = o.colormap ?? 'jet';
  const bilinear = (o.filter ?? 'bilinear') === 'bilinear';
  const gap = o.gap ?? 4;
  const cols = Math.max(1, Math.min(count, o.columns ?? count));
  const rows = Math.ceil(count / cols);
  const cw = W * scale;
  const ch = H * scale;
  // Captions and title at font scale 2 once frames are big enough to carry them.
  const ts = cw >= 120 ? 2 : 1;
  const captionH = o.captions ? 9 * ts + 6 : 0;
  const titleH = o.title ? 9 * ts + 8 : 0;
  const legendH = o.legend && mode === 'heat' ? 30 : 0;
  const width = Math.max(cols * (cw + gap) + gap, o.title ? textWidth(o.title, ts) + 2 * gap : 0);
  const canvas = new Canvas(width, titleH + rows * (ch + gap + captionH) + gap + legendH);
  if (o.title) canvas.text(o.title, gap, gap + 2, BLACK, ts);
  const globalRange = range(m.maps);
  const base = [0, 0, 0];
  const colour: [number, number, number] = [0, 0, 0];
  for (let t = 0; t < count; t++) {
    const [lo, hi] = o.normalise === 'global' ? globalRange : range(m.maps.subarray(t * hw, (t + 1) * hw));
    const span = hi > lo ? hi - lo : 1;
    const x0 = gap + (t % cols) * (cw + gap);
    const y0 = titleH + gap + Math.floor(t / cols) * (ch + gap + captionH);
    const fOff = t * H * W * C;
    for (let y = 0; y < ch; y++)
      for (let x = 0; x < cw; x++) {
        // Position in frame pixels of this output pixel's centre.
        const fx = (x + 0.5) / scale - 0.5;
        const fy = (y + 0.5) / scale - 0.5;
        if (bilinear) {
          const sx = Math.max(0, Math.min(W - 1, fx));
          const sy = Math.max(0, Math.min(H - 1, fy));
          const ax = Math.floor(sx);
          const ay = Math.floor(sy);
          const bx = Math.min(W - 1, ax + 1);
          const by = Math.min(H - 1, ay + 1);
          const wx = sx - ax;
          const wy = sy - ay;
          const p00 = fOff + (ay * W + ax) * C;
          const p01 = fOff + (ay * W + bx) * C;
          const p10 = fOff + (by * W + ax) * C;
          const p11 = fOff + (by * W + bx) * C;
          const px = f.frames;
          for (let k = 0; k < 3; k++) {
            const kk = C === 1 ? 0 : k;
            base[k] = (px[p00 + kk]! * (1 - wx) + px[p01 + kk]! * wx) * (1 - wy) + (px[p10 + kk]! * (1 - wx) + px[p11 + kk]! * wx) * wy;
          }
        } else {
          const p = fOff + (Math.floor(y / scale) * W + Math.floor(x / scale)) * C;
          for (let k = 0; k < 3; k++) base[k] = f.frames[p + (C === 1 ? 0 : k)]!;
        }
        const v = Math.max(0, Math.min(1, (sampleMap(m.maps, t * hw, h, w, fx, fy, H, W) - lo) / span));
        if (mode === 'mask') {
          // Soft mask: ignored regions dim to 15 % brightness, attended ones keep theirs.
          for (let k = 0; k < 3; k++) colour[k] = Math.round(Math.max(0, Math.min(1, base[k]!)) * (0.15 + 0.85 * v) * 255);
        } else {
          // Opacity grows with attention so the face stays visible where the model does not look.
          const heat = colormap(v, cmap);
          const a = alpha * (0.35 + 0.65 * v);
          for (let k = 0; k < 3; k++) colour[k] = Math.round(Math.max(0, Math.min(1, base[k]!)) * 255 * (1 - a) + heat[k]! * a);
        }
        canvas.blend(x0 + x, y0 + y, colour);
      }
    const cap = o.captions?.[t];
    if (cap) canvas.textCentred(cap, x0 + cw / 2, y0 + ch + 4, BLACK, ts);
  }
  if (legendH > 0) {
    const y = canvas.height - legendH + 4;
    const barW = Math.min(160, width - 2 * gap - 2 * textWidth('high ', 1));
    if (barW > 10) {
      const lx = gap + textWidth('low ', 1);
      canvas.text('low', gap, y + 3, BLACK);
      canvas.blit(colorbar(barW, 12, cmap), lx, y);
      canvas.text('high', lx + barW + 4, y + 3, BLACK);
    }
  }
  return canvas.image();
}
