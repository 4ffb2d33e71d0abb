/**
 * `conv`: convolutions (NHWC / HWIO) forward and backward, batch norm (training forward) and max-pool, ours
 * against tfjs-webgpu on the same Dawn adapter. Convolutions report GFLOP/s against the FMA ceiling; batch
 * norm and max-pool (and depthwise, which is nearly memory-bound) GB/s against the copy ceiling.
 */
import type { Engine } from '../../src/device/engine.js';
import type { Tensor } from '../../src/graph/tensor.js';
import { batchNorm2d } from '../../src/kernels/batchnorm.js';
import { conv2dBackwardInput, conv2dBackwardWeight } from '../../src/kernels/conv-backward.js';
import { convGeometry, type ConvGeometryOptions } from '../../src/kernels/conv-geometry.js';
import { conv2dBackwardWeightKernel, conv2dDepthwiseKernel, conv2dKernel } from '../../src/kernels/conv-gpu.js';
import { conv2d } from '../../src/kernels/conv.js';
import { maxPool2d } from '../../src/kernels/pool.js';
import type { TunableKernel } from '../../src/kernels/variants.js';
import { randomData, tfjsWebGPU, type Row, type Suite, type SuiteContext, type Tf } from '../harness.js';
import { opTiming, runOpCase, tuneFirst, type OpCase, type TfTensor } from './op-bench.js';

type Dir = 'forward' | 'backward input' | 'backward weight';

interface ConvSpec {
  name: string;
  x: [number, number, number, number];
  w: [number, number, number, number];
  stride: number;
  pad: number;
  groups?: number;
  dirs: Dir[];
}

const ALL: Dir[] = ['forward', 'backward input', 'backward weight'];

const CONV_CASES: ConvSpec[] = [
  { name: '3x3 64->64', x: [1, 56, 56, 64], w: [3, 3, 64, 64], stride: 1, pad: 1, dirs: ALL },
  { name: '3x3 64->64', x: [16, 56, 56, 64], w: [3, 3, 64, 64], stride: 1, pad: 1, dirs: ALL },
  { name: '1x1 128->256 s2', x: [16, 28, 28, 128], w: [1, 1, 128, 256], stride: 2, pad: 0, dirs: ['forward'] },
  { name: '7x7/2 stem', x: [1, 224, 224, 3], w: [7, 7, 3, 64], stride: 2, pad: 3, dirs: ['forward'] },
  { name: 'depthwise 3x3', x: [16, 56, 56, 64], w: [3, 3, 1, 64], stride: 1, pad: 1, groups: 64, dirs: ['forward'] },
];

const CONV_QUICK: ConvSpec[] = [
  { name: '3x3 16->16', x: [2, 14, 14, 16], w: [3, 3, 16, 16], stride: 1, pad: 1, dirs: ALL },
  { name: '1x1 16->32 s2', x: [2, 14, 14, 16], w: [1, 1, 16, 32], stride: 2, pad: 0, dirs: ['forward'] },
  { name: '7x7/2 stem', x: [1, 32, 32, 3], w: [7, 7, 3, 16], stride: 2, pad: 3, dirs: ['forward'] },
  { name: 'depthwise 3x3', x: [2, 14, 14, 16], w: [3, 3, 1, 16], stride: 1, pad: 1, groups: 16, dirs: ['forward'] },
];

/** Batch norm and max-pool input [N, H, W, C]. */
const NORM_SHAPE: [number, number, number, number] = [16, 56, 56, 64];
const NORM_QUICK: [number, number, number, number] = [2, 14, 14, 16];

const fmt = (s: readonly number[]) => s.join('x');
const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

function upload(engine: Engine, tf: Tf, shape: number[], seed: number): { ours: Tensor; tf: TfTensor; data: Float32Array } {
  const data = randomData(size(shape), seed);
  return { ours: engine.tensor(data, shape), tf: tf.tensor(data, shape), data };
}

