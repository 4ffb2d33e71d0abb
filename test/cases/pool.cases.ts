import type { Engine } from '../../src/device/engine.js';
import { fmtShape } from '../../src/device/errors.js';
import { HostTensor } from '../../src/graph/host.js';
import type { Tensor } from '../../src/graph/tensor.js';
import * as ops from '../../src/kernels/ops.js';
import { autogradCheck, checkOp, expectClose, gradCheck, randomHost, toGpu, toHost } from '../helpers/compare.js';
import { expectThrows, type Case, type Suite } from './types.js';

const EXACT = { abs: 0, rel: 0 };
const SUMS = { abs: 1e-6, rel: 1e-5 };

// Odd shapes: batch 3, channels not multiples of 4 (scalar path) and multiples (vec4 path), sizes that are
// not multiples of the window, size-1 axes, stride 2 with padding on odd sizes, asymmetric windows, ceil mode.
const WINDOWS: [number[], ops.AvgPool2dOptions][] = [
  [[3, 7, 5, 6], { kernel: 3, stride: 2, padding: 1 }],
  [[2, 8, 9, 8], { kernel: 2 }],
  [[1, 5, 5, 3], { kernel: 5, stride: 1, padding: 2 }],
  [[3, 6, 7, 5], { kernel: [3, 2], stride: [2, 1], padding: [1, 0], ceilMode: true }],
  [[2, 9, 9, 4], { kernel: 3, stride: 2, padding: 1, ceilMode: true }],
  [[2, 10, 8, 4], { kernel: 3, stride: 3, ceilMode: true }],
  [[1, 1, 1, 4], { kernel: 1 }],
  [[2, 3, 11, 1], { kernel: [1, 4], stride: [1, 3], padding: [0, 2] }],
  // Large windows: the forward's general kernel (the tiled one unrolls small windows only); stride 5×5:
  // the backward's block would exceed its cap and falls back to one pixel per invocation.
  [[1, 11, 12, 3], { kernel: 5, stride: 5, padding: 2 }],
  [[2, 9, 8, 8], { kernel: 7, stride: 1, padding: 3 }],
  [[1, 13, 10, 5], { kernel: [6, 4], stride: [2, 3], padding: [3, 1], ceilMode: true }],
  // Per-side padding [top, bottom, left, right] and TF's 'same' (the odd extra row/column at the bottom/right).
  [[2, 7, 6, 5], { kernel: 3, stride: 2, padding: [0, 1, 1, 0] }],
  [[1, 6, 8, 4], { kernel: [2, 3], stride: 2, padding: 'same' }],
  [[3, 5, 5, 3], { kernel: 4, stride: 1, padding: 'same', ceilMode: true }],
  [[2, 5, 7, 1], { kernel: 3, stride: 3, padding: [1, 0, 0, 1], ceilMode: true }],
];

// Enough outputs that each invocation of the general forward kernel walks a run of several outputs along a row.
const LONG_ROWS: [number[], ops.AvgPool2dOptions] = [[4, 60, 61, 12], { kernel: [5, 4], stride: 2, padding: 2 }];

/** Distinct values, shuffled, at least 0.05 apart: no ties and none created by a ±0.01 perturbation. */
function distinct(shape: number[], seed: number): HostTensor {
  const t = HostTensor.zeros(shape);
  const r = randomHost([t.size], seed);
  const order = [...Array(t.size).keys()].sort((a, b) => r.data[a]! - r.data[b]!);
  order.forEach((i, k) => (t.data[i] = (k - t.size / 2) * 0.05));
  return t;
}

async function withGpu<T>(engine: Engine, hosts: HostTensor[], fn: (ts: Tensor[]) => T | Promise<T>): Promise<T> {
  const ts = hosts.map((h) => toGpu(engine, h));
  try {
    return await fn(ts);
  } finally {
    ts.forEach((t) => t.dispose());
  }
}

async function readDispose(t: Tensor): Promise<HostTensor> {
  try {
    return await toHost(t);
  } finally {
    t.dispose();
  }
}

