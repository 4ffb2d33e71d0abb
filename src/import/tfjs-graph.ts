/**
 * TensorFlow.js graph models (the converter's `model.json` with `format: 'graph-model'` plus binary weight
 * shards) run on the engine's kernels, inference only.
 *
 * TF's layouts are the engine's (activations NHWC, convolution filters HWIO, depthwise filters
 * [kH, kW, C, multiplier] which is HWIO with groups = C after a free reshape), so weights upload as they are.
 * Every node's op is checked at load time: an op (or fused activation) without a mapping throws
 * `TfjsImportError` naming the op and the node, before anything runs.
 */
import { sizeOf } from '../graph/shape.js';
import { float16ToNumber } from '../io/float16.js';
import type { Engine } from '../device/engine.js';
import { fmtShape, ShapeError } from '../device/errors.js';
import { noGrad } from '../graph/autograd.js';
import { keep } from '../graph/scope.js';
import type { Tensor } from '../graph/tensor.js';
import { conv2d, type Padding } from '../kernels/conv.js';
import { abs, add, div, exp, log, maximum, minimum, mul, neg, relu, sigmoid, sqrt, sub, tanh } from '../kernels/elementwise.js';
import { concat, permute } from '../kernels/layout.js';
import { matmul } from '../kernels/matmul.js';
import { avgPool2d, maxPool2d } from '../kernels/pool.js';
import { max, mean, min, sum } from '../kernels/reduce.js';
import { logSoftmax, softmax } from '../kernels/softmax.js';
import { pad } from './pad.js';
import { fuseResidualConvs, RESIDUAL_OP } from './tfjs-fuse.js';
import { convGeometry, outShape } from '../kernels/conv-geometry.js';

// ------------------------------------------------------------------------------------ model.json types

/** One attribute value of a TF NodeDef as the converter writes it to JSON (protobuf JSON mapping). */
export interface TfAttrValue {
  s?: string;
  i?: string | number;
  f?: number;
  b?: boolean;
  type?: string;
  shape?: unknown;
  tensor?: unknown;
  list?: { s?: string[]; i?: (string | number)[]; f?: number[]; b?: boolean[]; type?: string[] };
}

export interface TfNodeDef {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, TfAttrValue>;
  device?: string;
}

export interface TfjsQuantization {
  /** How the values are stored. */
  dtype: 'uint8' | 'uint16' | 'float16';
  /** Affine dequantisation (uint8/uint16): value = q · scale + min. */
  scale?: number;
  min?: number;
  original_dtype?: string;
}

export interface TfjsWeightEntry {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: TfjsQuantization;
}

export interface TfjsWeightGroup {
  paths: string[];
  weights: TfjsWeightEntry[];
}

export interface TfjsModelJson {
  format?: string;
  modelTopology: { node: TfNodeDef[]; library?: unknown; versions?: unknown };
  weightsManifest: TfjsWeightGroup[];
  userDefinedMetadata?: { signature?: TfSignature; [k: string]: unknown };
  signature?: TfSignature;
  [k: string]: unknown;
}

interface TfSignatureEntry {
  name: string;
  dtype?: string;
  tensorShape?: { dim?: { size?: string | number }[]; unknownRank?: boolean };
}

interface TfSignature {
  inputs?: Record<string, TfSignatureEntry>;
  outputs?: Record<string, TfSignatureEntry>;
}

/** A model that cannot be imported or run: the message names the node and its op. */
export class TfjsImportError extends Error {
  constructor(message: string) {
    super(`tfjs graph model: ${message}`);
    this.name = 'TfjsImportError';
  }
}

// ------------------------------------------------------------------------------------ weights

/** A decoded weight, on the CPU. Integer and boolean weights decode to Int32Array. */
export interface HostWeight {
  shape: number[];
  dtype: 'float32' | 'int32';
  data: Float32Array | Int32Array;
}

export { float16ToNumber };

const STORED_BYTES: Record<string, number> = { float32: 4, int32: 4, uint8: 1, uint16: 2, float16: 2, bool: 1 };

