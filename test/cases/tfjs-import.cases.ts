/**
 * The TF.js graph importer on a real model in both runtimes: the FER2013 mini-Xception emotion model from
 * @vladmandic/human on the astronaut's face (test/fixtures/astronaut.png), checked against TensorFlow.js's CPU
 * backend (values recorded from test/tfjs-import.test.ts's reference run, which compares live in Node).
 *
 * The bytes come in as `import … with { type: 'bytes' }`, which the browser bundle (esbuild) inlines. Under vitest
 * (Vite) the PNG import is the file's root-relative URL instead, and `.bin` is not an asset type there, so in Node
 * both files are read from disk through `process.getBuiltinModule` (no Node import in this file, so the bundle
 * stays browser-clean) and the weights' dynamic import never runs.
 */
import modelJson from '../../node_modules/@vladmandic/human/models/emotion.json';
import astronautImport from '../fixtures/astronaut.png' with { type: 'bytes' };
import type { Image8 } from '../../src/data/types.js';
import { emotionInput, FER2013_LABELS } from '../../src/import/emotion-input.js';
import { loadTfjsGraphModel, type TfjsModelJson } from '../../src/import/tfjs-graph.js';
import { expectClose } from '../helpers/compare.js';
import type { Suite } from './types.js';

/** TF.js 4.22 CPU backend, same crop and preprocessing (angry … neutral). */
const TFJS_CPU_ASTRONAUT = [9.454295479827124e-8, 5.317697779512465e-13, 5.398509870246926e-7, 0.9999903440475464, 8.26567756462282e-8, 0.0000013790418051939923, 0.0000075039902185380924];
const FACE = { x: 168, y: 62, width: 112, height: 124 };

const WEIGHTS = '/node_modules/@vladmandic/human/models/emotion.bin';

type NodeProcess = { getBuiltinModule?(id: string): unknown; cwd(): string };
const nodeProcess = (globalThis as { process?: NodeProcess }).process;

/** A file under the repository root, in Node. */
function readRootFile(path: string): Uint8Array {
  const fs = nodeProcess?.getBuiltinModule?.('node:fs') as { readFileSync(p: string): Uint8Array } | undefined;
  if (!fs || !nodeProcess) throw new Error(`fixture ${path} came as a URL and there is no file system to read it from`);
  return new Uint8Array(fs.readFileSync(nodeProcess.cwd() + path.split('?')[0]));
}

function bytesOf(v: Uint8Array | string): Uint8Array {
  return typeof v === 'string' ? readRootFile(v) : v;
}

async function weightBytes(): Promise<Uint8Array> {
  if (nodeProcess?.getBuiltinModule) return readRootFile(WEIGHTS);
  const m = (await import('../../node_modules/@vladmandic/human/models/emotion.bin', { with: { type: 'bytes' } })) as { default: Uint8Array | string };
  return bytesOf(m.default);
}

/** An 8-bit non-interlaced PNG (gray / RGB / RGBA) via DecompressionStream, which browsers and Node share. */
async function decodePng(bytes: Uint8Array): Promise<Image8> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let width = 0;
  let height = 0;
  let channels = 0;
  const idat: Uint8Array[] = [];
  for (let at = 8; at < bytes.length; ) {
    const len = view.getUint32(at);
    const type = String.fromCharCode(...bytes.subarray(at + 4, at + 8));
    if (type === 'IHDR') {
      width = view.getUint32(at + 8);
      height = view.getUint32(at + 12);
      channels = ({ 0: 1, 2: 3, 6: 4 } as Record<number, number>)[bytes[at + 17]!] ?? 0;
      if (bytes[at + 16] !== 8 || bytes[at + 20] !== 0 || !channels) throw new Error('decodePng: only 8-bit non-interlaced gray/RGB/RGBA');
    } else if (type === 'IDAT') idat.push(bytes.subarray(at + 8, at + 8 + len));
    at += 12 + len;
  }
  const raw = new Uint8Array(await new Response(new Blob(idat as BlobPart[]).stream().pipeThrough(new DecompressionStream('deflate'))).arrayBuffer());
  const stride = width * channels;
  const px = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)]!;
    const src = raw.subarray(y * (stride + 1) + 1);
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? px[y * stride + i - channels]! : 0;
      const b = y > 0 ? px[(y - 1) * stride + i]! : 0;
      const c = i >= channels && y > 0 ? px[(y - 1) * stride + i - channels]! : 0;
      const p = a + b - c;
      const paeth = Math.abs(p - a) <= Math.abs(p - b) && Math.abs(p - a) <= Math.abs(p - c) ? a : Math.abs(p - b) <= Math.abs(p - c) ? b : c;
      const pred = [0, a, b, (a + b) >> 1, paeth][f];
      if (pred === undefined) throw new Error(`decodePng: bad filter ${f}`);
      px[y * stride + i] = (src[i]! + pred) & 255;
    }
  }
  return { width, height, channels: channels as 1 | 3 | 4, data: px };
}

export const tfjsImportSuite: Suite = {
  name: 'tfjs-import',
  cases: [
    {
      name: 'emotion model (mini-Xception) on the astronaut matches TF.js CPU and says happy',
      async run(engine) {
        const w = await weightBytes();
        const model = loadTfjsGraphModel(engine, modelJson as unknown as TfjsModelJson, [w.buffer.slice(w.byteOffset, w.byteOffset + w.byteLength) as ArrayBuffer]);
        try {
          const img = await decodePng(bytesOf(astronautImport));
          if (img.width !== 512 || img.height !== 512) throw new Error(`astronaut.png decoded as ${img.width}×${img.height}`);
          const x = engine.tensor(emotionInput(img, FACE), [1, 64, 64, 1]);
          const y = model.predict(x);
          const p = Array.from((await y.read()) as Float32Array);
          x.dispose();
          y.dispose();
          expectClose(p, TFJS_CPU_ASTRONAUT, { abs: 1e-4, rel: 0 }, 'emotion probabilities vs TF.js CPU');
          const top = FER2013_LABELS[p.indexOf(Math.max(...p))];
          if (top !== 'happy') throw new Error(`top class ${top}, expected happy (${p.map((v) => v.toFixed(4)).join(' ')})`);
        } finally {
          model.dispose();
        }
      },
    },
  ],
};
