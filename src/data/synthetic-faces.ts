/**
 * Procedural face clips for training and tests without a real dataset: each identity has its own head shape, skin,
 * eyes, hair, glasses and lighting; each clip moves from a neutral face to one of the 7 expressions (onset → apex,
 * then holds the apex), like a CK+ sequence, under a small drifting head pose and pixel noise.
 *
 * Shapes are signed-distance functions in "face units" (y points down), rasterised with one-pixel anti-aliasing at
 * any size, so the same face renders at 48×48 or 224×224. The default 'face' framing crops brows to chin as FER
 * datasets do (the shorter side spans 1.25 face units); 'portrait' shows head and shoulders (it spans [-1, 1]).
 * Everything is a pure function of (seed, identity, clip index): `get(i)` renders on demand.
 */
import { Rng } from '../models/random.js';
import { EMOTIONS, type Clip, type ClipSource, type Emotion } from './types.js';

type RGB = readonly [number, number, number];

/** What makes one person look like themselves across clips. */
export interface FaceIdentity {
  readonly id: number;
  readonly headRx: number;
  readonly headRy: number;
  readonly headCy: number;
  readonly skin: RGB;
  readonly eyeSpacing: number;
  readonly eyeY: number;
  readonly eyeW: number;
  readonly eyeH: number;
  readonly iris: RGB;
  readonly browGap: number;
  readonly browThick: number;
  readonly browLen: number;
  readonly hairStyle: number;
  readonly hair: RGB;
  readonly hairline: number;
  readonly glasses: boolean;
  readonly glassesColour: RGB;
  readonly noseLen: number;
  readonly noseWidth: number;
  readonly mouthY: number;
  readonly mouthW: number;
  readonly lipThick: number;
  readonly lip: RGB;
  readonly background: RGB;
  readonly shirt: RGB;
  readonly lightAngle: number;
  readonly lightStrength: number;
  readonly noise: number;
  /** Which side a one-sided expression (disgust) pulls: +1 or −1. */
  readonly side: number;
}

/** Per-clip variation: how strong the expression gets, where it peaks, and how the head drifts. */
interface ClipStyle {
  readonly intensity: number;
  readonly tx: number;
  readonly ty: number;
  readonly scale: number;
  readonly rot: number;
  readonly driftAmp: number;
  readonly driftFreq: number;
  readonly driftPhase: readonly [number, number, number];
  readonly noiseSeed: number;
}

/** Expression controls at full strength; 0 everywhere is the neutral face. Pairs are [left, right] in image space. */
interface Expression {
  browInner: readonly [number, number];
  browOuter: readonly [number, number];
  browInward: number;
  eyeOpen: number;
  lowerLid: number;
  mouthWidth: number;
  corner: readonly [number, number];
  upperLip: readonly [number, number];
  open: number;
  lowerDrop: number;
  roundness: number;
  lipThin: number;
  teeth: number;
  noseWrinkle: number;
  smileLines: number;
  jaw: number;
}

const NONE: Expression = {
  browInner: [0, 0],
  browOuter: [0, 0],
  browInward: 0,
  eyeOpen: 0,
  lowerLid: 0,
  mouthWidth: 0,
  corner: [0, 0],
  upperLip: [0, 0],
  open: 0,
  lowerDrop: 0,
  roundness: 0,
  lipThin: 0,
  teeth: 0,
  noseWrinkle: 0,
  smileLines: 0,
  jaw: 0,
};

/** Apex deltas (face units; y down, so negative raises). Each expression uses the cues FACS associates with it. */
const APEX: Record<Emotion, Expression> = {
  // Brows lowered and drawn together, narrowed eyes, lips pressed thin.
  anger: { ...NONE, browInner: [0.07, 0.07], browOuter: [-0.01, -0.01], browInward: 0.045, eyeOpen: -0.3, lowerLid: 0.25, mouthWidth: -0.15, corner: [0.015, 0.015], lipThin: 0.75 },
  // Nose wrinkle, upper lip raised more on one side, lowered brows, squint; the side is flipped per identity.
  disgust: { ...NONE, browInner: [0.045, 0.045], browInward: 0.02, eyeOpen: -0.3, lowerLid: 0.4, mouthWidth: -0.05, corner: [-0.01, 0.035], upperLip: [0.06, 0.015], open: 0.02, lowerDrop: 0.01, teeth: 0.7, noseWrinkle: 1, smileLines: 0.8 },
  // Brows up and together, wide eyes, mouth stretched sideways and a little open.
  fear: { ...NONE, browInner: [-0.085, -0.085], browOuter: [-0.035, -0.035], browInward: 0.035, eyeOpen: 0.5, mouthWidth: 0.28, corner: [0.025, 0.025], open: 0.035, lowerDrop: 0.02, roundness: 2.5, teeth: 0.8 },
  // Corners up, open smile with teeth, cheeks pushing the lower lids up.
  happiness: { ...NONE, eyeOpen: -0.1, lowerLid: 0.4, mouthWidth: 0.2, corner: [-0.075, -0.075], upperLip: [0.01, 0.01], open: 0.02, lowerDrop: 0.07, teeth: 1, smileLines: 1 },
  // Inner brows up (oblique), drooping lids, corners down.
  sadness: { ...NONE, browInner: [-0.07, -0.07], browOuter: [0.035, 0.035], browInward: 0.015, eyeOpen: -0.3, mouthWidth: -0.05, corner: [0.06, 0.06], lipThin: 0.2 },
  // Brows high, eyes wide, jaw dropped into a round open mouth.
  surprise: { ...NONE, browInner: [-0.11, -0.11], browOuter: [-0.1, -0.1], eyeOpen: 0.65, mouthWidth: -0.45, open: 0.07, lowerDrop: 0.11, roundness: 1, jaw: 0.05 },
  neutral: NONE,
};

