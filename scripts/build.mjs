#!/usr/bin/env node
// Bundles the library and tools with esbuild. WGSL files are inlined as text, so the same bundle serves
// Node and browsers. Usage: node scripts/build.mjs [entry...]  (default: all entries).
import { build } from 'esbuild';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** name → [source, platform]. Node bundles keep node_modules external. */
export const ENTRIES = {
  'fergpu.node': ['src/node/index.ts', 'node'],
  'fergpu.browser': ['src/index.ts', 'browser'],
  cli: ['src/cli/main.ts', 'node'],
  bench: ['bench/run.ts', 'node'],
};

export async function bundle(names = Object.keys(ENTRIES)) {
  for (const name of names) {
    const [src, platform] = ENTRIES[name];
    if (!existsSync(join(root, src))) continue;
    await build({
      absWorkingDir: root,
      entryPoints: [src],
      outfile: `dist/${name}.js`,
      bundle: true,
      format: 'esm',
      platform,
      target: platform === 'node' ? 'node20' : 'es2022',
      loader: { '.wgsl': 'text' },
      packages: platform === 'node' ? 'external' : undefined,
      sourcemap: true,
      logLevel: 'warning',
    });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await bundle(process.argv.length > 2 ? process.argv.slice(2) : undefined);
}
