/** M4 Deep-Emotion: the warp, GPU vs an independent CPU forward, gradients, state dicts, training, memory, saliency. */
import { noGrad } from '../../src/graph/autograd.js';
import { HostTensor } from '../../src/graph/host.js';
import { tidy } from '../../src/graph/scope.js';
import type { Tensor } from '../../src/graph/tensor.js';
import { batchNorm2d } from '../../src/kernels/batchnorm.js';
import { conv2d } from '../../src/kernels/conv.js';
import { relu } from '../../src/kernels/elementwise.js';
import { permute } from '../../src/kernels/layout.js';
import { matmulCpu } from '../../src/kernels/matmul.js';
import { maxPool2d } from '../../src/kernels/pool.js';
import { DeepEmotion, occlusionSaliency, type DeepEmotionOptions } from '../../src/models/m4-deep-emotion.js';
import { affineWarp, affineWarpComposed, affineWarpCpu } from '../../src/models/spatial-warp.js';
import { autogradCheck, expectClose, randomHost } from '../helpers/compare.js';
import { check, checkAllGradients, checkMismatchReport, checkNames, checkParameterGradients, checkSafetensorsRoundTrip, checkTraining, hostState, input } from './model-helpers.js';
import type { Case, Suite } from './types.js';

const SMALL: DeepEmotionOptions = { inputSize: [30, 30], width: 0.5, hidden: 12, locHidden: 8, classes: 5, seed: 3 };
const LABELS = [0, 3, 4, 1];

/** Independent CPU forward (eval mode) from the ops' CPU references and a direct bilinear warp. */
function cpuForward(s: Map<string, HostTensor>, x: HostTensor, paper: boolean, bn: boolean): { logits: HostTensor; theta: HostTensor; warped: HostTensor } {
  const N = x.shape[0]!;
  const conv = (h: HostTensor, n: string, act: 'relu' | 'none' = 'none'): HostTensor => conv2d.cpu(h, s.get(`${n}.weight`)!, { bias: s.get(`${n}.bias`)!, activation: act });
  const pool = (h: HostTensor): HostTensor => maxPool2d.cpu(h, { kernel: 2 });
  const linear = (h: HostTensor, n: string, act: 'relu' | 'none' = 'none'): HostTensor => matmulCpu(h, s.get(`${n}.weight`)!, { transB: true, bias: s.get(`${n}.bias`)!, activation: act });
  const flat = (h: HostTensor): HostTensor => {
    const t = permute.cpu(h, [0, 3, 1, 2]);
    return new HostTensor([N, t.size / N], t.data);
  };
  let l = relu.cpu(pool(conv(x, 'localization.0')));
  l = relu.cpu(pool(conv(l, 'localization.3')));
  const t6 = linear(linear(flat(l), 'fc_loc.0', 'relu'), 'fc_loc.2');
  const theta = new HostTensor([N, 2, 3], t6.data);
  const warped = affineWarpCpu(x, theta);
  let h = conv(conv(warped, 'conv1', paper ? 'none' : 'relu'), 'conv2');
  h = relu.cpu(pool(h));
  h = conv(conv(h, 'conv3', paper ? 'none' : 'relu'), 'conv4');
  if (bn) h = batchNorm2d.cpu(h, s.get('norm.weight')!, s.get('norm.bias')!, s.get('norm.running_mean')!, s.get('norm.running_var')!, { training: false });
  h = relu.cpu(pool(h));
  const logits = linear(linear(flat(h), 'fc1', 'relu'), 'fc2');
  return { logits, theta, warped };
}

/** Moves θ off the identity (where the sample points sit on pixel centres, the warp's kinks). */
function perturbTheta(model: DeepEmotion, seed: number): void {
  const w = model.fcLoc.modules()[1]![1].namedParameters();
  const weight = w[0]![1];
  const bias = w[1]![1];
  model.engine.write(weight, randomHost(weight.shape, seed, -0.05, 0.05).data);
  model.engine.write(bias, [0.9, 0.12, 0.05, -0.1, 1.05, -0.07]);
}

/** Train once on a batch so the running statistics are not the initial 0/1. */
function warmStats(model: DeepEmotion, x: Tensor): void {
  model.train();
  noGrad(() => tidy(() => model.forward(x)));
}

