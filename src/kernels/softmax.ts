/**
 * Softmax and log-softmax over any axis, their backwards, and softmax cross-entropy with integer labels
 * (mean over the batch), with its gradient fused into the same pass when wanted.
 *
 * Every kernel is one pass per line of the axis (shaders/softmax.wgsl): an online (max, Σexp) scan — stable for
 * logits like ±1e4 and rows of any length — then a write scan. Labels live on the GPU, so a label out of
 * [0, classes) cannot throw there: its row's loss and gradient become NaN, and so does the batch mean, and a
 * check on the GPU makes the next read throw a ShapeError naming the op (engine.checks). Labels given as an
 * array are checked on the host first and throw a ShapeError naming the row.
 */
import type { Engine } from '../device/engine.js';
import { assert, fmtShape } from '../device/errors.js';
import { HostTensor, type TensorMeta } from '../graph/host.js';
import { normAxis, sameShape, sizeOf } from '../graph/shape.js';
import type { Tensor } from '../graph/tensor.js';
import softmaxWgsl from '../../shaders/softmax.wgsl';
import meanWgsl from '../../shaders/softmax_mean.wgsl';
import { lineGeom, lineLaunch, lineLayout, lineVec, THREAD_VARIANT, WORKGROUP_VARIANT, type LineGeom, type LineLayout } from './lines.js';
import { defineMultiOp, type MultiPlan } from './multi-op.js';
import { defineOp, type Plan } from './op.js';
import { Uniforms } from './uniforms.js';
import type { Binding } from './runtime.js';
import { registerTunable, type TunableKernel } from './variants.js';

const kernel = { name: 'softmax', code: softmaxWgsl };
const meanKernel = { name: 'softmax_mean', code: meanWgsl };

type Mode = 'SOFTMAX' | 'LOGSOFTMAX' | 'SOFTMAX_BWD' | 'LOGSOFTMAX_BWD' | 'CE' | 'CE_BWD';

interface LineProblem {
  x: Tensor;
  axis: number;
}

/**
 * Thread-per-line (lines streamed twice), the same with short lines (≤ 16 loaded units) held in registers (one
 * read, one exp per element; on lavapipe the 16-vec4 arrays spill and it is ~10% slower, on GPUs it saves a
 * read), or workgroup-per-line, for medium shapes. Measured on NHWC rows of 64 channels and on 1000-class rows.
 */
export const REGISTER_VARIANT = 'thread-per-line-registers';
export const softmaxKernel: TunableKernel<LineProblem[]> = registerTunable<LineProblem[]>({
  name: 'softmax',
  variants: [
    { name: THREAD_VARIANT, supported: () => true, run: (_e, ps) => ps.forEach((p) => runSoftmax('SOFTMAX', p.x, p.axis, 'thread', false).dispose()) },
    { name: REGISTER_VARIANT, supported: () => true, run: (_e, ps) => ps.forEach((p) => runSoftmax('SOFTMAX', p.x, p.axis, 'thread', true).dispose()) },
    { name: WORKGROUP_VARIANT, supported: () => true, run: (_e, ps) => ps.forEach((p) => runSoftmax('SOFTMAX', p.x, p.axis, 'workgroup', false).dispose()) },
  ],
  sample(engine) {
    const rows = engine.tensor(new Float32Array(1024 * 1000).map((_, i) => Math.sin(i)), [1024, 1000]);
    const channels = engine.tensor(new Float32Array(8192 * 64).map((_, i) => Math.cos(i)), [8192, 64]);
    return { problem: [{ x: rows, axis: 1 }, { x: channels, axis: 1 }], dispose: () => [rows, channels].forEach((t) => t.dispose()) };
  },
});

function layoutFor(engine: Engine, g: LineGeom): LineLayout {
  return lineLayout(engine, softmaxKernel as TunableKernel<unknown>, g);
}

function registersFor(engine: Engine): boolean {
  return engine.variants.pick(softmaxKernel).name === REGISTER_VARIANT;
}

