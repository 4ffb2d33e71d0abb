import type { Engine } from '../../src/device/engine.js';
import { HostTensor } from '../../src/graph/host.js';
import type { Tensor } from '../../src/graph/tensor.js';
import * as ops from '../../src/kernels/ops.js';
import { autogradCheck, checkOp, expectClose, gradCheck, randomHost, toGpu, toHost } from '../helpers/compare.js';
import { checkMultiOp } from '../helpers/multi-op.js';
import { tidy } from '../../src/graph/scope.js';
import { BatchNorm2d } from '../../src/models/layers/batchnorm.js';
import { expectThrows, type Case, type Suite } from './types.js';

// f32 sums over up to a few thousand values, against float64 references.
const STATS = { abs: 1e-5, rel: 1e-4 };
const APPLY = { abs: 1e-5, rel: 1e-5 };
const GRAD = { abs: 1e-4, rel: 1e-3 };

// Odd shapes: batch 3, channels not multiples of 4 (scalar path) and multiples (vec4 path), size-1 axes,
// and enough rows to need several chunks (the column plan's minimum chunk is 32 rows).
const SHAPES: number[][] = [
  [3, 5, 7, 6],
  [2, 4, 3, 8],
  [1, 1, 2, 3],
  [3, 1, 1, 4],
  [2, 33, 31, 5],
  [4, 17, 19, 12],
];

