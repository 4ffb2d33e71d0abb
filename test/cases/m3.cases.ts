/** M3 (ResNet18 + CBAM + A-Softmax): small configurations (width 1/8, 16×16 inputs). */
import type { Engine } from '../../src/device/engine.js';
import { noGrad } from '../../src/graph/autograd.js';
import { HostTensor } from '../../src/graph/host.js';
import { tidy } from '../../src/graph/scope.js';
import { M3CbamResNet, type M3Options } from '../../src/models/m3-cbam.js';
import { cpuBackend } from '../../src/models/resnet.js';
import { expectClose, randomHost } from '../helpers/compare.js';
import { check, checkAllGradients, checkMismatchNamed, checkNames, checkParamGradients, compareOutputs, disposeAll, roundTrip, trainSteps } from './resnet-checks.js';
import type { Case, Suite } from './types.js';

// r = 4 keeps at least two hidden units in the CBAM MLP at width 1/8 (C/16 would leave one, often dead).
const SMALL: M3Options = { width: 1 / 8, classes: 5, inputSize: 16, reduction: 4 };
const LABELS = [1, 3, 0];

function model(engine: Engine, o: M3Options = {}): M3CbamResNet {
  return new M3CbamResNet(engine, { ...SMALL, ...o });
}

function image(engine: Engine, n = 3, side = 16, seed = 5) {
  const host = randomHost([n, side, side, 1], seed);
  return { host, gpu: engine.tensor(host.data, host.shape) };
}

/** Puts non-trivial running statistics into every BatchNorm (two train-mode passes without autograd). */
function warmStatistics(m: M3CbamResNet, x: ReturnType<typeof image>): void {
  m.train();
  for (let i = 0; i < 2; i++) noGrad(() => tidy(() => void m.forward(x.gpu)));
  m.eval();
}

function expectedNames(softmaxHead: boolean): string[] {
  const bnNames = (p: string) => ['weight', 'bias', 'running_mean', 'running_var'].map((s) => `${p}.${s}`);
  const names = ['stem.conv.weight', ...bnNames('stem.bn')];
  for (let s = 1; s <= 4; s++) {
    for (let b = 0; b <= 1; b++) {
      const p = `layer${s}.${b}`;
      names.push(`${p}.conv1.weight`, ...bnNames(`${p}.bn1`), `${p}.conv2.weight`, ...bnNames(`${p}.bn2`));
      if (s > 1 && b === 0) names.push(`${p}.downsample.0.weight`, ...bnNames(`${p}.downsample.1`));
      names.push(`${p}.cbam.ca.mlp.0.weight`, `${p}.cbam.ca.mlp.0.bias`, `${p}.cbam.ca.mlp.2.weight`, `${p}.cbam.ca.mlp.2.bias`, `${p}.cbam.sa.conv.weight`, `${p}.cbam.sa.conv.bias`);
    }
  }
  names.push('fc.weight', ...(softmaxHead ? ['fc.bias'] : []));
  return names;
}

const TOL = { abs: 2e-4, rel: 2e-3 };

