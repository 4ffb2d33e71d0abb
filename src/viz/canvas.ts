/**
 * A small RGB raster canvas for the pictures the CLI writes: rectangles, anti-aliased lines and discs, blits of
 * Image8s (nearest or bilinear scaling), text in a built-in 5×7 bitmap font (integer scale) and colour maps for
 * heat maps. Pure TypeScript, no Node imports: it runs unchanged in browsers.
 */
import type { Image8 } from '../data/types.js';

export type RGB = readonly [number, number, number];

export const WHITE: RGB = [255, 255, 255];
export const BLACK: RGB = [0, 0, 0];
export const GRAY: RGB = [140, 140, 140];
export const LIGHT_GRAY: RGB = [228, 228, 228];
/** Distinct series colours (blue, orange, green, red, purple, brown, pink). */
export const PALETTE: readonly RGB[] = [
  [31, 119, 180],
  [255, 127, 14],
  [44, 160, 44],
  [214, 39, 40],
  [148, 103, 189],
  [140, 86, 75],
  [227, 119, 194],
];

// 5×7 glyphs (cap height 7), rows top to bottom; lowercase descenders use two extra rows below the baseline.
const GLYPH_ROWS: Record<string, string> = {
  A: '.###. #...# #...# ##### #...# #...# #...#',
  B: '####. #...# #...# ####. #...# #...# ####.',
  C: '.###. #...# #.... #.... #.... #...# .###.',
  D: '####. #...# #...# #...# #...# #...# ####.',
  E: '##### #.... #.... ####. #.... #.... #####',
  F: '##### #.... #.... ####. #.... #.... #....',
  G: '.###. #...# #.... #.### #...# #...# .####',
  H: '#...# #...# #...# ##### #...# #...# #...#',
  I: '.###. ..#.. ..#.. ..#.. ..#.. ..#.. .###.',
  J: '..### ...#. ...#. ...#. ...#. #..#. .##..',
  K: '#...# #..#. #.#.. ##... #.#.. #..#. #...#',
  L: '#.... #.... #.... #.... #.... #.... #####',
  M: '#...# ##.## #.#.# #.#.# #...# #...# #...#',
  N: '#...# #...# ##..# #.#.# #..## #...# #...#',
  O: '.###. #...# #...# #...# #...# #...# .###.',
  P: '####. #...# #...# ####. #.... #.... #....',
  Q: '.###. #...# #...# #...# #.#.# #..#. .##.#',
  R: '####. #...# #...# ####. #.#.. #..#. #...#',
  S: '.#### #.... #.... .###. ....# ....# ####.',
  T: '##### ..#.. ..#.. ..#.. ..#.. ..#.. ..#..',
  U: '#...# #...# #...# #...# #...# #...# .###.',
  V: '#...# #...# #...# #...# #...# .#.#. ..#..',
  W: '#...# #...# #...# #.#.# #.#.# #.#.# .#.#.',
  X: '#...# #...# .#.#. ..#.. .#.#. #...# #...#',
  Y: '#...# #...# .#.#. ..#.. ..#.. ..#.. ..#..',
  Z: '##### ....# ...#. ..#.. .#... #.... #####',
  a: '..... ..... .###. ....# .#### #...# .####',
  b: '#.... #.... #.##. ##..# #...# #...# ####.',
  c: '..... ..... .###. #.... #.... #...# .###.',
  d: '....# ....# .##.# #..## #...# #...# .####',
  e: '..... ..... .###. #...# ##### #.... .###.',
  f: '..##. .#..# .#... ###.. .#... .#... .#...',
  g: '..... ..... .#### #...# #...# .#### ....# #...# .###.',
  h: '#.... #.... #.##. ##..# #...# #...# #...#',
  i: '..#.. ..... .##.. ..#.. ..#.. ..#.. .###.',
  j: '...#. ..... ..##. ...#. ...#. ...#. ...#. #..#. .##..',
  k: '#.... #.... #..#. #.#.. ##... #.#.. #..#.',
  l: '.##.. ..#.. ..#.. ..#.. ..#.. ..#.. .###.',
  m: '..... ..... ##.#. #.#.# #.#.# #.#.# #.#.#',
  n: '..... ..... #.##. ##..# #...# #...# #...#',
  o: '..... ..... .###. #...# #...# #...# .###.',
  p: '..... ..... ####. #...# #...# ####. #.... #.... #....',
  q: '..... ..... .#### #...# #...# .#### ....# ....# ....#',
  r: '..... ..... #.##. ##..# #.... #.... #....',
  s: '..... ..... .###. #.... .###. ....# ####.',
  t: '.#... .#... ###.. .#... .#... .#..# ..##.',
  u: '..... ..... #...# #...# #...# #..## .##.#',
  v: '..... ..... #...# #...# #...# .#.#. ..#..',
  w: '..... ..... #...# #...# #.#.# #.#.# .#.#.',
  x: '..... ..... #...# .#.#. ..#.. .#.#. #...#',
  y: '..... ..... #...# #...# #...# .#### ....# #...# .###.',
  z: '..... ..... ##### ...#. ..#.. .#... #####',
  '0': '.###. #...# #..## #.#.# ##..# #...# .###.',
  '1': '..#.. .##.. ..#.. ..#.. ..#.. ..#.. .###.',
  '2': '.###. #...# ....# ...#. ..#.. .#... #####',
  '3': '####. ....# ....# .###. ....# ....# ####.',
  '4': '...#. ..##. .#.#. #..#. ##### ...#. ...#.',
  '5': '##### #.... ####. ....# ....# #...# .###.',
  '6': '..##. .#... #.... ####. #...# #...# .###.',
  '7': '##### ....# ...#. ..#.. .#... .#... .#...',
  '8': '.###. #...# #...# .###. #...# #...# .###.',
  '9': '.###. #...# #...# .#### ....# ...#. .##..',
  '.': '..... ..... ..... ..... ..... .##.. .##..',
  ',': '..... ..... ..... ..... ..... .##.. .##.. ..#.. .#...',
  ':': '..... .##.. .##.. ..... .##.. .##.. .....',
  ';': '..... .##.. .##.. ..... .##.. .##.. ..#.. .#...',
  '%': '##... ##..# ...#. ..#.. .#... #..## ...##',
  '-': '..... ..... ..... .###. ..... ..... .....',
  '+': '..... ..#.. ..#.. ##### ..#.. ..#.. .....',
  '=': '..... ..... ##### ..... ##### ..... .....',
  '(': '...#. ..#.. .#... .#... .#... ..#.. ...#.',
  ')': '.#... ..#.. ...#. ...#. ...#. ..#.. .#...',
  '[': '.###. .#... .#... .#... .#... .#... .###.',
  ']': '.###. ...#. ...#. ...#. ...#. ...#. .###.',
  '/': '....# ....# ...#. ..#.. .#... #.... #....',
  '×': '..... #...# .#.#. ..#.. .#.#. #...# .....',
  '_': '..... ..... ..... ..... ..... ..... #####',
  '|': '..#.. ..#.. ..#.. ..#.. ..#.. ..#.. ..#..',
  '<': '...#. ..#.. .#... #.... .#... ..#.. ...#.',
  '>': '.#... ..#.. ...#. ....# ...#. ..#.. .#...',
  '?': '.###. #...# ....# ...#. ..#.. ..... ..#..',
  '!': '..#.. ..#.. ..#.. ..#.. ..#.. ..... ..#..',
  "'": '..#.. ..#.. .#... ..... ..... ..... .....',
  '#': '.#.#. .#.#. ##### .#.#. ##### .#.#. .#.#.',
  ' ': '',
};

