/**
 * The train / held-out split of datasets on disk: a well-mixed identity hash (sequential names spread uniformly,
 * which plain FNV-1a thresholding did not: s0…s29 held out 0–67% depending on the seed), split sizes by rank and
 * reported, and folders that cannot be split refused.
 */
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openData } from '../src/cli/data.js';
import { identityHash, splitIdentities } from '../src/data/split.js';
import { writePng } from '../src/node/image-files.js';
import { ImageFolder } from '../src/node/image-folder.js';

const sequential = Array.from({ length: 30 }, (_, i) => `s${i}`);
const subjects = Array.from({ length: 200 }, (_, i) => `subject${String(i + 1).padStart(3, '0')}`);

/** Kolmogorov–Smirnov distance of values in [0, 1) from the uniform distribution. */
function ksDistance(values: number[]): number {
  const v = [...values].sort((a, b) => a - b);
  return Math.max(...v.map((x, i) => Math.max(Math.abs(x - i / v.length), Math.abs(x - (i + 1) / v.length))));
}

describe('identity hash', () => {
  it('spreads sequential names uniformly for every seed (KS distance under the 1% critical value)', () => {
    for (let seed = 0; seed < 10; seed++) {
      for (const [names, critical] of [[sequential, 1.63 / Math.sqrt(30)], [subjects, 1.63 / Math.sqrt(200)]] as const) {
        const d = ksDistance(names.map((n) => identityHash(n, seed) / 2 ** 32));
        expect(d, `seed ${seed}, ${names[0]}…: KS ${d.toFixed(3)}`).toBeLessThan(critical);
      }
    }
  });

  it('avalanches: one changed character or seed flips about half of the 32 bits', () => {
    const popcount = (x: number): number => x.toString(2).replace(/0/g, '').length;
    let bits = 0;
    for (const n of subjects) bits += popcount((identityHash(n, 1) ^ identityHash(`${n.slice(0, -1)}${String.fromCharCode(n.charCodeAt(n.length - 1) ^ 1)}`, 1)) >>> 0);
    expect(bits / subjects.length).toBeGreaterThan(14);
    expect(bits / subjects.length).toBeLessThan(18);
    let seedBits = 0;
    for (const n of subjects) seedBits += popcount((identityHash(n, 4) ^ identityHash(n, 5)) >>> 0);
    expect(seedBits / subjects.length).toBeGreaterThan(14);
  });
});

describe('split by identity', () => {
  it('holds out round(fraction·n) identities, disjoint from training, a different set per seed', () => {
    const sets = new Set<string>();
    for (let seed = 0; seed < 10; seed++) {
      const { train, test } = splitIdentities(sequential, 0.2, seed);
      expect(test.size).toBe(6);
      expect(train.size).toBe(24);
      for (const id of test) expect(train.has(id)).toBe(false);
      sets.add([...test].sort().join());
      expect(splitIdentities(sequential, 0.2, seed).test).toEqual(test);
    }
    expect(sets.size).toBe(10);
    // Small pools: at least one identity on each side.
    expect(splitIdentities(['a', 'b'], 0.2, 1).test.size).toBe(1);
    expect(splitIdentities(['a', 'b', 'c'], 0.9, 1).train.size).toBe(1);
  });

  it('refuses a split that would hold out nothing or train on nothing', () => {
    expect(() => splitIdentities(['ann', 'ann'], 0.2, 0, 'data/')).toThrow(/data\/: found 1 identity \(ann\).*at least 2/);
    expect(() => splitIdentities(['a', 'b'], 0, 0)).toThrow(/strictly between 0 and 1, got 0/);
    expect(() => splitIdentities(['a', 'b'], 1, 0)).toThrow(/strictly between 0 and 1/);
  });

  it('ImageFolder reports its split sizes and refuses a folder of one identity; the training command says them', () => {
    const root = mkdtempSync(join(tmpdir(), 'fergpu-split-'));
    const img = { width: 8, height: 8, channels: 1 as const, data: new Uint8Array(64).fill(90) };
    for (const label of ['happy', 'sad']) for (let s = 0; s < 10; s++) writePng(join(root, label, `s${s}_${label}.png`), img);
    const o = { root, size: 8, channels: 1 as const, seed: 2 };
    const train = new ImageFolder({ ...o, split: 'train' });
    const test = new ImageFolder({ ...o, split: 'test' });
    expect(train.identities).toEqual({ train: 8, test: 2 });
    expect([train.size, test.size]).toEqual([16, 4]);
    const d = openData({ frames: 1, size: 8, channels: 1 }, { data: root, seed: 2, identities: 0, clipFrames: 1 });
    expect(d.describe).toMatch(/16 training clips of 8 identities, 4 held-out clips of 2 identities/);
    const lonely = mkdtempSync(join(tmpdir(), 'fergpu-split-'));
    for (const label of ['happy', 'sad']) {
      mkdirSync(join(lonely, label));
      writePng(join(lonely, label, `ann_${label}.png`), img);
    }
    expect(() => new ImageFolder({ ...o, root: lonely, split: 'train' })).toThrow(/found 1 identity \(ann\).*at least 2/);
    expect(new ImageFolder({ ...o, root: lonely, split: 'all' }).size).toBe(2);
  });
});