/** Records one launch of the line kernel. `bindings` follow the mode's order in softmax.wgsl. */
function dispatchLines(engine: Engine, mode: Mode, g: LineGeom, layout: LineLayout, bindings: Binding[], label: string, opts: { classes?: number; invN?: number; grad?: boolean; registers?: boolean } = {}): void {
  if (g.outer * g.inner === 0) return;
  const ce = mode === 'CE' || mode === 'CE_BWD';
  const vec = lineVec(g, layout, !ce);
  const l = lineLaunch(g, layout, vec);
  const reg = opts.registers && layout === 'thread' && (mode === 'SOFTMAX' || mode === 'LOGSOFTMAX') ? regSize(l.len) : 0;
  engine.runtime.dispatch({
    kernel,
    defines: { ...l.defines, [mode]: 1, WRITE_GRAD: mode === 'CE_BWD' || (mode === 'CE' && opts.grad) ? 1 : 0, REG: reg },
    label,
    uniforms: new Uniforms().u32(l.lines, l.len, l.inner, opts.classes ?? 0).f32(opts.invN ?? 0),
    bindings,
    grid: l.grid,
  });
}

/** Register slots for a line of `len` loaded units (0: too long, stream it twice). */
function regSize(len: number): number {
  return len <= 4 ? 4 : len <= 8 ? 8 : len <= 16 ? 16 : 0;
}

function runSoftmax(mode: 'SOFTMAX' | 'LOGSOFTMAX', x: Tensor, axis: number, layout?: LineLayout, registers?: boolean): Tensor {
  const g = lineGeom(x.shape, axis);
  const out = x.engine.empty(x.shape);
  const name = mode === 'SOFTMAX' ? 'softmax' : 'logSoftmax';
  dispatchLines(x.engine, mode, g, layout ?? layoutFor(x.engine, g), [x.binding(), out.binding()], `${name} ${fmtShape(x.shape)} axis ${axis}`, {
    registers: registers ?? registersFor(x.engine),
  });
  return out;
}

function requireF32(op: string, ...ts: TensorMeta[]): void {
  for (const t of ts) assert(t.dtype === 'f32', op, () => `expects f32 tensors, got ${t.dtype} ${fmtShape(t.shape)}`);
}

// ------------------------------------------------------------------------------------------ CPU references

/** Calls fn(offsets) for every line of the axis, with the flat offsets of its elements. */
function forEachLine(shape: readonly number[], axis: number, fn: (idx: number[]) => void): void {
  const { outer, len, inner } = lineGeom(shape, axis);
  const idx = new Array<number>(len);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      for (let l = 0; l < len; l++) idx[l] = (o * len + l) * inner + i;
      fn(idx);
    }
  }
}

/** max and log Σ exp(x - max) of a line, in float64. */
function logSumExp(data: ArrayLike<number>, idx: readonly number[]): number {
  let m = -Infinity;
  for (const i of idx) m = Math.max(m, data[i]!);
  let s = 0;
  for (const i of idx) s += Math.exp(data[i]! - m);
  return m + Math.log(s);
}

function softmaxCpu(x: HostTensor, axis: number, log: boolean): HostTensor {
  const out = HostTensor.zeros(x.shape);
  forEachLine(x.shape, axis, (idx) => {
    const lse = logSumExp(x.data, idx);
    for (const i of idx) out.data[i] = log ? x.data[i]! - lse : Math.exp(x.data[i]! - lse);
  });
  return out;
}

// ------------------------------------------------------------------------------------------ softmax

interface AxisPlan extends Plan {
  axis: number;
}

function axisCheck(op: string, x: TensorMeta, axis: number): AxisPlan {
  requireF32(op, x);
  assert(x.shape.length > 0, op, () => `needs a tensor of rank ≥ 1, got a scalar ${fmtShape(x.shape)}`);
  const a = normAxis(op, axis, x.shape.length);
  // Normalising over no elements has no meaning (and no line for the kernel to walk).
  assert(x.shape[a]! > 0, op, () => `axis ${axis} of ${fmtShape(x.shape)} is empty: a softmax needs at least one element along its axis`);
  return { shape: x.shape, dtype: 'f32', axis: a };
}

/** softmax(x) along `axis` (default the last). */
export const softmax = defineOp<[x: Tensor, axis?: number], AxisPlan>({
  name: 'softmax',
  check: (x, axis = -1) => axisCheck('softmax', x, axis),
  gpu: (plan, x) => runSoftmax('SOFTMAX', x, plan.axis),
  cpu: (plan, x) => softmaxCpu(x, plan.axis, false),
  backward: {
    save: (_args, y) => [y],
    grad: ({ plan, saved }, dy) => [softmaxBackward(dy, saved[0]!, plan.axis)],
  },
});