const cases: Case[] = [
  {
    name: 'eval forward on the GPU equals the CPU forward (A-Softmax head, each CBAM ordering) and the outputs are all there',
    async run(engine) {
      const x = image(engine);
      for (const order of ['channel-first', 'spatial-first', 'parallel'] as const) {
        const m = model(engine, { order, seed: 3 });
        warmStatistics(m, x);
        const gpu = noGrad(() => m.forward(x.gpu));
        const cpu = m.forwardWith(await cpuBackend(m), x.host);
        for (const s of [1, 2, 3, 4]) for (const b of [0, 1]) check(`channel_weights.layer${s}.${b}` in gpu && `spatial_maps.layer${s}.${b}` in gpu, `${order}: attention outputs of layer${s}.${b} missing`);
        check(gpu.logits!.shape.join() === '3,5' && gpu.features!.shape.join() === '3,64' && gpu.cos_theta!.shape.join() === '3,5' && gpu.feature_norm!.shape.join() === '3', `${order}: output shapes`);
        check(gpu['spatial_maps.layer4.1']!.shape.join() === '3,2,2' && gpu['channel_weights.layer2.0']!.shape.join() === '3,16', `${order}: attention shapes`);
        await compareOutputs(gpu, cpu, TOL, `M3 ${order}`);
        // cos θ lies in [−1, 1] and logits = ‖x‖ cos θ.
        for (const v of await gpu.cos_theta!.read()) check(Math.abs(v) <= 1 + 1e-5, `cos θ ${v}`);
        disposeAll(gpu);
        m.dispose();
      }
      x.gpu.dispose();
    },
  },
  {
    name: 'eval forward: softmax head with the 4×4/4 pool, and the plain ResNet18 ablation, match the CPU',
    async run(engine) {
      const x = image(engine, 2, 32, 6);
      for (const o of [{ head: 'softmax', pool: 'avg4', inputSize: 32 }, { cbam: false, head: 'softmax' }] as M3Options[]) {
        const m = model(engine, { ...o, seed: 4 });
        warmStatistics(m, x);
        const gpu = noGrad(() => m.forward(x.gpu));
        const cpu = m.forwardWith(await cpuBackend(m), x.host);
        await compareOutputs(gpu, cpu, TOL, `M3 ${JSON.stringify(o)}`);
        check(!('cos_theta' in gpu), 'the softmax head has no cos θ');
        check(o.cbam !== false || !Object.keys(gpu).some((k) => k.startsWith('spatial_maps')), 'no attention without CBAM');
        disposeAll(gpu);
        m.dispose();
      }
      x.gpu.dispose();
    },
  },
  {
    name: 'train-mode forward + backward reaches every parameter with a finite gradient (both heads)',
    async run(engine) {
      const x = image(engine);
      for (const head of ['asoftmax', 'softmax'] as const) {
        // r = 1: eight hidden units, so no CBAM MLP of this tiny network is left with only dead ReLUs.
        const m = model(engine, { head, seed: 5, reduction: 1 });
        await checkAllGradients(m, () => tidy(() => m.loss(m.forward(x.gpu), LABELS, { lambda: 5 })));
        m.dispose();
      }
      x.gpu.dispose();
    },
  },
  {
    name: 'gradient check: conv, BN gamma, linear head, CBAM MLP and CBAM spatial conv (eval-mode BN)',
    async run(engine) {
      const x = image(engine, 2, 8, 7);
      for (const head of ['softmax', 'asoftmax'] as const) {
        const m = model(engine, { head, seed: 6, inputSize: 8, reduction: 1 });
        warmStatistics(m, image(engine, 4, 8, 8));
        const names = ['stem.conv.weight', 'layer2.0.conv1.weight', 'layer3.1.bn2.weight', 'layer1.1.cbam.ca.mlp.0.weight', 'layer4.0.cbam.ca.mlp.2.bias', 'layer2.1.cbam.sa.conv.weight', 'fc.weight'];
        await checkParamGradients(engine, m, names, () => m.loss(m.forward(x.gpu), [1, 4], { lambda: 3 }), { probes: 2, eps: 5e-3, tol: { abs: 3e-3, rel: 5e-2 } });
        m.dispose();
      }
      x.gpu.dispose();
    },
  },
  {
    name: 'state dict names as MODELS.md; safetensors round trip; another configuration names every mismatch',
    async run(engine) {
      const a = model(engine, { seed: 7 });
      checkNames(a, expectedNames(false));
      const soft = model(engine, { head: 'softmax' });
      checkNames(soft, expectedNames(true));
      const x = image(engine);
      warmStatistics(a, x);
      const b = model(engine, { seed: 8 }).eval();
      const bytes = await roundTrip(engine, a, b);
      const ya = noGrad(() => a.forward(x.gpu));
      const yb = noGrad(() => b.forward(x.gpu));
      expectClose(await yb.logits!.read(), await ya.logits!.read(), { abs: 0, rel: 0 }, 'logits after a safetensors round trip');
      disposeAll(ya);
      disposeAll(yb);
      // Width 1/4 and the softmax head: every tensor's shape differs, and fc.bias is missing from the file.
      const wide = model(engine, { width: 1 / 4, head: 'softmax' });
      checkMismatchNamed(engine, bytes, wide, a.stateEntries());
      checkMismatchNamed(engine, bytes, soft, a.stateEntries());
      [a, b, soft, wide].forEach((m) => m.dispose());
      x.gpu.dispose();
    },
  },
  {
    name: 'ten-crop inference averages the logits of the four corners, the centre and their mirrors',
    async run(engine) {
      const m = model(engine, { seed: 9 });
      const x = image(engine, 2, 18, 10);
      warmStatistics(m, image(engine, 3, 16, 11));
      const got = m.tenCrop(x.gpu, 16);
      check(got.shape.join() === '2,5', `ten-crop logits ${got.shape}`);
      const cpu = await cpuBackend(m);
      const expected = new Float64Array(2 * 5);
      const offsets = [[0, 0], [0, 2], [2, 0], [2, 2], [1, 1]] as const;
      for (const mirror of [false, true]) {
        for (const [y0, x0] of offsets) {
          const crop = HostTensor.zeros([2, 16, 16, 1]);
          for (let n = 0; n < 2; n++) for (let y = 0; y < 16; y++) for (let xx = 0; xx < 16; xx++) crop.data[(n * 16 + y) * 16 + xx] = x.host.at(n, y0 + y, x0 + (mirror ? 15 - xx : xx), 0);
          const l = m.forwardWith(cpu, crop).logits!;
          for (let i = 0; i < 10; i++) expected[i]! += l.data[i]! / 10;
        }
      }
      expectClose(await got.read(), expected, TOL, 'ten-crop logits');
      check(m.training === false, 'tenCrop restores the mode (eval here)');
      got.dispose();
      x.gpu.dispose();
      m.dispose();
    },
  },
  {
    name: 'Adam lowers the A-Softmax loss (λ annealed from 1000) and live memory stays flat over 10 steps',
    async run(engine) {
      await engine.sync();
      const before = engine.memory().liveBytes;
      const m = model(engine, { seed: 12, lambda: { base: 1000, gamma: 1, min: 5 } });
      const x = image(engine, 4, 16, 13);
      const labels = [0, 1, 2, 3];
      // The λ schedule changes the loss itself, so the fall is measured at a fixed λ before and after.
      const at = (lambda: number) => noGrad(() => tidy(() => m.loss(m.forward(x.gpu), labels, { lambda })));
      const l0 = at(5);
      const start = (await l0.read())[0]!;
      l0.dispose();
      const { live } = await trainSteps(engine, m, () => tidy(() => m.loss(m.forward(x.gpu), labels)), 10, 3e-3);
      check(m.iteration === 10, `iteration ${m.iteration}`);
      const l1 = at(5);
      const end = (await l1.read())[0]!;
      l1.dispose();
      check(end < start * 0.8, `loss at λ = 5: ${start} before, ${end} after 10 Adam steps`);
      check(live.slice(2).every((v) => v === live[2]), `live bytes drift over training steps: ${live.join(', ')}`);
      m.dispose();
      x.gpu.dispose();
      await engine.sync();
      check(engine.memory().liveBytes === before, `${engine.memory().liveBytes - before} bytes still live after disposing the model`);
    },
  },
];

export const m3Suite: Suite = { name: 'm3', cases };
