/**
 * Drawing the results: on the frame canvas the face boxes, keypoints, each face's top emotion and M1's spatial
 * attention as a heat map over the tracked face; in the side panel the probability bars, the clip's frames with
 * their weights, the attention over the newest crop, and the stage timings. Browser only (canvas 2D and DOM).
 */
import type { ClipResult, FaceResult, FrameResult } from './pipeline.js';

/** Box colours, fixed so tests can look for them in screenshots. */
export const COLORS = { primary: '#00e676', other: '#ffca28', bar: '#42a5f5', top: '#00e676', m1: '#ab47bc' } as const;

export interface OverlayOptions {
  attention: boolean;
  keypoints: boolean;
}

/** Blue → cyan → yellow → red for v in [0, 1]. */
function heat(v: number): [number, number, number] {
  const stops: [number, number, number][] = [[30, 60, 255], [0, 220, 255], [255, 235, 0], [255, 40, 0]];
  const x = Math.min(Math.max(v, 0), 1) * (stops.length - 1);
  const i = Math.min(Math.floor(x), stops.length - 2);
  const f = x - i;
  const a = stops[i]!;
  const b = stops[i + 1]!;
  return [a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f, a[2] + (b[2] - a[2]) * f];
}

/** The map as an RGBA canvas (min–max scaled; alpha follows the value so low attention stays see-through). */
export function heatCanvas(map: ClipResult['attention']): HTMLCanvasElement {
  const c = document.createElement('canvas');
  c.width = map.width;
  c.height = map.height;
  const ctx = c.getContext('2d')!;
  const img = ctx.createImageData(map.width, map.height);
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of map.data) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
  const span = hi - lo || 1;
  map.data.forEach((v, i) => {
    const t = (v - lo) / span;
    const [r, g, b] = heat(t);
    img.data.set([r, g, b, 25 + 135 * t], 4 * i);
  });
  ctx.putImageData(img, 0, 0);
  return c;
}

export function drawFrame(ctx: CanvasRenderingContext2D, source: CanvasImageSource, r: FrameResult | undefined, o: OverlayOptions): void {
  const { width, height } = ctx.canvas;
  ctx.drawImage(source, 0, 0, width, height);
  if (!r) return;
  const s = width / r.width;
  const line = Math.max(2, Math.round(width / 320));
  r.faces.forEach((f, i) => {
    const primary = i === r.primary;
    if (primary && o.attention && r.m1 && r.m1.attention.data.length) {
      ctx.save();
      ctx.imageSmoothingEnabled = true;
      ctx.drawImage(heatCanvas(r.m1.attention), f.crop.x * s, f.crop.y * s, f.crop.width * s, f.crop.height * s);
      ctx.restore();
    }
    ctx.strokeStyle = primary ? COLORS.primary : COLORS.other;
    ctx.lineWidth = line;
    ctx.strokeRect(f.box.x * s, f.box.y * s, f.box.width * s, f.box.height * s);
    if (o.keypoints) {
      ctx.fillStyle = ctx.strokeStyle;
      for (const [x, y] of f.keypoints) ctx.fillRect(x * s - line, y * s - line, 2 * line, 2 * line);
    }
    const k = f.emotion.indexOf(Math.max(...f.emotion));
    const label = `${LABELS[k]} ${(100 * f.emotion[k]!).toFixed(0)}%`;
    ctx.font = `${Math.max(12, Math.round(width / 40))}px system-ui, sans-serif`;
    const tw = ctx.measureText(label).width + 8;
    const th = Math.max(16, Math.round(width / 30));
    const ty = Math.max(0, f.box.y * s - th - line);
    ctx.fillStyle = 'rgba(0, 0, 0, 0.65)';
    ctx.fillRect(f.box.x * s, ty, tw, th);
    ctx.fillStyle = '#fff';
    ctx.textBaseline = 'middle';
    ctx.fillText(label, f.box.x * s + 4, ty + th / 2);
  });
}

const LABELS = ['angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral'];

