/** Safetensors checkpoints on disk (Node): save → load through files, atomic writes, refusal of damaged files naming the path. */
import { mkdtemp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeSafetensors } from '../src/io/safetensors.js';
import { loadSafetensorsFile, saveSafetensorsFile } from '../src/node/checkpoint-files.js';
import { testEngine } from './helpers/node-engine.js';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fergpu-ckpt-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('checkpoint files', () => {
  it('saves and loads tensors bit-exactly through a file, leaving no temporary files', async () => {
    const engine = await testEngine();
    const bits = Uint32Array.of(0x7fc00001, 0x80000000, 0x00000001, 0x3f800000, 0xff800000);
    const w = engine.tensor(new Float32Array(bits.buffer), [5]);
    const step = engine.tensor(Int32Array.of(42), [1]);
    const path = join(dir, 'model.safetensors');
    await saveSafetensorsFile(path, { 'fc.weight': w, step }, { epoch: '7' });
    expect(await readdir(dir)).toEqual(['model.safetensors']);
    const onDisk = decodeSafetensors(new Uint8Array(await readFile(path)));
    expect(Object.keys(onDisk).sort()).toEqual(['fc.weight', 'step']);
    const loaded = await loadSafetensorsFile(engine, path, { 'fc.weight': w, step });
    expect(Array.from(new Uint32Array((await loaded['fc.weight']!.read()).buffer))).toEqual(Array.from(bits));
    expect(Array.from(await loaded.step!.read())).toEqual([42]);
    // Overwriting an existing checkpoint replaces it whole.
    await saveSafetensorsFile(path, { step });
    expect(Object.keys(decodeSafetensors(new Uint8Array(await readFile(path))))).toEqual(['step']);
    [w, step, ...Object.values(loaded)].forEach((t) => t.dispose());
  });

  it('refuses a truncated or mismatching file with an error naming the path and the problem', async () => {
    const engine = await testEngine();
    const t = engine.tensor(new Float32Array(100).fill(1), [10, 10]);
    const path = join(dir, 'cut.safetensors');
    await saveSafetensorsFile(path, { t });
    await truncate(path, (await readFile(path)).length - 10);
    await expect(loadSafetensorsFile(engine, path)).rejects.toThrow(/cut\.safetensors: safetensors: tensor 't'.*truncated/);
    await saveSafetensorsFile(path, { t });
    await expect(loadSafetensorsFile(engine, path, { t: { shape: [100], dtype: 'f32' }, u: { shape: [1] } })).rejects.toThrow(
      /cut\.safetensors: checkpoint does not match.*2 problems[\s\S]*wrong shape: 't' is \[10, 10\] in the file, \[100\] expected[\s\S]*missing: 'u'/,
    );
    await writeFile(path, 'not a checkpoint at all');
    await expect(loadSafetensorsFile(engine, path)).rejects.toThrow(/header length field says .* bytes.*truncated or not a safetensors file/);
    await expect(loadSafetensorsFile(engine, join(dir, 'absent.safetensors'))).rejects.toThrow(/ENOENT/);
    t.dispose();
  });
});
