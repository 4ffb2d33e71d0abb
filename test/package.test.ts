/**
 * The npm package as a consumer gets it: `npm pack` (its prepack builds the bundles and the declarations), the
 * tarball installed into an empty folder, then `import … from 'fergpu'` in Node ESM, `tsc` on a consumer's .ts file
 * against the shipped .d.ts files, and an esbuild browser bundle of a consumer's page running a matmul in Chromium.
 *
 * The install runs with --offline: the package's dependencies (webgpu, @webgpu/types, jpeg-js) are linked from
 * this checkout's node_modules into the consumer's before `npm install`, which then finds them satisfied and
 * fetches nothing. Also here: the engine core imports nothing Node-only.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { builtinModules, createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, pageLog } from '../web/tools/chromium.js';
import { startStaticServer } from '../web/tools/static-server.js';

const root = process.cwd();
const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string; dependencies: Record<string, string> };
const tmp = mkdtempSync(join(tmpdir(), 'fergpu-pack-'));
const consumer = join(tmp, 'consumer');
const env = { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' };
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

/** A tiny matmul every consumer runs: [[1,2,3],[4,5,6]] · [[1,0],[0,1],[1,1]] = [[4,5],[10,11]]. */
const MATMUL = `
const engine = await createEngine();
const a = engine.tensor([1, 2, 3, 4, 5, 6], [2, 3]);
const b = engine.tensor([1, 0, 0, 1, 1, 1], [3, 2]);
const y = matmul(a, b);
const out = Array.from(await y.read());
`;

let tarball = '';