/** Seven labelled bars in `el` (created on first use); the top one is highlighted. */
export function drawBars(el: HTMLElement, labels: readonly string[], probs: readonly number[] | undefined, color: string): void {
  if (el.childElementCount !== labels.length) {
    el.replaceChildren(
      ...labels.map((l) => {
        const row = document.createElement('div');
        row.className = 'bar';
        row.dataset.label = l;
        row.innerHTML = `<span class="name"></span><span class="track"><span class="fill"></span></span><span class="pct"></span>`;
        row.querySelector('.name')!.textContent = l;
        return row;
      }),
    );
  }
  const top = probs ? probs.indexOf(Math.max(...probs)) : -1;
  Array.from(el.children).forEach((row, i) => {
    const p = probs?.[i] ?? 0;
    const fill = row.querySelector<HTMLElement>('.fill')!;
    fill.style.width = `${(100 * p).toFixed(1)}%`;
    fill.style.background = i === top ? COLORS.top : color;
    row.querySelector('.pct')!.textContent = probs ? `${(100 * p).toFixed(1)}%` : '–';
    row.classList.toggle('top', i === top);
  });
}

/**
 * The clip's frames as M1 saw them (crops of the tracked face, oldest first; until the clip is full its first
 * frame stands in for the missing ones) with their M1 weights as bars underneath.
 */
export function drawClip(canvas: HTMLCanvasElement, shown: readonly CanvasImageSource[], clip: ClipResult | undefined): void {
  const ctx = canvas.getContext('2d')!;
  const T = clip?.frameWeights.length ?? 0;
  const thumbs = shown.length && T > shown.length ? [...Array<CanvasImageSource>(T - shown.length).fill(shown[0]!), ...shown] : shown;
  const n = Math.max(thumbs.length, T, 1);
  const cell = Math.floor(canvas.width / n);
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const side = Math.min(cell - 6, canvas.height - 34);
  thumbs.forEach((t, i) => ctx.drawImage(t, i * cell + 3, 0, side, side));
  if (!clip) return;
  const max = Math.max(...clip.frameWeights, 1e-6);
  clip.frameWeights.forEach((w, i) => {
    const h = (w / max) * 20;
    ctx.fillStyle = COLORS.m1;
    ctx.fillRect(i * cell + 3, canvas.height - 14 - h, side, h);
    ctx.fillStyle = '#ddd';
    ctx.font = '11px system-ui, sans-serif';
    ctx.textBaseline = 'bottom';
    ctx.fillText(w.toFixed(2), i * cell + 3, canvas.height);
  });
}

/** The newest crop with M1's attention over it. */
export function drawAttention(canvas: HTMLCanvasElement, crop: CanvasImageSource | undefined, clip: ClipResult | undefined): void {
  const ctx = canvas.getContext('2d')!;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (crop) ctx.drawImage(crop, 0, 0, canvas.width, canvas.height);
  if (clip?.attention.data.length) {
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(heatCanvas(clip.attention), 0, 0, canvas.width, canvas.height);
  }
}

export function formatTimes(r: FrameResult, fps: number, detectEvery: number): string {
  const f = (v: number) => v.toFixed(1).padStart(6);
  const ms = r.ms;
  const detect = r.detected ? `${f(ms.detect)} ms` : `     – (faces of an earlier frame)`;
  const every = detectEvery > 1 ? `\ndetector on every ${detectEvery} frames` : '';
  const rate = fps > 0 ? `${fps.toFixed(1)} frames/s` : 'frames/s: – (one picture)';
  return `detect ${detect}\ncrop   ${f(ms.crop)} ms\nmodel  ${f(ms.model)} ms\nread   ${f(ms.readback)} ms\ntotal  ${f(ms.total)} ms\n${rate}${every}`;
}

export function topOf(face: FaceResult | undefined): { label: string; p: number } | undefined {
  if (!face) return undefined;
  const k = face.emotion.indexOf(Math.max(...face.emotion));
  return { label: LABELS[k]!, p: face.emotion[k]! };
}
