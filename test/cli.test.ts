/**
 * The `fergpu` command line end to end, as a user runs it (a built dist/cli.js in a child process): train a model
 * briefly on synthetic faces, resume, infer on PNG frames with attention pictures, and the bad-input messages.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { makeFaceClip } from '../src/data/synthetic-faces.js';
import { writePng } from '../src/node/image-files.js';

const dir = mkdtempSync(join(tmpdir(), 'fergpu-cli-'));
const run = (...args: string[]) => {
  const r = spawnSync(process.execPath, ['dist/cli.js', ...args], { encoding: 'utf8', env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' }, timeout: 300_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

/** A generated clip written as PNG frames, as a user's folder of frames would be. */
function writeClip(path: string, emotion: number, size: number, channels: 1 | 3, frames = 4): void {
  const clip = makeFaceClip({ seed: 5, identity: 2, emotion, frames, height: size, width: size, channels });
  const n = size * size * channels;
  for (let f = 0; f < frames; f++) {
    writePng(join(path, `f${f}.png`), { width: size, height: size, channels, data: Uint8Array.from(clip.frames.subarray(f * n, (f + 1) * n), (v) => Math.round(v * 255)) });
  }
}

beforeAll(() => {
  const r = spawnSync(process.execPath, ['scripts/build.mjs', 'cli'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`build failed: ${r.stderr}`);
}, 120_000);

describe('fergpu train / infer', () => {
  const out = join(dir, 'm4');
  it('trains M4 for an epoch, writes checkpoints, log and curves, and resumes', { timeout: 300_000 }, () => {
    const r = run('train', '--model', 'm4', '--identities', '4', '--epochs', '1', '--batch', '8', '--out', out, '--quiet');
    expect(r.code, r.err).toBe(0);
    for (const f of ['model.safetensors', 'optimizer.safetensors', 'log.json', 'curves.png']) expect(existsSync(join(out, f)), f).toBe(true);
    const again = run('train', '--model', 'm4', '--identities', '4', '--epochs', '1', '--batch', '8', '--out', out, '--resume', out, '--quiet');
    expect(again.code, again.err).toBe(0);
    const log = JSON.parse(readFileSync(join(out, 'log.json'), 'utf8')) as { epochs: { epoch: number; lr: number; test: { accuracy: number } }[]; schedule: unknown };
    expect(log.epochs.map((e) => e.epoch)).toEqual([1, 2]);
    // The small configuration anneals over the first run's plan (1 epoch); the resumed epoch is past it, at the floor.
    expect(log.schedule).toEqual({ kind: 'cosine', epochs: 1 });
    expect(log.epochs[0]!.lr).toBeCloseTo(1e-3, 12);
    expect(log.epochs[1]!.lr).toBeCloseTo(2e-5, 12);
  });

  it('infers on a folder of frames and an image, as JSON, and draws the attention pictures', { timeout: 300_000 }, () => {
    const clip = join(dir, 'clip');
    writeClip(clip, 3, 60, 3); // RGB and 60×60: converted to gray and resized with a notice
    const pics = join(dir, 'pics');
    const r = run('infer', '--weights', join(out, 'model.safetensors'), clip, join(clip, 'f3.png'), '--json', '--save-attention', pics);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/resized to 48×48/);
    const res = JSON.parse(r.out) as { model: string; clips: { probabilities: Record<string, number>; top: string }[] };
    expect(res.model).toBe('m4');
    expect(res.clips).toHaveLength(2);
    for (const c of res.clips) {
      const sum = Object.values(c.probabilities).reduce((a, b) => a + b, 0);
      expect(sum).toBeCloseTo(1, 4);
      expect(Object.keys(c.probabilities)).toContain(c.top);
    }
    const files = readdirSync(pics);
    expect(files.some((f) => f.includes('occlusion'))).toBe(true);
    expect(files.some((f) => f.includes('probabilities'))).toBe(true);
  });

  it('names what is wrong: unknown model, weights of another model or configuration, missing and corrupt inputs', { timeout: 300_000 }, () => {
    const weights = join(out, 'model.safetensors');
    const unknown = run('train', '--model', 'm9');
    expect(unknown.code).not.toBe(0);
    expect(unknown.err).toMatch(/unknown model 'm9'.*m1.*m5/);
    const other = run('infer', '--weights', weights, '--model', 'm3', join(dir, 'clip'));
    expect(other.code).not.toBe(0);
    expect(other.err).toMatch(/for model m4.*not m3/);
    const missing = run('infer', '--weights', weights, join(dir, 'nope.png'));
    expect(missing.code).not.toBe(0);
    expect(missing.err).toMatch(/nope\.png: no such file/);
    const corrupt = join(dir, 'corrupt.png');
    writeFileSync(corrupt, 'not a png');
    const bad = run('infer', '--weights', weights, corrupt);
    expect(bad.code).not.toBe(0);
    expect(bad.err).toMatch(/corrupt\.png/);
    const empty = join(dir, 'empty');
    spawnSync('mkdir', ['-p', empty]);
    const none = run('infer', '--weights', weights, empty);
    expect(none.err).toMatch(/no PNG or JPEG frames/);
    const noWeights = run('infer', '--weights', join(dir, 'none.safetensors'), join(dir, 'clip'));
    expect(noWeights.err).toMatch(/none\.safetensors: no such weights file/);
    const badOption = run('train', '--model', 'm4', '--epochs', 'many');
    expect(badOption.code).toBe(2);
    expect(badOption.err).toMatch(/--epochs must be/);
    for (const r of [unknown, other, missing, bad, none, noWeights]) expect(r.err).not.toMatch(/\n\s+at /); // no stack trace
  });
});