/** log(softmax(x)) along `axis`, computed as x - max - log Σ exp(x - max). */
export const logSoftmax = defineOp<[x: Tensor, axis?: number], AxisPlan>({
  name: 'logSoftmax',
  check: (x, axis = -1) => axisCheck('logSoftmax', x, axis),
  gpu: (plan, x) => runSoftmax('LOGSOFTMAX', x, plan.axis),
  cpu: (plan, x) => softmaxCpu(x, plan.axis, true),
  backward: {
    save: (_args, y) => [y],
    grad: ({ plan, saved }, dy) => [logSoftmaxBackward(dy, saved[0]!, plan.axis)],
  },
});

function backwardCheck(op: string, dy: TensorMeta, y: TensorMeta, axis: number): AxisPlan {
  requireF32(op, dy, y);
  assert(sameShape(dy.shape, y.shape), op, () => `dy ${fmtShape(dy.shape)} and y ${fmtShape(y.shape)} must have the same shape`);
  return axisCheck(op, y, axis);
}

function runBackward(mode: 'SOFTMAX_BWD' | 'LOGSOFTMAX_BWD', plan: AxisPlan, dy: Tensor, y: Tensor): Tensor {
  const g = lineGeom(y.shape, plan.axis);
  const dx = y.engine.empty(y.shape);
  const name = mode === 'SOFTMAX_BWD' ? 'softmaxBackward' : 'logSoftmaxBackward';
  dispatchLines(y.engine, mode, g, layoutFor(y.engine, g), [dy.binding(), y.binding(), dx.binding()], `${name} ${fmtShape(y.shape)} axis ${plan.axis}`);
  return dx;
}

/** Gradient of softmax from its output y: dx = y ⊙ (dy − Σ dy⊙y) along the axis. */
export const softmaxBackward = defineOp<[dy: Tensor, y: Tensor, axis?: number], AxisPlan>({
  name: 'softmaxBackward',
  check: (dy, y, axis = -1) => backwardCheck('softmaxBackward', dy, y, axis),
  gpu: (plan, dy, y) => runBackward('SOFTMAX_BWD', plan, dy, y),
  cpu(plan, dy, y) {
    const dx = HostTensor.zeros(y.shape);
    forEachLine(y.shape, plan.axis, (idx) => {
      let r = 0;
      for (const i of idx) r += dy.data[i]! * y.data[i]!;
      for (const i of idx) dx.data[i] = y.data[i]! * (dy.data[i]! - r);
    });
    return dx;
  },
});

/** Gradient of log-softmax from its output y: dx = dy − exp(y) Σ dy along the axis. */
export const logSoftmaxBackward = defineOp<[dy: Tensor, y: Tensor, axis?: number], AxisPlan>({
  name: 'logSoftmaxBackward',
  check: (dy, y, axis = -1) => backwardCheck('logSoftmaxBackward', dy, y, axis),
  gpu: (plan, dy, y) => runBackward('LOGSOFTMAX_BWD', plan, dy, y),
  cpu(plan, dy, y) {
    const dx = HostTensor.zeros(y.shape);
    forEachLine(y.shape, plan.axis, (idx) => {
      let r = 0;
      for (const i of idx) r += dy.data[i]!;
      for (const i of idx) dx.data[i] = dy.data[i]! - Math.exp(y.data[i]!) * r;
    });
    return dx;
  },
});

// ------------------------------------------------------------------------------------------ cross-entropy

/** Class labels: an i32 tensor [N] on the GPU, or host integers (checked on the host before any GPU work). */
export type Labels = Tensor | readonly number[] | Int32Array;
type LabelMeta = TensorMeta | readonly number[] | Int32Array;
type HostLabels = HostTensor | readonly number[] | Int32Array;

function isMeta(l: LabelMeta | HostLabels): l is TensorMeta {
  return typeof (l as TensorMeta).dtype === 'string' && Array.isArray((l as TensorMeta).shape);
}

/**
 * Host-side label validation: throws a ShapeError naming the first label that is not an integer in
 * [0, classes). Use it before uploading labels; ops given labels as an array call it themselves.
 */
export function checkLabels(labels: ArrayLike<number>, classes: number, op = 'checkLabels'): void {
  for (let i = 0; i < labels.length; i++) {
    const v = labels[i]!;
    assert(Number.isInteger(v) && v >= 0 && v < classes, op, () => `label ${v} at row ${i} is out of range: expected an integer in [0, ${classes})`);
  }
}