function hashInts(...xs: number[]): number {
  let h = 0x811c9dc5;
  for (const x of xs) {
    h = Math.imul(h ^ (x >>> 0), 0x01000193);
    h ^= h >>> 15;
    h = Math.imul(h, 0x2c1b3c6d);
    h ^= h >>> 12;
  }
  return h >>> 0;
}

function between(rng: Rng, lo: number, hi: number): number {
  return lo + (hi - lo) * rng.next();
}

function pick<T>(rng: Rng, xs: readonly T[]): T {
  return xs[Math.min(xs.length - 1, Math.floor(rng.next() * xs.length))]!;
}

function mix(a: RGB, b: RGB, t: number): RGB {
  return [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t];
}

function shade(a: RGB, f: number): RGB {
  return [a[0] * f, a[1] * f, a[2] * f];
}

const SKINS: readonly RGB[] = [
  [0.96, 0.82, 0.72],
  [0.9, 0.72, 0.58],
  [0.78, 0.58, 0.44],
  [0.62, 0.44, 0.32],
  [0.45, 0.31, 0.22],
  [0.98, 0.86, 0.78],
];
const HAIRS: readonly RGB[] = [
  [0.1, 0.08, 0.07],
  [0.28, 0.18, 0.1],
  [0.5, 0.33, 0.18],
  [0.82, 0.66, 0.38],
  [0.62, 0.26, 0.12],
  [0.6, 0.6, 0.6],
];
const IRISES: readonly RGB[] = [
  [0.25, 0.15, 0.08],
  [0.2, 0.35, 0.6],
  [0.3, 0.45, 0.25],
  [0.12, 0.08, 0.05],
];

/** The identity with number `id` under `seed` (deterministic). */
export function makeIdentity(seed: number, id: number): FaceIdentity {
  const rng = new Rng(hashInts(seed, 0x1d, id));
  const skin = mix(pick(rng, SKINS), [0.9, 0.7, 0.6], between(rng, 0, 0.25));
  const hair = mix(pick(rng, HAIRS), [0.3, 0.2, 0.1], between(rng, 0, 0.3));
  const bgBase: RGB = [between(rng, 0.3, 0.9), between(rng, 0.3, 0.9), between(rng, 0.3, 0.9)];
  return {
    id,
    headRx: between(rng, 0.44, 0.52),
    headRy: between(rng, 0.58, 0.66),
    headCy: between(rng, 0.0, 0.06),
    skin,
    eyeSpacing: between(rng, 0.17, 0.21),
    eyeY: between(rng, -0.06, 0.0),
    eyeW: between(rng, 0.08, 0.1),
    eyeH: between(rng, 0.045, 0.06),
    iris: pick(rng, IRISES),
    browGap: between(rng, 0.1, 0.13),
    browThick: between(rng, 0.02, 0.03),
    browLen: between(rng, 0.1, 0.13),
    hairStyle: Math.floor(rng.next() * 4),
    hair,
    hairline: between(rng, -0.36, -0.26),
    glasses: rng.next() < 0.3,
    glassesColour: pick(rng, [[0.08, 0.08, 0.1], [0.45, 0.25, 0.1], [0.6, 0.6, 0.65]] as RGB[]),
    noseLen: between(rng, 0.14, 0.19),
    noseWidth: between(rng, 0.045, 0.065),
    mouthY: between(rng, 0.3, 0.35),
    mouthW: between(rng, 0.13, 0.16),
    lipThick: between(rng, 0.025, 0.04),
    lip: mix(shade(skin, 0.78), [0.75, 0.3, 0.3], between(rng, 0.2, 0.5)),
    background: bgBase,
    shirt: [between(rng, 0.1, 0.8), between(rng, 0.1, 0.8), between(rng, 0.1, 0.8)],
    lightAngle: between(rng, 0, 2 * Math.PI),
    lightStrength: between(rng, 0.05, 0.3),
    noise: between(rng, 0.005, 0.03),
    side: rng.next() < 0.5 ? -1 : 1,
  };
}

function makeStyle(seed: number, id: number, clip: number, jitter: boolean): ClipStyle {
  const rng = new Rng(hashInts(seed, 0xc1, id, clip));
  const style: ClipStyle = {
    intensity: between(rng, 0.8, 1.1),
    tx: between(rng, -0.06, 0.06),
    ty: between(rng, -0.06, 0.06),
    scale: between(rng, 0.92, 1.06),
    rot: between(rng, -0.07, 0.07),
    driftAmp: between(rng, 0.3, 1),
    driftFreq: between(rng, 0.15, 0.5),
    driftPhase: [between(rng, 0, 6.3), between(rng, 0, 6.3), between(rng, 0, 6.3)],
    noiseSeed: hashInts(seed, 0x9e, id, clip),
  };
  return jitter ? style : { ...style, tx: 0, ty: 0, scale: 1, rot: 0, driftAmp: 0 };
}

// ---------- signed distances (face units; negative inside) ----------

/** Ellipse distance, the k0·(k0−1)/k1 approximation: exact on the boundary, close near it, cheap everywhere. */
function sdEllipse(x: number, y: number, rx: number, ry: number): number {
  const ax = x / rx;
  const ay = y / ry;
  const bx = ax / rx;
  const by = ay / ry;
  const k0 = Math.sqrt(ax * ax + ay * ay);
  const k1 = Math.sqrt(bx * bx + by * by);
  return k1 === 0 ? -Math.min(rx, ry) : (k0 * (k0 - 1)) / k1;
}

