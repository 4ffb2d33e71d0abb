/**
 * conv2d forward and backward against the plain-loop CPU references, every kernel variant forced in turn,
 * on odd shapes (channels not multiples of 4, batch > 1, stride / dilation / groups / asymmetric padding),
 * finite-difference gradient checks of the backward ops against the CPU forward, and the shape errors.
 */
import type { Engine } from '../../src/device/engine.js';
import { HostTensor } from '../../src/graph/host.js';
import type { Tensor } from '../../src/graph/tensor.js';
import { convGeometry, type ConvGeometryOptions } from '../../src/kernels/conv-geometry.js';
import { conv2dBackwardWeightKernel, conv2dDepthwiseKernel, conv2dKernel } from '../../src/kernels/conv-gpu.js';
import * as ops from '../../src/kernels/ops.js';
import { autogradCheck, checkOp, expectClose, gradCheck, randomHost, toGpu, toHost, type Tolerance } from '../helpers/compare.js';
import { expectThrows, eachVariant, type Case, type Suite } from './types.js';

// f32 sums of up to a few hundred products of values in [-1, 1], in a different order from the float64 reference.
const TOL: Tolerance = { abs: 2e-4, rel: 2e-4 };

interface Geo {
  name: string;
  x: number[];
  w: number[];
  o: ConvGeometryOptions;
}

const geometries: Geo[] = [
  // The odd shape: 5×5 kernel, stride 2, padding 2, dilation 2, groups 3 (depthwise, multiplier 2).
  { name: 'issue shape 1x7x5x3, 5x5 s2 p2 d2 groups 3', x: [1, 7, 5, 3], w: [5, 5, 1, 6], o: { stride: 2, padding: 2, dilation: 2, groups: 3 } },
  { name: 'grouped 3x6x7x6, 3x3 groups 3 (2 → 3 per group)', x: [3, 6, 7, 6], w: [3, 3, 2, 9], o: { padding: 1, groups: 3 } },
  { name: 'dense 3x9x8x5 → 7, 3x3 s2 same', x: [3, 9, 8, 5], w: [3, 3, 5, 7], o: { stride: 2, padding: 'same' } },
  { name: '1x1 stride 2, 2x9x7x8 → 12', x: [2, 9, 7, 8], w: [1, 1, 8, 12], o: { stride: 2 } },
  { name: '1x1 stride 1 unpadded, 2x5x3x12 → 6', x: [2, 5, 3, 12], w: [1, 1, 12, 6], o: {} },
  { name: 'depthwise 3x3 pad 1, 2x8x9x6', x: [2, 8, 9, 6], w: [3, 3, 1, 6], o: { padding: 1, groups: 6 } },
  { name: 'depthwise 3x3 s2 same, 1x7x6x5', x: [1, 7, 6, 5], w: [3, 3, 1, 5], o: { stride: 2, padding: 'same', groups: 5 } },
  { name: "'same' stride 2 on odd totals, 1x8x10x4 → 8", x: [1, 8, 10, 4], w: [3, 3, 4, 8], o: { stride: 2, padding: 'same' } },
  { name: 'asymmetric padding, dilation [2,1], stride [1,2]', x: [2, 6, 7, 3], w: [2, 3, 3, 5], o: { padding: [0, 2, 1, 0], dilation: [2, 1], stride: [1, 2] } },
  { name: 'several tiles, 2x10x9x40 → 70', x: [2, 10, 9, 40], w: [3, 3, 40, 70], o: { padding: 1 } },
  { name: 'stem-like 7x7 s2 p3, 1x23x21x3 → 16', x: [1, 23, 21, 3], w: [7, 7, 3, 16], o: { stride: 2, padding: 3 } },
  { name: 'one channel, batch 3, 3x3 valid', x: [3, 5, 6, 1], w: [3, 3, 1, 1], o: {} },
  { name: '1x1 stride 3 with padding (phases without taps)', x: [1, 7, 8, 4], w: [1, 1, 4, 3], o: { stride: 3, padding: 1 } },
  { name: 'stride 3 dilation 2, 5x4 kernel', x: [2, 11, 12, 2], w: [5, 4, 2, 3], o: { stride: 3, dilation: 2, padding: [2, 1] } },
  // Groups with > 16 channels each way reach the subgroup kernel (narrower layers run the non-subgroup one).
  { name: 'grouped wide 1x5x6x36, 3x3 groups 2 (18 → 17 per group)', x: [1, 5, 6, 36], w: [3, 3, 18, 34], o: { padding: 1, groups: 2 } },
  // ≥ 64 channels per group on either side take the subgroup kernel's 2-texel-per-lane path.
  { name: 'wide channels 1x5x6x68 → 66, 3x3 s2 pad 1', x: [1, 5, 6, 68], w: [3, 3, 68, 66], o: { stride: 2, padding: 1 } },
  // Multiplier 1 with channels a multiple of 4 takes the depthwise rows kernel: a row of 11 is not a multiple of
  // its 8-pixel runs; stride, dilation and one-sided padding move its input window.
  { name: 'depthwise rows 3x3 pad 1, 3x5x11x8', x: [3, 5, 11, 8], w: [3, 3, 1, 8], o: { padding: 1, groups: 8 } },
  { name: 'depthwise rows 5x5 s2 d2 pad [2,1,0,3], 1x9x10x4', x: [1, 9, 10, 4], w: [5, 5, 1, 4], o: { stride: 2, dilation: 2, padding: [2, 1, 0, 3], groups: 4 } },
];

