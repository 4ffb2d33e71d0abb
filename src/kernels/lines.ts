/**
 * Kernels that reduce along one axis and write back along it (softmax, LayerNorm) see a tensor as
 * [outer, len, inner]: `outer·inner` independent lines of `len` elements, `inner` apart. Two launch layouts:
 * one invocation per line (no barriers: best for many short or medium lines, and on lavapipe, where each
 * barrier switches coroutines) or one workgroup per line (needed when there are few long lines). The choice
 * is a tunable kernel variant for the middle ground; the extremes are decided by shape.
 */
import type { Engine } from '../device/engine.js';
import { sizeOf } from '../graph/shape.js';
import type { TunableKernel } from './variants.js';

export interface LineGeom {
  outer: number;
  len: number;
  inner: number;
}

export function lineGeom(shape: readonly number[], axis: number): LineGeom {
  return { outer: sizeOf(shape.slice(0, axis)), len: shape[axis]!, inner: sizeOf(shape.slice(axis + 1)) };
}

export type LineLayout = 'thread' | 'workgroup';

export const THREAD_VARIANT = 'thread-per-line';
export const WORKGROUP_VARIANT = 'workgroup-per-line';
/** Invocations per workgroup in the workgroup layout (Chromium's SwiftShader caps workgroups at 256). */
export const LINE_WG = 256;

/**
 * Few long lines → a workgroup each (one invocation per line would leave the device idle); short lines → an
 * invocation each (a workgroup would idle most of its invocations). In between, the tuned (or forced) variant.
 */
export function lineLayout(engine: Engine, kernel: TunableKernel<unknown>, g: LineGeom): LineLayout {
  const lines = g.outer * g.inner;
  if (g.len < 32) return 'thread';
  if (lines < 256 && g.len >= 256) return 'workgroup';
  return engine.variants.pick(kernel).name === WORKGROUP_VARIANT ? 'workgroup' : 'thread';
}

export type LineVec = 'row' | 'col' | 'none';

/** vec4 along a contiguous row (inner 1, len % 4 = 0), or across 4 neighbouring lines (thread layout, inner % 4 = 0). */
export function lineVec(g: LineGeom, layout: LineLayout, allowCol = true): LineVec {
  if (g.inner === 1 && g.len % 4 === 0) return 'row';
  if (allowCol && layout === 'thread' && g.inner > 1 && g.inner % 4 === 0) return 'col';
  return 'none';
}

/** The geometry in units of the loaded type, as the shaders' uniforms take it, plus the defines and the grid. */
export function lineLaunch(g: LineGeom, layout: LineLayout, vec: LineVec): { lines: number; len: number; inner: number; defines: Record<string, number>; grid: number } {
  const lines = vec === 'col' ? (g.outer * g.inner) / 4 : g.outer * g.inner;
  const len = vec === 'row' ? g.len / 4 : g.len;
  const inner = vec === 'col' ? g.inner / 4 : g.inner;
  const defines: Record<string, number> = { VEC: vec === 'none' ? 0 : 1, VROW: vec === 'row' ? 1 : 0, VCOL: vec === 'col' ? 1 : 0, WG: layout === 'workgroup' ? LINE_WG : 0 };
  return { lines, len, inner, defines, grid: layout === 'workgroup' ? lines : Math.ceil(lines / 64) };
}