/** Distance to a polyline whose half-thickness varies linearly along each segment (tapered strokes). */
function sdStroke(x: number, y: number, pts: Float64Array, radii: Float64Array): number {
  let best = Infinity;
  const n = radii.length;
  for (let i = 0; i + 1 < n; i++) {
    const ax = pts[2 * i]!;
    const ay = pts[2 * i + 1]!;
    const bx = pts[2 * i + 2]! - ax;
    const by = pts[2 * i + 3]! - ay;
    const px = x - ax;
    const py = y - ay;
    const len2 = bx * bx + by * by;
    const h = len2 > 0 ? Math.max(0, Math.min(1, (px * bx + py * by) / len2)) : 0;
    const qx = px - bx * h;
    const qy = py - by * h;
    const d = Math.sqrt(qx * qx + qy * qy) - (radii[i]! + (radii[i + 1]! - radii[i]!) * h);
    if (d < best) best = d;
  }
  return best;
}

/** Exact distance to a closed polygon (even-odd inside test). */
function sdPolygon(x: number, y: number, pts: Float64Array): number {
  const n = pts.length / 2;
  let d2 = Infinity;
  let inside = false;
  for (let i = 0, j = n - 1; i < n; j = i, i++) {
    const xi = pts[2 * i]!;
    const yi = pts[2 * i + 1]!;
    const xj = pts[2 * j]!;
    const yj = pts[2 * j + 1]!;
    const ex = xj - xi;
    const ey = yj - yi;
    const wx = x - xi;
    const wy = y - yi;
    const len2 = ex * ex + ey * ey;
    const h = len2 > 0 ? Math.max(0, Math.min(1, (wx * ex + wy * ey) / len2)) : 0;
    const dx = wx - ex * h;
    const dy = wy - ey * h;
    const dd = dx * dx + dy * dy;
    if (dd < d2) d2 = dd;
    if (yi > y !== yj > y && x < xi + ((y - yi) * ex) / (ey === 0 ? 1e-12 : ey)) inside = !inside;
  }
  const d = Math.sqrt(d2);
  return inside ? -d : d;
}

/** Points along a quadratic Bézier a → c → b. */
function quad(ax: number, ay: number, cx: number, cy: number, bx: number, by: number, n: number): Float64Array {
  const out = new Float64Array(2 * (n + 1));
  for (let i = 0; i <= n; i++) {
    const t = i / n;
    const u = 1 - t;
    out[2 * i] = u * u * ax + 2 * u * t * cx + t * t * bx;
    out[2 * i + 1] = u * u * ay + 2 * u * t * cy + t * t * by;
  }
  return out;
}

/**
 * A mouth curve from corner L to corner R whose middle sits `depth` below the corner line; `p` shapes it:
 * 2 is a parabola, larger is flatter in the middle and steeper at the corners (rounder or boxier openings).
 */
function mouthCurve(lx: number, ly: number, rx: number, ry: number, depth: number, p: number, n: number): Float64Array {
  const out = new Float64Array(2 * (n + 1));
  for (let i = 0; i <= n; i++) {
    const t = i / n;
    const s = 2 * t - 1;
    out[2 * i] = lx + (rx - lx) * t;
    out[2 * i + 1] = ly + (ry - ly) * t + depth * (1 - Math.pow(Math.abs(s), p));
  }
  return out;
}

function joinReversed(a: Float64Array, b: Float64Array): Float64Array {
  // a runs L→R, b runs L→R; the polygon goes along a then back along b.
  const out = new Float64Array(a.length + b.length);
  out.set(a, 0);
  const n = b.length / 2;
  for (let i = 0; i < n; i++) {
    out[a.length + 2 * i] = b[2 * (n - 1 - i)]!;
    out[a.length + 2 * i + 1] = b[2 * (n - 1 - i) + 1]!;
  }
  return out;
}

function boundsOf(pts: Float64Array, pad: number): [number, number, number, number] {
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -Infinity;
  let y1 = -Infinity;
  for (let i = 0; i < pts.length; i += 2) {
    x0 = Math.min(x0, pts[i]!);
    x1 = Math.max(x1, pts[i]!);
    y0 = Math.min(y0, pts[i + 1]!);
    y1 = Math.max(y1, pts[i + 1]!);
  }
  return [x0 - pad, y0 - pad, x1 + pad, y1 + pad];
}

// ---------- rasteriser ----------

interface Canvas {
  readonly w: number;
  readonly h: number;
  readonly rgb: Float32Array;
  /** Pixel → face: u = a·(px−cx) + b·(py−cy) + tx, v = −b·(px−cx) + a·(py−cy) + ty. */
  readonly a: number;
  readonly b: number;
  readonly cx: number;
  readonly cy: number;
  readonly tx: number;
  readonly ty: number;
  /** Face units per pixel (for one-pixel anti-aliasing). */
  readonly unit: number;
  /** Face → pixel for bounding boxes. */
  readonly fa: number;
  readonly fb: number;
}

function makeCanvas(w: number, h: number, tx: number, ty: number, scale: number, rot: number): Canvas {
  const pxPerUnit = (Math.min(w, h) / 2) * scale;
  const unit = 1 / pxPerUnit;
  const c = Math.cos(rot);
  const s = Math.sin(rot);
  return { w, h, rgb: new Float32Array(w * h * 3), a: c * unit, b: s * unit, cx: w / 2, cy: h / 2, tx, ty, unit, fa: c * pxPerUnit, fb: s * pxPerUnit };
}

/** Paints colour `col` with opacity `alpha` where sd < 0, over the face-space box [x0, y0, x1, y1]. */
const TILE = 6;

