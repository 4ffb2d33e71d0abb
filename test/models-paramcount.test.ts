/**
 * Parameter counts of M1 and M3 at full size (built, not run), printed next to the papers' figures and checked
 * against counts derived here layer by layer from MODELS.md.
 */
import { describe, expect, it } from 'vitest';
import { M1_ABLATIONS, M1MultiAttentionResNet } from '../src/models/m1-multi-attention.js';
import { M3CbamResNet } from '../src/models/m3-cbam.js';
import { testEngine } from './helpers/node-engine.js';

const conv = (cin: number, cout: number, k: number, bias = false): number => cin * cout * k * k + (bias ? cout : 0);
const bn = (c: number): number => 2 * c;
const linear = (i: number, o: number, bias = true): number => i * o + (bias ? o : 0);

/** ResNet18 without stem and classifier, plus `perBlock(C)` attention parameters in each of the 8 blocks. */
function stages(perBlock: (c: number) => number): number {
  let n = 0;
  let inC = 64;
  for (const c of [64, 128, 256, 512]) {
    n += conv(inC, c, 3) + bn(c) + conv(c, c, 3) + bn(c) + (inC !== c ? conv(inC, c, 1) + bn(c) : 0) + perBlock(c);
    n += conv(c, c, 3) + bn(c) + conv(c, c, 3) + bn(c) + perBlock(c);
    inC = c;
  }
  return n;
}
const channelMlp = (c: number, r: number): number => linear(c, Math.max(1, Math.floor(c / r))) + linear(Math.max(1, Math.floor(c / r)), c);
const m1Head = (classes: number, fa: boolean): number => linear(512, 256) + (fa ? linear(256, 32) + linear(32, 1) : 0) + linear(256, classes);

function report(name: string, ours: number, paper: string): void {
  console.log(`${name.padEnd(48)} ${(ours / 1e6).toFixed(3).padStart(8)} M (${ours})   paper: ${paper}`);
}

describe('parameter counts at full size (M1, M3)', () => {
  it('M1 ResNet18 + SA + CA + FA and its ablations (Table 3)', async () => {
    const engine = await testEngine();
    const stem = conv(3, 64, 7) + bn(64);
    const rows: [string, object, number, string][] = [
      ['M1 baseline (ResNet18 + frame fc + classifier)', M1_ABLATIONS.baseline!, stem + stages(() => 0) + m1Head(7, false), '11.78 M (ResNet18+FC)'],
      ['M1 +CA only, r = 16 (≈ the paper\'s +CBAM row)', { ...M1_ABLATIONS['+CA'], reduction: 16 }, stem + stages((c) => channelMlp(c, 16)) + m1Head(7, false), '11.87 M (ResNet18+CBAM)'],
      ['M1 full (+SA +CA +FA, r = 1)', {}, stem + stages((c) => channelMlp(c, 1) + conv(c, 16, 1, true) + conv(16, 1, 3, true)) + m1Head(7, true), '13.39 M'],
    ];
    for (const [name, options, expected, paper] of rows) {
      const m = new M1MultiAttentionResNet(engine, options);
      report(name, m.parameterCount(), paper);
      expect(m.parameterCount()).toBe(expected);
      m.dispose();
    }
  });

  it('M3 ResNet18 + CBAM + A-Softmax (44×44 grayscale)', async () => {
    const engine = await testEngine();
    const cbam = (c: number) => channelMlp(c, 16) + conv(2, 1, 7, true);
    const base = conv(1, 64, 3) + bn(64) + stages(cbam);
    const rows: [string, object, number, string][] = [
      ['M3 CBAM, A-Softmax head (no bias)', {}, base + linear(512, 7, false), 'not stated'],
      ['M3 CBAM, softmax head', { head: 'softmax' }, base + linear(512, 7), 'not stated'],
      ['M3 plain ResNet18 (no CBAM), A-Softmax head', { cbam: false }, conv(1, 64, 3) + bn(64) + stages(() => 0) + linear(512, 7, false), 'not stated'],
    ];
    for (const [name, options, expected, paper] of rows) {
      const m = new M3CbamResNet(engine, options);
      report(name, m.parameterCount(), paper);
      expect(m.parameterCount()).toBe(expected);
      m.dispose();
    }
  });
});
