import { describe, expect, it } from 'vitest';
import type { Image8 } from '../src/data/types.js';
import { attentionOverlay } from '../src/viz/attention.js';
import { Canvas, PALETTE, colormap, floatToImage8, hasGlyph, textHeight, textWidth, BLACK, WHITE, type RGB } from '../src/viz/canvas.js';
import { barChart, lineChart, niceTicks } from '../src/viz/charts.js';
import { captioned, hstack, occlusionPanel, vstack } from '../src/viz/panels.js';

const at = (img: Image8, x: number, y: number): RGB => {
  const o = (y * img.width + x) * img.channels;
  return [img.data[o]!, img.data[o + 1]!, img.data[o + 2]!];
};
const same = (a: RGB, b: RGB) => a[0] === b[0] && a[1] === b[1] && a[2] === b[2];
/** Pixels in [x0, x1) × [y0, y1) that differ from `bg`. */
function inked(img: Image8, x0: number, y0: number, x1: number, y1: number, bg: RGB = WHITE): number {
  let n = 0;
  for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) if (!same(at(img, x, y), bg)) n++;
  return n;
}
/** Mean of R − B over a box: positive where a jet heat map is hot. */
function redness(img: Image8, x0: number, y0: number, x1: number, y1: number): number {
  let s = 0;
  for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) s += at(img, x, y)[0] - at(img, x, y)[2];
  return s / ((x1 - x0) * (y1 - y0));
}