function paint(cv: Canvas, box: readonly number[], col: RGB, alpha: number, sd: (u: number, v: number) => number): void {
  if (alpha <= 0) return;
  // Face box → pixel box through the forward transform (rotation-aware: take all four corners).
  let px0 = Infinity;
  let py0 = Infinity;
  let px1 = -Infinity;
  let py1 = -Infinity;
  for (let k = 0; k < 4; k++) {
    const du = box[k & 1 ? 2 : 0]! - cv.tx;
    const dv = box[k & 2 ? 3 : 1]! - cv.ty;
    const px = cv.fa * du - cv.fb * dv + cv.cx;
    const py = cv.fb * du + cv.fa * dv + cv.cy;
    px0 = Math.min(px0, px);
    px1 = Math.max(px1, px);
    py0 = Math.min(py0, py);
    py1 = Math.max(py1, py);
  }
  const xs = Math.max(0, Math.floor(px0 - 1));
  const xe = Math.min(cv.w - 1, Math.ceil(px1 + 1));
  const ys = Math.max(0, Math.floor(py0 - 1));
  const ye = Math.min(cv.h - 1, Math.ceil(py1 + 1));
  const inv = 1 / cv.unit;
  const rgb = cv.rgb;
  const c0 = col[0];
  const c1 = col[1];
  const c2 = col[2];
  // Tiles: one distance at the tile centre decides "all outside" or "all inside" for most of a big shape; the
  // 1.5× margin covers distance estimates (approximate ellipses, wavy hairlines) that run up to that much high.
  const margin = 1.5 * TILE * Math.SQRT1_2 + 1;
  for (let ty = ys; ty <= ye; ty += TILE) {
    const tye = Math.min(ye, ty + TILE - 1);
    for (let tx = xs; tx <= xe; tx += TILE) {
      const txe = Math.min(xe, tx + TILE - 1);
      const mx = (tx + txe + 1) / 2 - cv.cx;
      const my = (ty + tye + 1) / 2 - cv.cy;
      const dc = sd(cv.a * mx + cv.b * my + cv.tx, -cv.b * mx + cv.a * my + cv.ty) * inv;
      if (dc > margin) continue;
      const full = dc < -margin;
      for (let py = ty; py <= tye; py++) {
        const dy = py + 0.5 - cv.cy;
        for (let px = tx; px <= txe; px++) {
          let t = alpha;
          if (!full) {
            const dx = px + 0.5 - cv.cx;
            const cov = 0.5 - sd(cv.a * dx + cv.b * dy + cv.tx, -cv.b * dx + cv.a * dy + cv.ty) * inv;
            if (cov <= 0) continue;
            if (cov < 1) t = cov * alpha;
          }
          const o = (py * cv.w + px) * 3;
          rgb[o] = rgb[o]! + (c0 - rgb[o]!) * t;
          rgb[o + 1] = rgb[o + 1]! + (c1 - rgb[o + 1]!) * t;
          rgb[o + 2] = rgb[o + 2]! + (c2 - rgb[o + 2]!) * t;
        }
      }
    }
  }
}

function strokeBox(pts: Float64Array, radii: Float64Array): number[] {
  let r = 0;
  for (const x of radii) r = Math.max(r, x);
  return boundsOf(pts, r);
}

function drawStroke(cv: Canvas, pts: Float64Array, radii: Float64Array, col: RGB, alpha: number): void {
  paint(cv, strokeBox(pts, radii), col, alpha, (u, v) => sdStroke(u, v, pts, radii));
}

function uniformRadii(pts: Float64Array, r: number): Float64Array {
  return new Float64Array(pts.length / 2).fill(r);
}

function lerpExpr(k: number, e: Expression, side: number): Expression {
  const pair = (p: readonly [number, number]): [number, number] => (side > 0 ? [p[0] * k, p[1] * k] : [p[1] * k, p[0] * k]);
  return {
    browInner: pair(e.browInner),
    browOuter: pair(e.browOuter),
    browInward: e.browInward * k,
    eyeOpen: e.eyeOpen * k,
    lowerLid: e.lowerLid * k,
    mouthWidth: e.mouthWidth * k,
    corner: pair(e.corner),
    upperLip: pair(e.upperLip),
    open: e.open * k,
    lowerDrop: e.lowerDrop * k,
    roundness: e.roundness * k,
    lipThin: e.lipThin * k,
    teeth: e.teeth * k,
    noseWrinkle: e.noseWrinkle * k,
    smileLines: e.smileLines * k,
    jaw: e.jaw * k,
  };
}

