#!/usr/bin/env node
// Bundles the library and tools with esbuild. WGSL files are inlined as text, so the same bundle serves
// Node and browsers. Usage: node scripts/build.mjs [entry...]  (default: all entries). The entry `types` emits
// the package's declarations to dist/types (tsconfig.types.json); `npm pack` builds the library, CLI and types.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** name → [source, platform]. Node bundles keep node_modules external. */
export const ENTRIES = {
  'fergpu.node': ['src/node/index.ts', 'node'],
  'fergpu.browser': ['src/index.ts', 'browser'],
  cli: ['src/cli/main.ts', 'node'],
  bench: ['bench/run.ts', 'node'],
  'web-tools': ['web/tools/cli.ts', 'node'],
};

/** The .d.ts files of the package, from a clean folder so no stale declaration ships. */
export function emitTypes() {
  rmSync(join(root, 'dist/types'), { recursive: true, force: true });
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  execFileSync(process.execPath, [tsc, '-p', 'tsconfig.types.json'], { cwd: root, stdio: 'inherit' });
}

export async function bundle(names = Object.keys(ENTRIES)) {
  for (const name of names) {
    if (name === 'types') {
      emitTypes();
      continue;
    }
    if (!(name in ENTRIES)) throw new Error(`build: unknown entry '${name}' (known: ${[...Object.keys(ENTRIES), 'types'].join(', ')})`);
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
