/**
 * A training run's folder and its checkpoints, committed as one unit. A checkpoint is the model, the optimiser
 * state and the log of one moment, described by `checkpoint.json` (each file's size and SHA-256). Committing:
 *   1. every file is written to `NAME.next` and flushed;
 *   2. `checkpoint.json` is replaced atomically (the commit point);
 *   3. each `NAME.next` is renamed over `NAME`.
 * Opening rolls an interrupted step 3 forward (a `.next` that matches the manifest), drops the leftovers of an
 * interrupted step 1 and checks every file against the manifest, so a run killed at any instant resumes from its
 * last complete checkpoint, and a damaged or foreign file is named instead of being half-used (SQLite's journal
 * idea, in three files).
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { EpochProgress } from '../train/trainer.js';
import { syncFolder, writeFileAtomic, writeFileDurable } from './checkpoint-files.js';

export const MANIFEST = 'checkpoint.json';
export const RUN_FILES = ['model.safetensors', 'optimizer.safetensors', 'log.json'] as const;
export type RunFile = (typeof RUN_FILES)[number];
const FORMAT = 'fergpu-run/1';

/** What fixes a run's data and batches: a resume must use the same, or the held-out split and order change. */
export interface RunSettings {
  model: string;
  config: string;
  data: string;
  seed: number;
  identities: number;
  clipFrames: number;
  batch: number;
}

export interface RunManifest {
  format: typeof FORMAT;
  settings: RunSettings;
  /** Completed epochs. */
  epoch: number;
  /** Optimiser steps taken in all. */
  step: number;
  /** The epoch in progress, when the checkpoint was taken mid-epoch. */
  progress: EpochProgress | null;
  files: Record<RunFile, { bytes: number; sha256: string }>;
  saved: string;
}

export class RunFolderError extends Error {
  override name = 'RunFolderError';
}

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** True when `dir` holds a run (a manifest or any checkpoint file), i.e. starting a new run there would replace it. */
export function holdsRun(dir: string): boolean {
  return existsSync(join(dir, MANIFEST)) || RUN_FILES.some((f) => existsSync(join(dir, f)));
}

/** Removes a run's checkpoint (manifest first, so a kill half-way leaves no resumable mixture). */
export async function clearRun(dir: string): Promise<void> {
  await rm(join(dir, MANIFEST), { force: true });
  for (const f of RUN_FILES) await rm(join(dir, f), { force: true });
  await syncFolder(dir);
}

/** Commits one checkpoint (see the file comment); returns its manifest. */
export async function commitCheckpoint(dir: string, files: Record<RunFile, Uint8Array>, about: Omit<RunManifest, 'format' | 'files' | 'saved'>): Promise<RunManifest> {
  const listed = {} as RunManifest['files'];
  for (const f of RUN_FILES) {
    await writeFileDurable(join(dir, `${f}.next`), files[f]);
    listed[f] = { bytes: files[f].byteLength, sha256: sha256(files[f]) };
  }
  await syncFolder(dir);
  const manifest: RunManifest = { format: FORMAT, ...about, files: listed, saved: new Date().toISOString() };
  await writeFileAtomic(join(dir, MANIFEST), JSON.stringify(manifest, null, 2));
  for (const f of RUN_FILES) await rename(join(dir, `${f}.next`), join(dir, f));
  await syncFolder(dir);
  return manifest;
}

export interface OpenedRun {
  manifest: RunManifest;
  files: Record<RunFile, Uint8Array>;
  /** What opening repaired (an interrupted commit rolled forward, leftovers removed), for a notice. */
  repaired: string[];
}