/** Draws one face with expression controls `x` onto `cv` (RGB in [0, 1], before lighting and noise). */
function drawFace(cv: Canvas, f: FaceIdentity, x: Expression): void {
  const lim = Math.max(cv.w, cv.h) / Math.min(cv.w, cv.h) + 0.6;
  // Background with a soft vertical gradient.
  paint(cv, [-lim, -lim, lim, 0], shade(f.background, 1.08), 1, () => -1);
  paint(cv, [-lim, 0, lim, lim], shade(f.background, 0.92), 1, () => -1);

  const hy = f.headCy;
  const headRy = f.headRy + x.jaw;
  const headCy = hy + x.jaw * 0.5;
  const hairDark = shade(f.hair, 0.8);
  // Shoulders and neck.
  paint(cv, [-1.6, 0.55, 1.6, 2], f.shirt, 1, (u, v) => sdEllipse(u, v - (hy + f.headRy + 0.55), 1.05, 0.45));
  paint(cv, [-0.3, 0.2, 0.3, 1.4], shade(f.skin, 0.82), 1, (u, v) => Math.max(Math.abs(u) - 0.15, v - (hy + f.headRy + 0.25), 0.3 - v));
  // Long hair behind the head.
  if (f.hairStyle === 1 || f.hairStyle === 3) {
    const len = f.hairStyle === 1 ? 0.55 : 0.25;
    const hx = f.headRx + 0.09;
    paint(cv, [-hx - 0.1, hy - f.headRy - 0.2, hx + 0.1, hy + len + 0.1], f.hair, 1, (u, v) =>
      Math.min(sdEllipse(u, v - hy + 0.03, f.headRx + 0.1, f.headRy + 0.1), Math.max(Math.abs(u) - hx, Math.abs(v - (hy + len / 2)) - len / 2)),
    );
  }
  // Ears, then head.
  for (const s of [-1, 1]) paint(cv, [s * f.headRx - 0.12, hy - 0.15, s * f.headRx + 0.12, hy + 0.15], shade(f.skin, 0.92), 1, (u, v) => sdEllipse(u - s * f.headRx, v - hy - 0.0, 0.07, 0.12));
  paint(cv, [-f.headRx - 0.02, headCy - headRy - 0.02, f.headRx + 0.02, headCy + headRy + 0.02], f.skin, 1, (u, v) => sdEllipse(u, v - headCy, f.headRx, headRy));
  // Soft shading toward the cheek edges for roundness.
  paint(cv, [-f.headRx, hy - f.headRy, f.headRx, hy + f.headRy], shade(f.skin, 0.86), 0.5, (u, v) => {
    const d = sdEllipse(u, v - headCy, f.headRx, headRy);
    return Math.max(d, -(d + 0.06) * 0.25);
  });

  // Hair on top (styles 0, 1, 3), bald-ish crop for style 2.
  const top = hy - f.headRy;
  if (f.hairStyle !== 2) {
    const hl = hy + f.hairline;
    const waveA = f.hairStyle === 3 ? 0.05 : 0.025;
    paint(cv, [-f.headRx - 0.1, top - 0.12, f.headRx + 0.1, hl + 0.1], f.hair, 1, (u, v) =>
      Math.max(sdEllipse(u, v - hy + 0.04, f.headRx + 0.05, f.headRy + 0.08), v - (hl + waveA * Math.cos(u * 9) + 0.12 * u * u * (f.hairStyle === 0 ? 2 : 1))),
    );
  } else {
    paint(cv, [-f.headRx, top - 0.02, f.headRx, hy + f.hairline], hairDark, 0.35, (u, v) => Math.max(sdEllipse(u, v - hy, f.headRx, f.headRy), v - (hy + f.hairline - 0.05)));
  }

  // Eyes.
  const eyeOpen = Math.max(0.25, 1 + x.eyeOpen);
  for (const s of [-1, 1]) {
    const ex = s * f.eyeSpacing;
    const ey = f.eyeY;
    const ry = f.eyeH * eyeOpen;
    // The lower lid rises with the cheeks (smile, disgust, anger squint).
    const cut = ey + ry * (1 - 1.2 * x.lowerLid);
    const eyeSd = (u: number, v: number): number => Math.max(sdEllipse(u - ex, v - ey, f.eyeW, ry), v - cut);
    const box = [ex - f.eyeW - 0.03, ey - ry - 0.03, ex + f.eyeW + 0.03, ey + ry + 0.03];
    paint(cv, box, shade(f.skin, 0.8), 0.6, (u, v) => sdEllipse(u - ex, v - ey + 0.005, f.eyeW + 0.02, ry + 0.02));
    paint(cv, box, [0.96, 0.95, 0.93], 1, eyeSd);
    const ir = f.eyeH * 0.95;
    paint(cv, box, f.iris, 1, (u, v) => Math.max(circ(u - ex, v - ey) - ir, eyeSd(u, v)));
    paint(cv, box, [0.03, 0.03, 0.03], 1, (u, v) => Math.max(circ(u - ex, v - ey) - ir * 0.5, eyeSd(u, v)));
    // Upper lid line.
    paint(cv, box, [0.1, 0.07, 0.06], 1, (u, v) => Math.max(Math.abs(sdEllipse(u - ex, v - ey, f.eyeW, ry)) - 0.012, v - ey + ry * 0.3));
    // Brow: inner end (toward the nose) to outer end.
    const inner = [ex - s * f.browLen * 0.5 - s * x.browInward, ey - f.browGap + (s < 0 ? x.browInner[0] : x.browInner[1])];
    const outer = [ex + s * f.browLen * 0.6, ey - f.browGap + 0.01 + (s < 0 ? x.browOuter[0] : x.browOuter[1])];
    const midx = (inner[0]! + outer[0]!) / 2;
    const midy = (inner[1]! + outer[1]!) / 2 - 0.03;
    const brow = quad(inner[0]!, inner[1]!, midx, midy - 0.015, outer[0]!, outer[1]!, 8);
    const radii = new Float64Array(9);
    for (let i = 0; i <= 8; i++) radii[i] = f.browThick * (1.1 - 0.55 * (i / 8));
    drawStroke(cv, brow, radii, hairDark, 1);
    // Wrinkles between the brows when they pull together.
    if (s < 0 && x.browInward > 0.015) {
      const a = Math.min(1, (x.browInward - 0.015) * 25) * 0.6;
      for (const t of [-1, 1]) {
        const p = quad(t * 0.02, ey - f.browGap + 0.01, t * 0.028, ey - f.browGap + 0.05, t * 0.02, ey - f.browGap + 0.09, 4);
        drawStroke(cv, p, uniformRadii(p, 0.006), shade(f.skin, 0.7), a);
      }
    }
    // Forehead lines when the brows go up.
    const raise = -(x.browInner[0] + x.browOuter[0]) / 2;
    if (s < 0 && raise > 0.03) {
      const a = Math.min(1, (raise - 0.03) * 20) * 0.5;
      for (const k of [0, 1]) {
        const y0 = ey - f.browGap - 0.11 - 0.05 * k;
        const p = quad(-0.16, y0, 0, y0 - 0.025, 0.16, y0, 8);
        drawStroke(cv, p, uniformRadii(p, 0.006), shade(f.skin, 0.72), a);
      }
    }
  }

  // Nose: bridge shade, wings, nostrils; wrinkles across the bridge for disgust.
  const ny = f.eyeY + f.noseLen + 0.02;
  const bridge = quad(0.015, f.eyeY + 0.03, 0.04, ny - 0.08, 0.03, ny - 0.02, 6);
  drawStroke(cv, bridge, uniformRadii(bridge, 0.01), shade(f.skin, 0.8), 0.6);
  const wrinkleLift = x.noseWrinkle * 0.015;
  const base = quad(-f.noseWidth, ny - 0.01 - wrinkleLift, 0, ny + 0.035 - wrinkleLift, f.noseWidth, ny - 0.01 - wrinkleLift, 8);
  drawStroke(cv, base, uniformRadii(base, 0.011), shade(f.skin, 0.68), 0.9);
  for (const s of [-1, 1]) paint(cv, [s * 0.03 - 0.03, ny - 0.03, s * 0.03 + 0.03, ny + 0.03], shade(f.skin, 0.45), 0.8, (u, v) => sdEllipse(u - s * f.noseWidth * 0.45, v - ny + 0.005 + wrinkleLift, 0.018, 0.01));
  if (x.noseWrinkle > 0.05) {
    for (let k = 0; k < 3; k++) {
      const y0 = f.eyeY + 0.05 + k * 0.03;
      const p = quad(-0.045, y0 + 0.01, 0, y0 - 0.008, 0.045, y0 + 0.01, 6);
      drawStroke(cv, p, uniformRadii(p, 0.007), shade(f.skin, 0.62), Math.min(1, x.noseWrinkle) * 0.85);
    }
  }

  // Mouth geometry.
  const my = f.mouthY + x.jaw * 0.3;
  const hw = f.mouthW * (1 + x.mouthWidth);
  const lx = -hw;
  const rx = hw;
  const ly = my + x.corner[0];
  const ry = my + x.corner[1];
  const p = 2 + x.roundness;
  const cornersMid = (ly + ry) / 2;
  // The inner lip lines: the upper one rises with upper-lip raise (per side), the lower one drops with the jaw.
  const upRaise = (x.upperLip[0] + x.upperLip[1]) / 2;
  const upperInner = mouthCurve(lx, ly - x.upperLip[0] * 0.5, rx, ry - x.upperLip[1] * 0.5, my - cornersMid - x.open - upRaise, p, 12);
  const lowerInner = mouthCurve(lx, ly, rx, ry, my - cornersMid + x.open + x.lowerDrop, p, 12);
  const lipT = f.lipThick * (1 - 0.8 * x.lipThin);
  const upperOuter = mouthCurve(lx, ly, rx, ry, my - cornersMid - x.open - upRaise - lipT * 0.9, 2, 12);
  const lowerOuter = mouthCurve(lx, ly, rx, ry, my - cornersMid + x.open + x.lowerDrop + lipT * 1.2, 2, 12);

  // Smile lines (nasolabial folds) from the nose wings toward the corners.
  if (x.smileLines > 0.05) {
    for (const s of [-1, 1]) {
      const cyy = s < 0 ? ly : ry;
      const ax = s * (f.noseWidth + 0.02);
      const line = quad(ax, ny - 0.01, s * (hw + 0.06), (ny + cyy) / 2, s * (hw + 0.035), cyy + 0.04, 8);
      drawStroke(cv, line, uniformRadii(line, 0.009), shade(f.skin, 0.72), Math.min(1, x.smileLines) * 0.75);
    }
  }

  const upperLip = joinReversed(upperOuter, upperInner);
  const lowerLip = joinReversed(lowerInner, lowerOuter);
  paint(cv, boundsOf(upperLip, 0.01), f.lip, 1, (u, v) => sdPolygon(u, v, upperLip));
  paint(cv, boundsOf(lowerLip, 0.01), shade(f.lip, 1.05), 1, (u, v) => sdPolygon(u, v, lowerLip));
  const opening = joinReversed(upperInner, lowerInner);
  const openAmount = x.open + x.lowerDrop + upRaise;
  if (openAmount > 0.004) {
    const alpha = Math.min(1, (openAmount - 0.004) * 60);
    paint(cv, boundsOf(opening, 0.01), [0.22, 0.06, 0.07], alpha, (u, v) => sdPolygon(u, v, opening));
    if (x.teeth > 0.05) {
      const teethY = my - x.open - upRaise - 0.01 + 0.035;
      paint(cv, boundsOf(opening, 0.01), [0.95, 0.94, 0.9], alpha * Math.min(1, x.teeth), (u, v) => Math.max(sdPolygon(u, v, opening) + 0.004, v - teethY - 0.01 * (u / hw) * (u / hw) * 0 - (ly + ry) / 2 + my));
    }
  }
  // The line where the lips meet.
  const seam = openAmount > 0.004 ? upperInner : mouthCurve(lx, ly, rx, ry, my - cornersMid, p, 12);
  drawStroke(cv, seam, uniformRadii(seam, 0.008), shade(f.lip, 0.5), openAmount > 0.004 ? 0.5 : 0.95);

  // Glasses over everything on the face.
  if (f.glasses) {
    for (const s of [-1, 1]) {
      const ex = s * f.eyeSpacing;
      const rxg = f.eyeW + 0.05;
      const ryg = f.eyeH + 0.05;
      const box = [ex - rxg - 0.02, f.eyeY - ryg - 0.02, ex + rxg + 0.02, f.eyeY + ryg + 0.02];
      paint(cv, box, [0.8, 0.9, 1], 0.12, (u, v) => sdEllipse(u - ex, v - f.eyeY, rxg, ryg));
      paint(cv, box, f.glassesColour, 1, (u, v) => Math.abs(sdEllipse(u - ex, v - f.eyeY, rxg, ryg)) - 0.012);
      const arm = new Float64Array([ex + s * rxg, f.eyeY - 0.01, s * (f.headRx + 0.02), f.eyeY - 0.03]);
      drawStroke(cv, arm, uniformRadii(arm, 0.011), f.glassesColour, 1);
    }
    const bridgeG = quad(-(f.eyeSpacing - f.eyeW - 0.05), f.eyeY - 0.01, 0, f.eyeY - 0.04, f.eyeSpacing - f.eyeW - 0.05, f.eyeY - 0.01, 6);
    drawStroke(cv, bridgeG, uniformRadii(bridgeG, 0.011), f.glassesColour, 1);
  }
}

