#!/usr/bin/env node
// Packs what `bench/gpu-check.sh` needs on a GPU machine that has no Node and no registry (the device machines
// of this workplace): a Node binary (xz), Dawn's linux-x64 binding, and self-contained bundles of the CLI, the
// test cases and the benchmarks (every package inlined but `webgpu`). Writes .gpu-kit/ (git-ignored), about
// 40 MB. Run here, then carry .gpu-kit (and .gl, the Vulkan loader .debs) to the machine.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const kit = join(root, '.gpu-kit');
rmSync(kit, { recursive: true, force: true });
mkdirSync(join(kit, 'dist'), { recursive: true });

const entries = { cli: 'src/cli/main.ts', cases: 'bench/gpu-cases.ts', bench: 'bench/run.ts' };
for (const [name, src] of Object.entries(entries)) {
  await build({
    absWorkingDir: root,
    entryPoints: [src],
    outfile: join(kit, 'dist', `${name}.js`),
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    loader: { '.wgsl': 'text', '.png': 'binary', '.bin': 'binary' },
    external: ['webgpu', '@tensorflow/tfjs-backend-wasm', '@tensorflow/tfjs-node'],
    // Bundled CommonJS packages call require(); give the ESM bundle one.
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
    logLevel: 'warning',
  });
}

const webgpu = join(root, 'node_modules', 'webgpu');
const dst = join(kit, 'node_modules', 'webgpu');
mkdirSync(join(dst, 'dist'), { recursive: true });
for (const f of ['package.json', 'index.js', 'LICENSE.md']) if (existsSync(join(webgpu, f))) cpSync(join(webgpu, f), join(dst, f));
cpSync(join(webgpu, 'dist', 'linux-x64'), join(dst, 'dist', 'linux-x64'), { recursive: true });
writeFileSync(join(kit, 'package.json'), JSON.stringify({ name: 'fergpu-gpu-kit', private: true, type: 'module' }));
execFileSync('sh', ['-c', `xz -T0 -6 -c "${process.execPath}" > "${join(kit, 'node.xz')}"`], { stdio: 'inherit' });
const mb = (p) => (statSync(p).size / 2 ** 20).toFixed(1);
console.log(`wrote ${kit}: node.xz ${mb(join(kit, 'node.xz'))} MiB, dist/bench.js ${mb(join(kit, 'dist', 'bench.js'))} MiB, dist/cases.js ${mb(join(kit, 'dist', 'cases.js'))} MiB`);
