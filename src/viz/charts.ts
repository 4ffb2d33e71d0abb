/**
 * Bar and line charts drawn on the Canvas: frame weights and class probabilities (bars, the largest highlighted,
 * as Fig. 2(c)/(d) of the M2 paper), training curves (lines with axes, ticks and a legend).
 */
import type { Image8 } from '../data/types.js';
import { BLACK, Canvas, GRAY, LIGHT_GRAY, PALETTE, textWidth, type RGB } from './canvas.js';

export interface ChartOptions {
  title?: string;
  /** Picture size in pixels (defaults depend on the chart). */
  width?: number;
  height?: number;
}

function checkValues(fn: string, what: string, values: readonly number[]): void {
  if (values.length === 0) throw new Error(`${fn}: ${what} has no values`);
  const bad = values.findIndex((v) => typeof v !== 'number' || !Number.isFinite(v));
  if (bad >= 0) throw new Error(`${fn}: ${what}[${bad}] of ${values.length} is ${values[bad]} (finite numbers expected)`);
}

/** Value labels: three significant-ish digits without exponent noise. */
export function formatValue(v: number): string {
  const a = Math.abs(v);
  if (a === 0) return '0';
  if (a >= 1000) return v.toFixed(0);
  if (a >= 100) return v.toFixed(1);
  if (a >= 10) return v.toFixed(2);
  if (a >= 0.001) return v.toFixed(3);
  return v.toExponential(1);
}

/** Round tick positions (1, 2, 2.5, 5 × 10^k) covering [lo, hi], about `target` of them. */
export function niceTicks(lo: number, hi: number, target = 5, integer = false): { lo: number; hi: number; step: number; ticks: number[]; decimals: number } {
  if (!(hi > lo)) {
    const pad = Math.abs(lo) > 0 ? Math.abs(lo) * 0.1 : 0.5;
    lo -= pad;
    hi += pad;
  }
  const raw = (hi - lo) / Math.max(1, target);
  const mag = 10 ** Math.floor(Math.log10(raw));
  // Integer axes (epochs, steps) skip 2.5 and never step below 1.
  const step = Math.max(integer ? 1 : 0, ([1, 2, ...(integer ? [] : [2.5]), 5, 10].find((m) => m * mag >= raw) ?? 10) * mag);
  const tlo = Math.floor(lo / step + 1e-9) * step;
  const thi = Math.ceil(hi / step - 1e-9) * step;
  const decimals = Math.max(0, Math.min(6, -Math.floor(Math.log10(step) + 1e-9) + (step / mag === 2.5 ? 1 : 0)));
  const ticks: number[] = [];
  for (let v = tlo; v <= thi + step * 1e-6; v += step) ticks.push(Number(v.toFixed(decimals)));
  return { lo: tlo, hi: thi, step, ticks, decimals };
}

/** Shortens `s` until it fits `px` pixels at font scale `scale`. */
function fit(s: string, px: number, scale = 1): string {
  let out = s;
  while (out.length > 1 && textWidth(out, scale) > px) out = out.slice(0, -1);
  return out;
}

export interface BarChartOptions extends ChartOptions {
  /** Top of the value axis; default a round number above the largest value (1 suits probabilities). */
  yMax?: number;
  /** Bar to highlight; default the largest value; -1 for none. */
  highlight?: number;
  color?: RGB;
  highlightColor?: RGB;
  /** Formats the label above each bar. */
  format?: (v: number) => string;
  /** Caption of the value axis, drawn above it. */
  yLabel?: string;
}