/** Multiplicative lighting gradient, then per-pixel noise, clamped to [0, 1]; writes `channels` values per pixel. */
function finish(cv: Canvas, f: FaceIdentity, rng: Rng, noise: number, out: Float32Array, offset: number, channels: 1 | 3): void {
  const dx = Math.cos(f.lightAngle) * f.lightStrength;
  const dy = Math.sin(f.lightAngle) * f.lightStrength;
  const half = Math.min(cv.w, cv.h) / 2;
  for (let py = 0; py < cv.h; py++) {
    for (let px = 0; px < cv.w; px++) {
      const light = 1 + (dx * (px + 0.5 - cv.cx) + dy * (py + 0.5 - cv.cy)) / half;
      const i = py * cv.w + px;
      const r = cv.rgb[3 * i]! * light;
      const g = cv.rgb[3 * i + 1]! * light;
      const b = cv.rgb[3 * i + 2]! * light;
      if (channels === 1) {
        const n = noise > 0 ? (rng.next() + rng.next() - 1) * noise * 2.45 : 0;
        out[offset + i] = clamp01(0.299 * r + 0.587 * g + 0.114 * b + n);
      } else {
        const n0 = noise > 0 ? (rng.next() + rng.next() - 1) * noise * 2.45 : 0;
        const n1 = noise > 0 ? (rng.next() + rng.next() - 1) * noise * 2.45 : 0;
        const n2 = noise > 0 ? (rng.next() + rng.next() - 1) * noise * 2.45 : 0;
        out[offset + 3 * i] = clamp01(r + n0);
        out[offset + 3 * i + 1] = clamp01(g + n1);
        out[offset + 3 * i + 2] = clamp01(b + n2);
      }
    }
  }
}