/** Each glyph as 9 rows of 5-bit masks (bit 4 = leftmost column). */
const GLYPHS: ReadonlyMap<string, Uint8Array> = new Map(
  Object.entries(GLYPH_ROWS).map(([ch, rows]) => {
    const bits = new Uint8Array(9);
    rows
      .split(' ')
      .filter((r) => r.length > 0)
      .forEach((r, i) => {
        for (let k = 0; k < 5; k++) if (r[k] === '#') bits[i]! |= 1 << (4 - k);
      });
    return [ch, bits] as const;
  }),
);

/** Font metrics in font pixels: each character advances 6 columns; a line is 10 rows (7 + 2 descender + 1). */
export const GLYPH_ADVANCE = 6;
export const LINE_HEIGHT = 10;

/** Width in pixels of `s` drawn at `scale` (without the trailing gap). */
export function textWidth(s: string, scale = 1): number {
  const n = [...s].length;
  return n === 0 ? 0 : (n * GLYPH_ADVANCE - 1) * scale;
}

/** Height in pixels of one line of text at `scale` (cap height plus descenders). */
export function textHeight(scale = 1): number {
  return 9 * scale;
}

/** Whether the font has a glyph for `ch` (others draw as '?'). */
export function hasGlyph(ch: string): boolean {
  return GLYPHS.has(ch);
}