/** Vertical bars with value labels and a value axis; the largest bar (or `highlight`) in red. */
export function barChart(values: readonly number[], labels: readonly string[], o: BarChartOptions = {}): Image8 {
  const fn = 'barChart';
  checkValues(fn, 'values', values);
  if (labels.length !== values.length) throw new Error(`${fn}: ${values.length} values but ${labels.length} labels`);
  const format = o.format ?? formatValue;
  const labelW = Math.max(...labels.map((l) => textWidth(l)), ...values.map((v) => textWidth(format(v))));
  const slot0 = Math.max(28, labelW + 10);
  let min = Math.min(0, ...values);
  let max = Math.max(0, ...values);
  if (o.yMax !== undefined) max = Math.max(max, o.yMax);
  const axis = niceTicks(min, max, 5);
  if (o.yMax !== undefined && o.yMax >= Math.max(...values)) axis.hi = Math.max(o.yMax, axis.ticks.find((t) => t >= o.yMax!) ?? o.yMax);
  [min, max] = [axis.lo, axis.hi];
  const tickLabels = axis.ticks.filter((t) => t <= max + 1e-12).map((t) => t.toFixed(axis.decimals));
  const left = 12 + Math.max(...tickLabels.map((t) => textWidth(t)));
  const W = o.width ?? Math.max(260, left + 16 + slot0 * values.length);
  const H = o.height ?? 240;
  const c = new Canvas(W, H);
  const top = (o.title ? 30 : 10) + (o.yLabel ? 12 : 0) + 14;
  const bottom = H - 22;
  const right = W - 10;
  if (o.title) c.text(fit(o.title, W - 20, 2), 10, 8, BLACK, 2);
  if (o.yLabel) c.text(o.yLabel, 4, top - 26, GRAY);
  const yOf = (v: number) => bottom - ((v - min) / (max - min || 1)) * (bottom - top);
  axis.ticks.forEach((t, i) => {
    if (t > max + 1e-12) return;
    const y = Math.round(yOf(t));
    c.fillRect(left + 1, y, right - left - 1, 1, LIGHT_GRAY);
    c.fillRect(left - 4, y, 4, 1, BLACK);
    c.text(tickLabels[i]!, left - 6 - textWidth(tickLabels[i]!), y - 3, BLACK);
  });
  c.fillRect(left, top, 1, bottom - top + 1, BLACK);
  const zero = Math.round(yOf(0));
  c.fillRect(left, zero, right - left, 1, BLACK);
  const best = o.highlight ?? values.indexOf(Math.max(...values));
  const step = (right - left - 4) / values.length;
  const barW = Math.max(2, Math.min(step - 6, step * 0.7));
  values.forEach((v, i) => {
    const cx = left + 4 + step * (i + 0.5);
    const y = yOf(v);
    const colour: RGB = i === best ? (o.highlightColor ?? PALETTE[3]!) : (o.color ?? PALETTE[0]!);
    const y0 = Math.round(Math.min(y, zero));
    const y1 = Math.round(Math.max(y, zero));
    c.fillRect(cx - barW / 2, y0, barW, Math.max(1, y1 - y0), colour);
    const label = format(v);
    c.textCentred(fit(label, step), cx, v >= 0 ? y0 - 11 : y1 + 3, BLACK);
    c.textCentred(fit(labels[i]!, step), cx, bottom + 7, i === best ? colour : BLACK);
  });
  return c.image();
}

export interface Series {
  name: string;
  values: readonly number[];
  color?: RGB;
  /** Which value axis the series uses (e.g. loss left, accuracy right). Default 'left'. */
  axis?: 'left' | 'right';
}

export interface LineChartOptions extends ChartOptions {
  /** x position of value i (shared by all series); default 1, 2, 3… (epochs). */
  x?: readonly number[];
  xLabel?: string;
  yLabel?: string;
  /** Caption of the right value axis, when some series use it. */
  yRightLabel?: string;
}

