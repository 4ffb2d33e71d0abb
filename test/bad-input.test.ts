/**
 * The bad-input corpus (test/fixtures/bad/, described in its README) through the library loaders and `fergpu infer`:
 * every input gets a message naming the file and the problem, the CLI exits non-zero without a crash or a hang, no
 * decoder allocates what a header claims, the good inputs of a run still print, and nothing is written over
 * existing outputs. Damaged copies of the shipped M1 weights (NaN, infinite, a negative variance, broken metadata)
 * are made here from assets/weights/m1-small.safetensors rather than committed.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { demoClip } from '../src/cli/demo-clip.js';
import { readClip } from '../src/cli/infer.js';
import { decodeSafetensors, encodeSafetensors, loadTensors, safetensorsMetadata, type SafetensorsEntry } from '../src/io/safetensors.js';
import { readImage, writePng } from '../src/node/image-files.js';
import { fileTuningStore } from '../src/node/tuning-store.js';
import { loadModelFile } from '../src/train/model-file.js';
import { testEngine } from './helpers/node-engine.js';

const BAD = join('test', 'fixtures', 'bad');
const SHIPPED = join('assets', 'weights', 'm1-small.safetensors');
const TFJS_MODEL = join('node_modules', '@vladmandic', 'human', 'models', 'emotion.json');
const tmp = mkdtempSync(join(tmpdir(), 'fergpu-bad-'));

/** Structurally broken safetensors: the loader's message, and the CLI's when the file is given to `infer --model m1`. */
const WEIGHTS: [file: string, loader: RegExp, cli?: RegExp][] = [
  ['empty.safetensors', /is 0 bytes long, too short for the 8-byte header length/],
  ['short.safetensors', /is 4 bytes long, too short/],
  ['truncated.safetensors', /run past the end of the data section.*truncated/],
  ['header-too-long.safetensors', /header length field says 1000000000 bytes, but only \d+ bytes follow/],
  ['not-json.safetensors', /header is not valid JSON/],
  ['overlapping.safetensors', /tensors 'a' and 'b' overlap/],
  ['out-of-range.safetensors', /data_offsets \[0, 4096\] run past the end/],
  ['unknown-dtype.safetensors', /dtype "F8_E4M3" is not supported/],
  ['bitflip.safetensors', /'b': shape \[2\] of F32 needs 8 bytes, but data_offsets \[17, 24\] hold 7/],
  ['nan-values.safetensors', /'w' \[2, 3\]: 2 of 6 values are NaN or infinite \(first: element 1 = NaN\)/, /do not fit model m1.*missing/s],
];

/** Images and clip folders that must be refused, with the reason. */
const INPUTS: [path: string, reason: RegExp][] = [
  ['images/huge-claim.png', /the PNG claims 100000×100000 pixels \(10000 MP\), over the 100 MP limit/],
  ['images/huge-claim.jpg', /the JPEG claims 65000×65000 pixels/],
  ['images/inflate-bomb.png', /inflates past the 20 bytes its 4×4 header declares/],
  ['images/half.jpg', /truncated or corrupt JPEG \(no end-of-image marker\)/],
  ['images/zero-byte.png', /not a PNG or JPEG file/],
  ['images/not-an-image.png', /not a PNG or JPEG file/],
  ['images/clip-mixed-sizes', /frames differ in size: .*frame-1\.png is 16×16, .*frame-2\.png is 24×20/],
  ['images/clip-empty', /the clip folder holds no PNG or JPEG frames/],
];

