/** M1 (ResNet18 + spatial/channel/frame attention): small clips (width 1/8, 32×32 frames, T = 2). */
import type { Engine } from '../../src/device/engine.js';
import { noGrad } from '../../src/graph/autograd.js';
import { tidy } from '../../src/graph/scope.js';
import type { Tensor } from '../../src/graph/tensor.js';
import { M1_ABLATIONS, M1MultiAttentionResNet, type M1Options } from '../../src/models/m1-multi-attention.js';
import { cpuBackend, loadResNetBackbone } from '../../src/models/resnet.js';
import { expectClose, randomHost } from '../helpers/compare.js';
import { check, checkAllGradients, checkMismatchNamed, checkNames, checkParamGradients, compareOutputs, disposeAll, roundTrip, trainSteps } from './resnet-checks.js';
import type { Case, Suite } from './types.js';

const SMALL: M1Options = { width: 1 / 8, classes: 4, frameFeatures: 12, frameHidden: 5, spatialHidden: 4 };
const LABELS = [2, 0];

function model(engine: Engine, o: M1Options = {}): M1MultiAttentionResNet {
  return new M1MultiAttentionResNet(engine, { ...SMALL, ...o });
}

function clip(engine: Engine, n = 2, t = 2, side = 32, seed = 21) {
  const host = randomHost([n, t, side, side, 3], seed);
  return { host, gpu: engine.tensor(host.data, host.shape) };
}

function warmStatistics(m: M1MultiAttentionResNet, x: ReturnType<typeof clip>): void {
  m.train();
  for (let i = 0; i < 2; i++) noGrad(() => tidy(() => void m.forward(x.gpu)));
  m.eval();
}

function expectedNames(o: { sa: boolean; ca: boolean; fa: boolean }): string[] {
  const bnNames = (p: string) => ['weight', 'bias', 'running_mean', 'running_var'].map((s) => `${p}.${s}`);
  const lin = (p: string) => [`${p}.weight`, `${p}.bias`];
  const names = ['stem.conv.weight', ...bnNames('stem.bn')];
  for (let s = 1; s <= 4; s++) {
    for (let b = 0; b <= 1; b++) {
      const p = `layer${s}.${b}`;
      names.push(`${p}.conv1.weight`, ...bnNames(`${p}.bn1`), `${p}.conv2.weight`, ...bnNames(`${p}.bn2`));
      if (s > 1 && b === 0) names.push(`${p}.downsample.0.weight`, ...bnNames(`${p}.downsample.1`));
      if (o.ca) names.push(...lin(`${p}.ca.mlp.0`), ...lin(`${p}.ca.mlp.2`));
      if (o.sa) names.push(...lin(`${p}.sa.nin`), ...lin(`${p}.sa.conv`));
    }
  }
  names.push(...lin('frame_fc'));
  if (o.fa) names.push(...lin('frame_attention.mlp.0'), ...lin('frame_attention.mlp.2'));
  names.push(...lin('classifier'));
  return names;
}

const TOL = { abs: 2e-4, rel: 2e-3 };