export type Filter = 'nearest' | 'bilinear';

export interface BlitOptions {
  /** Target size in pixels; defaults to the image size times `scale`. */
  width?: number;
  height?: number;
  scale?: number;
  filter?: Filter;
}

const clamp01 = (v: number): number => (v < 0 ? 0 : v > 1 ? 1 : v);

export class Canvas {
  readonly data: Uint8Array;

  constructor(
    readonly width: number,
    readonly height: number,
    background: RGB = WHITE,
  ) {
    if (!(Number.isInteger(width) && width > 0 && Number.isInteger(height) && height > 0)) {
      throw new Error(`Canvas: size must be positive integers, got ${width}×${height}`);
    }
    this.data = new Uint8Array(width * height * 3);
    this.fillRect(0, 0, width, height, background);
  }

  /** Blends colour `c` into the integer pixel (x, y) with opacity `alpha`; outside the canvas does nothing. */
  blend(x: number, y: number, c: RGB, alpha = 1): void {
    if (x < 0 || y < 0 || x >= this.width || y >= this.height || !(alpha > 0)) return;
    const o = (y * this.width + x) * 3;
    const d = this.data;
    if (alpha >= 1) {
      d[o] = c[0];
      d[o + 1] = c[1];
      d[o + 2] = c[2];
      return;
    }
    d[o] = Math.round(d[o]! + (c[0] - d[o]!) * alpha);
    d[o + 1] = Math.round(d[o + 1]! + (c[1] - d[o + 1]!) * alpha);
    d[o + 2] = Math.round(d[o + 2]! + (c[2] - d[o + 2]!) * alpha);
  }

  /** Colour at an integer pixel. */
  get(x: number, y: number): RGB {
    const o = (y * this.width + x) * 3;
    return [this.data[o]!, this.data[o + 1]!, this.data[o + 2]!];
  }

  /** Fills the pixels whose centres lie in [x, x + w) × [y, y + h). */
  fillRect(x: number, y: number, w: number, h: number, c: RGB, alpha = 1): void {
    const x0 = Math.max(0, Math.round(x));
    const y0 = Math.max(0, Math.round(y));
    const x1 = Math.min(this.width, Math.round(x + w));
    const y1 = Math.min(this.height, Math.round(y + h));
    for (let yy = y0; yy < y1; yy++) for (let xx = x0; xx < x1; xx++) this.blend(xx, yy, c, alpha);
  }

  /** A one-pixel outline just inside [x, x + w) × [y, y + h). */
  strokeRect(x: number, y: number, w: number, h: number, c: RGB): void {
    this.fillRect(x, y, w, 1, c);
    this.fillRect(x, y + h - 1, w, 1, c);
    this.fillRect(x, y, 1, h, c);
    this.fillRect(x + w - 1, y, 1, h, c);
  }