function isDepthwise(g: Geo): boolean {
  return (g.o.groups ?? 1) > 1 && g.w[2] === 1;
}

function inputs(g: Geo, seed: number) {
  const geo = convGeometry('test', g.x, g.w, g.o);
  return {
    geo,
    x: randomHost(g.x, seed),
    w: randomHost(g.w, seed + 1),
    dy: randomHost([geo.n, geo.ho, geo.wo, geo.cout], seed + 2),
    bias: randomHost([geo.cout], seed + 3),
  };
}

const forwardCases: Case[] = geometries.map((g, i) => ({
  name: `forward: ${g.name}`,
  async run(engine) {
    const { x, w } = inputs(g, 10 * i);
    await eachVariant(engine, isDepthwise(g) ? conv2dDepthwiseKernel : conv2dKernel, async () => {
      await checkOp(engine, ops.conv2dFused, [x, w, undefined, undefined, g.o], TOL);
    });
  },
}));

const backwardCases: Case[] = geometries.map((g, i) => ({
  name: `backward input, weight, bias: ${g.name}`,
  async run(engine) {
    const { x, w, dy } = inputs(g, 10 * i + 100);
    await eachVariant(engine, isDepthwise(g) ? conv2dDepthwiseKernel : conv2dKernel, async () => {
      await checkOp(engine, ops.conv2dBackwardInput, [dy, w, g.x, g.o], TOL);
    });
    await eachVariant(engine, isDepthwise(g) ? conv2dDepthwiseKernel : conv2dBackwardWeightKernel, async () => {
      await checkOp(engine, ops.conv2dBackwardWeight, [x, dy, g.w, g.o], TOL);
    });
    await checkOp(engine, ops.conv2dBackwardBias, [dy], TOL);
  },
}));

async function gpuRead(t: Tensor): Promise<HostTensor> {
  const h = await toHost(t);
  t.dispose();
  return h;
}

