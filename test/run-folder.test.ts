/**
 * The checkpoint commit protocol of a training run folder (node/run-folder.ts), at every point a kill can leave
 * it: before the commit (leftover .next files), after it (some .next not yet renamed), and damaged or missing
 * files, each refused with the file named.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitCheckpoint, holdsRun, MANIFEST, openCheckpoint, RUN_FILES, type RunFile } from '../src/node/run-folder.js';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fergpu-run-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const settings = { model: 'm4', config: 'small', data: 'synthetic', seed: 1, identities: 4, clipFrames: 8, batch: 8 };
const files = (tag: string): Record<RunFile, Uint8Array> => Object.fromEntries(RUN_FILES.map((f) => [f, new TextEncoder().encode(`${f} of ${tag} `.repeat(50))])) as Record<RunFile, Uint8Array>;
const text = (b: Uint8Array): string => new TextDecoder().decode(b);
let n = 0;
async function folderAt(tag: string, epoch: number): Promise<string> {
  const dir = join(root, `run${n++}`);
  await mkdir(dir);
  await commitCheckpoint(dir, files(tag), { settings, epoch, step: epoch * 3, progress: null });
  return dir;
}

describe('run folder checkpoints', () => {
  it('commits the files and the manifest together, leaving no temporary files', async () => {
    const dir = await folderAt('a', 1);
    expect((await readdir(dir)).sort()).toEqual([MANIFEST, ...RUN_FILES].sort());
    const opened = await openCheckpoint(dir);
    expect(opened.manifest).toMatchObject({ epoch: 1, step: 3, settings, progress: null });
    expect(text(opened.files['log.json'])).toContain('log.json of a');
    expect(opened.repaired).toEqual([]);
    expect(holdsRun(dir)).toBe(true);
    expect(holdsRun(join(root, 'nothing'))).toBe(false);
  });

  it('opens the previous checkpoint when a save was killed before its commit point', async () => {
    const dir = await folderAt('old', 1);
    // A kill after writing two of the three .next files of the next save.
    await writeFile(join(dir, 'model.safetensors.next'), files('new')['model.safetensors']);
    await writeFile(join(dir, 'optimizer.safetensors.next'), files('new')['optimizer.safetensors'].subarray(0, 10));
    const opened = await openCheckpoint(dir);
    expect(opened.manifest.epoch).toBe(1);
    for (const f of RUN_FILES) expect(text(opened.files[f])).toContain(' of old');
    expect(opened.repaired).toHaveLength(2);
    expect((await readdir(dir)).some((f) => f.endsWith('.next'))).toBe(false);
  });

  it('completes a save killed after its commit point (some files renamed, some not)', async () => {
    const dir = await folderAt('old', 1);
    const next = files('new');
    for (const f of RUN_FILES) await writeFile(join(dir, `${f}.next`), next[f]);
    // Commit the manifest of the new save by hand, then rename only the first file, as a kill there would leave it.
    const other = join(root, 'scratch');
    await mkdir(other);
    await commitCheckpoint(other, next, { settings, epoch: 2, step: 6, progress: null });
    await writeFile(join(dir, MANIFEST), await readFile(join(other, MANIFEST)));
    await rename(join(dir, 'model.safetensors.next'), join(dir, 'model.safetensors'));
    const opened = await openCheckpoint(dir);
    expect(opened.manifest.epoch).toBe(2);
    for (const f of RUN_FILES) {
      expect(text(opened.files[f])).toContain(' of new');
      expect(text(new Uint8Array(await readFile(join(dir, f))))).toContain(' of new');
    }
    expect(opened.repaired.join('; ')).toMatch(/completed the interrupted save of optimizer\.safetensors.*log\.json/);
  });

  it('refuses a truncated, replaced or missing file and a damaged manifest, naming the file', async () => {
    const dir = await folderAt('a', 2);
    await truncate(join(dir, 'model.safetensors'), 100);
    await expect(openCheckpoint(dir)).rejects.toThrow(/model\.safetensors does not belong to the checkpoint of epoch 2 \(step 6\).*100 bytes.*refusing/);
    const dir2 = await folderAt('a', 2);
    await writeFile(join(dir2, 'log.json'), files('b')['log.json']);
    await expect(openCheckpoint(dir2)).rejects.toThrow(/log\.json does not belong.*with other contents/);
    const dir3 = await folderAt('a', 2);
    await rm(join(dir3, 'optimizer.safetensors'));
    await expect(openCheckpoint(dir3)).rejects.toThrow(/optimizer\.safetensors is missing.*refusing to resume without it/);
    const dir4 = await folderAt('a', 2);
    await writeFile(join(dir4, MANIFEST), '{"format": "fergpu-run/1", "epoch": 2');
    await expect(openCheckpoint(dir4)).rejects.toThrow(/checkpoint\.json is damaged: not valid JSON/);
    await writeFile(join(dir4, MANIFEST), '{}');
    await expect(openCheckpoint(dir4)).rejects.toThrow(/checkpoint\.json is damaged or not a fergpu run manifest: format/);
    await rm(join(dir4, MANIFEST));
    await expect(openCheckpoint(dir4)).rejects.toThrow(/checkpoint\.json is missing: model\.safetensors, optimizer\.safetensors, log\.json cannot be shown to belong/);
    await expect(openCheckpoint(join(root, 'absent'))).rejects.toThrow(/absent: no such run folder/);
    await writeFile(join(root, 'plain'), 'x');
    await expect(openCheckpoint(join(root, 'plain'))).rejects.toThrow(/not a folder/);
    expect(existsSync(join(dir4, 'model.safetensors'))).toBe(true); // nothing is deleted by a refusal
  });
});