  /** A segment `thickness` pixels wide between pixel centres, anti-aliased by distance. */
  line(x0: number, y0: number, x1: number, y1: number, c: RGB, thickness = 1): void {
    this.polyline([x0, x1], [y0, y1], c, thickness);
  }

  /**
   * Connected segments through (xs[i], ys[i]). Coverage is the maximum over segments, blended once, so joints
   * do not darken where segments overlap.
   */
  polyline(xs: readonly number[], ys: readonly number[], c: RGB, thickness = 1): void {
    if (xs.length !== ys.length) throw new Error(`Canvas.polyline: ${xs.length} x values but ${ys.length} y values`);
    if (xs.length === 0) return;
    const r = Math.max(0.5, thickness / 2);
    let minX = Infinity;
    let maxX = -Infinity;
    let minY = Infinity;
    let maxY = -Infinity;
    for (let i = 0; i < xs.length; i++) {
      if (!Number.isFinite(xs[i]!) || !Number.isFinite(ys[i]!)) throw new Error(`Canvas.polyline: point ${i} is (${xs[i]}, ${ys[i]})`);
      minX = Math.min(minX, xs[i]!);
      maxX = Math.max(maxX, xs[i]!);
      minY = Math.min(minY, ys[i]!);
      maxY = Math.max(maxY, ys[i]!);
    }
    const bx0 = Math.max(0, Math.floor(minX - r - 1));
    const by0 = Math.max(0, Math.floor(minY - r - 1));
    const bx1 = Math.min(this.width - 1, Math.ceil(maxX + r + 1));
    const by1 = Math.min(this.height - 1, Math.ceil(maxY + r + 1));
    if (bx1 < bx0 || by1 < by0) return;
    const bw = bx1 - bx0 + 1;
    const cover = new Float32Array(bw * (by1 - by0 + 1));
    const segments = Math.max(1, xs.length - 1);
    for (let s = 0; s < segments; s++) {
      const ax = xs[s]!;
      const ay = ys[s]!;
      const ex = xs[Math.min(s + 1, xs.length - 1)]!;
      const ey = ys[Math.min(s + 1, ys.length - 1)]!;
      const dx = ex - ax;
      const dy = ey - ay;
      const len2 = dx * dx + dy * dy;
      const sx0 = Math.max(bx0, Math.floor(Math.min(ax, ex) - r - 1));
      const sx1 = Math.min(bx1, Math.ceil(Math.max(ax, ex) + r + 1));
      const sy0 = Math.max(by0, Math.floor(Math.min(ay, ey) - r - 1));
      const sy1 = Math.min(by1, Math.ceil(Math.max(ay, ey) + r + 1));
      for (let y = sy0; y <= sy1; y++)
        for (let x = sx0; x <= sx1; x++) {
          const t = len2 > 0 ? clamp01(((x - ax) * dx + (y - ay) * dy) / len2) : 0;
          const d = Math.hypot(x - (ax + t * dx), y - (ay + t * dy));
          const a = clamp01(r + 0.5 - d);
          const i = (y - by0) * bw + (x - bx0);
          if (a > cover[i]!) cover[i] = a;
        }
    }
    for (let i = 0; i < cover.length; i++) if (cover[i]! > 0) this.blend(bx0 + (i % bw), by0 + Math.floor(i / bw), c, cover[i]!);
  }

  /** A filled disc centred on (cx, cy) with an anti-aliased rim. */
  fillCircle(cx: number, cy: number, radius: number, c: RGB, alpha = 1): void {
    const x0 = Math.max(0, Math.floor(cx - radius - 1));
    const x1 = Math.min(this.width - 1, Math.ceil(cx + radius + 1));
    const y0 = Math.max(0, Math.floor(cy - radius - 1));
    const y1 = Math.min(this.height - 1, Math.ceil(cy + radius + 1));
    for (let y = y0; y <= y1; y++)
      for (let x = x0; x <= x1; x++) {
        const a = clamp01(radius + 0.5 - Math.hypot(x - cx, y - cy));
        if (a > 0) this.blend(x, y, c, a * alpha);
      }
  }