/** Opens the last complete checkpoint of a run folder, or throws a RunFolderError naming the file and the problem. */
export async function openCheckpoint(dir: string): Promise<OpenedRun> {
  const info = await stat(dir).catch(() => null);
  if (!info) throw new RunFolderError(`${dir}: no such run folder`);
  if (!info.isDirectory()) throw new RunFolderError(`${dir}: not a folder (--resume takes the run folder that fergpu train wrote)`);
  const path = join(dir, MANIFEST);
  if (!existsSync(path)) {
    const some = RUN_FILES.filter((f) => existsSync(join(dir, f)));
    throw new RunFolderError(
      some.length
        ? `${path} is missing: ${some.join(', ')} cannot be shown to belong to one checkpoint (a folder from an older fergpu, or its first checkpoint was never committed); nothing to resume`
        : `${dir} holds no checkpoint (${MANIFEST}, ${RUN_FILES.join(', ')}); nothing to resume`,
    );
  }
  const manifest = parseManifest(await readFile(path, 'utf8'), path);
  const repaired: string[] = [];
  const files = {} as Record<RunFile, Uint8Array>;
  for (const f of RUN_FILES) {
    const want = manifest.files[f];
    const final = await readMaybe(join(dir, f));
    const next = await readMaybe(join(dir, `${f}.next`));
    if (final && matches(final, want)) {
      files[f] = final;
      if (next) {
        await rm(join(dir, `${f}.next`), { force: true });
        repaired.push(`removed ${f}.next left by an uncommitted save`);
      }
    } else if (next && matches(next, want)) {
      await rename(join(dir, `${f}.next`), join(dir, f));
      files[f] = next;
      repaired.push(`completed the interrupted save of ${f}`);
    } else {
      const where = `${join(dir, f)}`;
      const at = `the checkpoint of epoch ${manifest.epoch}${manifest.progress ? ` + ${manifest.progress.step} steps` : ''} (step ${manifest.step})`;
      throw new RunFolderError(
        final
          ? `${where} does not belong to ${at}: ${MANIFEST} lists ${want.bytes} bytes with SHA-256 ${want.sha256.slice(0, 12)}…, the file has ${final.byteLength} bytes${final.byteLength === want.bytes ? ' with other contents' : ''} (damaged, truncated or replaced); refusing to resume`
          : `${where} is missing; ${MANIFEST} lists it as part of ${at}; refusing to resume without it`,
      );
    }
  }
  for (const name of await readdir(dir)) {
    if (name.startsWith(`${MANIFEST}.`) && name.endsWith('.tmp')) await rm(join(dir, name), { force: true });
  }
  if (repaired.length) await syncFolder(dir);
  return { manifest, files, repaired };
}

async function readMaybe(path: string): Promise<Uint8Array | null> {
  try {
    const b = await readFile(path);
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new RunFolderError(`${path}: cannot be read (${(e as Error).message})`);
  }
}

function matches(bytes: Uint8Array, want: { bytes: number; sha256: string }): boolean {
  return bytes.byteLength === want.bytes && sha256(bytes) === want.sha256;
}

function parseManifest(text: string, path: string): RunManifest {
  let m: RunManifest;
  try {
    m = JSON.parse(text) as RunManifest;
  } catch (e) {
    throw new RunFolderError(`${path} is damaged: not valid JSON (${(e as Error).message}); refusing to resume`);
  }
  const bad = (what: string): never => {
    throw new RunFolderError(`${path} is damaged or not a fergpu run manifest: ${what}`);
  };
  if (typeof m !== 'object' || m === null) bad('expected an object');
  if (m.format !== FORMAT) bad(`format is ${JSON.stringify(m.format)}, expected "${FORMAT}"`);
  const count = (v: unknown): boolean => Number.isInteger(v) && (v as number) >= 0;
  if (!count(m.epoch) || !count(m.step)) bad('epoch and step must be non-negative integers');
  const s = m.settings as Partial<RunSettings> | undefined;
  if (!s || typeof s.model !== 'string' || typeof s.config !== 'string' || typeof s.data !== 'string' || ![s.seed, s.identities, s.clipFrames, s.batch].every(count)) bad('settings must name model, config, data and give seed, identities, clipFrames and batch');
  for (const f of RUN_FILES) {
    const e = m.files?.[f];
    if (!e || !count(e.bytes) || typeof e.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(e.sha256)) bad(`files.${f} must give bytes and a SHA-256`);
  }
  const p = m.progress;
  if (p !== null && (typeof p !== 'object' || ![p.epoch, p.step, p.steps, p.augment, p.correct, p.seen].every(count) || p.epoch !== m.epoch + 1 || p.step >= p.steps || !Number.isFinite(p.lossSum) || !Number.isFinite(p.seconds))) bad(`progress must describe a step inside epoch ${m.epoch + 1}`);
  return m;
}
