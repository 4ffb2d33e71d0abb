/** M2 VGG16 + multi-head spatial attention + temporal softmax pooling: CPU reference, gradients, state, training. */
import { noGrad } from '../../src/graph/autograd.js';
import { HostTensor } from '../../src/graph/host.js';
import { tidy } from '../../src/graph/scope.js';
import { conv2d } from '../../src/kernels/conv.js';
import { matmulCpu } from '../../src/kernels/matmul.js';
import { maxPool2d } from '../../src/kernels/pool.js';
import { TemporalSoftmaxNet, type TemporalSoftmaxOptions } from '../../src/models/m2-temporal-softmax.js';
import { VGG16_CONV_INDICES } from '../../src/models/vgg.js';
import { expectClose } from '../helpers/compare.js';
import { check, checkAllGradients, checkMismatchReport, checkNames, checkParameterGradients, checkSafetensorsRoundTrip, checkTraining, hostState, input } from './model-helpers.js';
import type { Case, Suite } from './types.js';

const SMALL: TemporalSoftmaxOptions = { width: 1 / 16, hidden: 8, heads: 2, classes: 3, seed: 4 };
const LABELS = [2, 0];

const logSumExp = (v: number[]): number => {
  const m = Math.max(...v);
  return m + Math.log(v.reduce((a, b) => a + Math.exp(b - m), 0));
};

/** Independent CPU forward: conv/pool references, then attention, scores and pooling in plain loops. */
function cpuForward(s: Map<string, HostTensor>, x: HostTensor, o: Required<Pick<TemporalSoftmaxOptions, 'heads' | 'classes' | 'spatial' | 'temporal'>>) {
  const [N, T, H, W] = x.shape as [number, number, number, number];
  let h = new HostTensor([N * T, H, W, 3], x.data);
  VGG16_CONV_INDICES.forEach((i, k) => {
    h = conv2d.cpu(h, s.get(`features.${i}.weight`)!, { bias: s.get(`features.${i}.bias`)!, padding: 1, activation: 'relu' });
    if ([1, 3, 6, 9].includes(k)) h = maxPool2d.cpu(h, { kernel: 2 });
  });
  const D = h.shape[3]!;
  const L = h.shape[1]! * h.shape[2]!;
  const heads = o.heads;
  const E = o.classes;
  const vDim = o.spatial === 'attention' ? heads * D : D;
  const v = new Float32Array(N * T * vDim);
  const A = new Float32Array(N * T * heads * L);
  const penalty = new Float64Array(N);
  for (let f = 0; f < N * T; f++) {
    const R = (l: number, d: number): number => h.data[(f * L + l) * D + d]!;
    if (o.spatial === 'mean') {
      for (let d = 0; d < D; d++) for (let l = 0; l < L; l++) v[f * D + d]! += R(l, d) / L;
      continue;
    }
    const ws1 = s.get('attention.ws1.weight')!;
    const ws2 = s.get('attention.ws2.weight')!;
    const U = ws1.shape[0]!;
    const rows = new HostTensor([L, D], h.data.slice(f * L * D, (f + 1) * L * D));
    const t = matmulCpu(rows, ws1, { transB: true, activation: 'tanh' }).data; // [L, U]
    for (let k = 0; k < heads; k++) {
      const e = Array.from({ length: L }, (_, l) => {
        let acc = 0;
        for (let u = 0; u < U; u++) acc += ws2.data[k * U + u]! * t[l * U + u]!;
        return acc;
      });
      const lse = logSumExp(e);
      e.forEach((val, l) => (A[(f * heads + k) * L + l] = Math.exp(val - lse)));
      for (let d = 0; d < D; d++) for (let l = 0; l < L; l++) v[f * vDim + k * D + d]! += A[(f * heads + k) * L + l]! * R(l, d);
    }
    for (let a = 0; a < heads; a++)
      for (let b = 0; b < heads; b++) {
        let g = 0;
        for (let l = 0; l < L; l++) g += A[(f * heads + a) * L + l]! * A[(f * heads + b) * L + l]!;
        penalty[Math.floor(f / T)]! += (g - (a === b ? 1 : 0)) ** 2;
      }
  }
  const O = matmulCpu(new HostTensor([N * T, vDim], v), s.get('classifier.weight')!, { transB: true, bias: s.get('classifier.bias')! }).data;
  const logits = new Float32Array(N * E);
  const frameWeights = new Float32Array(N * T);
  for (let n = 0; n < N; n++) {
    const scores = Array.from(O.subarray(n * T * E, (n + 1) * T * E));
    if (o.temporal === 'softmax') {
      const z = logSumExp(scores);
      for (let c = 0; c < E; c++) logits[n * E + c] = logSumExp(Array.from({ length: T }, (_, f) => scores[f * E + c]!)) - z;
      for (let f = 0; f < T; f++) frameWeights[n * T + f] = Math.exp(logSumExp(scores.slice(f * E, (f + 1) * E)) - z);
    } else {
      const m = Array.from({ length: E }, (_, c) => scores.reduce((acc, val, i) => acc + (i % E === c ? val / T : 0), 0));
      const z = logSumExp(m);
      m.forEach((val, c) => (logits[n * E + c] = val - z));
      frameWeights.fill(1 / T, n * T, (n + 1) * T);
    }
  }
  return { logits, A, O, penalty: Float32Array.from(penalty), frameWeights };
}