/** Lines over a shared x axis with ticks and grid lines, an optional second value axis, and a legend below. */
export function lineChart(series: readonly Series[], o: LineChartOptions = {}): Image8 {
  const fn = 'lineChart';
  if (series.length === 0) throw new Error(`${fn}: no series to draw`);
  for (const s of series) checkValues(fn, `series '${s.name}'`, s.values);
  const n = Math.max(...series.map((s) => s.values.length));
  const xs = o.x ?? Array.from({ length: n }, (_, i) => i + 1);
  checkValues(fn, 'x', xs);
  if (xs.length < n) throw new Error(`${fn}: ${xs.length} x positions for series of up to ${n} values`);
  const W = o.width ?? 560;
  const H = o.height ?? 320;
  const c = new Canvas(W, H);
  const leftSeries = series.filter((s) => s.axis !== 'right');
  const rightSeries = series.filter((s) => s.axis === 'right');
  const axisOf = (ss: readonly Series[]) => {
    const all = ss.flatMap((s) => s.values);
    return niceTicks(Math.min(...all), Math.max(...all), 5);
  };
  const yl = axisOf(leftSeries.length > 0 ? leftSeries : rightSeries);
  const yr = rightSeries.length > 0 ? axisOf(rightSeries) : undefined;
  const label = (a: typeof yl, t: number) => t.toFixed(a.decimals);
  const left = 14 + Math.max(...yl.ticks.map((t) => textWidth(label(yl, t))));
  const right = W - (yr ? 14 + Math.max(...yr.ticks.map((t) => textWidth(label(yr, t)))) : 16);
  // Legend: entries flow left to right, wrapping.
  const entryW = (s: Series) => 24 + textWidth(s.name) + 16;
  const legendRows: Series[][] = [[]];
  let rowW = 0;
  for (const s of series) {
    if (rowW + entryW(s) > W - 20 && legendRows[legendRows.length - 1]!.length > 0) {
      legendRows.push([]);
      rowW = 0;
    }
    legendRows[legendRows.length - 1]!.push(s);
    rowW += entryW(s);
  }
  const top = (o.title ? 32 : 12) + (o.yLabel || o.yRightLabel ? 12 : 0) + 6;
  const bottom = H - 24 - (o.xLabel ? 12 : 0) - legendRows.length * 14 - 6;
  if (bottom - top < 20) throw new Error(`${fn}: ${W}×${H} leaves no room for the plot`);
  if (o.title) c.text(fit(o.title, W - 20, 2), 10, 8, BLACK, 2);
  if (o.yLabel) c.text(o.yLabel, 4, top - 16, GRAY);
  if (o.yRightLabel && yr) c.text(o.yRightLabel, W - 4 - textWidth(o.yRightLabel), top - 16, GRAY);
  const xlo = Math.min(...xs);
  const xhi = Math.max(...xs);
  const xOf = (x: number) => (xhi > xlo ? left + ((x - xlo) / (xhi - xlo)) * (right - left) : (left + right) / 2);
  const yOf = (a: typeof yl, v: number) => bottom - ((v - a.lo) / (a.hi - a.lo)) * (bottom - top);
  for (const t of yl.ticks) {
    const y = Math.round(yOf(yl, t));
    c.fillRect(left + 1, y, right - left, 1, LIGHT_GRAY);
    c.fillRect(left - 4, y, 4, 1, BLACK);
    c.text(label(yl, t), left - 6 - textWidth(label(yl, t)), y - 3, BLACK);
  }
  if (yr)
    for (const t of yr.ticks) {
      const y = Math.round(yOf(yr, t));
      c.fillRect(right + 1, y, 4, 1, BLACK);
      c.text(label(yr, t), right + 7, y - 3, BLACK);
    }
  // x ticks: round numbers over the x range, at most ~8 labels.
  const xt = niceTicks(xlo, xhi, Math.min(8, Math.max(1, n - 1)), xs.every(Number.isInteger));
  for (const t of xt.ticks) {
    if (t < xlo - 1e-9 || t > xhi + 1e-9) continue;
    const x = Math.round(xOf(t));
    c.fillRect(x, bottom + 1, 1, 4, BLACK);
    c.textCentred(t.toFixed(xt.decimals), x, bottom + 8, BLACK);
  }
  c.fillRect(left, top, 1, bottom - top + 1, BLACK);
  c.fillRect(left, bottom, right - left + 1, 1, BLACK);
  if (yr) c.fillRect(right, top, 1, bottom - top + 1, BLACK);
  if (o.xLabel) c.textCentred(o.xLabel, (left + right) / 2, bottom + 20, GRAY);
  series.forEach((s, k) => {
    const colour = s.color ?? PALETTE[k % PALETTE.length]!;
    const a = s.axis === 'right' && yr ? yr : yl;
    const px = s.values.map((_, i) => xOf(xs[i]!));
    const py = s.values.map((v) => yOf(a, v));
    c.polyline(px, py, colour, 2);
    if (s.values.length <= 40) px.forEach((x, i) => c.fillCircle(x, py[i]!, 2.5, colour));
  });
  let ly = H - 6 - legendRows.length * 14 + 2;
  for (const row of legendRows) {
    let lx = left;
    for (const s of row) {
      const colour = s.color ?? PALETTE[series.indexOf(s) % PALETTE.length]!;
      c.line(lx, ly + 3, lx + 18, ly + 3, colour, 2);
      c.fillCircle(lx + 9, ly + 3, 2.5, colour);
      c.text(s.name + (s.axis === 'right' && yr ? ' (right)' : ''), lx + 24, ly, BLACK);
      lx += entryW(s) + (s.axis === 'right' && yr ? textWidth(' (right)') : 0);
    }
    ly += 14;
  }
  return c.image();
}