const cases: Case[] = [
  {
    name: 'eval forward on the GPU equals the CPU forward for each ablation; outputs and their shapes',
    async run(engine) {
      const x = clip(engine);
      for (const [label, ablation] of Object.entries(M1_ABLATIONS)) {
        const m = model(engine, { ...ablation, seed: 2 });
        warmStatistics(m, x);
        const gpu = noGrad(() => m.forward(x.gpu));
        const cpu = m.forwardWith(await cpuBackend(m), x.host);
        check(gpu.logits!.shape.join() === '2,4' && gpu.frame_features!.shape.join() === '2,2,12' && gpu.clip_feature!.shape.join() === '2,12', `${label}: output shapes`);
        if (ablation.channelAttention) check(gpu['channel_weights.layer3.1']!.shape.join() === '2,2,32', `${label}: channel weights ${gpu['channel_weights.layer3.1']?.shape}`);
        if (ablation.spatialAttention) check(gpu['spatial_maps.layer1.0']!.shape.join() === '2,2,8,8', `${label}: spatial maps ${gpu['spatial_maps.layer1.0']?.shape}`);
        check(('spatial_maps.layer2.0' in gpu) === Boolean(ablation.spatialAttention) && ('channel_weights.layer2.0' in gpu) === Boolean(ablation.channelAttention), `${label}: attention outputs`);
        check(('frame_weights' in gpu) === Boolean(ablation.frameAttention), `${label}: frame weights`);
        if (ablation.frameAttention) {
          const a = await gpu.frame_weights!.read();
          expectClose([a[0]! + a[1]!, a[2]! + a[3]!], [1, 1], { abs: 1e-5, rel: 0 }, 'frame weights sum to 1 per clip');
        }
        await compareOutputs(gpu, cpu, TOL, `M1 ${label}`);
        disposeAll(gpu);
        m.dispose();
      }
      x.gpu.dispose();
    },
  },
  {
    name: 'train-mode forward + backward reaches every parameter with a finite gradient',
    async run(engine) {
      const x = clip(engine);
      const m = model(engine, { seed: 3 });
      await checkAllGradients(m, () => tidy(() => m.loss(m.forward(x.gpu), LABELS)));
      m.dispose();
      x.gpu.dispose();
    },
  },
  {
    name: 'gradient check: conv, BN gamma, channel MLP, spatial NIN/conv, frame fc, frame attention MLP, classifier',
    async run(engine) {
      const x = clip(engine, 2, 2, 16, 22);
      const m = model(engine, { seed: 4 });
      warmStatistics(m, clip(engine, 2, 2, 16, 23));
      const names = ['stem.conv.weight', 'layer2.0.conv1.weight', 'layer3.1.bn1.weight', 'layer1.0.ca.mlp.0.weight', 'layer2.1.ca.mlp.2.bias', 'layer1.1.sa.nin.weight', 'layer4.0.sa.conv.bias', 'frame_fc.weight', 'frame_attention.mlp.0.weight', 'classifier.weight'];
      await checkParamGradients(engine, m, names, () => m.loss(m.forward(x.gpu), LABELS), { probes: 2, eps: 5e-3, tol: { abs: 3e-3, rel: 5e-2 } });
      m.dispose();
      x.gpu.dispose();
    },
  },
  {
    name: 'state dict names as MODELS.md; safetensors round trip; another configuration names every mismatch',
    async run(engine) {
      const a = model(engine, { seed: 5 });
      checkNames(a, expectedNames({ sa: true, ca: true, fa: true }));
      const base = model(engine, M1_ABLATIONS.baseline);
      checkNames(base, expectedNames({ sa: false, ca: false, fa: false }));
      const x = clip(engine);
      warmStatistics(a, x);
      const b = model(engine, { seed: 6 }).eval();
      const bytes = await roundTrip(engine, a, b);
      const ya = noGrad(() => a.forward(x.gpu));
      const yb = noGrad(() => b.forward(x.gpu));
      expectClose(await yb.logits!.read(), await ya.logits!.read(), { abs: 0, rel: 0 }, 'logits after a safetensors round trip');
      disposeAll(ya);
      disposeAll(yb);
      const wide = model(engine, { width: 1 / 4, reduction: 2 });
      checkMismatchNamed(engine, bytes, wide, a.stateEntries());
      checkMismatchNamed(engine, bytes, base, a.stateEntries());
      [a, b, base, wide].forEach((m) => m.dispose());
      x.gpu.dispose();
    },
  },
  {
    name: 'torchvision resnet18 names (conv1/bn1, num_batches_tracked, fc) load into the backbone; the rest is kept',
    async run(engine) {
      const src = model(engine, { ...M1_ABLATIONS.baseline, seed: 8 });
      const state = src.stateDict();
      const tv = new Map<string, Tensor>();
      for (const [name, t] of state) {
        if (name.startsWith('frame_fc') || name.startsWith('classifier')) {
          t.dispose();
          continue;
        }
        tv.set(name.replace(/^stem\.conv\./, 'conv1.').replace(/^stem\.bn\./, 'bn1.'), t);
        if (name.endsWith('running_var')) tv.set(name.replace(/^stem\.bn\./, 'bn1.').replace('running_var', 'num_batches_tracked'), engine.zeros([]));
      }
      tv.set('fc.weight', engine.zeros([1000, 64]));
      tv.set('fc.bias', engine.zeros([1000]));
      check(tv.has('conv1.weight') && tv.has('bn1.num_batches_tracked'), 'torchvision-style names');
      const dst = model(engine, { seed: 9 });
      const keptBefore = await dst.classifier.weight.read();
      loadResNetBackbone(dst, tv);
      const byName = new Map(dst.namedParameters());
      for (const [name, p] of src.namedParameters()) {
        if (name.startsWith('frame_fc') || name.startsWith('classifier')) continue;
        expectClose(await byName.get(name)!.read(), await p.read(), { abs: 0, rel: 0 }, `${name} after loading the backbone`);
      }
      expectClose(await dst.classifier.weight.read(), keptBefore, { abs: 0, rel: 0 }, 'the classifier keeps its values');
      // A torchvision tensor of the wrong width is named.
      const wrong = new Map([['layer1.0.conv1.weight', engine.zeros([3, 3, 3, 3])]]);
      let message = '';
      try {
        loadResNetBackbone(dst, wrong);
      } catch (e) {
        message = (e as Error).message;
      }
      check(message.includes('layer1.0.conv1.weight'), `mismatch not named: ${message}`);
      [...tv.values(), ...wrong.values()].forEach((t) => t.dispose());
      src.dispose();
      dst.dispose();
    },
  },
  {
    name: 'Adam lowers the loss and live memory stays flat over 10 steps',
    async run(engine) {
      await engine.sync();
      const before = engine.memory().liveBytes;
      const m = model(engine, { seed: 7 });
      const x = clip(engine, 3, 2, 32, 24);
      const labels = [0, 1, 3];
      const { losses, live } = await trainSteps(engine, m, () => tidy(() => m.loss(m.forward(x.gpu), labels)), 10, 3e-3);
      check(losses[9]! < losses[0]! * 0.8, `losses ${losses.map((l) => l.toFixed(3)).join(', ')}`);
      check(live.slice(2).every((v) => v === live[2]), `live bytes drift over training steps: ${live.join(', ')}`);
      m.dispose();
      x.gpu.dispose();
      await engine.sync();
      check(engine.memory().liveBytes === before, `${engine.memory().liveBytes - before} bytes still live after disposing the model`);
    },
  },
];

export const m1Suite: Suite = { name: 'm1', cases };
