/**
 * Convolution geometry shared by conv2d and its backward ops: option normalisation (stride, padding
 * including TensorFlow's SAME, dilation, groups), the output size, and the shape checks that throw
 * ShapeError naming the op and the shapes.
 *
 * Layouts: activations NHWC [N, H, W, C]; weights HWIO [kH, kW, C_in / groups, C_out]; output channel
 * co belongs to group ⌊co / (C_out / groups)⌋ and reads input channels of that group only.
 */
import { assert, fmtShape } from '../device/errors.js';
import type { TensorMeta } from '../graph/host.js';

export type Pair = number | readonly [number, number];
/** Symmetric (one value, or [vertical, horizontal]), per side [top, bottom, left, right], or by rule. */
export type Padding = number | readonly [number, number] | readonly [number, number, number, number] | 'same' | 'valid';

export interface ConvGeometryOptions {
  stride?: Pair;
  /** 'same' follows TensorFlow: output ⌈in / stride⌉, odd padding totals put the extra row/column at the bottom/right. */
  padding?: Padding;
  dilation?: Pair;
  /** Channel groups; groups = C_in is a depthwise convolution (C_out = multiplier · C_in). */
  groups?: number;
}

export interface ConvGeometry {
  n: number;
  h: number;
  w: number;
  c: number;
  kh: number;
  kw: number;
  cout: number;
  groups: number;
  /** Input and output channels per group. */
  cg: number;
  coutg: number;
  sh: number;
  sw: number;
  dh: number;
  dw: number;
  pt: number;
  pb: number;
  pl: number;
  pr: number;
  ho: number;
  wo: number;
}

function pair(op: string, what: string, v: Pair | undefined, dflt: number): [number, number] {
  const p: [number, number] = v === undefined ? [dflt, dflt] : typeof v === 'number' ? [v, v] : [v[0], v[1]];
  assert(Array.isArray(v) || typeof v === 'number' || v === undefined, op, () => `${what} must be a number or [h, w], got ${JSON.stringify(v)}`);
  assert(p.length === 2 && p.every((x) => Number.isInteger(x) && x > 0), op, () => `${what} must be positive integers, got ${JSON.stringify(v)}`);
  return p;
}

/** [top, bottom, left, right] for an input of h × w and an effective (dilated) kernel of ekh × ekw. */
function resolvePadding(op: string, padding: Padding | undefined, h: number, w: number, ekh: number, ekw: number, sh: number, sw: number): [number, number, number, number] {
  if (padding === undefined || padding === 'valid') return [0, 0, 0, 0];
  if (padding === 'same') {
    const total = (size: number, ek: number, s: number) => Math.max((Math.ceil(size / s) - 1) * s + ek - size, 0);
    const th = total(h, ekh, sh);
    const tw = total(w, ekw, sw);
    return [th >> 1, th - (th >> 1), tw >> 1, tw - (tw >> 1)];
  }
  let p: number[];
  if (typeof padding === 'number') p = [padding, padding, padding, padding];
  else if (Array.isArray(padding) && padding.length === 2) p = [padding[0], padding[0], padding[1], padding[1]];
  else if (Array.isArray(padding) && padding.length === 4) p = [...padding];
  else p = [NaN];
  assert(p.length === 4 && p.every((x) => Number.isInteger(x) && x >= 0), op, () => `padding must be non-negative integers as n, [h, w] or [top, bottom, left, right], or 'same' / 'valid'; got ${JSON.stringify(padding)}`);
  return p as [number, number, number, number];
}

function requireF32(op: string, what: string, t: TensorMeta): void {
  assert(t.dtype === 'f32', op, () => `expects f32 ${what}, got ${t.dtype} ${fmtShape(t.shape)}`);
}

/**
 * Validates an input shape and a weight shape against the options and returns the geometry. `what` names
 * the tensors in messages (the backward ops pass shapes rather than tensors).
 */