/** The shards back to back, as TF.js lays the weights out. */
export function concatShards(buffers: readonly ArrayBuffer[]): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(buffers.reduce((n, b) => n + b.byteLength, 0));
  let at = 0;
  for (const b of buffers) {
    bytes.set(new Uint8Array(b), at);
    at += b.byteLength;
  }
  return bytes;
}

/**
 * Decodes every weight of a manifest from its shards. `buffers` holds the shards in manifest order (group by
 * group, path by path); like TF.js, the weights lie back to back in the concatenation of all of them.
 */
export function decodeTfjsWeights(manifest: readonly TfjsWeightGroup[], buffers: readonly ArrayBuffer[]): Map<string, HostWeight> {
  const expectShards = manifest.reduce((n, g) => n + g.paths.length, 0);
  if (buffers.length !== expectShards) throw new TfjsImportError(`the weights manifest lists ${expectShards} shard(s), got ${buffers.length} buffer(s)`);
  const bytes = concatShards(buffers);
  const total = bytes.length;
  const view = new DataView(bytes.buffer);
  const out = new Map<string, HostWeight>();
  let offset = 0;
  for (const entry of manifest.flatMap((g) => g.weights)) {
    const n = sizeOf(entry.shape);
    const q = entry.quantization;
    const stored = q ? q.dtype : entry.dtype;
    const width = STORED_BYTES[stored];
    if (width === undefined) throw new TfjsImportError(`weight '${entry.name}' has unsupported dtype '${stored}'`);
    const size = n * width;
    if (offset + size > total) throw new TfjsImportError(`weight '${entry.name}' ${fmtShape(entry.shape)} (${stored}) needs bytes ${offset}..${offset + size} but the shards hold ${total}`);
    const isInt = entry.dtype === 'int32' || entry.dtype === 'bool';
    const data = isInt ? new Int32Array(n) : new Float32Array(n);
    if (q && (q.dtype === 'uint8' || q.dtype === 'uint16')) {
      if (typeof q.scale !== 'number' || typeof q.min !== 'number') throw new TfjsImportError(`weight '${entry.name}' is quantised to ${q.dtype} without scale and min`);
      for (let i = 0; i < n; i++) {
        const v = q.dtype === 'uint8' ? bytes[offset + i]! : view.getUint16(offset + 2 * i, true);
        const x = v * q.scale + q.min;
        data[i] = isInt ? Math.round(x) : x;
      }
    } else if (stored === 'float16') {
      for (let i = 0; i < n; i++) data[i] = float16ToNumber(view.getUint16(offset + 2 * i, true));
    } else if (stored === 'float32') {
      for (let i = 0; i < n; i++) data[i] = view.getFloat32(offset + 4 * i, true);
    } else if (stored === 'int32') {
      for (let i = 0; i < n; i++) data[i] = view.getInt32(offset + 4 * i, true);
    } else if (stored === 'bool') {
      for (let i = 0; i < n; i++) data[i] = bytes[offset + i] ? 1 : 0;
    } else {
      throw new TfjsImportError(`weight '${entry.name}' has unsupported dtype '${stored}'`);
    }
    out.set(entry.name, { shape: [...entry.shape], dtype: isInt ? 'int32' : 'float32', data });
    offset += size;
  }
  if (offset !== total) throw new TfjsImportError(`the weights use ${offset} bytes but the shards hold ${total}`);
  return out;
}

// ------------------------------------------------------------------------------------ attributes

function b64(s: string): string {
  return atob(s);
}

function attrString(node: TfNodeDef, key: string, dflt?: string): string {
  const a = node.attr?.[key];
  if (a?.s !== undefined) return b64(a.s);
  if (dflt !== undefined) return dflt;
  throw new TfjsImportError(`node '${node.name}' (${node.op}) lacks attribute '${key}'`);
}

function attrInts(node: TfNodeDef, key: string, dflt?: number[]): number[] {
  const a = node.attr?.[key];
  if (a?.list?.i) return a.list.i.map(Number);
  if (a?.list) return dflt ?? [];
  if (dflt !== undefined) return dflt;
  throw new TfjsImportError(`node '${node.name}' (${node.op}) lacks attribute '${key}'`);
}

