/**
 * Parameter counts of M2, M4 and M5 at full size (built, not run), printed next to the papers' figures and
 * checked against counts derived here layer by layer from MODELS.md.
 */
import { describe, expect, it } from 'vitest';
import { TemporalSoftmaxNet } from '../src/models/m2-temporal-softmax.js';
import { DeepEmotion } from '../src/models/m4-deep-emotion.js';
import { EcnnFsa } from '../src/models/m5-ecnn-fsa.js';
import { testEngine } from './helpers/node-engine.js';

const conv = (cin: number, cout: number, k: number): number => cin * cout * k * k + cout;
const linear = (i: number, o: number, bias = true): number => i * o + (bias ? o : 0);
/** torchvision vgg16.features: 14,714,688. */
const VGG16_FEATURES = [[3, 64], [64, 64], [64, 128], [128, 128], [128, 256], [256, 256], [256, 256], [256, 512], [512, 512], [512, 512], [512, 512], [512, 512], [512, 512]].reduce((n, [i, o]) => n + conv(i!, o!, 3), 0);

function report(name: string, ours: number, paper: string): void {
  console.log(`${name.padEnd(44)} ${(ours / 1e6).toFixed(3).padStart(8)} M (${ours})   paper: ${paper}`);
}

describe('parameter counts at full size (M2, M4, M5)', () => {
  it('M4 Deep-Emotion (48×48, code order with BN; paper order)', async () => {
    const engine = await testEngine();
    const m = new DeepEmotion(engine);
    const expected = conv(1, 8, 7) + conv(8, 10, 5) + linear(640, 32) + linear(32, 6) + conv(1, 10, 3) + 3 * conv(10, 10, 3) + 2 * 10 + linear(810, 50) + linear(50, 7);
    report('M4 Deep-Emotion', m.parameterCount(), 'not stated ("fewer than 10 layers")');
    expect(m.parameterCount()).toBe(expected);
    const p = new DeepEmotion(engine, { order: 'paper' });
    report('M4 Deep-Emotion, paper order (no BN)', p.parameterCount(), 'not stated');
    expect(p.parameterCount()).toBe(expected - 20);
    [m, p].forEach((x) => x.dispose());
  });

  it('M5 ECNN-FSA (backbone_dim 1024 and 2048)', async () => {
    const engine = await testEngine();
    for (const backboneDim of [1024, 2048]) {
      const d = backboneDim + 1024;
      const expected = VGG16_FEATURES + conv(512, backboneDim, 3) + 2 * conv(backboneDim, backboneDim, 3) + conv(256, 1024, 7) + 3 * d * d + 2 * d + linear(d, 7);
      // 2048: one 2048×2048×3×3 weight is 151 MB, over lavapipe's 128 MiB storage-binding limit.
      if (backboneDim * backboneDim * 9 * 4 > engine.limits.maxStorageBufferBindingSize) {
        expect(() => new EcnnFsa(engine, { backboneDim })).toThrow(/storage-binding limit/);
        report(`M5 ECNN-FSA backbone_dim ${backboneDim} (derived; over this device's binding limit)`, expected, 'not stated');
        continue;
      }
      const m = new EcnnFsa(engine, { backboneDim });
      report(`M5 ECNN-FSA backbone_dim ${backboneDim}`, m.parameterCount(), 'not stated (VGG16 features alone: 14.715 M)');
      expect(m.parameterCount()).toBe(expected);
      m.dispose();
    }
  });

  it('M2 VGG16 + spatial attention + temporal softmax pooling (2 heads, U = 128; baselines)', async () => {
    const engine = await testEngine();
    const m = new TemporalSoftmaxNet(engine);
    const expected = VGG16_FEATURES + 512 * 128 + 128 * 2 + linear(2 * 512, 7);
    report('M2 VGG16 + 2-head attention', m.parameterCount(), 'not stated (VGG16 features alone: 14.715 M)');
    expect(m.parameterCount()).toBe(expected);
    const b = new TemporalSoftmaxNet(engine, { spatial: 'mean' });
    report('M2 no-attention baseline', b.parameterCount(), 'not stated');
    expect(b.parameterCount()).toBe(VGG16_FEATURES + linear(512, 7));
    [m, b].forEach((x) => x.dispose());
  });
});