export function convGeometry(op: string, xShape: readonly number[], wShape: readonly number[], o: ConvGeometryOptions = {}): ConvGeometry {
  assert(xShape.length === 4, op, () => `expects the input as NHWC [N, H, W, C], got ${fmtShape(xShape)}`);
  assert(wShape.length === 4, op, () => `expects weights as HWIO [kH, kW, C_in / groups, C_out], got ${fmtShape(wShape)}`);
  for (const [s, what] of [[xShape, 'input'], [wShape, 'weight']] as const) {
    assert(s.every((d) => Number.isInteger(d) && d >= 0), op, () => `${what} shape ${fmtShape(s)} must hold non-negative integers`);
  }
  const [n, h, w, c] = xShape as [number, number, number, number];
  const [kh, kw, cgw, cout] = wShape as [number, number, number, number];
  assert(c > 0 && kh > 0 && kw > 0 && cgw > 0 && cout > 0, op, () => `needs non-empty channels and kernel: input ${fmtShape(xShape)}, weights ${fmtShape(wShape)}`);
  const groups = o.groups ?? 1;
  assert(Number.isInteger(groups) && groups > 0, op, () => `groups must be a positive integer, got ${groups}`);
  assert(c % groups === 0, op, () => `groups ${groups} does not divide the input's ${c} channels (input ${fmtShape(xShape)})`);
  assert(cout % groups === 0, op, () => `groups ${groups} does not divide the weights' ${cout} output channels (weights ${fmtShape(wShape)})`);
  assert(cgw * groups === c, op, () => `channel mismatch: input ${fmtShape(xShape)} has ${c} channels but weights ${fmtShape(wShape)} with groups ${groups} expect ${cgw * groups} (C_in / groups = ${cgw} on axis 2 of HWIO)`);
  const [sh, sw] = pair(op, 'stride', o.stride, 1);
  const [dh, dw] = pair(op, 'dilation', o.dilation, 1);
  const ekh = (kh - 1) * dh + 1;
  const ekw = (kw - 1) * dw + 1;
  const [pt, pb, pl, pr] = resolvePadding(op, o.padding, h, w, ekh, ekw, sh, sw);
  assert(ekh <= h + pt + pb && ekw <= w + pl + pr, op, () =>
    `kernel ${kh}×${kw} (dilation ${dh}×${dw}, spanning ${ekh}×${ekw}) is larger than the padded input ${h + pt + pb}×${w + pl + pr} ` +
    `(input ${fmtShape(xShape)}, weights ${fmtShape(wShape)}, padding [${pt}, ${pb}, ${pl}, ${pr}])`);
  const ho = Math.floor((h + pt + pb - ekh) / sh) + 1;
  const wo = Math.floor((w + pl + pr - ekw) / sw) + 1;
  return { n, h, w, c, kh, kw, cout, groups, cg: c / groups, coutg: cout / groups, sh, sw, dh, dw, pt, pb, pl, pr, ho, wo };
}

export function outShape(g: ConvGeometry): number[] {
  return [g.n, g.ho, g.wo, g.cout];
}

export function describe(g: ConvGeometry): string {
  return `[${g.n}, ${g.h}, ${g.w}, ${g.c}] * [${g.kh}, ${g.kw}, ${g.cg}, ${g.cout}]` +
    (g.sh * g.sw > 1 ? ` s${g.sh}x${g.sw}` : '') + (g.dh * g.dw > 1 ? ` d${g.dh}x${g.dw}` : '') +
    (g.pt + g.pb + g.pl + g.pr > 0 ? ` p${g.pt},${g.pb},${g.pl},${g.pr}` : '') + (g.groups > 1 ? ` g${g.groups}` : '');
}

/** Depthwise: one input channel per group (multiplier = C_out / C_in output channels each). */
export function isDepthwise(g: ConvGeometry): boolean {
  return g.groups > 1 && g.cg === 1;
}

export function checkF32(op: string, ...ts: [string, TensorMeta][]): void {
  for (const [what, t] of ts) requireF32(op, what, t);
}

/** Asserts that `t` has `shape`, naming it in the message. */
export function checkShapeIs(op: string, what: string, t: TensorMeta, shape: readonly number[], why: string): void {
  assert(t.shape.length === shape.length && t.shape.every((d, i) => d === shape[i]), op, () => `${what} ${fmtShape(t.shape)} does not match ${why} ${fmtShape(shape)}`);
}