async function readOurs(t: Tensor): Promise<Float32Array> {
  try {
    return (await t.engine.read(t)) as Float32Array;
  } finally {
    t.dispose();
  }
}

async function readTf(t: TfTensor): Promise<Float32Array> {
  try {
    return (await t.data()) as Float32Array;
  } finally {
    t.dispose();
  }
}

/** The cases of one convolution problem (one per direction), with what they allocated. */
function convCases(engine: Engine, tf: Tf, s: ConvSpec): { cases: OpCase[]; dispose(): void } {
  const opts: ConvGeometryOptions = { stride: s.stride, padding: s.pad, ...(s.groups ? { groups: s.groups } : {}) };
  const g = convGeometry('bench conv', s.x, s.w, opts);
  const yShape = [g.n, g.ho, g.wo, g.cout];
  const flops = 2 * g.n * g.ho * g.wo * g.cout * g.kh * g.kw * g.cg;
  const x = upload(engine, tf, s.x, 1);
  const w = upload(engine, tf, s.w, 2);
  const dy = upload(engine, tf, yShape, 3);
  const depthwise = Boolean(s.groups && s.groups > 1 && g.cg === 1);
  // tfjs's depthwise filter is [kh, kw, C, multiplier]: the same memory as our HWIO [kh, kw, 1, C].
  const tfW = depthwise ? (tf.reshape(w.tf, [s.w[0], s.w[1], s.w[3], 1]) as TfTensor) : w.tf;
  const tf4 = tf as unknown as {
    conv2d(x: TfTensor, w: TfTensor, s: number, p: number): TfTensor;
    depthwiseConv2d(x: TfTensor, w: TfTensor, s: number, p: number): TfTensor;
    conv2dTranspose(dy: TfTensor, w: TfTensor, xs: number[], s: number, p: number): TfTensor;
  };
  const shape = `${fmt(s.x)} * ${fmt(s.w)}${s.stride > 1 ? ` /${s.stride}` : ''}`;
  const cases: OpCase[] = [];
  for (const dir of s.dirs) {
    let ours: () => Tensor;
    let anchor: () => TfTensor;
    let anchorName = 'tfjs-webgpu';
    let kernels: TunableKernel<never>[];
    if (dir === 'forward') {
      ours = () => conv2d(x.ours, w.ours, opts);
      anchor = depthwise ? () => tf4.depthwiseConv2d(x.tf, tfW, s.stride, s.pad) : () => tf4.conv2d(x.tf, tfW, s.stride, s.pad);
      anchorName = depthwise ? 'tfjs-webgpu depthwiseConv2d' : 'tfjs-webgpu conv2d';
      kernels = [depthwise ? conv2dDepthwiseKernel : conv2dKernel] as TunableKernel<never>[];
    } else if (dir === 'backward input') {
      ours = () => conv2dBackwardInput(dy.ours, w.ours, s.x, opts);
      anchor = () => tf4.conv2dTranspose(dy.tf, tfW, s.x, s.stride, s.pad);
      anchorName = 'tfjs-webgpu conv2dTranspose (Conv2DBackpropInput)';
      kernels = [conv2dKernel] as TunableKernel<never>[];
    } else {
      ours = () => conv2dBackwardWeight(x.ours, dy.ours, s.w, opts);
      // tfjs-core 4.22 has no public op for the filter gradient alone; this is the kernel tf.grad runs.
      anchor = () => tf.engine().runKernel('Conv2DBackpropFilter', { x: x.tf, dy: dy.tf } as never, { strides: s.stride, pad: s.pad, dataFormat: 'NHWC', filterShape: s.w } as never) as TfTensor;
      anchorName = 'tfjs-webgpu Conv2DBackpropFilter';
      kernels = [conv2dBackwardWeightKernel] as TunableKernel<never>[];
    }
    cases.push({
      name: `${s.name} ${dir}`,
      shape,
      flops,
      ...(depthwise ? { bytes: 4 * (size(s.x) + size(s.w) + size(yShape)) } : {}),
      kernels,
      ours,
      anchor: { name: anchorName, call: anchor },
      check: async () => [await readOurs(ours()), await readTf(anchor())],
      extra: { direction: dir },
    });
  }
  return {
    cases,
    dispose() {
      for (const t of [x, w, dy]) {
        t.ours.dispose();
        t.tf.dispose();
      }
      if (tfW !== w.tf) tfW.dispose();
    },
  };
}