describe('canvas', () => {
  it('fills rectangles, clips at the edges and rejects bad sizes', () => {
    const c = new Canvas(10, 6);
    c.fillRect(-3, 4, 5, 10, [1, 2, 3]);
    const img = c.image();
    expect([img.width, img.height, img.channels, img.data.length]).toEqual([10, 6, 3, 180]);
    expect(at(img, 0, 5)).toEqual([1, 2, 3]);
    expect(at(img, 1, 4)).toEqual([1, 2, 3]);
    expect(at(img, 2, 4)).toEqual(WHITE);
    expect(at(img, 0, 3)).toEqual(WHITE);
    expect(() => new Canvas(0, 5)).toThrow(/Canvas: size must be positive integers, got 0×5/);
  });

  it('draws anti-aliased lines: solid on the line, partial at the rim, untouched away from it', () => {
    const c = new Canvas(40, 40);
    c.line(5, 5, 35, 30, BLACK, 2);
    const img = c.image();
    // On the segment (t = 0.5): dark.
    expect(at(img, 20, Math.round(17.5))[0]).toBeLessThan(90);
    // Far away: untouched.
    expect(at(img, 30, 5)).toEqual(WHITE);
    // Some pixels are partially covered (neither white nor black): the anti-aliasing.
    let partial = 0;
    for (let i = 0; i < img.data.length; i += 3) if (img.data[i]! > 20 && img.data[i]! < 235) partial++;
    expect(partial).toBeGreaterThan(10);
    // A polyline through the same point twice does not draw darker than a single pass.
    const p = new Canvas(20, 20);
    p.polyline([2, 10, 2], [10, 10, 10], [100, 100, 100], 3);
    expect(at(p.image(), 6, 10)).toEqual([100, 100, 100]);
    expect(() => p.polyline([1, 2], [1], BLACK)).toThrow(/polyline: 2 x values but 1 y values/);
  });

  it('fills circles with a soft rim', () => {
    const c = new Canvas(21, 21);
    c.fillCircle(10, 10, 5, [255, 0, 0]);
    const img = c.image();
    expect(at(img, 10, 10)).toEqual([255, 0, 0]);
    expect(at(img, 14, 10)).toEqual([255, 0, 0]);
    expect(at(img, 10, 17)).toEqual(WHITE);
    expect(at(img, 0, 0)).toEqual(WHITE);
    const rim = at(img, 14, 14); // distance 5.66 from the centre
    expect(rim[1]).toBeGreaterThan(0);
  });

  it('blits with nearest and bilinear scaling, gray and RGBA sources', () => {
    const gray: Image8 = { width: 2, height: 2, channels: 1, data: Uint8Array.of(0, 200, 100, 50) };
    const c = new Canvas(8, 8);
    c.blit(gray, 0, 0, { scale: 4 });
    let img = c.image();
    expect(at(img, 0, 0)).toEqual([0, 0, 0]);
    expect(at(img, 3, 3)).toEqual([0, 0, 0]);
    expect(at(img, 4, 0)).toEqual([200, 200, 200]);
    expect(at(img, 7, 7)).toEqual([50, 50, 50]);
    const b = new Canvas(4, 4);
    b.blit(gray, 0, 0, { width: 4, height: 4, filter: 'bilinear' });
    img = b.image();
    // Corner pixels sit outside the source centres (clamped); inner pixels interpolate.
    expect(at(img, 0, 0)[0]).toBe(0);
    expect(at(img, 3, 3)[0]).toBe(50);
    expect(at(img, 1, 1)[0]).toBe(Math.round(0.5625 * 0 + 0.1875 * 200 + 0.1875 * 100 + 0.0625 * 50));
    const rgba: Image8 = { width: 1, height: 1, channels: 4, data: Uint8Array.of(0, 0, 0, 128) };
    const a = new Canvas(1, 1);
    a.blit(rgba, 0, 0);
    expect(at(a.image(), 0, 0)[0]).toBe(127);
    expect(() => a.blit({ width: 2, height: 2, channels: 3, data: new Uint8Array(5) }, 0, 0)).toThrow(/Canvas.blit: image data holds 5 bytes, 2×2×3 = 12 expected/);
  });

  it('renders every glyph of the font as ink inside its cell, and unknown characters as "?"', () => {
    const chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.,:;%-+=()[]/×_|<>?!\'#';
    for (const ch of chars) {
      expect(hasGlyph(ch), ch).toBe(true);
      const c = new Canvas(10, 14);
      const w = c.text(ch, 1, 1, BLACK, 1);
      expect(w).toBe(textWidth(ch, 1));
      const img = c.image();
      expect(inked(img, 0, 0, 10, 14), ch).toBeGreaterThan(0);
      // Nothing outside the 5 × 9 cell.
      expect(inked(img, 6, 0, 10, 14) + inked(img, 0, 10, 10, 14), ch).toBe(0);
    }
    // Upper and lower case differ; scale 2 covers 4× the pixels.
    const ink = (s: string, scale = 1) => {
      const c = new Canvas(80, 30);
      c.text(s, 0, 0, BLACK, scale);
      return c.image();
    };
    expect(Buffer.from(ink('a').data).equals(Buffer.from(ink('A').data))).toBe(false);
    expect(inked(ink('0.123', 2), 0, 0, 80, 30)).toBe(4 * inked(ink('0.123'), 0, 0, 80, 30));
    expect(Buffer.from(ink('~').data).equals(Buffer.from(ink('?').data))).toBe(true);
    expect(textWidth('abc', 2)).toBe((3 * 6 - 1) * 2);
    expect(textHeight(3)).toBe(27);
    expect(() => new Canvas(5, 5).text('a', 0, 0, BLACK, 1.5)).toThrow(/Canvas.text: scale must be a positive integer/);
  });

  it('colour maps: endpoints, clamping, monotone jet hue', () => {
    expect(colormap(0, 'jet')).toEqual([0, 0, 143]);
    expect(colormap(1, 'jet')).toEqual([128, 0, 0]);
    expect(colormap(0, 'viridis')).toEqual([68, 1, 84]);
    expect(colormap(1, 'viridis')).toEqual([253, 231, 37]);
    expect(colormap(-3)).toEqual(colormap(0));
    expect(colormap(7, 'viridis')).toEqual(colormap(1, 'viridis'));
    expect(colormap(NaN)).toEqual(colormap(0));
    // jet runs blue → red: the red share rises and the blue share falls from 0.2 to 0.8.
    const lo = colormap(0.2);
    const hi = colormap(0.8);
    expect(hi[0]).toBeGreaterThan(lo[0]);
    expect(hi[2]).toBeLessThan(lo[2]);
    // viridis grows brighter monotonically.
    const lum = (c: RGB) => c[0] * 0.3 + c[1] * 0.59 + c[2] * 0.11;
    for (let i = 1; i <= 10; i++) expect(lum(colormap(i / 10, 'viridis'))).toBeGreaterThan(lum(colormap((i - 1) / 10, 'viridis')));
  });

  it('converts float frames to 8-bit RGB, clamping', () => {
    const img = floatToImage8(Float32Array.of(0, 0.5, 1.2, -1), 2, 2, 1);
    expect([img.width, img.height, img.channels]).toEqual([2, 2, 3]);
    expect(Array.from(img.data)).toEqual([0, 0, 0, 128, 128, 128, 255, 255, 255, 0, 0, 0]);
  });
});