async function run<T>(engine: Engine, hosts: HostTensor[], fn: (ts: Tensor[]) => T | Promise<T>): Promise<T> {
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

function params(C: number, seed: number) {
  return {
    gamma: randomHost([C], seed, 0.5, 1.5),
    beta: randomHost([C], seed + 1, -0.5, 0.5),
    mean: randomHost([C], seed + 2, -0.3, 0.3),
    variance: randomHost([C], seed + 3, 0.5, 2),
  };
}

function copy(h: HostTensor): HostTensor {
  return HostTensor.from(h.data, h.shape, h.dtype);
}

/** Plain direct convolution, NHWC × HWIO, stride 1, symmetric zero padding, bias per output channel. */
function convRef(x: HostTensor, w: HostTensor, bias: HostTensor | undefined, pad: number): HostTensor {
  const [N, H, W, Ci] = x.shape as [number, number, number, number];
  const [KH, KW, , Co] = w.shape as [number, number, number, number];
  const OH = H + 2 * pad - KH + 1;
  const OW = W + 2 * pad - KW + 1;
  const y = HostTensor.zeros([N, OH, OW, Co]);
  for (let n = 0; n < N; n++)
    for (let oh = 0; oh < OH; oh++)
      for (let ow = 0; ow < OW; ow++)
        for (let co = 0; co < Co; co++) {
          let s = bias ? bias.data[co]! : 0;
          for (let ky = 0; ky < KH; ky++) {
            const ih = oh - pad + ky;
            if (ih < 0 || ih >= H) continue;
            for (let kx = 0; kx < KW; kx++) {
              const iw = ow - pad + kx;
              if (iw < 0 || iw >= W) continue;
              for (let ci = 0; ci < Ci; ci++) s += x.data[((n * H + ih) * W + iw) * Ci + ci]! * w.data[((ky * KW + kx) * Ci + ci) * Co + co]!;
            }
          }
          y.data[((n * OH + oh) * OW + ow) * Co + co] = s;
        }
  return y;
}

const cases: Case[] = [
  {
    name: 'training statistics and running-stat update match the CPU',
    async run(engine) {
      for (const [i, shape] of SHAPES.entries()) {
        const C = shape[3]!;
        // An offset mean checks the variance does not cancel.
        const x = randomHost(shape, 10 + i, i % 2 ? 40 : -1, i % 2 ? 42 : 1);
        const p = params(C, 20 + i);
        const rmHost = copy(p.mean);
        const rvHost = copy(p.variance);
        const expected = ops.batchNorm2dStats.cpu(x, rmHost, rvHost, { momentum: 0.3, eps: 1e-3 });
        const [got, rm, rv] = await run(engine, [x, p.mean, p.variance], async ([xt, rmt, rvt]) => {
          const saved = ops.batchNorm2dStats(xt!, rmt, rvt, { momentum: 0.3, eps: 1e-3 });
          return [await readDispose(saved), await toHost(rmt!), await toHost(rvt!)];
        });
        const what = `batchNorm2dStats [${shape}]`;
        expectClose(got.data, expected.data, STATS, what);
        expectClose(rm.data, rmHost.data, STATS, `${what} running mean`);
        expectClose(rv.data, rvHost.data, STATS, `${what} running variance`);
        // Without running statistics, and the default eps.
        await checkOp(engine, ops.batchNorm2dStats, [x, undefined, undefined], STATS);
      }
    },
  },
  {
    name: 'running variance uses the unbiased estimate (PyTorch values)',
    async run(engine) {
      // x over N·H·W = 4 values per channel: [1, 2, 3, 4] and [0, 0, 0, 8].
      const x = HostTensor.from([1, 0, 2, 0, 3, 0, 4, 8], [1, 2, 2, 2]);
      const [saved, rm, rv] = await run(engine, [x, HostTensor.from([0, 0], [2]), HostTensor.from([1, 1], [2])], async ([xt, rmt, rvt]) => {
        const s = ops.batchNorm2dStats(xt!, rmt, rvt);
        return [await readDispose(s), await toHost(rmt!), await toHost(rvt!)];
      });
      // mean 2.5 / 2; biased var 1.25 / 12; unbiased 5/3 / 16.
      expectClose(saved.data, [2.5, 2, 1 / Math.sqrt(1.25 + 1e-5), 1 / Math.sqrt(12 + 1e-5)], STATS, 'saved');
      expectClose(rm.data, [0.25, 0.2], STATS, 'running mean');
      expectClose(rv.data, [0.9 + 0.1 * (5 / 3), 0.9 + 1.6], STATS, 'running variance');
    },
  },
  {
    name: 'normalise in training and eval mode matches the CPU',
    async run(engine) {
      for (const [i, shape] of SHAPES.entries()) {
        const C = shape[3]!;
        const x = randomHost(shape, 30 + i, -2, 3);
        const p = params(C, 40 + i);
        const savedTrain = ops.batchNorm2dStats.cpu(x, undefined, undefined);
        await checkOp(engine, ops.batchNorm2dApply, [x, savedTrain, p.gamma, p.beta], APPLY);
        await checkOp(engine, ops.batchNorm2dSavedFromRunning, [p.mean, p.variance, 1e-5], APPLY);
        const savedEval = ops.batchNorm2dSavedFromRunning.cpu(p.mean, p.variance);
        await checkOp(engine, ops.batchNorm2dApply, [x, savedEval, p.gamma, p.beta], APPLY);
        await checkOp(engine, ops.batchNorm2dApply, [x, savedTrain, p.gamma, p.beta, { relu: true }], APPLY);
        // The composite in both modes against the plain definition.
        for (const training of [true, false]) {
          const { y, saved } = await run(engine, [x, p.gamma, p.beta, p.mean, p.variance], ([xt, g, b, rm, rv]) =>
            ops.batchNorm2dForward(xt!, g!, b!, rm!, rv!, { training }),
          );
          const s = training ? savedTrain : savedEval;
          const want = ops.batchNorm2dApply.cpu(x, s, p.gamma, p.beta);
          expectClose((await readDispose(y)).data, want.data, STATS, `batchNorm2d training=${training} [${shape}]`);
          expectClose((await readDispose(saved)).data, s.data, STATS, `batchNorm2d saved training=${training} [${shape}]`);
        }
      }
    },
  },
  {
    name: 'training output has zero mean and unit variance per channel',
    async run(engine) {
      const shape = [3, 9, 11, 7];
      const x = randomHost(shape, 3, 5, 9);
      const C = 7;
      const ones = HostTensor.from(new Array(C).fill(1), [C]);
      const zeros = HostTensor.zeros([C]);
      const { y, saved } = await run(engine, [x, ones, zeros], ([xt, g, b]) => ops.batchNorm2dForward(xt!, g!, b!, undefined, undefined, { training: true, eps: 0 }));
      saved.dispose();
      const h = await readDispose(y);
      const M = h.size / C;
      for (let c = 0; c < C; c++) {
        let s = 0;
        let q = 0;
        for (let r = 0; r < M; r++) s += h.data[r * C + c]!;
        for (let r = 0; r < M; r++) q += (h.data[r * C + c]! - s / M) ** 2;
        expectClose([s / M, q / M], [0, 1], { abs: 1e-4, rel: 1e-4 }, `channel ${c} mean and variance`);
      }
    },
  },
  {
    name: 'backward kernels match the CPU',
    async run(engine) {
      for (const [i, shape] of SHAPES.entries()) {
        const C = shape[3]!;
        const x = randomHost(shape, 50 + i, -2, 3);
        const dy = randomHost(shape, 60 + i);
        const p = params(C, 70 + i);
        for (const training of [true, false]) {
          const saved = training ? ops.batchNorm2dStats.cpu(x, undefined, undefined) : ops.batchNorm2dSavedFromRunning.cpu(p.mean, p.variance);
          await checkOp(engine, ops.batchNorm2dBackwardReduce, [dy, x, saved], { abs: 1e-4, rel: 1e-4 });
          const grads = ops.batchNorm2dBackwardReduce.cpu(dy, x, saved);
          await checkOp(engine, ops.batchNorm2dBackwardInput, [dy, x, saved, p.gamma, grads, training], GRAD);
          const want = ops.batchNorm2dBackward.cpu(dy, x, saved, p.gamma, { training });
          const got = await run(engine, [dy, x, saved, p.gamma], async ([d, xt, s, g]) => {
            const r = ops.batchNorm2dBackward(d!, xt!, s!, g!, { training });
            return [await readDispose(r.dx), await readDispose(r.dgamma), await readDispose(r.dbeta)];
          });
          expectClose(got[0]!.data, want.dx.data, GRAD, `batchNorm2dBackward dx [${shape}]`);
          expectClose(got[1]!.data, want.dgamma.data, { abs: 1e-4, rel: 1e-4 }, `batchNorm2dBackward dgamma [${shape}]`);
          expectClose(got[2]!.data, want.dbeta.data, { abs: 1e-4, rel: 1e-4 }, `batchNorm2dBackward dbeta [${shape}]`);
        }
      }
    },
  },
  {
    name: 'gradient check of batchNorm2d in training and eval mode',
    async run(engine) {
      for (const shape of [[3, 3, 5, 6], [2, 3, 2, 4], [1, 2, 1, 3]]) {
        const C = shape[3]!;
        const p = params(C, 80);
        for (const training of [true, false]) {
          await gradCheck({
            what: `batchNorm2d training=${training} [${shape}]`,
            inputs: [randomHost(shape, 81, -2, 2), p.gamma, p.beta],
            forward: (h) =>
              run(engine, [...h, p.mean, p.variance], async ([x, g, b, rm, rv]) => {
                const r = ops.batchNorm2dForward(x!, g!, b!, rm!, rv!, { training });
                r.saved.dispose();
                return readDispose(r.y);
              }),
            backward: (h, dy) =>
              run(engine, [dy, ...h, p.mean, p.variance], async ([d, x, g, b, rm, rv]) => {
                const r = ops.batchNorm2dForward(x!, g!, b!, rm!, rv!, { training });
                r.y.dispose();
                const gr = ops.batchNorm2dBackward(d!, x!, r.saved, g!, { training });
                r.saved.dispose();
                return [await readDispose(gr.dx), await readDispose(gr.dgamma), await readDispose(gr.dbeta)];
              }),
            probes: 20,
            tol: { abs: 3e-3, rel: 2e-2 },
          });
        }
      }
    },
  },
  {
    name: 'batchNorm2d op matches the CPU and is differentiable through autograd',
    async run(engine) {
      for (const [i, shape] of [[3, 3, 5, 6], [2, 3, 2, 8], [1, 2, 1, 3]].entries()) {
        const C = shape[3]!;
        const p = params(C, 110 + i);
        const x = randomHost(shape, 120 + i, -2, 2);
        for (const training of [true, false]) {
          await checkOp(engine, ops.batchNorm2d, [x, p.gamma, p.beta, copy(p.mean), copy(p.variance), { training }], STATS);
          await checkOp(engine, ops.batchNorm2d, [x, p.gamma, p.beta, copy(p.mean), copy(p.variance), { training, relu: true }], STATS);
          const [rm, rv] = [toGpu(engine, p.mean), toGpu(engine, p.variance)];
          try {
            await autogradCheck(engine, `batchNorm2d training=${training} [${shape}] via autograd`, (xt, g, b) => ops.batchNorm2d(xt, g, b, rm, rv, { training }), [x, p.gamma, p.beta], {
              tol: { abs: 3e-3, rel: 2e-2 },
            });
          } finally {
            rm.dispose();
            rv.dispose();
          }
        }
        await checkOp(engine, ops.batchNorm2d, [x, p.gamma, p.beta, undefined, undefined, { training: true }], STATS);
      }
      // Fused ReLU: autograd's gradients equal the masked explicit backward (no finite differences across the kink).
      const shape = [2, 4, 3, 5];
      const p = params(5, 130);
      const x = randomHost(shape, 131, -2, 2);
      const dy = randomHost(shape, 132);
      const saved = ops.batchNorm2dStats.cpu(x, undefined, undefined);
      const y = ops.batchNorm2dApply.cpu(x, saved, p.gamma, p.beta, { relu: true });
      const masked = HostTensor.from(dy.data.map((d, i) => (y.data[i]! > 0 ? d : 0)), shape);
      const want = ops.batchNorm2dBackward.cpu(masked, x, saved, p.gamma, { training: true });
      const got = await run(engine, [x, p.gamma, p.beta, dy], async ([xt, g, b, d]) => {
        [xt, g, b].forEach((t) => t!.setRequiresGrad());
        const out = ops.batchNorm2d(xt!, g!, b!, undefined, undefined, { training: true, relu: true });
        out.backward(d!);
        out.dispose();
        const r = [await toHost(xt!.grad!), await toHost(g!.grad!), await toHost(b!.grad!)];
        [xt, g, b].forEach((t) => t!.grad!.dispose());
        return r;
      });
      expectClose(got[0]!.data, want.dx.data, GRAD, 'autograd dx with fused ReLU');
      expectClose(got[1]!.data, want.dgamma.data, { abs: 1e-4, rel: 1e-4 }, 'autograd dgamma with fused ReLU');
      expectClose(got[2]!.data, want.dbeta.data, { abs: 1e-4, rel: 1e-4 }, 'autograd dbeta with fused ReLU');
    },
  },
  {
    name: 'affine: false (no gamma, beta) equals gamma = 1, beta = 0, forward and gradients; the module has no weight or bias',
    async run(engine) {
      for (const [i, shape] of [[3, 3, 5, 6], [2, 3, 2, 8], [1, 2, 1, 3]].entries()) {
        const C = shape[3]!;
        const p = params(C, 140 + i);
        const x = randomHost(shape, 150 + i, -2, 2);
        const ones = HostTensor.from(new Array(C).fill(1), [C]);
        const zeros = HostTensor.zeros([C]);
        for (const training of [true, false]) {
          for (const relu of [false, true]) {
            const o = { training, relu };
            await checkOp(engine, ops.batchNorm2d, [x, undefined, undefined, copy(p.mean), copy(p.variance), o], STATS);
            const plain = ops.batchNorm2d.cpu(x, undefined, undefined, copy(p.mean), copy(p.variance), o);
            const unit = ops.batchNorm2d.cpu(x, ones, zeros, copy(p.mean), copy(p.variance), o);
            expectClose(plain.data, unit.data, { abs: 0, rel: 0 }, `affine=false vs unit affine training=${training} relu=${relu}`);
          }
          const [rm, rv] = [toGpu(engine, p.mean), toGpu(engine, p.variance)];
          try {
            await autogradCheck(engine, `batchNorm2d affine=false training=${training} [${shape}]`, (xt) => ops.batchNorm2d(xt, undefined, undefined, training ? undefined : rm, training ? undefined : rv, { training }), [x], {
              tol: { abs: 3e-3, rel: 2e-2 },
            });
            // Only gamma given (beta absent): gradients line up with the tensors given.
            await autogradCheck(engine, `batchNorm2d gamma only training=${training}`, (xt, g) => ops.batchNorm2d(xt, g, undefined, rm, rv, { training }), [x, p.gamma], { tol: { abs: 3e-3, rel: 2e-2 } });
          } finally {
            rm.dispose();
            rv.dispose();
          }
        }
      }
      const bn = new BatchNorm2d(engine, 5, { affine: false });
      const names = bn.stateEntries().map((e) => e.name).join();
      if (names !== 'running_mean,running_var' || bn.parameters().length !== 0 || bn.weight || bn.bias) throw new Error(`affine=false module state: ${names}, ${bn.parameters().length} parameters`);
      const y = bn.forward(toGpu(engine, randomHost([2, 3, 3, 5], 160)));
      expectClose(await y.read(), ops.batchNorm2d.cpu(randomHost([2, 3, 3, 5], 160), undefined, undefined, undefined, undefined, { training: true }).data, STATS, 'affine=false module forward');
      y.dispose();
      bn.dispose();
    },
  },
  {
    name: 'batchNorm2dWithStats returns the batch mean and biased variance (GPU vs CPU, hand values, running update)',
    async run(engine) {
      for (const [i, shape] of SHAPES.entries()) {
        const C = shape[3]!;
        const p = params(C, 170 + i);
        const x = randomHost(shape, 180 + i, i % 2 ? 40 : -1, i % 2 ? 42 : 1);
        for (const training of [true, false]) {
          for (const affine of [true, false]) {
            const [g, b] = affine ? [p.gamma, p.beta] : [undefined, undefined];
            await checkMultiOp(engine, ops.batchNorm2dWithStats, [x, g, b, copy(p.mean), copy(p.variance), { training, relu: i % 2 === 1 }], STATS);
          }
        }
      }
      // Per channel [1, 2, 3, 4] and [0, 0, 0, 8]: mean 2.5 / 2, biased variance 1.25 / 12; the running update is the op's.
      const x = HostTensor.from([1, 0, 2, 0, 3, 0, 4, 8], [1, 2, 2, 2]);
      const got = await run(engine, [x, HostTensor.from([0, 0], [2]), HostTensor.from([1, 1], [2])], async ([xt, rm, rv]) => {
        const r = ops.batchNorm2dWithStats(xt!, undefined, undefined, rm, rv, { training: true });
        r.y.dispose();
        return [await readDispose(r.mean), await readDispose(r.variance), await toHost(rm!), await toHost(rv!)];
      });
      expectClose(got[0]!.data, [2.5, 2], STATS, 'batch mean');
      expectClose(got[1]!.data, [1.25, 12], STATS, 'batch variance');
      expectClose(got[2]!.data, [0.25, 0.2], STATS, 'running mean');
      expectClose(got[3]!.data, [0.9 + 0.1 * (5 / 3), 0.9 + 1.6], STATS, 'running variance');
    },
  },
  {
    name: 'batchNorm2dWithStats: gradients of output, batch mean and variance together and alone match finite differences',
    async run(engine) {
      for (const shape of [[3, 3, 5, 6], [2, 3, 2, 4]]) {
        const C = shape[3]!;
        const p = params(C, 190);
        const x = randomHost(shape, 191, -2, 2);
        const tol = { tol: { abs: 3e-3, rel: 2e-2 } };
        const flat = (r: { y: Tensor; mean: Tensor; variance: Tensor }, which: ('y' | 'mean' | 'variance')[]) => ops.concat(which.map((k) => r[k].reshape([-1])), 0);
        await autogradCheck(engine, `batchNorm2dWithStats training [${shape}] → y, mean, variance`, (xt, g, b) => flat(ops.batchNorm2dWithStats(xt, g, b, undefined, undefined, { training: true }), ['y', 'mean', 'variance']), [x, p.gamma, p.beta], tol);
        // The statistics alone: gamma and beta do not reach them, so only x is checked.
        for (const which of [['mean'], ['variance'], ['mean', 'variance']] as ('mean' | 'variance')[][]) {
          await autogradCheck(engine, `batchNorm2dWithStats training [${shape}] → ${which}`, (xt) => flat(ops.batchNorm2dWithStats(xt, undefined, undefined, undefined, undefined, { training: true }), which), [x], tol);
        }
        await autogradCheck(engine, `batchNorm2dWithStats affine=false relu [${shape}]`, (xt) => flat(ops.batchNorm2dWithStats(xt, undefined, undefined, undefined, undefined, { training: true, relu: true }), ['y', 'variance']), [x], tol);
        const [rm, rv] = [toGpu(engine, p.mean), toGpu(engine, p.variance)];
        try {
          // Eval mode: the statistics are the running ones, constants with respect to x.
          await autogradCheck(engine, `batchNorm2dWithStats eval [${shape}]`, (xt, g) => flat(ops.batchNorm2dWithStats(xt, g, undefined, rm, rv, { training: false }), ['y']), [x, p.gamma], tol);
        } finally {
          rm.dispose();
          rv.dispose();
        }
      }
      // The module's forwardWithStats is the op's, and a step's graph frees everything it saved.
      await engine.sync();
      const bn = new BatchNorm2d(engine, 4);
      const xt = toGpu(engine, randomHost([2, 3, 3, 4], 195)).setRequiresGrad();
      const base = engine.memory().liveBytes;
      const r = bn.forwardWithStats(xt);
      const loss = tidy(() => ops.add(ops.sum(r.y), ops.add(ops.sum(r.mean), ops.sum(r.variance))));
      [r.y, r.mean, r.variance].forEach((t) => t.dispose());
      loss.backward();
      loss.dispose();
      if (!xt.grad || !bn.weight!.grad) throw new Error('forwardWithStats: gradients missing');
      for (const t of [xt, bn.weight!, bn.bias!]) {
        t.grad?.dispose();
        t.grad = null;
      }
      if (engine.memory().liveBytes !== base) throw new Error(`forwardWithStats backward left ${engine.memory().liveBytes - base} bytes live`);
      xt.dispose();
      bn.dispose();
    },
  },
  {
    name: 'conv then eval batch norm equals the folded conv',
    async run(engine) {
      const x = randomHost([2, 6, 5, 3], 90);
      for (const [Co, withBias] of [[5, true], [8, false]] as const) {
        const w = randomHost([3, 3, 3, Co], 91);
        const bias = withBias ? randomHost([Co], 92) : undefined;
        const p = params(Co, 93);
        const folded = await run(engine, [w, ...(bias ? [bias] : []), p.gamma, p.beta, p.mean, p.variance], async (ts) => {
          const [wt, ...rest] = ts;
          const b = withBias ? rest.shift() : undefined;
          const [g, be, m, v] = rest;
          const r = ops.foldBatchNormIntoConv(wt!, b, g!, be!, m!, v!, 1e-3);
          return { weight: await readDispose(r.weight), bias: await readDispose(r.bias) };
        });
        const cpuFold = ops.foldBatchNormIntoConvCpu(w, bias, p.gamma, p.beta, p.mean, p.variance, 1e-3);
        expectClose(folded.weight.data, cpuFold.weight.data, APPLY, 'folded weight');
        expectClose(folded.bias.data, cpuFold.bias.data, APPLY, 'folded bias');
        const saved = ops.batchNorm2dSavedFromRunning.cpu(p.mean, p.variance, 1e-3);
        const want = ops.batchNorm2dApply.cpu(convRef(x, w, bias, 1), saved, p.gamma, p.beta);
        const got = convRef(x, folded.weight, folded.bias, 1);
        expectClose(got.data, want.data, { abs: 1e-5, rel: 1e-4 }, `conv∘BN vs folded conv, C_out ${Co}`);
      }
    },
  },
  {
    name: 'on the GPU, conv2d then eval batch norm equals conv2d with folded weights (dense and depthwise)',
    async run(engine) {
      const x = randomHost([2, 7, 6, 4], 94);
      for (const [w, groups] of [[randomHost([3, 3, 4, 6], 95), 1], [randomHost([3, 3, 1, 4], 96), 4]] as const) {
        const Co = w.shape[3]!;
        const bias = randomHost([Co], 97);
        const p = params(Co, 98);
        const [want, got] = await run(engine, [x, w, bias, p.gamma, p.beta, p.mean, p.variance], async ([xt, wt, bt, g, b, m, v]) => {
          const conv = ops.conv2d(xt!, wt!, { bias: bt!, padding: 1, groups });
          const bn = ops.batchNorm2dForward(conv, g!, b!, m!, v!, { training: false });
          conv.dispose();
          bn.saved.dispose();
          const f = ops.foldBatchNormIntoConv(wt!, bt!, g!, b!, m!, v!);
          const y = ops.conv2d(xt!, f.weight, { bias: f.bias, padding: 1, groups });
          f.weight.dispose();
          f.bias.dispose();
          return [await readDispose(bn.y), await readDispose(y)];
        });
        expectClose(got.data, want.data, { abs: 1e-4, rel: 1e-4 }, `folded conv2d, groups ${groups}`);
      }
    },
  },
  {
    name: 'bad input names the op and shapes',
    async run(engine) {
      const x = engine.empty([2, 3, 3, 5]);
      const v5 = engine.empty([5]);
      const v4 = engine.empty([4]);
      const saved = engine.empty([2, 5]);
      const one = engine.empty([1, 1, 1, 5]);
      const flat = engine.empty([6, 5]);
      const w = engine.empty([3, 3, 2, 5]);
      expectThrows(() => ops.batchNorm2d(x, v4, v5, undefined, undefined, { training: true }), 'batchNorm2d', 'gamma', '[4]', '[5]', '[2, 3, 3, 5]');
      expectThrows(() => ops.batchNorm2d(x, v5, v5, v4, v4, { training: true }), 'batchNorm2d', 'running mean', '[4]');
      expectThrows(() => ops.batchNorm2dForward(one, v5, v5, undefined, undefined, { training: true }), 'batchNorm2dForward', 'more than one value');
      expectThrows(() => ops.batchNorm2dStats(x, v4, v4), 'batchNorm2dStats', 'running mean', '[4]');
      expectThrows(() => ops.batchNorm2dStats(x, v5, undefined), 'batchNorm2dStats', 'both');
      expectThrows(() => ops.batchNorm2dStats(one, undefined, undefined), 'batchNorm2dStats', 'more than one value', '[1, 1, 1, 5]');
      expectThrows(() => ops.batchNorm2dStats(flat, undefined, undefined), 'batchNorm2dStats', 'NHWC', '[6, 5]');
      expectThrows(() => ops.batchNorm2dStats(x, undefined, undefined, { momentum: 2 }), 'batchNorm2dStats', 'momentum');
      expectThrows(() => ops.batchNorm2d(x, v5, v5, undefined, undefined, { training: false }), 'batchNorm2d', 'running statistics');
      expectThrows(() => ops.batchNorm2dApply(x, v5, v5, v5), 'batchNorm2dApply', 'saved', '[2, 5]', '[5]');
      expectThrows(() => ops.batchNorm2dBackwardReduce(one, x, saved), 'batchNorm2dBackwardReduce', 'dy', '[1, 1, 1, 5]', '[2, 3, 3, 5]');
      expectThrows(() => ops.batchNorm2dBackwardInput(x, x, saved, v5, v4, true), 'batchNorm2dBackwardInput', 'grads', '[4]');
      expectThrows(() => ops.foldBatchNormIntoConv(w, v4, v5, v5, v5, v5), 'foldBatchNormIntoConv', 'conv bias', '[4]', '[5]');
      expectThrows(() => ops.foldBatchNormIntoConv(v5, undefined, v5, v5, v5, v5), 'foldBatchNormIntoConv', 'HWIO');
      [x, v5, v4, saved, one, flat, w].forEach((t) => t.dispose());
    },
  },
];

export const batchnormSuite: Suite = { name: 'batchnorm', cases };