/** Batch norm (training forward, with running statistics) and 3x3/2 max-pool on the same activation. */
function normCases(engine: Engine, tf: Tf, shape: [number, number, number, number]): { cases: OpCase[]; dispose(): void } {
  const C = shape[3];
  const x = upload(engine, tf, shape, 4);
  const gamma = upload(engine, tf, [C], 5);
  const beta = upload(engine, tf, [C], 6);
  const rm = engine.zeros([C]);
  const rv = engine.ones([C]);
  const n = size(shape);
  const bn = () => batchNorm2d(x.ours, gamma.ours, beta.ours, rm, rv, { training: true });
  const tfBn = () =>
    tf.tidy(() => {
      const { mean, variance } = tf.moments(x.tf, [0, 1, 2]);
      return tf.batchNorm(x.tf as never, mean, variance, beta.tf, gamma.tf, 1e-5);
    }) as TfTensor;
  const pool = { kernel: 3, stride: 2, padding: 1 };
  const poolOut = [shape[0], Math.floor((shape[1] + 2 - 3) / 2) + 1, Math.floor((shape[2] + 2 - 3) / 2) + 1, C];
  const mp = () => maxPool2d(x.ours, pool);
  const tfMp = () => tf.maxPool(x.tf as never, 3, 2, 1) as TfTensor;
  const cases: OpCase[] = [
    {
      name: 'batchnorm train forward',
      shape: fmt(shape),
      // The minimum traffic: x read once, y written once (ours reads x twice: statistics, then apply).
      bytes: 4 * 2 * n,
      kernels: [],
      ours: bn,
      anchor: { name: 'tfjs-webgpu moments + batchNorm', call: tfBn },
      check: async () => [await readOurs(bn()), await readTf(tfBn())],
    },
    {
      name: 'max-pool 3x3/2',
      shape: `${fmt(shape)} -> ${fmt(poolOut)}`,
      bytes: 4 * (n + size(poolOut)),
      kernels: [],
      ours: mp,
      anchor: { name: 'tfjs-webgpu maxPool', call: tfMp },
      check: async () => [await readOurs(mp()), await readTf(tfMp())],
    },
  ];
  return {
    cases,
    dispose() {
      for (const t of [x, gamma, beta]) {
        t.ours.dispose();
        t.tf.dispose();
      }
      rm.dispose();
      rv.dispose();
    },
  };
}

export async function runConv(ctx: SuiteContext): Promise<Row[]> {
  const { engine } = ctx;
  const tuned = await tuneFirst(ctx, [conv2dKernel, conv2dBackwardWeightKernel, conv2dDepthwiseKernel] as TunableKernel<never>[]);
  const tf = await tfjsWebGPU();
  const rows: Row[] = [];
  const groups = [...(ctx.quick ? CONV_QUICK : CONV_CASES).map((s) => () => convCases(engine, tf, s)), () => normCases(engine, tf, ctx.quick ? NORM_QUICK : NORM_SHAPE)];
  for (const make of groups) {
    const g = make();
    try {
      for (const c of g.cases) rows.push(...(await runOpCase(ctx, tf, c, opTiming(ctx.quick, (c.flops ?? 0) > 1e9), 'conv', tuned)));
    } finally {
      g.dispose();
    }
  }
  return rows;
}

export const convSuite: Suite = {
  name: 'conv',
  description: 'conv2d forward/backward (3x3, 1x1/2, 7x7/2 stem, depthwise), batch norm and max-pool against tfjs-webgpu',
  flags: { retune: 'measure the variants again even if a choice is remembered' },
  run: runConv,
};
