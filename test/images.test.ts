/** PNG/JPEG files and dataset folders (pure CPU; no GPU needed). */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Image8 } from '../src/data/types.js';
import { decodeImage, encodePng, readImage, writePng } from '../src/node/image-files.js';
import { ImageFolder } from '../src/node/image-folder.js';

const pattern = (w: number, h: number, c: 1 | 3 | 4): Image8 => ({ width: w, height: h, channels: c, data: Uint8Array.from({ length: w * h * c }, (_, i) => (i * 37 + (i >> 3)) & 255) });
const tmp = mkdtempSync(join(tmpdir(), 'fergpu-img-'));

describe('PNG and JPEG files', () => {
  it('round-trips gray, RGB and RGBA PNGs bit for bit', () => {
    for (const c of [1, 3, 4] as const) {
      const img = pattern(13, 7, c);
      const back = decodeImage(encodePng(img));
      expect([back.width, back.height, back.channels]).toEqual([13, 7, c]);
      expect(Array.from(back.data)).toEqual(Array.from(img.data));
    }
  });
  it('reads the astronaut photo (512×512 RGB, a real encoder’s filters)', () => {
    const img = readImage('test/fixtures/astronaut.png');
    expect([img.width, img.height, img.channels]).toEqual([512, 512, 3]);
    let mean = 0;
    for (const v of img.data) mean += v / img.data.length;
    expect(mean).toBeGreaterThan(60);
    expect(mean).toBeLessThan(200);
    // Her orange suit fills the lower left: red dominates blue there.
    let r = 0;
    let b = 0;
    for (let y = 380; y < 440; y++) for (let x = 60; x < 160; x++) {
      r += img.data[(y * 512 + x) * 3]!;
      b += img.data[(y * 512 + x) * 3 + 2]!;
    }
    expect(r).toBeGreaterThan(2 * b);
  });
  it('decodes a JPEG (a face-api demo photo, read from node_modules, never committed)', () => {
    const img = readImage('node_modules/@vladmandic/face-api/demo/sample1.jpg');
    expect(img.channels).toBe(3);
    expect(img.width).toBeGreaterThan(100);
    expect(img.data.length).toBe(img.width * img.height * 3);
  });
  it('names the file and the problem for missing, corrupt and truncated files', () => {
    expect(() => readImage(join(tmp, 'missing.png'))).toThrow(/missing\.png: no such file/);
    writeFileSync(join(tmp, 'text.png'), 'hello');
    expect(() => readImage(join(tmp, 'text.png'))).toThrow(/text\.png: not a PNG or JPEG/);
    const good = encodePng(pattern(9, 9, 3));
    const flipped = good.slice();
    flipped[40] ^= 0xff;
    expect(() => decodeImage(flipped, 'flipped.png')).toThrow(/flipped\.png: corrupt PNG/);
    expect(() => decodeImage(good.slice(0, 30), 'short.png')).toThrow(/short\.png: corrupt PNG/);
  });
});

describe('dataset folders', () => {
  it('read clip folders and single images, map emotion names to the class order, resize with a notice, split by identity', () => {
    const root = join(tmp, 'data');
    for (const [label, who] of [['happy', 'ann'], ['Sad', 'bob'], ['angry', 'cid']] as const) {
      mkdirSync(join(root, label, `${who}_001`), { recursive: true });
      for (let f = 0; f < 3; f++) writePng(join(root, label, `${who}_001`, `${f}.png`), pattern(20, 20, 3));
      writePng(join(root, label, `${who}-x.png`), pattern(20, 20, 1));
    }
    const notices: string[] = [];
    const all = new ImageFolder({ root, size: 16, channels: 1, frames: 2, split: 'all', onNotice: (m) => notices.push(m) });
    expect(all.labels[3]).toBe('happiness');
    expect(all.size).toBe(6);
    const clip = all.get(0);
    expect([clip.frameCount, clip.height, clip.width, clip.channels]).toEqual([2, 16, 16, 1]);
    expect(notices.join()).toMatch(/20×20.*resized to 16×16/);
    expect(new Set(Array.from({ length: 6 }, (_, i) => all.get(i).label))).toEqual(new Set([0, 3, 4]));
    const train = new ImageFolder({ root, size: 16, channels: 1, split: 'train', testFraction: 0.5, seed: 3 });
    const test = new ImageFolder({ root, size: 16, channels: 1, split: 'test', testFraction: 0.5, seed: 3 });
    expect(train.size + test.size).toBe(6);
    const ids = (s: ImageFolder) => new Set(Array.from({ length: s.size }, (_, i) => s.get(i).identity));
    for (const id of ids(train)) expect(ids(test).has(id)).toBe(false);
    mkdirSync(join(root, 'happy', 'empty_clip'));
    expect(() => new ImageFolder({ root, size: 16, channels: 1, split: 'all' })).toThrow(/empty_clip: empty clip/);
    expect(() => new ImageFolder({ root: join(tmp, 'nowhere'), size: 16, channels: 1, split: 'all' })).toThrow(/nowhere: no such data folder/);
  });
});