function circ(x: number, y: number): number {
  return Math.sqrt(x * x + y * y);
}

function clamp01(x: number): number {
  return x < 0 ? 0 : x > 1 ? 1 : x;
}

/** Onset curve: 0 at frame 0, eased to 1 at the apex, held after. */
function expressionLevel(t: number, apex: number): number {
  if (apex <= 0 || t >= apex) return 1;
  const s = t / apex;
  return s * s * (3 - 2 * s);
}

export interface FaceClipOptions {
  /** Dataset seed (identities and clip styles derive from it). */
  readonly seed: number;
  /** Identity number, or a ready identity. */
  readonly identity: number | FaceIdentity;
  readonly emotion: number | Emotion;
  readonly frames: number;
  readonly height: number;
  readonly width: number;
  readonly channels: 1 | 3;
  /** Frame where the expression peaks (later frames hold it); default frames − 1. A 1-frame clip is the apex. */
  readonly apexFrame?: number;
  /** Which clip of this identity (varies pose, intensity and noise); default 0. */
  readonly clip?: number;
  /** Head drift and pose offsets; default true. Off gives a centred, still face (for tests and demos). */
  readonly jitter?: boolean;
  /** Noise standard deviation override (default the identity's own, 0.005–0.03). */
  readonly noise?: number;
  /** Expression strength at the apex override (default the clip's, 0.8–1.1). */
  readonly intensity?: number;
  /** Framing: 'face' (default) crops to the face as FER datasets do; 'portrait' shows head and shoulders. */
  readonly framing?: Framing;
}

export type Framing = 'face' | 'portrait';

/** Zoom and the face point (vertical, face units) at the image centre, per framing. */
const FRAMINGS: Record<Framing, { zoom: number; centre: number }> = {
  // Brows to chin fill the frame, as in FER2013's 48×48 crops or a face-detected CK+ frame.
  face: { zoom: 1.6, centre: 0.14 },
  portrait: { zoom: 1, centre: 0 },
};