const cases: Case[] = [
  {
    name: 'affine warp matches grid_sample (bilinear, zeros, both align_corners) and is differentiable',
    async run(engine) {
      const x = randomHost([2, 7, 9, 3], 1);
      const theta = HostTensor.from([0.8, 0.3, 0.1, -0.25, 1.1, -0.2, 1.3, -0.1, 0.4, 0.2, 0.7, 0.3], [2, 2, 3]);
      for (const alignCorners of [false, true]) {
        for (const size of [undefined, [5, 6] as [number, number]]) {
          const opts = { alignCorners, ...(size ? { size } : {}) };
          const xt = engine.tensor(x.data, x.shape);
          const tt = engine.tensor(theta.data, theta.shape);
          const y = noGrad(() => affineWarp(xt, tt, opts));
          const z = noGrad(() => affineWarpComposed(xt, tt, opts));
          const ref = affineWarpCpu(x, theta, opts).data;
          expectClose(await y.read(), ref, { abs: 1e-5, rel: 1e-4 }, `warp (kernels) align=${alignCorners} size=${size}`);
          expectClose(await z.read(), ref, { abs: 1e-5, rel: 1e-4 }, `warp (composed ops) align=${alignCorners} size=${size}`);
          [xt, tt, y, z].forEach((t) => t.dispose());
        }
      }
      // Identity θ reproduces the image (align_corners false: sample points on pixel centres).
      const id = HostTensor.from([1, 0, 0, 0, 1, 0, 1, 0, 0, 0, 1, 0], [2, 2, 3]);
      expectClose(affineWarpCpu(x, id).data, x.data, { abs: 1e-5, rel: 0 }, 'identity warp (CPU)');
      await autogradCheck(engine, 'affine warp (kernels)', (a, b) => affineWarp(a, b), [randomHost([2, 6, 5, 2], 2), theta], { eps: 1e-3, tol: { abs: 3e-3, rel: 3e-2 } });
      await autogradCheck(engine, 'affine warp (composed ops)', (a, b) => affineWarpComposed(a, b), [randomHost([2, 6, 5, 2], 2), theta], { eps: 1e-3, tol: { abs: 3e-3, rel: 3e-2 } });
    },
  },
  {
    name: 'eval forward on the GPU equals an independent CPU forward (code order + BN, paper order)',
    async run(engine) {
      for (const order of ['code', 'paper'] as const) {
        const model = new DeepEmotion(engine, { ...SMALL, order });
        perturbTheta(model, 5);
        const { host, gpu } = input(engine, [3, 30, 30, 1], 11);
        if (order === 'code') warmStats(model, gpu);
        model.eval();
        const out = noGrad(() => model.forward(gpu));
        check(out.theta.shape.join() === '3,2,3' && out.warped.shape.join() === '3,30,30,1' && out.logits.shape.join() === '3,5', 'output shapes');
        const ref = cpuForward(await hostState(model), host, order === 'paper', order === 'code');
        expectClose(await out.theta.read(), ref.theta.data, { abs: 1e-5, rel: 1e-4 }, `${order}: theta`);
        expectClose(await out.warped.read(), ref.warped.data, { abs: 1e-5, rel: 1e-4 }, `${order}: warped`);
        expectClose(await out.logits.read(), ref.logits.data, { abs: 1e-4, rel: 1e-3 }, `${order}: logits`);
        [gpu, out.logits, out.theta, out.warped].forEach((t) => t.dispose());
        model.dispose();
      }
    },
  },
  {
    name: 'state dict names are PyTorch Deep-Emotion names; full size 48×48 flattens 640 and 810',
    async run(engine) {
      const model = new DeepEmotion(engine);
      checkNames(model, [
        ...['localization.0', 'localization.3', 'fc_loc.0', 'fc_loc.2', 'conv1', 'conv2', 'conv3', 'conv4', 'fc1', 'fc2'].flatMap((n) => [`${n}.weight`, `${n}.bias`]),
        'norm.weight', 'norm.bias', 'norm.running_mean', 'norm.running_var',
      ]);
      const shapes = new Map(model.stateEntries().map((e) => [e.name, e.shape.join('x')]));
      check(shapes.get('fc_loc.0.weight') === '32x640' && shapes.get('fc1.weight') === '50x810' && shapes.get('localization.0.weight') === '8x1x7x7', `shapes ${[...shapes].join(' ')}`);
      const fl2 = await model.fcLoc.modules()[1]![1].namedParameters()[1]![1].read();
      check(Array.from(fl2).join() === '1,0,0,0,1,0', 'fc_loc.2 bias is not the identity transform');
      const paper = new DeepEmotion(engine, { order: 'paper' });
      check(!paper.stateEntries().some((e) => e.name.startsWith('norm.')), 'the paper order has no BatchNorm');
      [model, paper].forEach((m) => m.dispose());
    },
  },
  {
    name: 'train-mode backward reaches every parameter; gradient check per layer type (dropout off)',
    async run(engine) {
      const model = new DeepEmotion(engine, { ...SMALL, dropout: 0 });
      perturbTheta(model, 6);
      // A smooth image: bilinear sampling has a kink at every pixel line, whose size is the image's second
      // difference; finite differences across kinks of a noise image would be off by several per cent.
      const smooth = new Float32Array(4 * 900).map((_, i) => Math.sin(0.31 * Math.floor((i % 900) / 30) + i / 900) * Math.cos(0.23 * (i % 30)));
      const gpu = engine.tensor(smooth, [4, 30, 30, 1]);
      const lossOf = () => tidy(() => model.loss(model.forward(gpu), LABELS));
      await checkAllGradients(model, lossOf);
      model.train();
      await checkParameterGradients(engine, model, ['localization.0.weight', 'fc_loc.2.bias', 'conv2.weight', 'norm.weight', 'fc1.weight', 'fc2.bias'], lossOf, { probes: 2, eps: 5e-4, tol: { abs: 3e-3, rel: 3e-2 } });
      gpu.dispose();
      model.dispose();
    },
  },
  {
    name: 'safetensors round trip; another configuration is refused naming every mismatch',
    async run(engine) {
      const model = new DeepEmotion(engine, SMALL);
      await checkSafetensorsRoundTrip(engine, model, new DeepEmotion(engine, { ...SMALL, seed: 9 }));
      checkMismatchReport(model, new DeepEmotion(engine, { ...SMALL, order: 'paper', hidden: 10 }));
      model.dispose();
    },
  },
  {
    name: 'Adam steps lower the loss (CE + λ‖W‖²) with flat live memory',
    async run(engine) {
      const model = new DeepEmotion(engine, { ...SMALL, dropout: 0 });
      const { gpu } = input(engine, [4, 30, 30, 1], 13);
      const lossOf = () => tidy(() => model.loss(model.forward(gpu), LABELS));
      const before = engine.memory().liveBytes;
      await checkTraining(engine, model, lossOf, { steps: 10, lr: 3e-3 });
      gpu.dispose();
      model.dispose();
      await engine.sync();
      check(engine.memory().liveBytes <= before - 4 * 30 * 30 * 4, `memory left behind: ${before} → ${engine.memory().liveBytes}`);
    },
  },
  {
    name: 'occlusion saliency: map size, zero change where a patch leaves the image unchanged',
    async run(engine) {
      const model = new DeepEmotion(engine, { ...SMALL, seed: 4 });
      // A blank image with one bright square: occluding elsewhere changes nothing, so those entries are 0.
      const data = new Float32Array(2 * 30 * 30);
      for (let y = 4; y < 10; y++) for (let x = 4; x < 10; x++) data[y * 30 + x] = 1;
      data.fill(0.5, 900);
      const x = engine.tensor(data, [2, 30, 30, 1]);
      const s = await occlusionSaliency(model, x, { patch: 8, stride: 4, batch: 16 });
      check(s.map.shape.join() === '2,6,6', `map shape ${s.map.shape}`);
      check(s.map.at(0, 5, 5) === 0 && s.map.at(0, 3, 4) === 0, 'occluding a blank region changed the probability');
      check(s.map.data.slice(0, 36).some((v) => v !== 0), 'occluding the square changed nothing');
      check(s.target.length === 2 && s.probability.every((p) => p > 0 && p < 1), 'targets and probabilities');
      check(model.training, 'the model mode was not restored');
      x.dispose();
      model.dispose();
    },
  },
];

export const m4Suite: Suite = { name: 'm4 deep-emotion', cases };