/** Checks a labels argument against N rows of `classes`; array labels are range-checked here, on the host. */
export function checkLabelsArg(op: string, labels: LabelMeta, rows: number, classes: number): void {
  if (isMeta(labels)) {
    assert(labels.dtype === 'i32', op, () => `labels must be an i32 tensor, got ${labels.dtype} ${fmtShape(labels.shape)}`);
    assert(labels.shape.length === 1 && labels.shape[0] === rows, op, () => `labels ${fmtShape(labels.shape)} must be [${rows}], one per row`);
  } else {
    assert(labels.length === rows, op, () => `${labels.length} labels for ${rows} rows`);
    checkLabels(labels, classes, op);
  }
}

/**
 * The labels as a GPU binding, uploading host arrays (the upload is freed once the submit completes). With
 * `check`, a label tensor's range is checked on the GPU and a value outside [0, classes) is raised by the next
 * read, naming `check.op` (host arrays were checked already).
 */
export function labelsBinding(engine: Engine, labels: Labels, check?: { classes: number; op: string }): { binding: Binding; release(): void } {
  if (!isMeta(labels)) {
    const t = engine.tensor(Int32Array.from(labels), [labels.length], 'i32');
    return { binding: t.binding(), release: () => t.dispose() };
  }
  const t = labels as Tensor;
  if (check) engine.checks.checkLabels(t.binding(), t.size, check.classes, check.op);
  return { binding: t.binding(), release: () => {} };
}

export function hostLabels(labels: HostLabels): ArrayLike<number> {
  return isMeta(labels) ? labels.data : labels;
}

interface CePlan extends Plan {
  rows: number;
  classes: number;
}

function ceCheck(op: string, logits: TensorMeta, labels: LabelMeta): CePlan {
  requireF32(op, logits);
  assert(logits.shape.length === 2, op, () => `logits must be [N, classes], got ${fmtShape(logits.shape)}`);
  const [rows, classes] = logits.shape as [number, number];
  assert(rows > 0 && classes > 0, op, () => `logits ${fmtShape(logits.shape)} must have at least one row and one class`);
  checkLabelsArg(op, labels, rows, classes);
  return { shape: [], dtype: 'f32', rows, classes };
}

function ceGeom(plan: CePlan): LineGeom {
  return { outer: plan.rows, len: plan.classes, inner: 1 };
}

/** Loss (and optionally the gradient) on the GPU: the per-row pass, then the batch mean. */
function runCe(plan: CePlan, logits: Tensor, labels: Labels, withGrad: boolean): { loss: Tensor; dlogits?: Tensor } {
  const engine = logits.engine;
  const g = ceGeom(plan);
  const rowLoss = engine.empty([plan.rows]);
  const loss = engine.empty([]);
  const dlogits = withGrad ? engine.empty(logits.shape) : undefined;
  const label = `softmaxCrossEntropy ${fmtShape(logits.shape)}`;
  const lab = labelsBinding(engine, labels, { classes: plan.classes, op: label });
  const bindings = [logits.binding(), lab.binding, rowLoss.binding(), ...(dlogits ? [dlogits.binding()] : [])];
  dispatchLines(engine, 'CE', g, layoutFor(engine, g), bindings, label, { classes: plan.classes, invN: 1 / plan.rows, grad: withGrad });
  engine.runtime.dispatch({
    kernel: meanKernel,
    label: `${label} batch mean`,
    uniforms: new Uniforms().u32(plan.rows).f32(1 / plan.rows),
    bindings: [rowLoss.binding(), loss.binding()],
    grid: 1,
  });
  lab.release();
  rowLoss.dispose();
  return dlogits ? { loss, dlogits } : { loss };
}

function ceCpu(plan: CePlan, logits: HostTensor, labels: HostLabels, withGrad: boolean): { loss: HostTensor; dlogits: HostTensor } {
  const lab = hostLabels(labels);
  const loss = HostTensor.zeros([]);
  const dlogits = HostTensor.zeros(logits.shape);
  const K = plan.classes;
  let total = 0;
  for (let r = 0; r < plan.rows; r++) {
    const idx = Array.from({ length: K }, (_, k) => r * K + k);
    const lse = logSumExp(logits.data, idx);
    const y = lab[r]!;
    const valid = Number.isInteger(y) && y >= 0 && y < K;
    total += valid ? lse - logits.data[r * K + y]! : NaN;
    if (withGrad) for (let k = 0; k < K; k++) dlogits.data[r * K + k] = valid ? (Math.exp(logits.data[r * K + k]! - lse) - (k === y ? 1 : 0)) / plan.rows : NaN;
  }
  loss.data[0] = total / plan.rows;
  return { loss, dlogits };
}

