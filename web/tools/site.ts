/**
 * Builds the static site of the web app into a folder (default dist/web): the app and the benchmark page bundled
 * by esbuild (WGSL inlined), the pages, the models (BlazeFace and the emotion net from @vladmandic/human, our M1
 * weights) and sample photos. The folder can be served by any static HTTP server over https or on localhost.
 * Node only.
 */
import { build } from 'esbuild';
import { copyFileSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { browserBenchPlugin } from './bench-bundle.js';

const HUMAN_MODELS = 'node_modules/@vladmandic/human/models';
const FACE_API_DEMO = 'node_modules/@vladmandic/face-api/demo';

/** Site path → source file, relative to the repository root. */
export const ASSETS: Record<string, string> = {
  'index.html': 'web/index.html',
  'bench.html': 'web/bench.html',
  'models/blazeface.json': `${HUMAN_MODELS}/blazeface.json`,
  'models/blazeface.bin': `${HUMAN_MODELS}/blazeface.bin`,
  'models/emotion.json': `${HUMAN_MODELS}/emotion.json`,
  'models/emotion.bin': `${HUMAN_MODELS}/emotion.bin`,
  'weights/m1-small.safetensors': 'assets/weights/m1-small.safetensors',
  'samples/astronaut.png': 'test/fixtures/astronaut.png',
  ...Object.fromEntries([1, 2, 3, 4, 5, 6].map((i) => [`samples/group${i}.jpg`, `${FACE_API_DEMO}/sample${i}.jpg`])),
};

export const BUNDLES: Record<string, string> = {
  'app.js': 'web/app.ts',
  'bench.js': 'web/bench.ts',
};

export interface SiteBuild {
  dir: string;
  /** Bytes of each bundle, minified or not as built. */
  bundles: Record<string, number>;
  ms: number;
}

export async function buildSite(o: { root?: string; outDir?: string; minify?: boolean; only?: (keyof typeof BUNDLES)[] } = {}): Promise<SiteBuild> {
  const t0 = performance.now();
  const root = resolve(o.root ?? process.cwd());
  const dir = resolve(root, o.outDir ?? 'dist/web');
  for (const [to, from] of Object.entries(ASSETS)) {
    const src = join(root, from);
    if (!existsSync(src)) throw new Error(`web app: ${from} is missing (${from.startsWith('node_modules') ? 'a dev dependency: run npm ci' : 'is the checkout complete?'})`);
    const dst = join(dir, to);
    mkdirSync(dirname(dst), { recursive: true });
    if (!existsSync(dst) || statSync(dst).mtimeMs < statSync(src).mtimeMs || statSync(dst).size !== statSync(src).size) copyFileSync(src, dst);
  }
  const bundles: Record<string, number> = {};
  const names = o.only ?? (Object.keys(BUNDLES) as (keyof typeof BUNDLES)[]);
  await Promise.all(
    names.map(async (name) => {
      const r = await build({
        absWorkingDir: root,
        entryPoints: [BUNDLES[name]!],
        outfile: join(dir, name),
        bundle: true,
        format: 'esm',
        platform: 'browser',
        target: 'es2022',
        loader: { '.wgsl': 'text' },
        minify: o.minify ?? true,
        sourcemap: true,
        metafile: true,
        logLevel: 'warning',
        plugins: name === 'bench.js' ? [browserBenchPlugin(root)] : [],
      });
      bundles[name] = Object.values(r.metafile.outputs).find((x) => x.entryPoint)?.bytes ?? 0;
    }),
  );
  return { dir, bundles, ms: performance.now() - t0 };
}