describe('attentionOverlay', () => {
  const H = 12;
  const W = 10;
  const frames = (T: number, C: 1 | 3 = 1) => new Float32Array(T * H * W * C).fill(0.5);
  /** T maps of h×w, each peaked at the top-left corner, multiplied by scales[t]. */
  const cornerMaps = (T: number, h: number, w: number, scales: number[] = Array(T).fill(1)) => {
    const m = new Float32Array(T * h * w);
    for (let t = 0; t < T; t++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) m[(t * h + y) * w + x] = scales[t]! * Math.exp(-(x * x + y * y) / 2);
    return m;
  };

  it('lays frames in a grid of the expected size, enlarged by the scale', () => {
    const img = attentionOverlay({ frames: frames(5), count: 5, height: H, width: W, channels: 1 }, { maps: cornerMaps(5, 3, 3), height: 3, width: 3 }, { scale: 3, columns: 3, gap: 2 });
    expect([img.width, img.height, img.channels]).toEqual([3 * (W * 3 + 2) + 2, 2 * (H * 3 + 2) + 2, 3]);
    expect(img.data.length).toBe(img.width * img.height * 3);
    // Captions and a title add rows.
    const cap = attentionOverlay({ frames: frames(2, 3), count: 2, height: H, width: W, channels: 3 }, { maps: cornerMaps(2, 4, 4), height: 4, width: 4 }, { scale: 4, captions: ['0.123', '0.877'], title: 'T' });
    expect(cap.height).toBeGreaterThan(H * 4 + 8 + 9);
  });

  it('is redder where the map peaks (top-left corner) than elsewhere, in every frame', () => {
    const T = 3;
    const s = 4;
    const img = attentionOverlay({ frames: frames(T), count: T, height: H, width: W, channels: 1 }, { maps: cornerMaps(T, 6, 5), height: 6, width: 5 }, { scale: s, gap: 4 });
    for (let t = 0; t < T; t++) {
      const x0 = 4 + t * (W * s + 4);
      const corner = redness(img, x0, 4, x0 + 8, 4 + 8);
      const farCorner = redness(img, x0 + W * s - 8, 4 + H * s - 8, x0 + W * s, 4 + H * s);
      expect(corner).toBeGreaterThan(60);
      expect(farCorner).toBeLessThan(-20);
    }
  });

  it("normalises per frame by default, and over all frames with normalise: 'global'", () => {
    const args = [{ frames: frames(2), count: 2, height: H, width: W, channels: 1 as const }, { maps: cornerMaps(2, 4, 4, [1, 0.1]), height: 4, width: 4 }] as const;
    const box = (img: Image8, t: number) => redness(img, 2 + t * (W * 2 + 2), 2, 2 + t * (W * 2 + 2) + 4, 6);
    const perFrame = attentionOverlay(...args, { scale: 2, gap: 2 });
    expect(box(perFrame, 1)).toBeCloseTo(box(perFrame, 0), 5);
    const global = attentionOverlay(...args, { scale: 2, gap: 2, normalise: 'global' });
    expect(box(global, 1)).toBeLessThan(box(global, 0) - 50);
  });

  it("'mask' mode darkens what the map ignores", () => {
    const img = attentionOverlay({ frames: frames(1), count: 1, height: H, width: W, channels: 1 }, { maps: cornerMaps(1, 4, 4), height: 4, width: 4 }, { mode: 'mask', gap: 0 });
    expect(at(img, 0, 0)[0]).toBeGreaterThan(100);
    expect(at(img, W - 1, H - 1)[0]).toBeLessThan(30);
  });

  it('takes a Clip (frameCount) directly', () => {
    const clip = { frames: frames(2, 3), frameCount: 2, height: H, width: W, channels: 3 as const, label: 0, identity: 'x' };
    const img = attentionOverlay(clip, { maps: cornerMaps(2, 2, 2), height: 2, width: 2 }, { gap: 0 });
    expect([img.width, img.height]).toEqual([2 * W, H]);
  });

  it('rejects mismatched counts, NaN and bad sizes with messages naming the function and shapes', () => {
    const f = { frames: frames(3), count: 3, height: H, width: W, channels: 1 as const };
    expect(() => attentionOverlay(f, { maps: cornerMaps(2, 4, 4), height: 4, width: 4 })).toThrow(/attentionOverlay: maps hold 32 values = 2 maps of 4×4, but there are 3 frames of 12×10/);
    const nan = cornerMaps(3, 4, 4);
    nan[16 + 5] = NaN;
    expect(() => attentionOverlay(f, { maps: nan, height: 4, width: 4 })).toThrow(/attentionOverlay: map 1 \(of 3×4×4\) has NaN at \(1, 1\)/);
    const badFrames = frames(3);
    badFrames[H * W * 2] = NaN;
    expect(() => attentionOverlay({ ...f, frames: badFrames }, { maps: cornerMaps(3, 4, 4), height: 4, width: 4 })).toThrow(/attentionOverlay: frame 2 \(of 3×12×10×1\) contains NaN/);
    expect(() => attentionOverlay({ ...f, count: 4 }, { maps: cornerMaps(4, 4, 4), height: 4, width: 4 })).toThrow(/attentionOverlay: frames hold 360 values, 4×12×10×1 = 480 expected/);
    expect(() => attentionOverlay(f, { maps: cornerMaps(3, 4, 4), height: 4, width: 4 }, { captions: ['a'] })).toThrow(/attentionOverlay: 1 captions for 3 frames/);
    expect(() => attentionOverlay(f, { maps: cornerMaps(3, 4, 4), height: 4, width: 4 }, { scale: 2.5 })).toThrow(/attentionOverlay: scale must be a positive integer, got 2.5/);
  });
});