const run = (args: string[], env: Record<string, string> = {}) => {
  const r = spawnSync(process.execPath, ['dist/cli.js', ...args], { encoding: 'utf8', env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp', ...env }, timeout: 240_000 });
  return { code: r.status, signal: r.signal, out: r.stdout, err: r.stderr };
};

/** A refusal as a user should see it: exit 1 (not a signal, not a hang), the file and the reason, no stack trace. */
function expectRefused(r: ReturnType<typeof run>, ...fragments: (string | RegExp)[]): void {
  expect(r.signal, r.err).toBeNull();
  expect(r.code, r.err).toBe(1);
  for (const f of fragments) expect(r.err).toMatch(typeof f === 'string' ? new RegExp(f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) : f);
  expect(r.err).not.toMatch(/\n\s+at /);
  expect(r.out).not.toMatch(/NaN|undefined/);
}

/** A copy of the shipped weights with `edit` applied to its tensors and/or its fergpu metadata. */
function damagedWeights(name: string, edit: { tensors?: (e: Record<string, SafetensorsEntry>) => void; info?: (info: Record<string, unknown>) => void }): string {
  const bytes = new Uint8Array(readFileSync(SHIPPED));
  const entries = decodeSafetensors(bytes);
  const meta = safetensorsMetadata(bytes);
  edit.tensors?.(entries);
  const info = JSON.parse(meta.fergpu!) as Record<string, unknown>;
  edit.info?.(info);
  const path = join(tmp, name);
  writeFileSync(path, encodeSafetensors(entries, { ...meta, fergpu: JSON.stringify(info) }));
  return path;
}

const DAMAGED: [name: string, edit: Parameters<typeof damagedWeights>[1], reason: RegExp][] = [
  ['nan.safetensors', { tensors: (e) => ((e['classifier.weight']!.data as Float32Array)[3] = NaN) }, /'classifier\.weight' \[7, \d+\]: 1 of \d+ values is NaN or infinite \(first: element 3 = NaN\)/],
  ['inf.safetensors', { tensors: (e) => ((e['layer2.0.conv1.weight']!.data as Float32Array)[0] = -Infinity) }, /'layer2\.0\.conv1\.weight' \[.*\]: 1 of \d+ values is NaN or infinite \(first: element 0 = -Infinity\)/],
  ['negative-variance.safetensors', { tensors: (e) => ((e['layer1.0.bn1.running_var']!.data as Float32Array)[2] = -0.5) }, /'layer1\.0\.bn1\.running_var' \[\d+\]: 1 of \d+ values is negative, and a variance cannot be \(first: element 2 = -0\.5\)/],
  // Finite weights whose logits overflow: the load passes, the result is not finite and is not printed.
  ['overflow.safetensors', { tensors: (e) => (e['classifier.weight']!.data as Float32Array).fill(3e38) }, /good: the model's output is not finite \(probabilities .*NaN.*\): the input or the weights in .*overflow\.safetensors hold NaN or infinite values/],
  ['no-input.safetensors', { info: (i) => delete i.input }, /the fergpu metadata has no 'input'/],
  ['zero-frames.safetensors', { info: (i) => ((i.input as Record<string, unknown>).frames = 0) }, /input\.frames = 0; expected an integer ≥ 1/],
  ['short-labels.safetensors', { info: (i) => ((i.labels as string[]).length = 5) }, /lists 5 labels \(anger, disgust, fear, happiness, sadness\) for a model of 7 classes/],
];

let goodClip = '';

beforeAll(() => {
  const r = spawnSync(process.execPath, ['scripts/build.mjs', 'cli'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`build failed: ${r.stderr}`);
  // A clip of the demo's identity (outside the shipped weights' training run), as PNG frames.
  goodClip = join(tmp, 'good');
  const clip = demoClip(64, 3);
  const n = 64 * 64 * 3;
  for (let f = 0; f < clip.frameCount; f++) writePng(join(goodClip, `f${f}.png`), { width: 64, height: 64, channels: 3, data: Uint8Array.from(clip.frames.subarray(f * n, (f + 1) * n), (v) => Math.round(v * 255)) });
}, 120_000);

describe('library loaders on the corpus', () => {
  it.each(WEIGHTS)('loadTensors refuses %s naming the file and the problem', async (file, reason) => {
    const engine = await testEngine();
    const path = join(BAD, 'weights', file);
    const bytes = new Uint8Array(readFileSync(path));
    expect(() => loadTensors(engine, bytes, undefined, { finite: true, source: path })).toThrow(new RegExp(`${path.replace(/\./g, '\\.')}: .*${reason.source}`, 's'));
  });

  it.each(INPUTS)('%s is refused, naming it, fast, without allocating what it claims', async (rel, reason) => {
    const path = join(BAD, rel);
    const before = process.memoryUsage().arrayBuffers;
    const t0 = performance.now();
    const read = rel.includes('clip-') ? readClip(path, 64, 3, () => {}) : Promise.resolve().then(() => readImage(path));
    await expect(read).rejects.toThrow(reason);
    await expect(read).rejects.toThrow(path);
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 << 20);
  });

  it('loadModelFile refuses damaged copies of the shipped weights, naming the file and every bad tensor', async () => {
    const engine = await testEngine();
    for (const [name, edit, reason] of DAMAGED.slice(0, 3)) {
      const path = damagedWeights(name, edit);
      expect(() => loadModelFile(engine, new Uint8Array(readFileSync(path)), {}, path)).toThrow(new RegExp(`${path}: .*${reason.source}`, 's'));
    }
  });

  it('a damaged tuning cache is ignored with a warning and rewritten; missing is silent', () => {
    for (const [text, problem] of [['null', /holds null/], ['[1, 2]', /holds an array/], ['{"matmul": 3, "conv2d": "texture"}', /1 entry that are not strings \(matmul\)/], ['{"a": ', /is not valid JSON/]] as const) {
      const path = join(tmp, 'cache', `tuning-${Math.random().toString(36).slice(2)}.json`);
      mkdirSync(join(tmp, 'cache'), { recursive: true });
      writeFileSync(path, text);
      const warnings: string[] = [];
      const store = fileTuningStore(path, (m) => warnings.push(m));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(problem);
      expect(warnings[0]).toContain(path);
      expect(store.get('matmul')).toBeUndefined();
      const rewritten = JSON.parse(readFileSync(path, 'utf8')) as Record<string, string>;
      expect(rewritten).toEqual(text.includes('conv2d') ? { conv2d: 'texture' } : {});
      store.set('softmax', 'workgroup');
      expect(JSON.parse(readFileSync(path, 'utf8')).softmax).toBe('workgroup');
    }
    const quiet: string[] = [];
    fileTuningStore(join(tmp, 'cache', 'absent.json'), (m) => quiet.push(m));
    expect(quiet).toEqual([]);
  });
});

describe('fergpu infer on the corpus', () => {
  it.each(WEIGHTS)('--weights %s: exit 1 with the file and the problem', { timeout: 240_000 }, (file, reason, cli) => {
    const path = join(BAD, 'weights', file);
    expectRefused(run(['infer', '--weights', path, '--model', 'm1', goodClip]), path, cli ?? reason);
  });

  it.each(DAMAGED)('damaged shipped weights %s: exit 1, never a NaN result', { timeout: 240_000 }, (name, edit, reason) => {
    const path = damagedWeights(name, edit);
    expectRefused(run(['infer', '--weights', path, goodClip]), path, reason);
  });

  it('good and bad inputs in one run: the good one prints as ready, each bad one is named, exit 1, nothing overwritten', { timeout: 300_000 }, () => {
    const out = join(tmp, 'pictures');
    mkdirSync(out, { recursive: true });
    // A picture of an earlier run, named as the bad input's would be: it must survive.
    writeFileSync(join(out, 'half-probabilities.png'), 'earlier output');
    const loop = join(tmp, 'loop');
    symlinkSync(loop, loop);
    const missing = join(tmp, 'missing-clip');
    const bad = [...INPUTS.map(([rel]) => join(BAD, rel)), loop, missing];
    // A tuning cache holding null must not break the run.
    const cache = join(tmp, 'tuning-cache');
    mkdirSync(cache, { recursive: true });
    writeFileSync(join(cache, 'tuning.json'), 'null');
    const r = run(['infer', '--weights', SHIPPED, '--save-attention', out, bad[0]!, goodClip, ...bad.slice(1)], { FERGPU_CACHE_DIR: cache });
    expectRefused(r, `infer: ${bad.length} of ${bad.length + 1} inputs failed`, /tuning\.json: the kernel tuning cache holds null, not an object of kernel choices; ignored and rebuilt/);
    for (const [rel, reason] of INPUTS) expect(r.err).toMatch(new RegExp(`error: ${join(BAD, rel).replace(/\./g, '\\.')}: .*${reason.source}`));
    expect(r.err).toMatch(new RegExp(`error: ${loop}: a loop of symbolic links`));
    expect(r.err).toMatch(new RegExp(`error: ${missing}: no such file or folder`));
    const row = r.out.split('\n').find((l) => l.startsWith(basename(goodClip)));
    expect(row, r.out).toMatch(/happiness \(\d+\.\d%\)$/);
    expect(readFileSync(join(out, 'half-probabilities.png'), 'utf8')).toBe('earlier output');
    expect(readdirSync(out).filter((f) => !f.startsWith('good-') && f !== 'half-probabilities.png')).toEqual([]);
    expect(JSON.parse(readFileSync(join(cache, 'tuning.json'), 'utf8'))).toBeTypeOf('object');
  });

  it('--json lists the clips that worked and the inputs that failed, exit 1', { timeout: 300_000 }, () => {
    const r = run(['infer', '--weights', SHIPPED, '--json', goodClip, join(BAD, 'images', 'half.jpg')]);
    expect(r.code, r.err).toBe(1);
    const res = JSON.parse(r.out) as { clips: { input: string; top: string }[]; failed: { input: string; error: string }[] };
    expect(res.clips.map((c) => c.input)).toEqual([goodClip]);
    expect(res.failed).toHaveLength(1);
    expect(res.failed[0]!.error).toMatch(/half\.jpg: truncated or corrupt JPEG/);
  });

  it('an unwritable --save-attention folder is refused before any work', { timeout: 120_000 }, () => {
    // Root ignores permission bits, so as root use a place no one can create folders in.
    let parent = '/sys';
    if (process.getuid?.() !== 0) {
      parent = join(tmp, 'read-only');
      mkdirSync(parent, { mode: 0o555 });
    }
    const r = run(['infer', '--weights', SHIPPED, '--save-attention', join(parent, 'fergpu-pictures'), goodClip]);
    expectRefused(r, `--save-attention ${join(parent, 'fergpu-pictures')}: cannot create the folder`, /permission denied|read-only/);
  });

  it('fergpu demo in a folder it cannot write says so, exit 1', { timeout: 240_000 }, () => {
    let cwd = '/sys';
    if (process.getuid?.() !== 0) {
      cwd = join(tmp, 'read-only-cwd');
      mkdirSync(cwd, { mode: 0o555 });
    }
    const cli = join(process.cwd(), 'dist', 'cli.js');
    const r = spawnSync(process.execPath, [cli, 'demo'], { cwd, encoding: 'utf8', env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' }, timeout: 240_000 });
    expectRefused({ code: r.status, signal: r.signal, out: r.stdout, err: r.stderr }, /demo: the picture folder \/.*demo-output\/clip: cannot create the folder \(permission denied\); run the demo from a writable folder/);
  });

  it.runIf(existsSync(TFJS_MODEL))('tfjs: a --box wholly outside the image is an error naming the image and the box', { timeout: 240_000 }, () => {
    const photo = join('test', 'fixtures', 'astronaut.png');
    const r = run(['infer', '--model', `tfjs:${TFJS_MODEL}`, '--box', '5000,4000,100,100', photo]);
    expectRefused(r, `${photo}: the face box --box 5000,4000,100,100 lies entirely outside the 512×512 image`, 'infer: 1 of 1 input failed');
  });
});
