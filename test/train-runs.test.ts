/**
 * `fergpu train` runs as a user (and a crash) treats them, through the built CLI in child processes: refusals
 * that protect a run folder, Ctrl-C that stops and saves, and a run killed with SIGKILL at 20 random moments and
 * resumed each time, which must end bit-identical to an uninterrupted run with no checkpoint file ever damaged.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MANIFEST, RUN_FILES, type RunManifest } from '../src/node/run-folder.js';

const dir = mkdtempSync(join(tmpdir(), 'fergpu-runs-'));
const cli = resolve('dist/cli.js');
const env = { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' };
// M4 small on 12 synthetic identities at batch 4: 18 steps an epoch, a few seconds a run.
const RUN = ['train', '--model', 'm4', '--identities', '12', '--batch', '4'];
const RESUME = ['train', '--model', 'm4', '--resume'];

const run = (args: string[], cwd = process.cwd()) => {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env, cwd, timeout: 300_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

/** Starts the CLI; `kill(signal, afterMs)` sends a signal that long after the model line appears (training starts). */
function start(args: string[]): { done: Promise<{ code: number | null; signal: string | null; err: string }>; killAfterStart: (signal: NodeJS.Signals, ms: number) => void } {
  const child = spawn(process.execPath, [cli, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let pending: (() => void) | null = null;
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    if (pending && out.includes('model m4:')) {
      pending();
      pending = null;
    }
  });
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const done = new Promise<{ code: number | null; signal: string | null; err: string }>((res) => child.on('exit', (code, signal) => res({ code, signal, err })));
  return {
    done,
    killAfterStart: (signal, ms) => {
      pending = () => setTimeout(() => child.kill(signal), ms);
      if (out.includes('model m4:')) pending();
    },
  };
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const read = (d: string, f: string): Buffer => readFileSync(join(d, f));

/** What a kill may leave: no manifest yet, or every file (or its committed .next) matching the manifest. */
function checkFolder(d: string): RunManifest | null {
  if (!existsSync(join(d, MANIFEST))) return null;
  const m = JSON.parse(readFileSync(join(d, MANIFEST), 'utf8')) as RunManifest;
  for (const f of RUN_FILES) {
    const ok = [f, `${f}.next`].some((name) => existsSync(join(d, name)) && sha(read(d, name)) === m.files[f].sha256);
    expect(ok, `${f} after a kill at epoch ${m.epoch} step ${m.step}`).toBe(true);
  }
  return m;
}

let reference: string;
beforeAll(() => {
  const b = spawnSync(process.execPath, ['scripts/build.mjs', 'cli'], { encoding: 'utf8' });
  if (b.status !== 0) throw new Error(`build failed: ${b.stderr}`);
  reference = join(dir, 'reference');
  const r = run([...RUN, '--epochs', '3', '--out', reference, '--quiet']);
  if (r.code !== 0) throw new Error(r.err);
}, 300_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('fergpu train run folders', () => {
  it('refuses what would lose or mix a run, naming the folder, file or option', { timeout: 300_000 }, () => {
    const again = run([...RUN, '--epochs', '1', '--out', reference, '--quiet']);
    expect(again.code).toBe(1);
    expect(again.err).toMatch(/reference already holds a training run: --resume .* continues it, --force replaces it/);
    const seed = run([...RESUME, reference, '--seed', '2', '--quiet']);
    expect(seed.err).toMatch(/was trained with --seed 1; resuming with --seed 2 is refused: another seed changes the held-out identities/);
    const lr = run([...RESUME, reference, '--lr', '0.1']);
    expect(lr.err).toMatch(/--lr cannot change them/);
    const other = run(['train', '--model', 'm3', '--resume', reference]);
    expect(other.err).toMatch(/is a run of model m4, not m3/);
    for (const [v, want] of [['0', /--epochs must be a positive integer, not '0'/], ['-1', /--epochs must be a positive integer, not '-1'/]] as const) {
      const r = run(['train', '--model', 'm4', '--epochs', v]);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(want);
    }
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    expect(run([...RESUME, empty]).err).toMatch(/empty holds no checkpoint/);
    // A damaged log (a user's edit, a bad disk): named, refused before any training, nothing written.
    const copy = join(dir, 'copy');
    mkdirSync(copy);
    for (const f of [...RUN_FILES, MANIFEST]) writeFileSync(join(copy, f), read(reference, f));
    writeFileSync(join(copy, 'log.json'), '{}');
    const before = read(copy, 'model.safetensors');
    const log = run([...RESUME, copy, '--epochs', '1']);
    expect(log.code).toBe(1);
    expect(log.err).toMatch(/copy\/log\.json does not belong to the checkpoint of epoch 3 \(step 54\).*refusing to resume/);
    expect(read(copy, 'model.safetensors').equals(before)).toBe(true);
    writeFileSync(join(dir, 'afile'), 'x');
    const blocked = run([...RUN, '--epochs', '1', '--out', join(dir, 'afile', 'run')]);
    expect(blocked.err).toMatch(/--out .*afile\/run: cannot create the run folder \(a file is in the way\)/);
    for (const r of [again, seed, lr, other, log, blocked]) expect(r.err).not.toMatch(/\n\s+at /);
  });

  it('resumes into the run folder (never ./runs), and --force starts over', { timeout: 300_000 }, () => {
    const cwd = join(dir, 'cwd');
    mkdirSync(cwd);
    const d = join(dir, 'short');
    const first = run([...RUN, '--epochs', '1', '--out', d, '--quiet']);
    expect(first.code, first.err).toBe(0);
    const more = run([...RESUME, d, '--epochs', '1', '--quiet'], cwd);
    expect(more.code, more.err).toBe(0);
    expect(existsSync(join(cwd, 'runs'))).toBe(false);
    expect((JSON.parse(read(d, MANIFEST).toString()) as RunManifest).epoch).toBe(2);
    const done = run([...RESUME, d]);
    expect(done.code).toBe(0);
    expect(done.out).toMatch(/has trained 2 of its 1 planned epochs; --epochs N trains N more/);
    const forced = run([...RUN, '--epochs', '1', '--out', d, '--force', '--quiet']);
    expect(forced.code, forced.err).toBe(0);
    expect((JSON.parse(read(d, MANIFEST).toString()) as RunManifest).epoch).toBe(1);
  });

  it('stops on Ctrl-C after the current step, saves, and the resumed run ends bit-identical', { timeout: 300_000 }, async () => {
    const d = join(dir, 'sigint');
    const p = start([...RUN, '--epochs', '3', '--out', d]);
    p.killAfterStart('SIGINT', 1500);
    const r = await p.done;
    expect(r.code, r.err).toBe(130);
    expect(r.err).toMatch(/stopping after the current step/);
    expect(r.err).toMatch(new RegExp(`the checkpoint in ${d} is committed\\. Continue with: fergpu train --model m4 --resume ${d}`));
    const m = checkFolder(d)!;
    expect(m.step).toBeGreaterThan(0);
    expect(m.step).toBeLessThan(54);
    const resumed = run([...RESUME, d, '--quiet']);
    expect(resumed.code, resumed.err).toBe(0);
    for (const f of ['model.safetensors', 'optimizer.safetensors']) expect(read(d, f).equals(read(reference, f)), f).toBe(true);
  });

  it('survives SIGKILL at 20 random moments: every resume continues from a complete checkpoint and the run ends bit-identical', { timeout: 900_000 }, async () => {
    let seed = 12345;
    const random = (): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const seen: string[] = [];
    const finish = (d: string): void => {
      for (const f of ['model.safetensors', 'optimizer.safetensors']) expect(read(d, f).equals(read(reference, f)), `${f} of ${d} (checkpoints seen: ${seen.join(' ')})`).toBe(true);
      const log = JSON.parse(read(d, 'log.json').toString()) as { epochs: { epoch: number }[] };
      expect(log.epochs.map((e) => e.epoch)).toEqual([1, 2, 3]);
    };
    // A run that outpaces the kills (a fast spell of the machine) is checked and a new one starts, until 20 kills landed.
    let folder = 0;
    let d = join(dir, `killed${folder}`);
    let killed = 0;
    for (let attempt = 0; killed < 20 && attempt < 60; attempt++) {
      const resume = existsSync(join(d, MANIFEST));
      const p = start([...(resume ? [...RESUME, d] : [...RUN, '--epochs', '3', '--out', d]), '--save-every', '1']);
      const ms = 200 + Math.round(random() * 1600);
      p.killAfterStart('SIGKILL', ms);
      const r = await p.done;
      // A run that finished before the kill exits 0; otherwise it died of the signal, never of an error.
      expect(r.signal === 'SIGKILL' || r.code === 0, `attempt ${attempt}, kill after ${ms} ms: ${r.err}`).toBe(true);
      const m = checkFolder(d);
      seen.push(r.signal === 'SIGKILL' ? (m ? `${m.epoch}:${m.progress?.step ?? 0}` : '-') : 'done');
      if (r.signal === 'SIGKILL') killed++;
      else {
        finish(d);
        d = join(dir, `killed${++folder}`);
      }
    }
    expect(killed).toBe(20);
    const last = run([...RESUME, d, '--quiet']);
    expect(last.code, last.err).toBe(0);
    finish(d);
    console.log(`checkpoints after each kill (epoch:step): ${seen.join(' ')}`);
  });
});