/** Heights of the solid bars (blue or red columns), left to right. */
function barHeights(img: Image8): { heights: number[]; red: number[] } {
  const isBar = (c: RGB) => same(c, PALETTE[0]!) || same(c, PALETTE[3]!);
  const heights: number[] = [];
  const red: number[] = [];
  let inBar = false;
  for (let x = 0; x < img.width; x++) {
    let n = 0;
    let r = false;
    for (let y = 0; y < img.height; y++)
      if (isBar(at(img, x, y))) {
        n++;
        r ||= same(at(img, x, y), PALETTE[3]!);
      }
    // Value labels and tick text are black, so only bar pixels count; a run of bar columns is one bar.
    if (n > 0 && !inBar) {
      heights.push(n);
      if (r) red.push(heights.length - 1);
    } else if (n > 0) heights[heights.length - 1] = Math.max(heights[heights.length - 1]!, n);
    inBar = n > 0;
  }
  return { heights, red };
}

describe('charts', () => {
  const probs = [0.05, 0.02, 0.08, 0.61, 0.07, 0.12, 0.05];
  const names = ['anger', 'disgust', 'fear', 'happiness', 'sadness', 'surprise', 'neutral'];

  it('barChart: bars as tall as their values (ordered), the largest highlighted, title and labels drawn', () => {
    const img = barChart(probs, names, { title: 'probabilities', yMax: 1 });
    expect(img.channels).toBe(3);
    const { heights, red } = barHeights(img);
    expect(heights).toHaveLength(7);
    expect(red).toEqual([3]);
    for (let i = 0; i < 7; i++)
      for (let j = 0; j < 7; j++) if (probs[i]! > probs[j]! + 0.005) expect(heights[i]!, `${names[i]} vs ${names[j]}`).toBeGreaterThan(heights[j]!);
    // Proportional: 0.61 / 0.05 within a pixel or two.
    expect(heights[3]! / heights[0]!).toBeGreaterThan(0.61 / 0.05 - 1.5);
    expect(inked(img, 0, 0, img.width, 24)).toBeGreaterThan(50); // the title
    expect(inked(img, 0, img.height - 18, img.width, img.height)).toBeGreaterThan(100); // the labels
    // Negative values hang below the axis, size is as asked.
    const neg = barChart([1, -2, 0.5], ['a', 'b', 'c'], { width: 300, height: 200, highlight: -1 });
    expect([neg.width, neg.height]).toEqual([300, 200]);
    const nh = barHeights(neg);
    expect(nh.red).toEqual([]);
    expect(nh.heights[1]!).toBeGreaterThan(nh.heights[0]!);
  });

  it('barChart rejects NaN values and label count mismatches', () => {
    expect(() => barChart([0.1, 0.2, NaN], ['a', 'b', 'c'])).toThrow(/barChart: values\[2\] of 3 is NaN/);
    expect(() => barChart([0.1, 0.2], ['a'])).toThrow(/barChart: 2 values but 1 labels/);
    expect(() => barChart([], [])).toThrow(/barChart: values has no values/);
  });

  it('lineChart: both series drawn in their colours, legend and axes, size as asked', () => {
    const loss = [2, 1.4, 1.0, 0.8, 0.7];
    const acc = [0.2, 0.4, 0.55, 0.6, 0.7];
    const img = lineChart([{ name: 'loss', values: loss }, { name: 'accuracy', values: acc, axis: 'right', color: [200, 0, 200] }], { title: 'curves', width: 400, height: 260, xLabel: 'epoch' });
    expect([img.width, img.height]).toEqual([400, 260]);
    let blue = 0;
    let magenta = 0;
    for (let y = 0; y < img.height; y++)
      for (let x = 0; x < img.width; x++) {
        const c = at(img, x, y);
        if (same(c, PALETTE[0]!)) blue++;
        if (same(c, [200, 0, 200])) magenta++;
      }
    expect(blue).toBeGreaterThan(200);
    expect(magenta).toBeGreaterThan(200);
    // The loss falls: its line starts high on the left and ends low on the right (in pixel rows).
    const rowsOf = (colour: RGB, x0: number, x1: number) => {
      const ys: number[] = [];
      for (let y = 30; y < img.height - 40; y++) for (let x = x0; x < x1; x++) if (same(at(img, x, y), colour)) ys.push(y);
      return ys.reduce((a, b) => a + b, 0) / ys.length;
    };
    expect(rowsOf(PALETTE[0]!, 40, 90)).toBeLessThan(rowsOf(PALETTE[0]!, 300, 360));
    expect(rowsOf([200, 0, 200], 40, 90)).toBeGreaterThan(rowsOf([200, 0, 200], 300, 360));
  });

  it('lineChart rejects NaN, empty input and too few x positions', () => {
    expect(() => lineChart([{ name: 'loss', values: [1, NaN] }])).toThrow(/lineChart: series 'loss'\[1\] of 2 is NaN/);
    expect(() => lineChart([])).toThrow(/lineChart: no series to draw/);
    expect(() => lineChart([{ name: 'a', values: [1, 2, 3] }], { x: [1, 2] })).toThrow(/lineChart: 2 x positions for series of up to 3 values/);
  });

  it('niceTicks: round steps covering the range', () => {
    expect(niceTicks(0, 1, 5).ticks).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    const t = niceTicks(0.23, 2.1, 5);
    expect(t.lo).toBeLessThanOrEqual(0.23);
    expect(t.hi).toBeGreaterThanOrEqual(2.1);
    expect(niceTicks(1, 20, 8, true).step).toBe(5);
    expect(niceTicks(3, 3).ticks.length).toBeGreaterThan(1);
  });
});