beforeAll(() => {
  const packed = execFileSync('npm', ['pack', '--pack-destination', tmp, '--json'], { cwd: root, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const info = JSON.parse(packed.slice(packed.indexOf('['))) as { filename: string; files: { path: string }[] }[];
  tarball = join(tmp, info[0]!.filename);
  mkdirSync(join(consumer, 'node_modules'), { recursive: true });
  writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  const modules = realpathSync('node_modules');
  for (const dep of Object.keys(pkg.dependencies)) {
    mkdirSync(dirname(join(consumer, 'node_modules', dep)), { recursive: true });
    symlinkSync(join(modules, dep), join(consumer, 'node_modules', dep), 'dir');
  }
  execFileSync('npm', ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', tarball], { cwd: consumer, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}, 120_000);

afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('npm pack → npm install', () => {
  it('ships the bundles and declarations, not the sources', () => {
    const files = execFileSync('tar', ['tzf', tarball], { encoding: 'utf8' }).split('\n').filter(Boolean);
    for (const f of ['package/dist/fergpu.node.js', 'package/dist/fergpu.browser.js', 'package/dist/types/index.d.ts', 'package/dist/types/node/index.d.ts', 'package/package.json'])
      expect(files, f).toContain(f);
    expect(files.filter((f) => f.startsWith('package/src/') || f.endsWith('.wgsl'))).toEqual([]);
    const dts = files.filter((f) => f.endsWith('.d.ts'));
    const wgslRefs = dts.filter((f) => /\.wgsl['"]/.test(execFileSync('tar', ['xzOf', tarball, f], { encoding: 'utf8' })));
    expect(wgslRefs, 'declarations that import .wgsl files a consumer cannot resolve').toEqual([]);
    const installed = JSON.parse(readFileSync(join(consumer, 'node_modules/fergpu/package.json'), 'utf8')) as { version: string };
    expect(installed.version).toBe(pkg.version);
  });

  it("runs `import { createEngine } from 'fergpu'` in Node ESM (Dawn)", () => {
    writeFileSync(join(consumer, 'main.mjs'), `import { createEngine, matmul } from 'fergpu';\n${MATMUL}\nconsole.log(JSON.stringify(out));\nengine.destroy();\n`);
    const r = spawnSync(process.execPath, ['main.mjs'], { cwd: consumer, env, encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.trim().split('\n').pop()!)).toEqual([4, 5, 10, 11]);
  }, 60_000);

  it('type-checks a consumer against the shipped .d.ts (Node resolution and bundler resolution), and catches a wrong call', () => {
    const body = `${MATMUL}\nconst n: number = out.length;\nconst t: Tensor = y;\nconsole.log(n, t.shape);\n`;
    writeFileSync(join(consumer, 'node.mts'), `import { createEngine, matmul, type Tensor } from 'fergpu';\n${body}\nconst busy = await createEngine({ wait: 'busy' });\nbusy.destroy();\n`);
    writeFileSync(join(consumer, 'page.ts'), `import { createEngine, matmul, type Tensor } from 'fergpu';\n${body}\n(globalThis as unknown as { result: number[] }).result = out;\nexport {};\n`);
    writeFileSync(join(consumer, 'wrong.ts'), `import { createEngine, matmul } from 'fergpu';\nconst e = await createEngine();\nmatmul(e.tensor([1], [1, 1]));\nexport {};\n`);
    const common = { strict: true, target: 'ES2022', lib: ['ES2022', 'DOM'], noEmit: true, types: [], skipLibCheck: false };
    writeFileSync(join(consumer, 'tsconfig.node.json'), JSON.stringify({ compilerOptions: { ...common, module: 'NodeNext', moduleResolution: 'NodeNext' }, files: ['node.mts'] }));
    // The shipped .d.ts files themselves are checked once (skipLibCheck false, Node resolution); the others skip them.
    writeFileSync(join(consumer, 'tsconfig.page.json'), JSON.stringify({ compilerOptions: { ...common, module: 'ESNext', moduleResolution: 'Bundler', skipLibCheck: true }, files: ['page.ts'] }));
    writeFileSync(join(consumer, 'tsconfig.wrong.json'), JSON.stringify({ compilerOptions: { ...common, module: 'ESNext', moduleResolution: 'Bundler', skipLibCheck: true }, files: ['wrong.ts'] }));
    const check = (project: string) => spawnSync(process.execPath, [tsc, '-p', project], { cwd: consumer, encoding: 'utf8', timeout: 60_000 });
    for (const p of ['tsconfig.node.json', 'tsconfig.page.json']) {
      const r = check(p);
      expect(r.status, `${p}:\n${r.stdout}${r.stderr}`).toBe(0);
    }
    const wrong = check('tsconfig.wrong.json');
    expect(wrong.status).not.toBe(0);
    expect(wrong.stdout).toMatch(/wrong\.ts\(3,1\): error TS2554/); // matmul needs two tensors
  }, 60_000);

  it('bundles a consumer page for the browser with esbuild and runs a matmul in Chromium', async () => {
    writeFileSync(join(consumer, 'page.mjs'), `import { createEngine, matmul } from 'fergpu';\ntry {\n${MATMUL}\nwindow.__result = { out };\n} catch (e) { window.__result = { error: String(e) }; }\n`);
    const bundle = async (minify: boolean) =>
      (await build({ absWorkingDir: consumer, entryPoints: ['page.mjs'], bundle: true, write: false, format: 'esm', platform: 'browser', target: 'es2022', minify, logLevel: 'silent' })).outputFiles[0]!.contents;
    const js = await bundle(false);
    const min = await bundle(true);
    const gz = gzipSync(min, { level: 9 }).length;
    console.log(`consumer browser bundle: ${(js.length / 1024).toFixed(0)} KiB, minified ${(min.length / 1024).toFixed(0)} KiB, minified+gzip ${(gz / 1024).toFixed(0)} KiB`);
    expect(new TextDecoder().decode(js)).not.toMatch(/from ['"]node:|require\(['"](fs|path|webgpu)['"]\)/);
    const site = await startStaticServer();
    site.put('/page.js', min);
    site.put('/index.html', '<!doctype html><meta charset="utf-8"><script type="module" src="/page.js"></script>');
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const log = pageLog(page);
      await page.goto(site.url);
      await page.waitForFunction(() => (window as unknown as { __result?: unknown }).__result !== undefined, undefined, { timeout: 60_000 });
      const result = await page.evaluate(() => (window as unknown as { __result: { out?: number[]; error?: string } }).__result);
      expect(result, log.join('\n')).toEqual({ out: [4, 5, 10, 11] });
    } finally {
      await browser.close();
      await site.close();
    }
  }, 90_000);
});

describe('the engine core is free of Node', () => {
  const files = (dir: string): string[] => readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
  const core = files('src').filter((f) => !/node|cli/.test(relative('src', f)));
  const nodeOnly = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`), 'webgpu', 'jpeg-js']);

  it('imports no Node built-in, Dawn or Node-only package from src/ outside node/ and cli/', () => {
    expect(core.length).toBeGreaterThan(50);
    const offenders: string[] = [];
    for (const f of core) {
      const text = readFileSync(f, 'utf8');
      for (const m of text.matchAll(/(?:from\s+|import\s*\(\s*|require\s*\(\s*|import\s+)['"]([^'"]+)['"]/g)) {
        const spec = m[1]!;
        if (nodeOnly.has(spec) || nodeOnly.has(spec.split('/')[0]!) || spec.startsWith('node:')) offenders.push(`${f}: ${spec}`);
        if (spec.startsWith('.') && /(^|\/)(node|cli)(\/|$)/.test(join(dirname(f), spec))) offenders.push(`${f}: ${spec} (reaches into src/node or src/cli)`);
      }
      if (/\bprocess\.|\bBuffer\.|__dirname|__filename/.test(text)) offenders.push(`${f}: uses a Node global`);
    }
    expect(offenders).toEqual([]);
  });

  it('bundles src/index.ts for the browser platform with no Node module in its inputs', async () => {
    const r = await build({ entryPoints: ['src/index.ts'], bundle: true, write: false, format: 'esm', platform: 'browser', loader: { '.wgsl': 'text' }, metafile: true, logLevel: 'silent' });
    const inputs = Object.keys(r.metafile.inputs);
    expect(inputs.filter((i) => i.includes('node_modules') || /src\/(node|cli)\//.test(i))).toEqual([]);
  });
});