/** Renders one clip: neutral at frame 0, the expression rising to `apexFrame`, held after. */
export function makeFaceClip(o: FaceClipOptions): Clip {
  const T = o.frames;
  if (!(Number.isInteger(T) && T >= 1)) throw new Error(`makeFaceClip: frames must be a positive integer, got ${T}`);
  if (!(Number.isInteger(o.height) && o.height >= 4 && Number.isInteger(o.width) && o.width >= 4)) {
    throw new Error(`makeFaceClip: height and width must be integers ≥ 4, got ${o.height}×${o.width}`);
  }
  const label = typeof o.emotion === 'number' ? o.emotion : EMOTIONS.indexOf(o.emotion);
  const emotion = EMOTIONS[label];
  if (emotion === undefined) throw new Error(`makeFaceClip: unknown emotion ${String(o.emotion)} (expected one of ${EMOTIONS.join(', ')} or 0–6)`);
  const apex = T === 1 ? 0 : (o.apexFrame ?? T - 1);
  if (!(Number.isInteger(apex) && apex >= 0 && apex < T)) throw new Error(`makeFaceClip: apexFrame ${apex} outside 0..${T - 1}`);
  const face = typeof o.identity === 'number' ? makeIdentity(o.seed, o.identity) : o.identity;
  const clipIndex = o.clip ?? 0;
  const style = makeStyle(o.seed, face.id, clipIndex, o.jitter ?? true);
  const intensity = o.intensity ?? style.intensity;
  const noise = o.noise ?? face.noise;
  const rng = new Rng(style.noiseSeed);
  const frame = FRAMINGS[o.framing ?? 'face'];
  const { height: H, width: W, channels: C } = o;
  const out = new Float32Array(T * H * W * C);
  for (let t = 0; t < T; t++) {
    const k = (T === 1 ? 1 : expressionLevel(t, apex)) * intensity;
    const ph = style.driftPhase;
    const w = style.driftFreq * t;
    const tx = style.tx + style.driftAmp * 0.02 * Math.sin(w + ph[0]);
    const ty = style.ty + style.driftAmp * 0.015 * Math.sin(1.3 * w + ph[1]);
    const rot = style.rot + style.driftAmp * 0.04 * Math.sin(0.8 * w + ph[2]);
    const scale = style.scale * (1 + style.driftAmp * 0.015 * Math.sin(0.6 * w + ph[0] + ph[1]));
    // Canvas translation is the face point at the image centre: moving the head right means u at the centre goes left.
    const cv = makeCanvas(W, H, -tx, frame.centre - ty, scale * frame.zoom, rot);
    drawFace(cv, face, lerpExpr(k, APEX[emotion], face.side));
    finish(cv, face, rng, noise, out, t * H * W * C, C);
  }
  return {
    frames: out,
    frameCount: T,
    height: H,
    width: W,
    channels: C,
    label,
    identity: `synthetic-${o.seed}-${face.id}`,
    peakFrame: apex,
    source: `synthetic face seed ${o.seed} identity ${face.id} clip ${clipIndex} ${emotion} apex ${apex}/${T}`,
  };
}

export interface SyntheticFerOptions {
  readonly seed: number;
  /** Identities in the whole pool (both splits together). */
  readonly identities: number;
  /** Clips per identity; default 7 (one per expression when balanced). */
  readonly clipsPerIdentity?: number;
  readonly frames: number;
  readonly height: number;
  readonly width: number;
  readonly channels: 1 | 3;
  readonly split: 'train' | 'test' | 'all';
  /** Share of identities held out for 'test'; default 0.2 (at least one identity each side when there are two or more). */
  readonly testFraction?: number;
  readonly jitter?: boolean;
  /** 'face' (default) or 'portrait'; see FaceClipOptions. */
  readonly framing?: Framing;
}

/**
 * A synthetic FER dataset: labels are EMOTIONS; clip i of the split belongs to identity ⌊i / clipsPerIdentity⌋ and
 * shows expression i mod 7, so classes are balanced within one; train and test never share an identity.
 */
export class SyntheticFer implements ClipSource {
  readonly labels: readonly string[] = EMOTIONS;
  readonly size: number;
  /** Identity numbers in this split, in order. */
  readonly identityIds: readonly number[];
  private readonly perIdentity: number;

  constructor(private readonly o: SyntheticFerOptions) {
    if (!(Number.isInteger(o.identities) && o.identities >= 1)) throw new Error(`SyntheticFer: identities must be a positive integer, got ${o.identities}`);
    this.perIdentity = o.clipsPerIdentity ?? 7;
    if (!(Number.isInteger(this.perIdentity) && this.perIdentity >= 1)) throw new Error(`SyntheticFer: clipsPerIdentity must be a positive integer, got ${this.perIdentity}`);
    const frac = o.testFraction ?? 0.2;
    if (!(frac >= 0 && frac <= 1)) throw new Error(`SyntheticFer: testFraction must be in [0, 1], got ${frac}`);
    // Seeded shuffle of the identity pool; the first nTest are the test identities.
    const ids = Array.from({ length: o.identities }, (_, i) => i);
    const rng = new Rng(hashInts(o.seed, 0x5b1));
    for (let i = ids.length - 1; i > 0; i--) {
      const j = Math.floor(rng.next() * (i + 1));
      [ids[i], ids[j]] = [ids[j]!, ids[i]!];
    }
    let nTest = Math.round(o.identities * frac);
    if (o.identities >= 2 && frac > 0 && frac < 1) nTest = Math.min(o.identities - 1, Math.max(1, nTest));
    const chosen = o.split === 'all' ? ids : o.split === 'test' ? ids.slice(0, nTest) : ids.slice(nTest);
    this.identityIds = chosen.sort((a, b) => a - b);
    this.size = this.identityIds.length * this.perIdentity;
  }

  get(index: number): Clip {
    if (!(Number.isInteger(index) && index >= 0 && index < this.size)) throw new RangeError(`SyntheticFer.get: index ${index} outside 0..${this.size - 1}`);
    const id = this.identityIds[Math.floor(index / this.perIdentity)]!;
    const clip = index % this.perIdentity;
    const T = this.o.frames;
    // The apex lands in the second half of the clip, at a clip-dependent frame; later frames hold it.
    const r = new Rng(hashInts(this.o.seed, 0xa9e, id, clip)).next();
    const lo = Math.max(1, Math.round((T - 1) * 0.45));
    const apexFrame = T === 1 ? 0 : lo + Math.floor(r * (T - lo));
    return makeFaceClip({
      seed: this.o.seed,
      identity: id,
      emotion: index % EMOTIONS.length,
      frames: T,
      height: this.o.height,
      width: this.o.width,
      channels: this.o.channels,
      apexFrame,
      clip,
      jitter: this.o.jitter ?? true,
      ...(this.o.framing ? { framing: this.o.framing } : {}),
    });
  }
}