describe('panels', () => {
  it('hstack and vstack place images with gaps', () => {
    const red: Image8 = { width: 3, height: 2, channels: 3, data: new Uint8Array(18).fill(0).map((_, i) => (i % 3 === 0 ? 255 : 0)) };
    const gray: Image8 = { width: 2, height: 4, channels: 1, data: new Uint8Array(8).fill(9) };
    const h = hstack([red, gray], 1);
    expect([h.width, h.height]).toEqual([3 + 2 + 3, 4 + 2]);
    expect(at(h, 1, 1)).toEqual([255, 0, 0]);
    expect(at(h, 5, 4)).toEqual([9, 9, 9]);
    expect(at(h, 4, 1)).toEqual(WHITE);
    const v = vstack([red, gray], 2);
    expect([v.width, v.height]).toEqual([3 + 4, 2 + 4 + 6]);
    expect(at(v, 2, 2)).toEqual([255, 0, 0]);
    expect(() => hstack([])).toThrow(/hstack: no images/);
    expect(() => vstack([{ width: 2, height: 2, channels: 1, data: new Uint8Array(3) }])).toThrow(/vstack \(image 0\): image data holds 3 bytes/);
    expect(captioned(red, 'abc').height).toBeGreaterThan(red.height + 8);
  });

  it('occlusionPanel: three captioned panels, the saliency peak hot', () => {
    const n = 16;
    const input = new Float32Array(n * n).fill(0.5);
    const sal = new Float32Array(4 * 4);
    sal[15] = 3; // bottom-right
    sal[0] = -1; // negative saliency shows as cold
    const img = occlusionPanel({ data: input, height: n, width: n }, { data: sal, height: 4, width: 4 }, { data: input, height: n, width: n }, 4);
    const panel = n * 4;
    expect(img.width).toBe(3 * panel + 4 * 8);
    expect(img.height).toBeGreaterThan(panel + 16);
    const x0 = 8 + 2 * (panel + 8);
    expect(redness(img, x0 + panel - 6, 8 + panel - 6, x0 + panel, 8 + panel)).toBeGreaterThan(60);
    expect(redness(img, x0, 8, x0 + 6, 14)).toBeLessThan(0);
    // The input panel is the plain gray frame.
    expect(at(img, 8 + 10, 8 + 10)).toEqual([128, 128, 128]);
    expect(() => occlusionPanel({ data: input, height: n, width: n }, { data: sal, height: 4, width: 4 }, { data: input, height: 8, width: 32 })).toThrow(
      /occlusionPanel: input 16×16 and warped input 8×32 differ/,
    );
    expect(() => occlusionPanel({ data: input, height: n, width: n }, { data: Float32Array.of(1, NaN, 0, 0), height: 2, width: 2 }, { data: input, height: n, width: n })).toThrow(
      /occlusionPanel: saliency map \(2×2×1\) has NaN at index 1/,
    );
  });
});