/** Finite differences of the CPU forward against the GPU backward ops, for x, w and the bias. */
async function convGradCheck(engine: Engine, g: Geo, seed: number, fused: { relu?: boolean; residual?: boolean } = {}): Promise<void> {
  const { geo, x, w, bias } = inputs(g, seed);
  const residual = fused.residual ? randomHost([geo.n, geo.ho, geo.wo, geo.cout], seed + 5) : undefined;
  const activation = fused.relu ? 'relu' : 'none';
  const hostInputs = residual ? [x, w, bias, residual] : [x, w, bias];
  await gradCheck({
    what: `conv2d ${g.name}${fused.relu ? ' +relu' : ''}${fused.residual ? ' +residual' : ''}`,
    inputs: hostInputs,
    forward: ([xi, wi, bi, ri]) => ops.conv2d.cpu(xi!, wi!, { ...g.o, bias: bi, residual: ri, activation }),
    async backward([xi, wi, bi, ri], dy) {
      // The caller masks dy by the fused ReLU's output (documented contract of the backward ops).
      let dyM = dy;
      if (fused.relu) {
        const y = ops.conv2d.cpu(xi!, wi!, { ...g.o, bias: bi, residual: ri, activation });
        dyM = HostTensor.from(dy.data.map((v, k) => (y.data[k]! > 0 ? v : 0)), dy.shape);
      }
      const dyG = toGpu(engine, dyM);
      const xG = toGpu(engine, xi!);
      const wG = toGpu(engine, wi!);
      try {
        const grads = [
          await gpuRead(ops.conv2dBackwardInput(dyG, wG, g.x, g.o)),
          await gpuRead(ops.conv2dBackwardWeight(xG, dyG, g.w, g.o)),
          await gpuRead(ops.conv2dBackwardBias(dyG)),
        ];
        if (ri) grads.push(dyM);
        return grads;
      } finally {
        [dyG, xG, wG].forEach((t) => t.dispose());
      }
    },
    eps: 1e-3,
    tol: { abs: 2e-3, rel: 2e-2 },
    probes: 16,
    seed,
  });
}

const gradCases: Case[] = [
  ...[0, 1, 2, 3, 5, 7, 8, 12, 13].map((k): Case => ({
    name: `gradCheck: ${geometries[k]!.name}`,
    async run(engine) {
      await convGradCheck(engine, geometries[k]!, 300 + k);
    },
  })),
  {
    name: 'gradCheck: fused bias + relu + residual (dense and depthwise)',
    async run(engine) {
      await convGradCheck(engine, { name: 'dense 2x6x5x7 → 10 pad 1', x: [2, 6, 5, 7], w: [3, 3, 7, 10], o: { padding: 1 } }, 401, { relu: true, residual: true });
      await convGradCheck(engine, geometries[5]!, 402, { relu: true, residual: true });
    },
  },
];

const autogradCases: Case[] = [
  {
    name: 'autograd through conv2d: fused bias + residual + relu, grouped, strided, depthwise',
    async run(engine) {
      const dense = geometries[2]!;
      const { geo, x, w, bias } = inputs(dense, 900);
      const residual = randomHost([geo.n, geo.ho, geo.wo, geo.cout], 901);
      await autogradCheck(
        engine,
        `conv2d ${dense.name} + bias + residual + relu`,
        (xt, wt, bt, rt) => ops.conv2d(xt!, wt!, { ...dense.o, bias: bt, residual: rt, activation: 'relu' }),
        [x, w, bias, residual],
        { eps: 3e-3, tol: { abs: 3e-3, rel: 2e-2 } },
      );
      for (const g of [geometries[1]!, geometries[0]!, geometries[13]!]) {
        const t = inputs(g, 910);
        await autogradCheck(engine, `conv2d ${g.name}`, (xt, wt) => ops.conv2d(xt!, wt!, g.o), [t.x, t.w], { eps: 1e-2 });
      }
    },
  },
];

