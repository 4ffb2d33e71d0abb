/**
 * The web app's tools (bundled to dist/web-tools.js by scripts/build.mjs):
 *   serve [--port N] [--host H]   builds dist/web and serves it (npm run web)
 *   build [--out DIR]             builds the static site only
 *   demo [--out FILE]             opens the app in headless Chromium on the sample photo and saves a screenshot
 *                                 (npm run demo -- --browser)
 * Node only.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { launchChromium, pageLog } from './chromium.js';
import { buildSite } from './site.js';
import { startStaticServer } from './static-server.js';

function option(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const v = args[i + 1];
  if (v === undefined || v.startsWith('--')) throw new Error(`${name} needs a value`);
  return v;
}

async function serve(args: string[]): Promise<void> {
  const site = await buildSite({ outDir: option(args, '--out') });
  console.log(`built ${site.dir} in ${site.ms.toFixed(0)} ms (app.js ${(site.bundles['app.js']! / 1024).toFixed(0)} KiB)`);
  const port = Number(option(args, '--port') ?? 8080);
  const host = option(args, '--host') ?? '127.0.0.1';
  const server = await startStaticServer({ mounts: { '/': site.dir }, port, host });
  console.log(`the app:        ${server.url}\nthe benchmarks: ${server.url}bench.html\n(WebGPU needs localhost or https; Ctrl-C stops)`);
}

/** The app in headless Chromium on the sample photo: prints what it found and saves a screenshot. */
export async function browserDemo(args: string[]): Promise<number> {
  const out = option(args, '--out') ?? 'demo-output/web-app.png';
  const site = await buildSite();
  const server = await startStaticServer({ mounts: { '/': site.dir } });
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
    const log = pageLog(page);
    await page.goto(server.url);
    console.log(`opened ${server.url} in headless Chromium; waiting for the first frame (kernels compile once)…`);
    await page.waitForFunction(() => window.__app?.status === 'error' || (window.__app?.frames ?? 0) >= 1, undefined, { timeout: 300_000, polling: 250 });
    const s = await page.evaluate(() => ({ status: window.__app.status, message: window.__app.message, last: window.__app.last, device: document.getElementById('device')?.textContent }));
    if (s.status === 'error') {
      console.error(`the app reports: ${s.message}\n${log.join('\n')}`);
      return 1;
    }
    // Once more with the kernels compiled: the steady-state timings, and the picture.
    const first = s.last!.ms;
    await page.evaluate(() => window.__app.open('url', 'samples/astronaut.png'));
    await page.waitForFunction(() => window.__app.frames >= 2, undefined, { timeout: 120_000, polling: 100 });
    const r = (await page.evaluate(() => window.__app.last))!;
    await page.waitForTimeout(200);
    mkdirSync(dirname(out), { recursive: true });
    await page.screenshot({ path: out, fullPage: true });
    console.log(s.device);
    console.log(`${r.faces.length} face(s) in the sample photo:`);
    const labels = ['angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral'];
    for (const f of r.faces) {
      const k = f.emotion.indexOf(Math.max(...f.emotion));
      console.log(`  box x ${f.box.x.toFixed(0)} y ${f.box.y.toFixed(0)} ${f.box.width.toFixed(0)}×${f.box.height.toFixed(0)} (score ${f.score.toFixed(2)}): ${labels[k]} ${(100 * f.emotion[k]!).toFixed(1)}% (mini-Xception)`);
    }
    if (r.m1) {
      const k = r.m1.probs.indexOf(Math.max(...r.m1.probs));
      console.log(`  M1 (our weights, synthetic faces): ${r.m1.labels[k]} ${(100 * r.m1.probs[k]!).toFixed(1)}%, frame weights ${r.m1.frameWeights.map((w) => w.toFixed(2)).join(' ')}`);
    }
    const stages = (ms: typeof first) => `detect ${ms.detect.toFixed(0)} ms, crop ${ms.crop.toFixed(0)} ms, model ${ms.model.toFixed(0)} ms, readback ${ms.readback.toFixed(0)} ms`;
    console.log(`  first frame (kernels compiling): ${stages(first)}`);
    console.log(`  second frame:                    ${stages(r.ms)}`);
    console.log(`screenshot: ${out}`);
    return r.faces.length > 0 ? 0 : 1;
  } finally {
    await browser.close();
    await server.close();
  }
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...args] = argv;
  if (cmd === 'serve') {
    await serve(args);
    return -1; // keeps serving
  }
  if (cmd === 'build') {
    const site = await buildSite({ outDir: option(args, '--out') });
    console.log(`built ${site.dir}: ${Object.entries(site.bundles).map(([k, v]) => `${k} ${(v / 1024).toFixed(0)} KiB`).join(', ')}`);
    return 0;
  }
  if (cmd === 'demo') return browserDemo(args);
  console.error('usage: node dist/web-tools.js serve [--port N] [--host H] | build [--out DIR] | demo [--out FILE]');
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (e) => {
    console.error(`web: ${(e as Error).message}`);
    process.exit(1);
  },
);