function attrBool(node: TfNodeDef, key: string, dflt = false): boolean {
  return node.attr?.[key]?.b ?? dflt;
}

function attrStrings(node: TfNodeDef, key: string): string[] {
  return (node.attr?.[key]?.list?.s ?? []).map(b64);
}

// ------------------------------------------------------------------------------------ the graph

/** What a node's input refers to: another node's output `index` (TF writes `name:1`), or a control dependency. */
function parseInput(ref: string): { node: string; index: number; control: boolean } {
  if (ref.startsWith('^')) return { node: ref.slice(1), index: 0, control: true };
  const m = /^(.*):(\d+)$/.exec(ref);
  return m ? { node: m[1]!, index: Number(m[2]), control: false } : { node: ref, index: 0, control: false };
}

type Value = { kind: 'gpu'; t: Tensor } | { kind: 'host'; w: HostWeight; name: string };

interface Ctx {
  engine: Engine;
  node: TfNodeDef;
  args: Value[];
  gpu(v: Value): Tensor;
  host(v: Value, what: string): HostWeight;
  /** Tensors this op created only as intermediates (disposed once the node has run). */
  temp: Tensor[];
}

type Impl = (c: Ctx) => Tensor | HostWeight;

const ACTIVATIONS: Record<string, (x: Tensor) => Tensor> = {
  Relu: relu,
  Relu6: (x) => clampMax(relu(x), 6),
  Sigmoid: sigmoid,
  Tanh: tanh,
};

function clampMax(x: Tensor, v: number): Tensor {
  const y = minimum(x, v);
  x.dispose();
  return y;
}

function dataFormat(c: Ctx): void {
  const f = attrString(c.node, 'data_format', 'NHWC');
  if (f !== 'NHWC') throw new TfjsImportError(`node '${c.node.name}' (${c.node.op}) uses data_format ${f}; only NHWC is supported`);
}

function convPadding(c: Ctx): Padding {
  const p = attrString(c.node, 'padding');
  if (p === 'SAME') return 'same';
  if (p === 'VALID') return 'valid';
  if (p === 'EXPLICIT') {
    const e = attrInts(c.node, 'explicit_paddings');
    return [e[2]!, e[3]!, e[4]!, e[5]!];
  }
  throw new TfjsImportError(`node '${c.node.name}' (${c.node.op}) has padding '${p}'`);
}

function hw(c: Ctx, key: string): [number, number] {
  const v = attrInts(c.node, key, [1, 1, 1, 1]);
  if (v.length !== 4 || v[0] !== 1 || v[3] !== 1) throw new TfjsImportError(`node '${c.node.name}' (${c.node.op}) has ${key} ${JSON.stringify(v)}; only [1, h, w, 1] is supported`);
  return [v[1]!, v[2]!];
}

/** Splits `fused_ops` into a bias flag and a trailing activation; anything else is unsupported. */
function fusedParts(node: TfNodeDef): { bias: boolean; act: string | undefined } {
  const ops = attrStrings(node, 'fused_ops');
  let i = 0;
  const bias = ops[0] === 'BiasAdd';
  if (bias) i++;
  const act = ops[i];
  if (act !== undefined && !(act in ACTIVATIONS)) throw new TfjsImportError(`unsupported fused op '${act}' in node '${node.name}' (${node.op}, fused_ops ${JSON.stringify(ops)})`);
  if (i + (act ? 1 : 0) !== ops.length) throw new TfjsImportError(`unsupported fused_ops ${JSON.stringify(ops)} in node '${node.name}' (${node.op})`);
  return { bias, act };
}