/** Reads a {y, indices} pair and checks it against the value and index ops' CPU references. */
async function checkPair(r: { y: Tensor; indices: Tensor }, y: HostTensor, indices: HostTensor, what: string): Promise<void> {
  const gy = await readDispose(r.y);
  const gi = await readDispose(r.indices);
  if (gi.dtype !== 'i32' || gi.shape.join() !== indices.shape.join()) throw new Error(`${what}: indices ${gi.dtype} [${gi.shape}], expected i32 [${indices.shape}]`);
  expectClose(gy.data, y.data, EXACT, `${what} values`);
  expectClose(gi.data, indices.data, EXACT, `${what} indices`);
}

const cases: Case[] = [
  {
    name: 'max pooling values and indices match the CPU',
    async run(engine) {
      for (const [i, [shape, o]] of WINDOWS.entries()) {
        const x = randomHost(shape, 100 + i, -3, 3);
        await checkOp(engine, ops.maxPool2d, [x, o], EXACT);
        await checkOp(engine, ops.maxPool2dIndices, [x, o], EXACT);
        const r = await withGpu(engine, [x], ([xt]) => ops.maxPool2dWithIndices(xt!, o));
        await checkPair(r, ops.maxPool2d.cpu(x, o), ops.maxPool2dIndices.cpu(x, o), `maxPool2dWithIndices [${shape}] ${JSON.stringify(o)}`);
      }
      const [shape, o] = LONG_ROWS;
      const x = randomHost(shape, 150, -3, 3);
      const r = await withGpu(engine, [x], ([xt]) => ops.maxPool2dWithIndices(xt!, o));
      await checkPair(r, ops.maxPool2d.cpu(x, o), ops.maxPool2dIndices.cpu(x, o), `maxPool2dWithIndices [${shape}] ${JSON.stringify(o)}`);
    },
  },
  {
    name: 'max pooling ties go to the first element; indices are ih·W + iw',
    async run(engine) {
      const x = HostTensor.from(new Array(2 * 5 * 5 * 4).fill(1), [2, 5, 5, 4]);
      const got = await withGpu(engine, [x], ([xt]) => readDispose(ops.maxPool2dIndices(xt!, { kernel: 3, stride: 2, padding: 1 })));
      // Output (oh, ow) starts at (2·oh − 1, 2·ow − 1) clipped to 0.
      const want = [];
      for (let n = 0; n < 2; n++) for (let oh = 0; oh < 3; oh++) for (let ow = 0; ow < 3; ow++) for (let c = 0; c < 4; c++) want.push(Math.max(2 * oh - 1, 0) * 5 + Math.max(2 * ow - 1, 0));
      expectClose(got.data, want, EXACT, 'tied indices');
    },
  },
  {
    name: "per-side padding and TF 'same' give the hand-computed windows (4×4 ramp, 3×3 stride 2: one padded row and column at the bottom/right)",
    async run(engine) {
      const ramp = HostTensor.from([...Array(16).keys()].map((i) => i + 1), [1, 4, 4, 1]);
      const base = { kernel: 3, stride: 2 } as const;
      const want: [ops.AvgPool2dOptions, number[], boolean][] = [
        [{ ...base, padding: 'same' }, [11, 12, 15, 16], true],
        [{ ...base, padding: [0, 1, 0, 1] }, [11, 12, 15, 16], true],
        [{ ...base, padding: 'same', countIncludePad: false }, [6, 7.5, 12, 13.5], false],
        [{ ...base, padding: [0, 1, 0, 1], countIncludePad: true }, [6, 5, 8, 6], false],
        [{ ...base, padding: 'valid' }, [11], true],
      ];
      for (const [o, values, max] of want) {
        const got = await withGpu(engine, [ramp], ([xt]) => readDispose((max ? ops.maxPool2d : ops.avgPool2d)(xt!, o)));
        expectClose(got.data, values, SUMS, `${max ? 'max' : 'avg'}Pool2d ${JSON.stringify(o)}`);
        expectClose((max ? ops.maxPool2d : ops.avgPool2d).cpu(ramp, o).data, values, SUMS, `${max ? 'max' : 'avg'}Pool2d CPU ${JSON.stringify(o)}`);
      }
      // 'same' keeps ⌈size/stride⌉ whatever the window; the extra padding goes after.
      const p = ops.maxPool2d.cpu(HostTensor.zeros([1, 7, 5, 1]), { kernel: [4, 2], stride: [2, 3], padding: 'same' });
      if (p.shape.join() !== '1,4,2,1') throw new Error(`'same' output ${p.shape}, expected [1, 4, 2, 1]`);
    },
  },
  {
    name: 'average pooling with and without countIncludePad matches the CPU',
    async run(engine) {
      for (const [i, [shape, o]] of WINDOWS.entries()) {
        const x = randomHost(shape, 200 + i, -3, 3);
        await checkOp(engine, ops.avgPool2d, [x, o], SUMS);
        await checkOp(engine, ops.avgPool2d, [x, { ...o, countIncludePad: false }], SUMS);
      }
      await checkOp(engine, ops.avgPool2d, [randomHost(LONG_ROWS[0], 250), { ...LONG_ROWS[1], countIncludePad: false }], SUMS);
      // Hand-checked corner: 3×3 window, padding 1, at the top-left of a 2×2 image of ones.
      const ones = HostTensor.from([1, 1, 1, 1], [1, 2, 2, 1]);
      for (const [inc, want] of [[true, 4 / 9], [false, 1]] as const) {
        const got = await withGpu(engine, [ones], ([xt]) => readDispose(ops.avgPool2d(xt!, { kernel: 3, stride: 2, padding: 1, countIncludePad: inc })));
        expectClose(got.data, [want], SUMS, `avgPool2d corner countIncludePad=${inc}`);
      }
    },
  },
  {
    name: 'windowed pooling backward matches the CPU and finite differences',
    async run(engine) {
      for (const [i, [shape, o]] of WINDOWS.entries()) {
        const x = distinct(shape, 300 + i);
        const out = ops.maxPool2d.cpu(x, o);
        const dy = randomHost(out.shape, 310 + i);
        const indices = ops.maxPool2dIndices.cpu(x, o);
        await checkOp(engine, ops.maxPool2dBackward, [dy, indices, shape, o], SUMS);
        for (const countIncludePad of [true, false]) await checkOp(engine, ops.avgPool2dBackward, [dy, shape, { ...o, countIncludePad }], SUMS);
      }
      for (const [shape, o] of [WINDOWS[0]!, WINDOWS[3]!, WINDOWS[4]!, WINDOWS[7]!, WINDOWS[11]!, WINDOWS[13]!, WINDOWS[14]!]) {
        await gradCheck({
          what: `maxPool2d [${shape}] ${JSON.stringify(o)}`,
          inputs: [distinct(shape, 320)],
          forward: ([x]) => withGpu(engine, [x!], ([xt]) => readDispose(ops.maxPool2d(xt!, o))),
          backward: ([x], dy) =>
            withGpu(engine, [x!, dy], async ([xt, d]) => {
              const r = ops.maxPool2dWithIndices(xt!, o);
              r.y.dispose();
              const dx = ops.maxPool2dBackward(d!, r.indices, shape, o);
              r.indices.dispose();
              return [await readDispose(dx)];
            }),
        });
        for (const countIncludePad of [true, false]) {
          const ao = { ...o, countIncludePad };
          await gradCheck({
            what: `avgPool2d [${shape}] ${JSON.stringify(ao)}`,
            inputs: [randomHost(shape, 330)],
            forward: ([x]) => withGpu(engine, [x!], ([xt]) => readDispose(ops.avgPool2d(xt!, ao))),
            backward: (_, dy) => withGpu(engine, [dy], async ([d]) => [await readDispose(ops.avgPool2dBackward(d!, shape, ao))]),
          });
        }
      }
    },
  },
  {
    name: 'global average and max pooling match the CPU (direct and two-pass)',
    async run(engine) {
      // [2, 40, 30, 5] and [3, 33, 35, 8] have enough rows per image for several chunks (a fold pass).
      for (const [i, shape] of [[3, 2, 3, 4], [2, 5, 7, 6], [1, 1, 1, 3], [2, 40, 30, 5], [3, 33, 35, 8]].entries()) {
        const x = randomHost(shape, 400 + i, -2, 2);
        await checkOp(engine, ops.globalAvgPool2d, [x], SUMS);
        await checkOp(engine, ops.globalMaxPool2d, [x], EXACT);
        await checkOp(engine, ops.globalMaxPool2dIndices, [x], EXACT);
        const r = await withGpu(engine, [x], ([xt]) => ops.globalMaxPool2dWithIndices(xt!));
        await checkPair(r, ops.globalMaxPool2d.cpu(x), ops.globalMaxPool2dIndices.cpu(x), `globalMaxPool2dWithIndices [${shape}]`);
      }
      // Ties across chunks: the first maximum wins.
      const flat = HostTensor.from(new Array(2 * 40 * 30 * 4).fill(0.5), [2, 40, 30, 4]);
      await checkOp(engine, ops.globalMaxPool2dIndices, [flat], EXACT);
    },
  },
  {
    name: 'global pools with keepdim give [N, 1, 1, C] (same values), differentiable through autograd',
    async run(engine) {
      for (const [i, shape] of [[3, 5, 7, 6], [1, 1, 1, 3], [2, 40, 30, 4]].entries()) {
        const x = distinct(shape, 760 + i);
        const [N, , , C] = shape as [number, number, number, number];
        for (const [op, tol] of [[ops.globalAvgPool2d, SUMS], [ops.globalMaxPool2d, EXACT], [ops.globalMaxPool2dIndices, EXACT]] as const) {
          await checkOp(engine, op, [x, { keepdim: true }], tol);
          const kept = op.cpu(x, { keepdim: true });
          const flat = op.cpu(x);
          if (kept.shape.join() !== `${N},1,1,${C}` || flat.shape.join() !== `${N},${C}`) throw new Error(`${op.opName} keepdim shape [${kept.shape}], plain [${flat.shape}]`);
          expectClose(kept.data, flat.data, EXACT, `${op.opName} keepdim values`);
        }
        const r = await withGpu(engine, [x], ([xt]) => ops.globalMaxPool2dWithIndices(xt!, { keepdim: true }));
        if (r.y.shape.join() !== `${N},1,1,${C}` || r.indices.shape.join() !== `${N},1,1,${C}`) throw new Error(`globalMaxPool2dWithIndices keepdim [${r.y.shape}] / [${r.indices.shape}]`);
        await checkPair(r, ops.globalMaxPool2d.cpu(x, { keepdim: true }), ops.globalMaxPool2dIndices.cpu(x, { keepdim: true }), 'globalMaxPool2dWithIndices keepdim');
      }
      const x = distinct([2, 4, 3, 5], 770);
      await autogradCheck(engine, 'globalAvgPool2d keepdim', (t) => ops.globalAvgPool2d(t, { keepdim: true }), [x]);
      await autogradCheck(engine, 'globalMaxPool2d keepdim', (t) => ops.globalMaxPool2d(t, { keepdim: true }), [x]);
      expectThrows(() => ops.globalAvgPool2d(engine.empty([2, 3, 3, 4]), 1 as unknown as ops.GlobalPoolOptions), 'globalAvgPool2d', 'options must be { keepdim? }');
    },
  },
  {
    name: 'mean and max over channels match the CPU',
    async run(engine) {
      for (const [i, shape] of [[3, 5, 7, 6], [2, 4, 3, 8], [1, 3, 2, 1], [2, 9, 7, 64]].entries()) {
        const x = randomHost(shape, 500 + i, -2, 2);
        await checkOp(engine, ops.channelMean, [x], SUMS);
        await checkOp(engine, ops.channelMax, [x], EXACT);
        await checkOp(engine, ops.channelMaxIndices, [x], EXACT);
        const r = await withGpu(engine, [x], ([xt]) => ops.channelMaxWithIndices(xt!));
        await checkPair(r, ops.channelMax.cpu(x), ops.channelMaxIndices.cpu(x), `channelMaxWithIndices [${shape}]`);
      }
      // Ties between vec4 lanes and within one: the lowest channel wins.
      const tie = HostTensor.from([1, 3, 3, 0, 3, 3, 0, 0, 5, 0, 0, 0, 5, 0, 0, 5], [1, 1, 2, 8]);
      await checkOp(engine, ops.channelMaxIndices, [tie], EXACT);
      const got = await withGpu(engine, [tie], ([xt]) => readDispose(ops.channelMaxIndices(xt!)));
      expectClose(got.data, [1, 0], EXACT, 'tied channel indices');
    },
  },
  {
    name: 'adaptive average pooling matches the CPU',
    async run(engine) {
      const configs: [number[], ops.Pair][] = [
        [[2, 7, 5, 6], [3, 2]],
        [[1, 4, 4, 8], 4],
        [[3, 5, 7, 4], [7, 9]],
        [[2, 6, 5, 3], 1],
        [[1, 10, 3, 5], [4, 3]],
      ];
      for (const [i, [shape, size]] of configs.entries()) {
        const x = randomHost(shape, 600 + i, -2, 2);
        await checkOp(engine, ops.adaptiveAvgPool2d, [x, size], SUMS);
        const y = ops.adaptiveAvgPool2d.cpu(x, size);
        await checkOp(engine, ops.adaptiveAvgPool2dBackward, [randomHost(y.shape, 610 + i), shape], SUMS);
      }
      // Output size equal to the input: the identity.
      const x = randomHost([1, 4, 4, 8], 620);
      const same = await withGpu(engine, [x], ([xt]) => readDispose(ops.adaptiveAvgPool2d(xt!, 4)));
      expectClose(same.data, x.data, EXACT, 'adaptiveAvgPool2d to the same size');
    },
  },
  {
    name: 'global, channel and adaptive backward match the CPU and finite differences',
    async run(engine) {
      for (const [i, shape] of [[3, 5, 7, 6], [2, 40, 30, 4], [1, 1, 1, 3], [2, 3, 2, 8]].entries()) {
        const x = distinct(shape, 700 + i);
        const [N, H, W, C] = shape as [number, number, number, number];
        const dyG = randomHost([N, C], 710 + i);
        const dyC = randomHost([N, H, W, 1], 720 + i);
        await checkOp(engine, ops.globalAvgPool2dBackward, [dyG, shape], SUMS);
        await checkOp(engine, ops.globalMaxPool2dBackward, [dyG, ops.globalMaxPool2dIndices.cpu(x), shape], EXACT);
        await checkOp(engine, ops.channelMeanBackward, [dyC, shape], SUMS);
        await checkOp(engine, ops.channelMaxBackward, [dyC, ops.channelMaxIndices.cpu(x), shape], EXACT);
      }
      const shape = [3, 5, 7, 6];
      const x = distinct(shape, 730);
      const fwd = (op: (t: Tensor) => Tensor) => ([h]: HostTensor[]) => withGpu(engine, [h!], ([t]) => readDispose(op(t!)));
      await gradCheck({
        what: 'globalAvgPool2d',
        inputs: [x],
        forward: fwd(ops.globalAvgPool2d),
        backward: (_, dy) => withGpu(engine, [dy], async ([d]) => [await readDispose(ops.globalAvgPool2dBackward(d!, shape))]),
      });
      await gradCheck({
        what: 'channelMean',
        inputs: [x],
        forward: fwd(ops.channelMean),
        backward: (_, dy) => withGpu(engine, [dy], async ([d]) => [await readDispose(ops.channelMeanBackward(d!, shape))]),
      });
      for (const [what, withIdx, bwd] of [
        ['globalMaxPool2d', ops.globalMaxPool2dWithIndices, ops.globalMaxPool2dBackward],
        ['channelMax', ops.channelMaxWithIndices, ops.channelMaxBackward],
      ] as const) {
        await gradCheck({
          what,
          inputs: [x],
          forward: fwd((t) => {
            const r = withIdx(t);
            r.indices.dispose();
            return r.y;
          }),
          backward: ([h], dy) =>
            withGpu(engine, [h!, dy], async ([t, d]) => {
              const r = withIdx(t!);
              r.y.dispose();
              const dx = bwd(d!, r.indices, shape);
              r.indices.dispose();
              return [await readDispose(dx)];
            }),
          probes: 40,
        });
      }
      for (const size of [[3, 2], [7, 9]] as const) {
        await gradCheck({
          what: `adaptiveAvgPool2d → ${size}`,
          inputs: [x],
          forward: fwd((t) => ops.adaptiveAvgPool2d(t, size)),
          backward: (_, dy) => withGpu(engine, [dy], async ([d]) => [await readDispose(ops.adaptiveAvgPool2dBackward(d!, shape))]),
        });
      }
    },
  },
  {
    name: 'every pooling op is differentiable through autograd',
    async run(engine) {
      const shape = [2, 5, 7, 6];
      const x = distinct(shape, 800);
      const o = { kernel: 3, stride: 2, padding: 1 };
      const checks: [string, (t: Tensor) => Tensor][] = [
        ['maxPool2d', (t) => ops.maxPool2d(t, o)],
        ['avgPool2d', (t) => ops.avgPool2d(t, { ...o, countIncludePad: false })],
        ['globalAvgPool2d', (t) => ops.globalAvgPool2d(t)],
        ['globalMaxPool2d', (t) => ops.globalMaxPool2d(t)],
        ['channelMean', (t) => ops.channelMean(t)],
        ['channelMax', (t) => ops.channelMax(t)],
        ['adaptiveAvgPool2d', (t) => ops.adaptiveAvgPool2d(t, [3, 4])],
      ];
      for (const [what, fn] of checks) await autogradCheck(engine, `${what} via autograd`, fn, [x], { probes: 30 });
      // The fused multi-output forms refuse inputs that would need a gradient.
      const t = toGpu(engine, x).setRequiresGrad();
      expectThrows(() => ops.maxPool2dWithIndices(t, o), 'maxPool2dWithIndices', 'autograd');
      t.dispose();
    },
  },
  {
    name: 'a batch of 0 gives empty outputs, forward and backward (no GPU error)',
    async run(engine) {
      const x = engine.empty([0, 6, 5, 4]);
      const o = { kernel: 3, stride: 2, padding: 1 };
      const { y, indices } = ops.maxPool2dWithIndices(x, o);
      const dx = ops.maxPool2dBackward(y, indices, x.shape, o);
      const outs = [y, indices, dx, ops.avgPool2d(x, o), ops.globalAvgPool2d(x), ops.globalMaxPool2d(x), ops.channelMean(x), ops.adaptiveAvgPool2d(x, [2, 2])];
      await engine.sync();
      const full = outs.filter((t) => t.size !== 0);
      if (full.length) throw new Error(`expected empty outputs, got ${full.map((t) => fmtShape(t.shape)).join(', ')}`);
      [x, ...outs].forEach((t) => t.dispose());
    },
  },
  {
    name: 'bad input names the op and shapes',
    async run(engine) {
      const x = engine.empty([2, 5, 6, 3]);
      const flat = engine.empty([5, 6]);
      const dy = engine.empty([2, 3, 3, 3]);
      const idx = engine.empty([2, 3, 3, 3], 'i32');
      const dy2 = engine.empty([2, 2, 3, 3]);
      const fidx = engine.empty([2, 2, 3, 3]);
      expectThrows(() => ops.maxPool2d(x, { kernel: 3, stride: 0 }), 'maxPool2d', 'stride', '[2, 5, 6, 3]');
      expectThrows(() => ops.avgPool2d(x, { kernel: 3, stride: -1 }), 'avgPool2d', 'stride');
      expectThrows(() => ops.maxPool2d(x, { kernel: 3, padding: 2 }), 'maxPool2d', 'padding', 'half');
      expectThrows(() => ops.maxPool2d(x, { kernel: 8, padding: 1 }), 'maxPool2d', 'larger than the padded input', '[2, 5, 6, 3]', '7×8');
      expectThrows(() => ops.avgPool2d(x, { kernel: 0 }), 'avgPool2d', 'kernel');
      expectThrows(() => ops.maxPool2d(flat, { kernel: 2 }), 'maxPool2d', 'NHWC', '[5, 6]');
      expectThrows(() => ops.maxPool2dBackward(dy2, fidx, [2, 5, 6, 3], { kernel: 2 }), 'maxPool2dBackward', 'indices', 'i32');
      expectThrows(() => ops.maxPool2dBackward(dy, idx, [2, 5, 6, 3], { kernel: 3 }), 'maxPool2dBackward', 'dy', '[2, 3, 3, 3]', '[2, 1, 2, 3]');
      expectThrows(() => ops.avgPool2dBackward(dy, [2, 5, 6], { kernel: 2 }), 'avgPool2dBackward', 'NHWC');
      expectThrows(() => ops.adaptiveAvgPool2d(x, [0, 2]), 'adaptiveAvgPool2d', 'output size', '[2, 5, 6, 3]');
      expectThrows(() => ops.adaptiveAvgPool2d(x, [2.5, 2]), 'adaptiveAvgPool2d', 'output size');
      expectThrows(() => ops.adaptiveAvgPool2dBackward(dy, [2, 5, 6, 4]), 'adaptiveAvgPool2dBackward', 'channels', '[2, 3, 3, 3]');
      expectThrows(() => ops.globalMaxPool2dBackward(dy, idx, [2, 5, 6, 3]), 'globalMaxPool2dBackward', 'dy', '[2, 3]');
      expectThrows(() => ops.channelMaxBackward(dy, idx, [2, 3, 3, 3]), 'channelMaxBackward', 'dy', '[2, 3, 3, 1]');
      expectThrows(() => ops.globalAvgPool2d(engine.empty([2, 0, 3, 3])), 'globalAvgPool2d', 'empty');
      expectThrows(() => ops.maxPool2d(x, { kernel: 3, padding: [0, 2, 1, 1] }), 'maxPool2d', 'at most half the kernel size on each side', '[0, 2, 1, 1]');
      expectThrows(() => ops.avgPool2d(x, { kernel: 3, padding: [1, 1, 1] as unknown as [number, number] }), 'avgPool2d', "padding must be n, [h, w], [top, bottom, left, right], 'same' or 'valid'");
      expectThrows(() => ops.avgPool2d(x, { kernel: 3, padding: 'full' as 'same' }), 'avgPool2d', 'padding must be');
      // A pair of any other length is refused, not read as its first two entries.
      expectThrows(() => ops.maxPool2d(x, { kernel: [2, 2, 2] as unknown as [number, number] }), 'maxPool2d', 'kernel must be a number or [h, w]', '[2,2,2]');
      expectThrows(() => ops.avgPool2d(x, { kernel: 2, stride: [1] as unknown as [number, number] }), 'avgPool2d', 'stride must be a number or [h, w]');
      expectThrows(() => ops.adaptiveAvgPool2d(x, [2, 2, 3] as unknown as [number, number]), 'adaptiveAvgPool2d', 'output size must be a number or [h, w]');
      [x, flat, dy, dy2, idx, fidx].forEach((t) => t.dispose());
    },
  },
];

export const poolSuite: Suite = { name: 'pool', cases };
