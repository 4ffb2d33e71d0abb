/** Synthetic FER clips (determinism, identity splits, balance, expression motion) and picture plumbing (resize, crops, gray/RGB, clips). */
import { describe, expect, it } from 'vitest';
import { centerCropToAspect, clipFromImages, clipFrameToImage8, cropImage8, resizeFloat, resizeImage8, toGray, toRGB } from '../src/data/resize.js';
import { makeFaceClip, makeIdentity, SyntheticFer } from '../src/data/synthetic-faces.js';
import { EMOTIONS, type Clip, type Image8 } from '../src/data/types.js';

const frameSize = (c: Clip): number => c.height * c.width * c.channels;
const frame = (c: Clip, t: number): Float32Array => c.frames.subarray(t * frameSize(c), (t + 1) * frameSize(c));

function meanAbsDiff(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i]! - b[i]!);
  return s / a.length;
}

/** Mean abs difference over a band of rows (gray frames). */
function bandDiff(a: Float32Array, b: Float32Array, width: number, y0: number, y1: number): number {
  let s = 0;
  for (let i = y0 * width; i < y1 * width; i++) s += Math.abs(a[i]! - b[i]!);
  return s / ((y1 - y0) * width);
}

describe('synthetic faces', () => {
  it('renders the same bytes for the same seed and different ones for another seed', () => {
    const o = { identities: 6, frames: 5, height: 40, width: 36, channels: 3 as const, split: 'train' as const };
    const a = new SyntheticFer({ seed: 11, ...o }).get(3);
    const b = new SyntheticFer({ seed: 11, ...o }).get(3);
    const c = new SyntheticFer({ seed: 12, ...o }).get(3);
    expect(a.frames.length).toBe(5 * 40 * 36 * 3);
    expect(Buffer.from(a.frames.buffer).equals(Buffer.from(b.frames.buffer))).toBe(true);
    expect(a.identity).toBe(b.identity);
    expect(meanAbsDiff(a.frames, c.frames)).toBeGreaterThan(0.01);
  });

  it('splits by identity: train and test are disjoint and cover the pool, deterministically', () => {
    const o = { seed: 3, identities: 20, frames: 1, height: 16, width: 16, channels: 1 as const, testFraction: 0.25 };
    const train = new SyntheticFer({ ...o, split: 'train' });
    const test = new SyntheticFer({ ...o, split: 'test' });
    expect(test.identityIds.length).toBe(5);
    expect(train.identityIds.length).toBe(15);
    expect(new Set([...train.identityIds, ...test.identityIds]).size).toBe(20);
    const ids = (s: SyntheticFer): Set<string> => new Set(Array.from({ length: s.size }, (_, i) => s.get(i).identity));
    const trainIds = ids(train);
    for (const id of ids(test)) expect(trainIds.has(id)).toBe(false);
    expect(new SyntheticFer({ ...o, split: 'test' }).identityIds).toEqual(test.identityIds);
    // Another seed draws another held-out set (20 choose 5: a collision would be a broken shuffle).
    expect(new SyntheticFer({ ...o, seed: 4, split: 'test' }).identityIds).not.toEqual(test.identityIds);
    // Tiny pools still give each side an identity.
    expect(new SyntheticFer({ ...o, identities: 2, split: 'test' }).size).toBe(7);
    expect(new SyntheticFer({ ...o, identities: 2, split: 'train' }).size).toBe(7);
  });

  it('balances the 7 classes and labels them with EMOTIONS', () => {
    const s = new SyntheticFer({ seed: 1, identities: 5, frames: 1, height: 12, width: 12, channels: 1, split: 'all' });
    expect(s.labels).toEqual([...EMOTIONS]);
    expect(s.size).toBe(35);
    const counts = new Array(7).fill(0);
    for (let i = 0; i < s.size; i++) counts[s.get(i).label]++;
    expect(counts).toEqual([5, 5, 5, 5, 5, 5, 5]);
    expect(() => s.get(35)).toThrow(/outside 0..34/);
  });

  it('keeps values in [0, 1] and reports an apex inside the clip', () => {
    const s = new SyntheticFer({ seed: 9, identities: 4, frames: 9, height: 24, width: 20, channels: 3, split: 'train' });
    for (let i = 0; i < s.size; i += 3) {
      const c = s.get(i);
      expect([c.frameCount, c.height, c.width, c.channels]).toEqual([9, 24, 20, 3]);
      let lo = Infinity;
      let hi = -Infinity;
      for (const v of c.frames) {
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
      expect(lo).toBeGreaterThanOrEqual(0);
      expect(hi).toBeLessThanOrEqual(1);
      expect(hi - lo).toBeGreaterThan(0.3);
      expect(c.peakFrame).toBeGreaterThanOrEqual(4);
      expect(c.peakFrame).toBeLessThanOrEqual(8);
    }
  });

  it('moves from a neutral first frame to the apex, then holds it; neutral clips do not move', () => {
    const base = { seed: 2, identity: 4, frames: 8, apexFrame: 5, height: 48, width: 48, channels: 1 as const, jitter: false, noise: 0 };
    for (let e = 0; e < 7; e++) {
      const c = makeFaceClip({ ...base, emotion: e });
      const neutral = makeFaceClip({ ...base, emotion: 'neutral' });
      // Frame 0 is the neutral face whatever the expression.
      expect(meanAbsDiff(frame(c, 0), frame(neutral, 0))).toBe(0);
      const motion = meanAbsDiff(frame(c, 0), frame(c, 5));
      if (EMOTIONS[e] === 'neutral') expect(motion).toBe(0);
      else expect(motion, EMOTIONS[e]).toBeGreaterThan(0.002);
      // Frames after the apex hold it; the onset is monotone in how far it has moved.
      expect(meanAbsDiff(frame(c, 5), frame(c, 7))).toBe(0);
      if (EMOTIONS[e] !== 'neutral') expect(meanAbsDiff(frame(c, 0), frame(c, 2))).toBeLessThan(motion);
    }
    // A 1-frame clip is the apex frame of the same clip.
    const one = makeFaceClip({ ...base, frames: 1, emotion: 'surprise' });
    expect(one.peakFrame).toBe(0);
    expect(meanAbsDiff(one.frames, frame(makeFaceClip({ ...base, emotion: 'surprise' }), 7))).toBe(0);
  });

  it('makes the 7 expressions differ from each other at the apex, in the mouth and in the brows', () => {
    const H = 48;
    const apex = EMOTIONS.map((e) => makeFaceClip({ seed: 5, identity: 1, emotion: e, frames: 1, height: H, width: H, channels: 1, jitter: false, noise: 0, intensity: 1 }).frames);
    const f = makeIdentity(5, 1);
    const row = (y: number): number => Math.round((y + 1) * (H / 2));
    const mouth = [row(f.mouthY - 0.12), row(f.mouthY + 0.14)] as const;
    const upper = [row(f.eyeY - f.browGap - 0.14), row(f.eyeY + 0.08)] as const;
    for (let a = 0; a < 7; a++) {
      for (let b = a + 1; b < 7; b++) {
        const m = bandDiff(apex[a]!, apex[b]!, H, mouth[0], mouth[1]);
        const u = bandDiff(apex[a]!, apex[b]!, H, upper[0], upper[1]);
        // Every pair differs somewhere in the face by more than noise-level amounts.
        expect(Math.max(m, u), `${EMOTIONS[a]} vs ${EMOTIONS[b]}`).toBeGreaterThan(0.006);
      }
    }
    // The mouth carries happiness, surprise and fear apart from neutral.
    for (const e of ['happiness', 'surprise', 'fear'] as const) expect(bandDiff(apex[EMOTIONS.indexOf(e)]!, apex[6]!, H, mouth[0], mouth[1])).toBeGreaterThan(0.01);
  });

  it('varies identities and refuses bad requests', () => {
    const a = makeIdentity(1, 0);
    const b = makeIdentity(1, 1);
    expect(a).not.toEqual(b);
    expect(makeIdentity(1, 0)).toEqual(a);
    const o = { seed: 1, identity: 0, frames: 3, height: 20, width: 20, channels: 1 as const };
    expect(() => makeFaceClip({ ...o, emotion: 'joy' as never })).toThrow(/unknown emotion/);
    expect(() => makeFaceClip({ ...o, emotion: 0, apexFrame: 3 })).toThrow(/apexFrame 3 outside 0..2/);
    expect(() => makeFaceClip({ ...o, emotion: 0, frames: 0 })).toThrow(/frames must be a positive integer/);
    expect(() => new SyntheticFer({ seed: 1, identities: 0, frames: 1, height: 8, width: 8, channels: 1, split: 'train' })).toThrow(/identities/);
  });
});

describe('resize and picture helpers', () => {
  const img = (w: number, h: number, c: 1 | 3 | 4, f: (i: number) => number): Image8 => ({ width: w, height: h, channels: c, data: Uint8Array.from({ length: w * h * c }, (_, i) => f(i)) });

  it('resizes bilinearly with half-pixel centres when enlarging and averages when shrinking', () => {
    expect(Array.from(resizeFloat(Float32Array.of(0, 1), 1, 2, 1, 1, 4))).toEqual([0, 0.25, 0.75, 1]);
    // 4 → 2: the triangle widens to 2 input pixels (weights 0.75, 0.75, 0.25 around centre 0.5, renormalised at the edge).
    const down = resizeFloat(Float32Array.of(0, 0, 1, 1), 1, 4, 1, 1, 2);
    expect(down[0]).toBeCloseTo(1 / 7, 6);
    expect(down[1]).toBeCloseTo(6 / 7, 6);
    // A constant picture stays constant at any size, per channel.
    const flat = resizeFloat(new Float32Array(5 * 7 * 3).map((_, i) => [0.2, 0.5, 0.9][i % 3]!), 5, 7, 3, 13, 3);
    for (let i = 0; i < flat.length; i++) expect(flat[i]).toBeCloseTo([0.2, 0.5, 0.9][i % 3]!, 6);
    const r = resizeImage8(img(10, 6, 3, (i) => (i * 7) % 256), 3, 5);
    expect([r.width, r.height, r.channels, r.data.length]).toEqual([5, 3, 3, 45]);
  });

  it('crops, converts gray↔RGB and builds clips at the requested size', () => {
    const rgba = img(4, 3, 4, (i) => (i % 4 === 3 ? 128 : i % 4 === 0 ? 255 : 0));
    const g = toGray(rgba);
    expect(g.channels).toBe(1);
    expect(Array.from(g.data)).toEqual(new Array(12).fill(76));
    expect(Array.from(toRGB(g).data.subarray(0, 3))).toEqual([76, 76, 76]);
    const c = cropImage8(img(5, 4, 1, (i) => i), 1, 2, 3, 2);
    expect(Array.from(c.data)).toEqual([11, 12, 13, 16, 17, 18]);
    expect(() => cropImage8(c, 1, 0, 3, 2)).toThrow(/does not fit/);
    const wide = centerCropToAspect(img(8, 4, 1, (i) => i), { height: 4, width: 4 });
    expect([wide.width, wide.height, wide.data[0]]).toEqual([4, 4, 2]);

    const frames = [img(8, 8, 3, () => 255), img(8, 8, 3, () => 0)];
    const clip = clipFromImages(frames, { height: 4, width: 4 }, 1, { label: 2, identity: 'x', source: 'test' });
    expect([clip.frameCount, clip.height, clip.width, clip.channels, clip.label, clip.identity]).toEqual([2, 4, 4, 1, 2, 'x']);
    expect(clip.frames[0]).toBe(1);
    expect(clip.frames[16]).toBe(0);
    expect(clipFrameToImage8(clip, 1).data.every((v) => v === 0)).toBe(true);
    expect(() => clipFromImages([], { height: 4, width: 4 }, 1, { source: 'empty/clip' })).toThrow(/no frames \(empty\/clip\)/);
  });
});