function convLike(depthwise: boolean, fused: boolean): Impl {
  return (c) => {
    dataFormat(c);
    const x = c.gpu(c.args[0]!);
    let w = c.gpu(c.args[1]!);
    const groups = depthwise ? x.shape[3]! : 1;
    if (depthwise) {
      // [kH, kW, C, multiplier] is HWIO [kH, kW, 1, C · multiplier] with groups = C (output c·m + j).
      const [kh, kw, ci, m] = w.shape as [number, number, number, number];
      w = w.reshape([kh, kw, 1, ci * m]);
      c.temp.push(w);
    }
    const { bias, act } = fused ? fusedParts(c.node) : { bias: false, act: undefined };
    const y = conv2d(x, w, {
      stride: hw(c, 'strides'),
      dilation: hw(c, 'dilations'),
      padding: convPadding(c),
      groups,
      ...(bias ? { bias: c.gpu(c.args[2]!) } : {}),
      ...(act === 'Relu' || act === 'Relu6' ? { activation: 'relu' as const } : {}),
    });
    if (act === 'Relu6') return clampMax(y, 6);
    if (act === 'Sigmoid' || act === 'Tanh') {
      const z = ACTIVATIONS[act]!(y);
      y.dispose();
      return z;
    }
    return y;
  };
}

/**
 * conv (+ bias) + residual (+ ReLU) in one kernel: the node tfjs-fuse.ts makes of conv → Add → Relu. A skip whose
 * shape is not the convolution's (a broadcasting Add) takes the unfused path.
 */
function convResidual(c: Ctx): Tensor {
  dataFormat(c);
  const x = c.gpu(c.args[0]!);
  const w = c.gpu(c.args[1]!);
  const { bias } = c.node.attr?.fused_ops ? fusedParts(c.node) : { bias: false };
  const skip = c.gpu(c.args[c.args.length - 1]!);
  const withRelu = c.node.attr?._relu?.b === true;
  const geometry = { stride: hw(c, 'strides'), dilation: hw(c, 'dilations'), padding: convPadding(c) };
  const biasOpt = bias ? { bias: c.gpu(c.args[2]!) } : {};
  if (outShape(convGeometry('conv2d', x.shape, w.shape, geometry)).join() === skip.shape.join()) {
    return conv2d(x, w, { ...geometry, ...biasOpt, residual: skip, ...(withRelu ? { activation: 'relu' as const } : {}) });
  }
  const y = conv2d(x, w, { ...geometry, ...biasOpt });
  c.temp.push(y);
  const sum = add(y, skip);
  if (!withRelu) return sum;
  c.temp.push(sum);
  return relu(sum);
}

/** TF's SAME pooling pads the odd extra row/column at the bottom/right and ignores the padding (average: in-bounds count). */
function poolLike(isMax: boolean): Impl {
  return (c) => {
    dataFormat(c);
    const x = c.gpu(c.args[0]!);
    const mode = attrString(c.node, 'padding');
    if (mode !== 'SAME' && mode !== 'VALID') throw new TfjsImportError(`node '${c.node.name}' (${c.node.op}) has padding '${mode}'`);
    const opts = { kernel: hw(c, 'ksize'), stride: hw(c, 'strides'), padding: mode === 'SAME' ? ('same' as const) : ('valid' as const) };
    return isMax ? maxPool2d(x, opts) : avgPool2d(x, { ...opts, countIncludePad: false });
  };
}

function binary(op: (a: Tensor, b: Tensor | number) => Tensor, commutes: boolean, reverse?: (a: Tensor, s: number) => Tensor): Impl {
  return (c) => {
    const [a, b] = c.args as [Value, Value];
    const scalar = (v: Value) => (v.kind === 'host' && v.w.data.length === 1 && v.w.shape.length <= 1 ? v.w.data[0]! : undefined);
    const sb = scalar(b);
    if (sb !== undefined && a.kind === 'gpu') return op(c.gpu(a), sb);
    const sa = scalar(a);
    if (sa !== undefined && b.kind === 'gpu') {
      if (commutes) return op(c.gpu(b), sa);
      if (reverse) return reverse(c.gpu(b), sa);
    }
    return op(c.gpu(a), c.gpu(b));
  };
}

function unary(f: (x: Tensor) => Tensor): Impl {
  return (c) => f(c.gpu(c.args[0]!));
}

function axesOf(c: Ctx, rank: number): number[] {
  const w = c.host(c.args[1]!, 'reduction indices');
  return Array.from(w.data, (a) => (a < 0 ? a + rank : a));
}