const fusedCases: Case[] = [
  {
    name: 'fused bias + residual + relu, every variant (dense, grouped, depthwise)',
    async run(engine) {
      const geos: Geo[] = [
        { name: 'dense', x: [2, 6, 5, 7], w: [3, 3, 7, 10], o: { padding: 1 } },
        geometries[1]!,
        geometries[0]!,
        geometries[5]!,
        geometries[16]!,
      ];
      for (const [i, g] of geos.entries()) {
        const { geo, x, w, bias } = inputs(g, 500 + i);
        const residual = randomHost([geo.n, geo.ho, geo.wo, geo.cout], 600 + i);
        await eachVariant(engine, isDepthwise(g) ? conv2dDepthwiseKernel : conv2dKernel, async () => {
          await checkOp(engine, ops.conv2dFused, [x, w, bias, residual, { ...g.o, activation: 'relu' }], TOL);
          await checkOp(engine, ops.conv2dFused, [x, w, bias, undefined, g.o], TOL);
          await checkOp(engine, ops.conv2dFused, [x, w, undefined, residual, g.o], TOL);
          await checkOp(engine, ops.conv2dFused, [x, w, undefined, undefined, { ...g.o, activation: 'relu' }], TOL);
        });
      }
    },
  },
  {
    name: 'conv2d(x, w, {bias, residual, activation}) matches conv2d.cpu',
    async run(engine) {
      const g = geometries[2]!;
      const { geo, x, w, bias } = inputs(g, 700);
      const residual = randomHost([geo.n, geo.ho, geo.wo, geo.cout], 701);
      const [xG, wG, bG, rG] = [x, w, bias, residual].map((t) => toGpu(engine, t)) as [Tensor, Tensor, Tensor, Tensor];
      const y = ops.conv2d(xG, wG, { ...g.o, bias: bG, residual: rG, activation: 'relu' });
      const expected = ops.conv2d.cpu(x, w, { ...g.o, bias, residual, activation: 'relu' });
      expectClose(await y.read(), expected.data, TOL, 'conv2d with options');
      [xG, wG, bG, rG, y].forEach((t) => t.dispose());
    },
  },
  {
    name: "'same' padding follows TensorFlow (extra row/column at the bottom/right)",
    async run() {
      const g = convGeometry('conv2d', [1, 8, 10, 4], [3, 3, 4, 8], { stride: 2, padding: 'same' });
      const got = [g.pt, g.pb, g.pl, g.pr, g.ho, g.wo].join();
      if (got !== '0,1,0,1,4,5') throw new Error(`'same' 8×10 s2 k3: pads/out ${got}, expected 0,1,0,1,4,5`);
      const g2 = convGeometry('conv2d', [1, 7, 7, 1], [4, 4, 1, 1], { padding: 'same' });
      if ([g2.pt, g2.pb, g2.ho].join() !== '1,2,7') throw new Error(`'same' 7 k4: ${[g2.pt, g2.pb, g2.ho]}`);
    },
  },
  {
    name: 'empty batch gives empty outputs and zero weight gradients',
    async run(engine) {
      const o = { padding: 1 };
      await checkOp(engine, ops.conv2dFused, [HostTensor.zeros([0, 5, 5, 3]), randomHost([3, 3, 3, 4], 1), undefined, undefined, o], TOL);
      await checkOp(engine, ops.conv2dBackwardWeight, [HostTensor.zeros([0, 5, 5, 3]), HostTensor.zeros([0, 5, 5, 4]), [3, 3, 3, 4], o], TOL);
      await checkOp(engine, ops.conv2dBackwardBias, [HostTensor.zeros([0, 5, 5, 4])], TOL);
    },
  },
  {
    name: 'torchConvWeightToHWIO: O×I×kH×kW → kH×kW×I×O, and a PyTorch-layout convolution matches',
    async run(engine) {
      await checkOp(engine, ops.torchConvWeightToHWIO, [randomHost([5, 3, 2, 4], 800)], { abs: 0, rel: 0 });
      const [O, I, KH, KW] = [4, 3, 3, 2];
      const torchW = HostTensor.zeros([O, I, KH, KW]);
      torchW.data.forEach((_, k) => (torchW.data[k] = k));
      const hwio = await gpuRead(ops.torchConvWeightToHWIO(toGpu(engine, torchW)));
      for (const [o, i, y, x] of [[0, 0, 0, 0], [3, 2, 2, 1], [1, 2, 0, 1], [2, 0, 1, 0]] as const) {
        const got = hwio.at(y, x, i, o);
        if (got !== torchW.at(o, i, y, x)) throw new Error(`HWIO[${y},${x},${i},${o}] = ${got}, expected ${torchW.at(o, i, y, x)}`);
      }
      // PyTorch's convolution (cross-correlation over NCHW) at one output element, against conv2d on NHWC / HWIO.
      const xh = randomHost([1, 4, 5, I], 801);
      const y = ops.conv2d.cpu(xh, hwio, { padding: 1 });
      let s = 0;
      for (let i = 0; i < I; i++) for (let a = 0; a < KH; a++) for (let b = 0; b < KW; b++) {
        const ih = 2 - 1 + a;
        const iw = 3 - 1 + b;
        if (ih >= 0 && ih < 4 && iw >= 0 && iw < 5) s += xh.at(0, ih, iw, i) * torchW.at(1, i, a, b);
      }
      expectClose([y.at(0, 2, 3, 1)], [s], TOL, 'torch-layout convolution');
    },
  },
];