  /**
   * Draws an Image8 (gray, RGB, or RGBA composited over what is there) with its top-left at (x, y), resized to
   * width × height (default: its size times `scale`) by nearest or bilinear sampling (pixel centres aligned).
   */
  blit(img: Image8, x: number, y: number, o: BlitOptions = {}): void {
    checkImage('Canvas.blit', img);
    const scale = o.scale ?? 1;
    const W = Math.round(o.width ?? img.width * scale);
    const H = Math.round(o.height ?? img.height * scale);
    if (!(W > 0 && H > 0)) throw new Error(`Canvas.blit: target size ${W}×${H} for a ${img.width}×${img.height} image`);
    const bilinear = (o.filter ?? 'nearest') === 'bilinear';
    const C = img.channels;
    const px = [0, 0, 0, 0];
    const colour: [number, number, number] = [0, 0, 0];
    x = Math.round(x);
    y = Math.round(y);
    for (let ty = Math.max(0, -y); ty < H && y + ty < this.height; ty++)
      for (let tx = Math.max(0, -x); tx < W && x + tx < this.width; tx++) {
        if (bilinear) sampleBilinear(img, ((tx + 0.5) * img.width) / W - 0.5, ((ty + 0.5) * img.height) / H - 0.5, px);
        else {
          const p = (Math.min(img.height - 1, Math.floor((ty * img.height) / H)) * img.width + Math.min(img.width - 1, Math.floor((tx * img.width) / W))) * C;
          for (let k = 0; k < C; k++) px[k] = img.data[p + k]!;
        }
        if (C === 1) colour[0] = colour[1] = colour[2] = Math.round(px[0]!);
        else for (let k = 0; k < 3; k++) colour[k] = Math.round(px[k]!);
        this.blend(x + tx, y + ty, colour, C === 4 ? px[3]! / 255 : 1);
      }
  }

  /**
   * Text in the 5×7 font, top-left at (x, y), each font pixel `scale`×`scale` pixels; '\n' starts a new line.
   * Characters without a glyph draw as '?'. Returns the width of the widest line.
   */
  text(s: string, x: number, y: number, c: RGB, scale = 1): number {
    if (!(Number.isInteger(scale) && scale >= 1)) throw new Error(`Canvas.text: scale must be a positive integer, got ${scale}`);
    let widest = 0;
    s.split('\n').forEach((line, li) => {
      let cx = Math.round(x);
      const cy = Math.round(y) + li * LINE_HEIGHT * scale;
      for (const ch of line) {
        const g = GLYPHS.get(ch) ?? GLYPHS.get('?')!;
        for (let row = 0; row < 9; row++) {
          const bits = g[row]!;
          if (bits === 0) continue;
          for (let col = 0; col < 5; col++) if (bits & (1 << (4 - col))) this.fillRect(cx + col * scale, cy + row * scale, scale, scale, c);
        }
        cx += GLYPH_ADVANCE * scale;
      }
      widest = Math.max(widest, textWidth(line, scale));
    });
    return widest;
  }

  /** Text centred horizontally on `cx`. */
  textCentred(s: string, cx: number, y: number, c: RGB, scale = 1): void {
    this.text(s, Math.round(cx - textWidth(s, scale) / 2), y, c, scale);
  }

  image(): Image8 {
    return { width: this.width, height: this.height, channels: 3, data: this.data };
  }
}

/** Throws unless `img` is a well-formed Image8. */
export function checkImage(fn: string, img: Image8): void {
  const { width: w, height: h, channels: c } = img;
  if (!(Number.isInteger(w) && w > 0 && Number.isInteger(h) && h > 0) || ![1, 3, 4].includes(c)) {
    throw new Error(`${fn}: image of ${w}×${h}×${c} (positive size and 1, 3 or 4 channels expected)`);
  }
  if (img.data.length !== w * h * c) throw new Error(`${fn}: image data holds ${img.data.length} bytes, ${h}×${w}×${c} = ${w * h * c} expected`);
}