function reduction(op: (x: Tensor, axes?: number | readonly number[], keepDims?: boolean) => Tensor): Impl {
  return (c) => {
    const x = c.gpu(c.args[0]!);
    return op(x, axesOf(c, x.rank), attrBool(c.node, 'keep_dims'));
  };
}

/** TF's Pad / PadV2: paddings a constant int32 [rank, 2]; PadV2's third input the (scalar) fill value. */
function padLike(withValue: boolean): Impl {
  return (c) => {
    const x = c.gpu(c.args[0]!);
    const p = c.host(c.args[1]!, 'paddings');
    if (p.data.length !== 2 * x.rank) throw new TfjsImportError(`node '${c.node.name}' (${c.node.op}): paddings ${fmtShape(p.shape)} for input ${fmtShape(x.shape)}; expected [${x.rank}, 2]`);
    const pairs = Array.from({ length: x.rank }, (_, a) => [p.data[2 * a]!, p.data[2 * a + 1]!] as [number, number]);
    const value = withValue ? c.host(c.args[2]!, 'constant value').data[0]! : 0;
    return pad(x, pairs, value);
  };
}

/** A new view (reshape) that the graph owns: the input stays alive for its other consumers. */
function view(x: Tensor, shape: readonly number[]): Tensor {
  return x.reshape(shape);
}

const OPS: Record<string, Impl> = {
  Conv2D: convLike(false, false),
  _FusedConv2D: convLike(false, true),
  DepthwiseConv2dNative: convLike(true, false),
  FusedDepthwiseConv2dNative: convLike(true, true),
  MaxPool: poolLike(true),
  AvgPool: poolLike(false),
  Add: binary(add, true),
  AddV2: binary(add, true),
  BiasAdd: binary(add, true),
  Sub: binary(sub, false, (x, s) => {
    const n = neg(x);
    const y = add(n, s);
    n.dispose();
    return y;
  }),
  Mul: binary(mul, true),
  RealDiv: binary(div, false),
  Div: binary(div, false),
  Maximum: binary(maximum, true),
  Minimum: binary(minimum, true),
  Relu: unary(relu),
  Relu6: unary(ACTIVATIONS.Relu6!),
  Sigmoid: unary(sigmoid),
  Tanh: unary(tanh),
  Exp: unary(exp),
  Log: unary(log),
  Neg: unary(neg),
  Sqrt: unary(sqrt),
  Abs: unary(abs),
  Softmax: unary((x) => softmax(x, -1)),
  LogSoftmax: unary((x) => logSoftmax(x, -1)),
  Mean: reduction(mean),
  Sum: reduction(sum),
  Max: reduction(max),
  Min: reduction(min),
  [RESIDUAL_OP]: convResidual,
  Pad: padLike(false),
  PadV2: padLike(true),
  Reshape: (c) => {
    const x = c.gpu(c.args[0]!);
    return view(x, Array.from(c.host(c.args[1]!, 'shape').data));
  },
  Squeeze: (c) => {
    const x = c.gpu(c.args[0]!);
    const dims = attrInts(c.node, 'squeeze_dims', []).map((a) => (a < 0 ? a + x.rank : a));
    return view(x, x.shape.filter((d, a) => (dims.length ? !dims.includes(a) : d !== 1)));
  },
  ExpandDims: (c) => {
    const x = c.gpu(c.args[0]!);
    const a0 = c.host(c.args[1]!, 'axis').data[0]!;
    const a = a0 < 0 ? a0 + x.rank + 1 : a0;
    return view(x, [...x.shape.slice(0, a), 1, ...x.shape.slice(a)]);
  },
  Transpose: (c) => permute(c.gpu(c.args[0]!), Array.from(c.host(c.args[1]!, 'permutation').data)),
  ConcatV2: (c) => {
    const parts = c.args.slice(0, -1).map((v) => c.gpu(v));
    const a = c.host(c.args[c.args.length - 1]!, 'axis').data[0]!;
    return concat(parts, a < 0 ? a + parts[0]!.rank : a);
  },
  MatMul: (c) => matmul(c.gpu(c.args[0]!), c.gpu(c.args[1]!), { transA: attrBool(c.node, 'transpose_a'), transB: attrBool(c.node, 'transpose_b') }),
  _FusedMatMul: (c) => {
    const { bias, act } = fusedParts(c.node);
    const y = matmul(c.gpu(c.args[0]!), c.gpu(c.args[1]!), {
      transA: attrBool(c.node, 'transpose_a'),
      transB: attrBool(c.node, 'transpose_b'),
      ...(bias ? { bias: c.gpu(c.args[2]!) } : {}),
      ...(act === 'Relu' || act === 'Relu6' ? { activation: 'relu' as const } : act === 'Sigmoid' ? { activation: 'sigmoid' as const } : act === 'Tanh' ? { activation: 'tanh' as const } : {}),
    });
    return act === 'Relu6' ? clampMax(y, 6) : y;
  },
};