const errorCases: Case[] = [
  {
    name: 'shape errors name the op and the shapes',
    async run(engine) {
      const made: Tensor[] = [];
      const t = (shape: number[]) => {
        const e = engine.empty(shape);
        made.push(e);
        return e;
      };
      const x = t([1, 5, 5, 3]);
      const w = t([3, 3, 3, 8]);
      expectThrows(() => ops.conv2d(x, t([3, 3, 4, 8])), 'conv2d', 'channel mismatch', '[1, 5, 5, 3]', '[3, 3, 4, 8]');
      expectThrows(() => ops.conv2d(t([1, 2, 2, 3]), t([5, 5, 3, 4])), 'conv2d', 'larger than the padded input', '[1, 2, 2, 3]', '[5, 5, 3, 4]');
      expectThrows(() => ops.conv2d(t([1, 3, 3, 3]), t([3, 3, 3, 4]), { dilation: 2, padding: 0 }), 'conv2d', 'larger than the padded input', 'spanning 5×5', '3×3');
      expectThrows(() => ops.conv2d(x, w, { stride: 0 }), 'conv2d', 'stride', 'positive');
      expectThrows(() => ops.conv2d(x, w, { stride: [1, -2] }), 'conv2d', 'stride', 'positive');
      expectThrows(() => ops.conv2d(x, w, { dilation: 0 }), 'conv2d', 'dilation', 'positive');
      expectThrows(() => ops.conv2d(x, w, { padding: -1 }), 'conv2d', 'padding');
      expectThrows(() => ops.conv2d(x, t([3, 3, 1, 8]), { groups: 2 }), 'conv2d', 'groups 2 does not divide', '[1, 5, 5, 3]');
      expectThrows(() => ops.conv2d(t([1, 5, 5, 4]), t([3, 3, 2, 9]), { groups: 2 }), 'conv2d', 'groups 2 does not divide', '[3, 3, 2, 9]');
      expectThrows(() => ops.conv2d(x, w, { bias: t([7]) }), 'conv2d', 'bias [7]', '[8]');
      expectThrows(() => ops.conv2d(x, w, { residual: t([1, 5, 5, 8]), padding: 0 }), 'conv2d', 'residual [1, 5, 5, 8]', '[1, 3, 3, 8]');
      expectThrows(() => ops.conv2d(t([5, 5, 3]), w), 'conv2d', 'NHWC', '[5, 5, 3]');
      expectThrows(() => ops.conv2d(x, t([3, 3, 3])), 'conv2d', 'HWIO', '[3, 3, 3]');
      expectThrows(() => ops.conv2dBackwardInput(t([1, 4, 4, 8]), w, [1, 5, 5, 3], {}), 'conv2dBackwardInput', '[1, 4, 4, 8]', '[1, 3, 3, 8]');
      expectThrows(() => ops.conv2dBackwardInput(t([1, 3, 3, 8]), w, [1, 5, 5, 4], {}), 'conv2dBackwardInput', 'channel mismatch');
      expectThrows(() => ops.conv2dBackwardWeight(x, t([1, 3, 3, 7]), [3, 3, 3, 8], {}), 'conv2dBackwardWeight', '[1, 3, 3, 7]', '[1, 3, 3, 8]');
      expectThrows(() => ops.conv2dBackwardBias(t([3, 8])), 'conv2dBackwardBias', '[3, 8]');
      expectThrows(() => ops.torchConvWeightToHWIO(t([3, 3, 3])), 'torchConvWeightToHWIO', '[3, 3, 3]');
      // The CPU reference runs the same checks.
      expectThrows(() => ops.conv2d.cpu(HostTensor.zeros([1, 5, 5, 3]), HostTensor.zeros([3, 3, 2, 4])), 'conv2d', 'channel mismatch');
      made.forEach((e) => e.dispose());
    },
  },
];

export const convSuite: Suite = {
  name: 'conv',
  cases: [...forwardCases, ...backwardCases, ...fusedCases, ...gradCases, ...autogradCases, ...errorCases],
};