/** Bilinear sample at a continuous pixel position (edges clamped) into out[0..channels). */
function sampleBilinear(img: Image8, sx: number, sy: number, out: number[]): void {
  const C = img.channels;
  sx = Math.max(0, Math.min(img.width - 1, sx));
  sy = Math.max(0, Math.min(img.height - 1, sy));
  const x0 = Math.floor(sx);
  const y0 = Math.floor(sy);
  const x1 = Math.min(img.width - 1, x0 + 1);
  const y1 = Math.min(img.height - 1, y0 + 1);
  const fx = sx - x0;
  const fy = sy - y0;
  const d = img.data;
  const a = (y0 * img.width + x0) * C;
  const b = (y0 * img.width + x1) * C;
  const e = (y1 * img.width + x0) * C;
  const f = (y1 * img.width + x1) * C;
  for (let k = 0; k < C; k++) out[k] = (d[a + k]! * (1 - fx) + d[b + k]! * fx) * (1 - fy) + (d[e + k]! * (1 - fx) + d[f + k]! * fx) * fy;
}

/** A float picture (H×W×C, values in [0, 1], clamped) as an 8-bit RGB Image8; gray is repeated over RGB. */
export function floatToImage8(data: Float32Array, height: number, width: number, channels: 1 | 3, offset = 0): Image8 {
  const n = height * width;
  if (offset + n * channels > data.length) throw new Error(`floatToImage8: ${data.length} values, ${height}×${width}×${channels} from ${offset} expected`);
  const out = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++)
    for (let k = 0; k < 3; k++) {
      const v = data[offset + i * channels + (channels === 1 ? 0 : k)]!;
      out[i * 3 + k] = Math.round(clamp01(Number.isNaN(v) ? 0 : v) * 255);
    }
  return { width, height, channels: 3, data: out };
}

export type ColormapName = 'jet' | 'viridis';

// Control points sampled from the two classic maps; linear interpolation between them is close enough for heat maps.
const JET: readonly RGB[] = [
  [0, 0, 143],
  [0, 0, 255],
  [0, 127, 255],
  [0, 255, 255],
  [127, 255, 127],
  [255, 255, 0],
  [255, 127, 0],
  [255, 0, 0],
  [128, 0, 0],
];
const VIRIDIS: readonly RGB[] = [
  [68, 1, 84],
  [72, 40, 120],
  [62, 73, 137],
  [49, 104, 142],
  [38, 130, 142],
  [31, 158, 137],
  [53, 183, 121],
  [109, 205, 89],
  [180, 222, 44],
  [253, 231, 37],
];

/** Colour of v ∈ [0, 1] (clamped; NaN counts as 0) in a colour map. */
export function colormap(v: number, map: ColormapName = 'jet'): RGB {
  const table = map === 'jet' ? JET : VIRIDIS;
  const t = clamp01(Number.isNaN(v) ? 0 : v) * (table.length - 1);
  const i = Math.min(table.length - 2, Math.floor(t));
  const f = t - i;
  const a = table[i]!;
  const b = table[i + 1]!;
  return [Math.round(a[0] + (b[0] - a[0]) * f), Math.round(a[1] + (b[1] - a[1]) * f), Math.round(a[2] + (b[2] - a[2]) * f)];
}

/** A horizontal colour bar (left = 0, right = 1), for legends. */
export function colorbar(width: number, height: number, map: ColormapName = 'jet'): Image8 {
  const c = new Canvas(width, height);
  for (let x = 0; x < width; x++) c.fillRect(x, 0, 1, height, colormap(width > 1 ? x / (width - 1) : 0, map));
  return c.image();
}