/** Ops that pass their input through unchanged. */
const PASSTHROUGH = new Set(['Identity', 'StopGradient', 'Snapshot']);

/** Checks that run at load time, so a model with an unmappable node fails before it runs. */
function validate(node: TfNodeDef): void {
  if (node.op === 'Const' || node.op === 'Placeholder' || PASSTHROUGH.has(node.op)) return;
  if (!(node.op in OPS)) throw new TfjsImportError(`unsupported op '${node.op}' in node '${node.name}'`);
  if (node.op === '_FusedConv2D' || node.op === 'FusedDepthwiseConv2dNative' || node.op === '_FusedMatMul') {
    fusedParts(node);
    const numArgs = Number(node.attr?.num_args?.i ?? 1);
    if (numArgs > 1) throw new TfjsImportError(`node '${node.name}' (${node.op}) has ${numArgs} fused arguments; only a bias is supported`);
  }
}

// ------------------------------------------------------------------------------------ the model

export interface TfjsModelInput {
  name: string;
  /** -1 for a free dimension (the batch). */
  shape: number[];
  dtype: string;
}

export interface TfjsGraphModel {
  readonly inputs: readonly TfjsModelInput[];
  readonly outputs: readonly string[];
  /** Number of float parameters (all weights' elements). */
  readonly parameterCount: number;
  /** Runs the graph on one input (single-input models) and returns the first output. */
  predict(input: Tensor): Tensor;
  /** Runs the graph; inputs by placeholder name; returns the requested outputs (default all) by name. */
  execute(inputs: Record<string, Tensor>, outputs?: readonly string[]): Record<string, Tensor>;
  dispose(): void;
}

function stripIndex(name: string): string {
  return name.replace(/:0$/, '');
}

function placeholderShape(node: TfNodeDef): number[] {
  const dims = (node.attr?.shape?.shape as { dim?: { size?: string | number }[] } | undefined)?.dim ?? [];
  return dims.map((d) => Number(d.size ?? -1));
}

/**
 * Imports a TF.js graph model. `weightBuffers` are the shards in manifest order. The weights upload to the
 * GPU on first use and stay until `dispose()`.
 */