const cases: Case[] = [
  {
    name: 'eval forward on the GPU equals an independent CPU forward (softmax pooling + attention; AVG; no attention)',
    async run(engine) {
      const configs = [
        { spatial: 'attention', temporal: 'softmax' },
        { spatial: 'attention', temporal: 'avg' },
        { spatial: 'mean', temporal: 'softmax' },
      ] as const;
      for (const c of configs) {
        const model = new TemporalSoftmaxNet(engine, { ...SMALL, ...c }).eval();
        const { host, gpu } = input(engine, [2, 3, 32, 32, 3], 31);
        const out = noGrad(() => model.forward(gpu));
        const ref = cpuForward(await hostState(model), host, { heads: 2, classes: 3, ...c });
        const tol = { abs: 1e-4, rel: 1e-3 };
        const what = `${c.spatial}/${c.temporal}`;
        expectClose(await out.frame_scores.read(), ref.O, tol, `${what}: frame scores`);
        expectClose(await out.logits.read(), ref.logits, tol, `${what}: logits`);
        expectClose(await out.frame_weights.read(), ref.frameWeights, tol, `${what}: frame weights`);
        expectClose(await out.attention_penalty.read(), ref.penalty, tol, `${what}: attention penalty`);
        if (c.spatial === 'attention') {
          check(out.spatial_attention!.shape.join() === '2,3,2,2,2', `spatial attention ${out.spatial_attention!.shape}`);
          expectClose(await out.spatial_attention!.read(), ref.A, tol, `${what}: spatial attention`);
        } else check(!out.spatial_attention, 'the mean baseline has no spatial attention');
        const j = await out.joint_probs.read();
        check(Math.abs(Array.from(j.slice(0, 9)).reduce((a, b) => a + b, 0) - 1) < 1e-5, 'joint probabilities sum to 1 per clip');
        gpu.dispose();
        Object.values(out).forEach((t) => t?.dispose());
        model.dispose();
      }
    },
  },
  {
    name: 'state dict names: torchvision features.*, attention.ws1/ws2 (no bias), classifier',
    async run(engine) {
      const model = new TemporalSoftmaxNet(engine, SMALL);
      checkNames(model, [...VGG16_CONV_INDICES.flatMap((i) => [`features.${i}.weight`, `features.${i}.bias`]), 'attention.ws1.weight', 'attention.ws2.weight', 'classifier.weight', 'classifier.bias']);
      const shapes = new Map(model.stateEntries().map((e) => [e.name, e.shape.join('x')]));
      check(shapes.get('attention.ws1.weight') === '8x32' && shapes.get('attention.ws2.weight') === '2x8' && shapes.get('classifier.weight') === '3x64', `shapes ${[...shapes].join(' ')}`);
      model.dispose();
    },
  },
  {
    name: 'train-mode backward reaches every parameter; gradient check per layer type',
    async run(engine) {
      const model = new TemporalSoftmaxNet(engine, SMALL);
      const { gpu } = input(engine, [2, 3, 32, 32, 3], 32);
      const lossOf = () => tidy(() => model.loss(model.forward(gpu), LABELS));
      await checkAllGradients(model, lossOf);
      // Small activations at width 1/16 put ReLU kinks close: a 1e-4 step (see m5).
      await checkParameterGradients(engine, model, ['features.0.weight', 'features.28.bias', 'attention.ws1.weight', 'attention.ws2.weight', 'classifier.weight'], lossOf, { probes: 2, eps: 1e-4, tol: { abs: 3e-3, rel: 3e-2 } });
      gpu.dispose();
      model.dispose();
    },
  },
  {
    name: 'safetensors round trip; another configuration is refused naming every mismatch',
    async run(engine) {
      const model = new TemporalSoftmaxNet(engine, SMALL);
      await checkSafetensorsRoundTrip(engine, model, new TemporalSoftmaxNet(engine, { ...SMALL, seed: 8 }));
      checkMismatchReport(model, new TemporalSoftmaxNet(engine, { ...SMALL, spatial: 'mean', heads: 3 }));
      model.dispose();
    },
  },
  {
    name: 'Adam steps lower −log p(y|clip) + λ‖AAᵀ − I‖² with flat live memory',
    async run(engine) {
      const model = new TemporalSoftmaxNet(engine, SMALL);
      const { gpu } = input(engine, [2, 3, 32, 32, 3], 33);
      await checkTraining(engine, model, () => tidy(() => model.loss(model.forward(gpu), LABELS)), { steps: 10, lr: 1e-3 });
      gpu.dispose();
      model.dispose();
    },
  },
];

export const m2Suite: Suite = { name: 'm2 temporal-softmax', cases };