/**
 * Mean over the batch of −log softmax(logits)[label]: logits [N, classes] f32, labels i32 [N] (or a host
 * array, range-checked on the host). Returns a 0-d tensor (shape [], as PyTorch). A GPU label outside
 * [0, classes) makes the loss NaN and the next read throw, naming this op.
 */
export const softmaxCrossEntropy = defineOp<[logits: Tensor, labels: Labels], CePlan>({
  name: 'softmaxCrossEntropy',
  check: (logits, labels) => ceCheck('softmaxCrossEntropy', logits, labels),
  gpu: (plan, logits, labels) => runCe(plan, logits, labels, false).loss,
  cpu: (plan, logits, labels) => ceCpu(plan, logits, labels, false).loss,
  backward: {
    save: ([logits, labels]) => (isMeta(labels) ? [logits, labels as Tensor] : [logits]),
    grad: ({ args, saved }, dy) => {
      const labels = saved[1] ?? args[1];
      return [softmaxCrossEntropyBackward(dy, saved[0]!, labels), ...(saved[1] ? [null] : [])];
    },
  },
});

interface CeBwdPlan extends CePlan {}

/** d loss / d logits = dloss · (softmax(logits) − onehot(labels)) / N; dloss is the 1-element upstream gradient. */
export const softmaxCrossEntropyBackward = defineOp<[dloss: Tensor, logits: Tensor, labels: Labels], CeBwdPlan>({
  name: 'softmaxCrossEntropyBackward',
  check(dloss, logits, labels) {
    const plan = ceCheck('softmaxCrossEntropyBackward', logits, labels);
    requireF32('softmaxCrossEntropyBackward', dloss);
    assert(sizeOf(dloss.shape) === 1, 'softmaxCrossEntropyBackward', () => `dloss must hold one value, got ${fmtShape(dloss.shape)}`);
    return { ...plan, shape: logits.shape };
  },
  gpu(plan, dloss, logits, labels) {
    const engine = logits.engine;
    const dx = engine.empty(logits.shape);
    const lab = labelsBinding(engine, labels, { classes: plan.classes, op: `softmaxCrossEntropyBackward ${fmtShape(logits.shape)}` });
    const g = ceGeom(plan);
    dispatchLines(engine, 'CE_BWD', g, layoutFor(engine, g), [logits.binding(), lab.binding, dloss.binding(), dx.binding()], `softmaxCrossEntropyBackward ${fmtShape(logits.shape)}`, {
      classes: plan.classes,
      invN: 1 / plan.rows,
    });
    lab.release();
    return dx;
  },
  cpu(plan, dloss, logits, labels) {
    const { dlogits } = ceCpu(plan, logits, labels, true);
    for (let i = 0; i < dlogits.size; i++) dlogits.data[i] = dlogits.data[i]! * dloss.data[0]!;
    return dlogits;
  },
});

/**
 * The loss and its gradient w.r.t. the logits ((softmax − onehot)/N, for dloss = 1) from one pass over the
 * logits: a training step that ends in this loss needs nothing else from it.
 */
export const softmaxCrossEntropyWithGrad = defineMultiOp<[logits: Tensor, labels: Labels], 'loss' | 'dlogits', CePlan & MultiPlan<'loss' | 'dlogits'>>({
  name: 'softmaxCrossEntropyWithGrad',
  check(logits, labels) {
    const plan = ceCheck('softmaxCrossEntropyWithGrad', logits, labels);
    return { ...plan, outputs: { loss: { shape: [], dtype: 'f32' }, dlogits: { shape: logits.shape, dtype: 'f32' } } };
  },
  gpu(plan, logits, labels) {
    const { loss, dlogits } = runCe(plan, logits, labels, true);
    return { loss, dlogits: dlogits! };
  },
  cpu: (plan, logits, labels) => ceCpu(plan, logits, labels, true),
});