export function loadTfjsGraphModel(engine: Engine, modelJson: TfjsModelJson, weightBuffers: readonly ArrayBuffer[]): TfjsGraphModel {
  const nodes = modelJson.modelTopology?.node;
  if (!Array.isArray(nodes)) throw new TfjsImportError('model.json has no modelTopology.node list (is it a graph model?)');
  if (modelJson.modelTopology.library && JSON.stringify(modelJson.modelTopology.library) !== '{}') {
    const fns = (modelJson.modelTopology.library as { function?: unknown[] }).function;
    if (Array.isArray(fns) && fns.length > 0) throw new TfjsImportError(`the graph uses ${fns.length} library function(s) (control flow), which is not supported`);
  }
  const weights = decodeTfjsWeights(modelJson.weightsManifest ?? [], weightBuffers);
  const byName = new Map(nodes.map((n) => [n.name, n]));
  for (const n of nodes) {
    validate(n);
    if (n.op === 'Const' && !weights.has(n.name)) throw new TfjsImportError(`constant node '${n.name}' has no weight in the manifest`);
    for (const ref of n.input ?? []) {
      const { node, index, control } = parseInput(ref);
      if (!byName.has(node)) throw new TfjsImportError(`node '${n.name}' (${n.op}) reads missing node '${node}'`);
      if (!control && index !== 0) throw new TfjsImportError(`node '${n.name}' reads output ${index} of '${node}' (${byName.get(node)!.op}); only single-output ops are supported`);
    }
  }

  const placeholders = nodes.filter((n) => n.op === 'Placeholder');
  const inputs: TfjsModelInput[] = placeholders.map((n) => ({ name: n.name, shape: placeholderShape(n), dtype: 'float32' }));
  const signature = modelJson.signature ?? modelJson.userDefinedMetadata?.signature;
  const consumed = new Set(nodes.flatMap((n) => (n.input ?? []).map((r) => parseInput(r).node)));
  const sigOutputs = signature?.outputs ? Object.values(signature.outputs).map((o) => stripIndex(o.name)) : [];
  const outputs = sigOutputs.length > 0 && sigOutputs.every((o) => byName.has(o)) ? sigOutputs : nodes.filter((n) => !consumed.has(n.name) && n.op !== 'Const' && n.op !== 'Placeholder').map((n) => n.name);
  if (outputs.length === 0) throw new TfjsImportError('the graph has no outputs');

  // conv → Add → Relu chains run as one kernel; the graph executes the rewritten nodes.
  const { nodes: graphNodes, folded } = fuseResidualConvs(nodes, new Set(outputs));
  byName.clear();
  for (const n of graphNodes) byName.set(n.name, n);

  // Execution order: depth-first from the outputs, so nodes no output needs never run.
  const order: TfNodeDef[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string): void => {
    const s = state.get(name);
    if (s === 'done') return;
    if (s === 'visiting') throw new TfjsImportError(`the graph has a cycle through node '${name}'`);
    state.set(name, 'visiting');
    const n = byName.get(name)!;
    for (const ref of n.input ?? []) {
      const p = parseInput(ref);
      if (!p.control) visit(p.node);
    }
    state.set(name, 'done');
    order.push(n);
  };
  for (const o of outputs) visit(o);

  const uploaded = new Map<string, Tensor>();
  const parameterCount = [...weights.values()].reduce((n, w) => n + (w.dtype === 'float32' ? w.data.length : 0), 0);
  let disposed = false;

  const upload = (name: string, w: HostWeight): Tensor => {
    let t = uploaded.get(name);
    if (!t) {
      // Frozen and kept: the graph's weights never change (kernels keep the forms they derive from them), and a
      // tidy() around the first call must not free them.
      t = keep(engine.freeze(engine.tensor(w.data, w.shape.length === 0 ? [1] : w.shape, w.dtype === 'float32' ? 'f32' : 'i32')));
      uploaded.set(name, t);
    }
    return t;
  };

  const execute = (given: Record<string, Tensor>, wanted: readonly string[] = outputs): Record<string, Tensor> => {
    if (disposed) throw new TfjsImportError('the model was disposed');
    for (const w of wanted) {
      if (folded.has(w)) throw new TfjsImportError(`node '${w}' was fused into '${folded.get(w)}' (a convolution with its residual add) and has no output of its own`);
      if (!byName.has(w)) throw new TfjsImportError(`no node named '${w}' to output`);
    }
    for (const p of inputs) {
      const t = given[p.name];
      if (!t) throw new TfjsImportError(`missing input '${p.name}' (shape ${fmtShape(p.shape)})`);
      const ok = t.dtype === 'f32' && t.rank === p.shape.length && p.shape.every((d, i) => d < 0 || d === t.shape[i]);
      if (!ok) throw new ShapeError('tfjs graph model', `input '${p.name}' expects f32 ${fmtShape(p.shape)} (-1: any), got ${t.dtype} ${fmtShape(t.shape)}`);
    }
    return noGrad(() => {
      // Consumer counts so each intermediate is freed as soon as its last reader has run.
      const run = wanted.length === outputs.length && wanted.every((w, i) => w === outputs[i]) ? order : orderFor(wanted);
      const readers = new Map<string, number>();
      for (const n of run) for (const r of n.input ?? []) {
        const p = parseInput(r);
        if (!p.control) readers.set(p.node, (readers.get(p.node) ?? 0) + 1);
      }
      const keepSet = new Set(wanted);
      const values = new Map<string, Value>();
      const owned = new Set<string>();
      const release = (name: string): void => {
        const left = (readers.get(name) ?? 0) - 1;
        readers.set(name, left);
        if (left <= 0 && owned.has(name) && !keepSet.has(name)) {
          const v = values.get(name);
          if (v?.kind === 'gpu') v.t.dispose();
          values.delete(name);
        }
      };
      try {
        for (const n of run) {
          if (n.op === 'Const') {
            values.set(n.name, { kind: 'host', w: weights.get(n.name)!, name: n.name });
            continue;
          }
          if (n.op === 'Placeholder') {
            values.set(n.name, { kind: 'gpu', t: given[n.name]! });
            continue;
          }
          const refs = (n.input ?? []).map(parseInput).filter((p) => !p.control);
          const args = refs.map((p) => values.get(p.node)!);
          let result: Value;
          if (PASSTHROUGH.has(n.op)) {
            const a = args[0]!;
            result = a.kind === 'gpu' ? { kind: 'gpu', t: a.t.detach() } : a;
          } else {
            const temp: Tensor[] = [];
            const ctx: Ctx = {
              engine,
              node: n,
              args,
              temp,
              gpu: (v) => (v.kind === 'gpu' ? v.t : upload(v.name, v.w)),
              host: (v, what) => {
                if (v.kind === 'host') return v.w;
                throw new TfjsImportError(`node '${n.name}' (${n.op}) needs its ${what} as a constant`);
              },
            };
            let out: Tensor | HostWeight;
            try {
              out = OPS[n.op]!(ctx);
            } catch (e) {
              if (e instanceof TfjsImportError) throw e;
              const err = new TfjsImportError(`node '${n.name}' (${n.op}) failed: ${(e as Error).message}`);
              (err as Error & { cause?: unknown }).cause = e;
              throw err;
            } finally {
              for (const t of temp) t.dispose();
            }
            result = 'engine' in out ? { kind: 'gpu', t: out } : { kind: 'host', w: out, name: n.name };
          }
          values.set(n.name, result);
          if (result.kind === 'gpu') owned.add(n.name);
          for (const p of refs) release(p.node);
        }
        const res: Record<string, Tensor> = {};
        for (const w of wanted) {
          const v = values.get(w)!;
          res[w] = v.kind === 'gpu' ? (owned.has(w) ? v.t : v.t.detach()) : engine.tensor(v.w.data, v.w.shape.length ? v.w.shape : [1], v.w.dtype === 'float32' ? 'f32' : 'i32');
        }
        return res;
      } catch (e) {
        for (const [name, v] of values) if (owned.has(name) && v.kind === 'gpu') v.t.dispose();
        throw e;
      }
    });
  };

  const orderFor = (wanted: readonly string[]): TfNodeDef[] => {
    const sub: TfNodeDef[] = [];
    const seen = new Set<string>();
    const walk = (name: string): void => {
      if (seen.has(name)) return;
      seen.add(name);
      for (const r of byName.get(name)!.input ?? []) {
        const p = parseInput(r);
        if (!p.control) walk(p.node);
      }
      sub.push(byName.get(name)!);
    };
    wanted.forEach(walk);
    return sub;
  };

  return {
    inputs,
    outputs,
    parameterCount,
    execute,
    predict(input: Tensor): Tensor {
      if (inputs.length !== 1) throw new TfjsImportError(`predict() takes one input; this model has ${inputs.length} (${inputs.map((i) => i.name).join(', ')}): use execute()`);
      const r = execute({ [inputs[0]!.name]: input }, [outputs[0]!]);
      return r[outputs[0]!]!;
    },
    dispose() {
      disposed = true;
      for (const t of uploaded.values()) t.dispose();
      uploaded.clear();
    },
  };
}
