/**
 * The web app (web/) in headless Chromium, as a user gets it from `npm run web`: the static site is built, served
 * on localhost and opened. It finds the astronaut's face and says happy, draws the overlay where the page says it
 * is (screenshot pixels), runs 200 frames of a generated video with flat GPU memory, plays a video file, uses a
 * (fake) camera, and explains itself when WebGPU is missing or the camera is refused.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, pageLog } from '../web/tools/chromium.js';
import { buildSite } from '../web/tools/site.js';
import { startStaticServer, type StaticServer } from '../web/tools/static-server.js';

const dir = mkdtempSync(join(tmpdir(), 'fergpu-web-'));
let server: StaticServer;
let browser: Browser;
let page: Page;
let log: string[];

type Rect = { x: number; y: number; width: number; height: number };

beforeAll(async () => {
  await buildSite({ outDir: dir, minify: false });
  server = await startStaticServer({ mounts: { '/': dir } });
  browser = await launchChromium({ args: ['--use-fake-device-for-media-stream'] });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  log = pageLog(page);
  await page.goto(server.url);
  await page.waitForFunction(() => window.__app?.status === 'error' || (window.__app?.frames ?? 0) >= 1, undefined, { timeout: 120_000, polling: 200 });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

const why = () => `page log:\n${log.join('\n')}`;

/** RGB of a page pixel in a PNG screenshot (decoded in the page: a canvas reads the PNG back). */
async function pixels(points: [number, number][]): Promise<[number, number, number][]> {
  const png = (await page.screenshot()).toString('base64');
  return page.evaluate(
    async ({ png, points }) => {
      const img = new Image();
      img.src = `data:image/png;base64,${png}`;
      await img.decode();
      const c = document.createElement('canvas');
      [c.width, c.height] = [img.width, img.height];
      const ctx = c.getContext('2d')!;
      ctx.drawImage(img, 0, 0);
      return points.map(([x, y]) => Array.from(ctx.getImageData(Math.round(x), Math.round(y), 1, 1).data.slice(0, 3)) as [number, number, number]);
    },
    { png, points },
  );
}

const hex = (h: string): [number, number, number] => [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16)) as [number, number, number];
const dist = (a: number[], b: number[]) => Math.max(...a.map((v, i) => Math.abs(v - b[i]!)));

describe('the web app in Chromium', () => {
  it('loads, finds the astronaut\'s face and predicts happy (mini-Xception); M1 gives a clip result', async () => {
    const s = await page.evaluate(() => ({ status: window.__app.status, message: window.__app.message, last: window.__app.last }));
    expect(s.status, `${s.message}\n${why()}`).toBe('ready');
    const r = s.last!;
    expect(r.faces, why()).toHaveLength(1);
    const b = r.faces[0]!.box;
    // By eye, the face spans about x 168–280, y 62–186 of the 512×512 photo.
    expect(b.x).toBeGreaterThan(150);
    expect(b.x + b.width).toBeLessThan(300);
    expect(b.y).toBeGreaterThan(50);
    expect(b.y + b.height).toBeLessThan(200);
    const fer = r.faces[0]!.emotion;
    expect(fer.indexOf(Math.max(...fer))).toBe(3); // happy
    expect(fer[3]).toBeGreaterThan(0.9);
    expect(r.m1!.probs.reduce((a, v) => a + v, 0)).toBeCloseTo(1, 4);
    expect(r.m1!.frameWeights).toHaveLength(4);
    expect(r.m1!.attention.data.length).toBe(r.m1!.attention.width * r.m1!.attention.height);
    expect(Object.keys(r.ms)).toEqual(['detect', 'crop', 'model', 'readback', 'total']);
    expect(await page.textContent('#top')).toMatch(/^happy · \d+\.\d%$/);
  });

  it('draws the face box and the bars where the page lays them out (screenshot pixels)', async () => {
    const L = (await page.evaluate(() => window.__app.layout())) as { box: Rect; bars: Record<string, Rect>; canvas: Rect };
    const { box, bars } = L;
    // The box's top and left edges: the best of a few pixels across each edge must be the box colour.
    const across = (x: number, y: number, dx: number, dy: number) => [-2, -1, 0, 1, 2].map((k) => [x + k * dx, y + k * dy] as [number, number]);
    const top = await pixels(across(box.x + box.width / 2, box.y, 0, 1));
    const left = await pixels(across(box.x, box.y + box.height * 0.7, 1, 0));
    const green = hex('#00e676');
    expect(Math.min(...top.map((p) => dist(p, green))), `top edge ${JSON.stringify(top)}`).toBeLessThan(40);
    expect(Math.min(...left.map((p) => dist(p, green))), `left edge ${JSON.stringify(left)}`).toBeLessThan(40);
    // Far from the face (the lower left of the photo) nothing is green.
    const [far] = await pixels([[L.canvas.x + L.canvas.width * 0.1, L.canvas.y + L.canvas.height * 0.9]]);
    expect(dist(far!, green)).toBeGreaterThan(60);
    // happy's bar is full (highlighted), angry's is empty: the track's background shows at its middle.
    const at = (r: Rect, f: number) => [r.x + r.width * f, r.y + r.height / 2] as [number, number];
    const [happyFill, angryMiddle] = await pixels([at(bars.happy!, 0.9), at(bars.angry!, 0.5)]);
    expect(dist(happyFill!, green), `happy bar ${happyFill}`).toBeLessThan(40);
    expect(dist(angryMiddle!, hex('#2a313a')), `angry bar ${angryMiddle}`).toBeLessThan(20);
  });

  it('runs 200 frames of a generated video with flat GPU memory', async () => {
    // The detector on every 10th frame (the app's setting; it costs ~1 s a frame on SwiftShader), the emotion models on all.
    await page.selectOption('#detect-every', '10');
    await page.evaluate(() => window.__app.open('moving'));
    const at = async (n: number) => {
      // Generous: ~0.45 s a frame on SwiftShader alone, twice that on a loaded machine.
      await page.waitForFunction((n) => window.__app.frames >= n || window.__app.message.startsWith('Processing'), n, { timeout: 300_000, polling: 250 });
      return page.evaluate(() => ({ frames: window.__app.frames, mem: window.__app.memory(), faces: window.__app.last?.faces.length ?? 0, message: window.__app.message }));
    };
    const start = (await page.evaluate(() => window.__app.frames)) as number;
    const t0 = performance.now();
    const warm = await at(start + 20);
    const end = await at(start + 200);
    expect(end.message, why()).toBe('');
    expect(end.frames - start).toBeGreaterThanOrEqual(200);
    console.log(`200 frames in ${((performance.now() - t0) / 1000).toFixed(0)} s: live ${end.mem.liveBytes} B, ${end.mem.buffers} buffers, ${end.mem.objects.bindGroupsCreated - warm.mem.objects.bindGroupsCreated} bind groups created after warm-up`);
    expect(end.mem.liveBytes).toBe(warm.mem.liveBytes);
    expect(end.mem.buffers).toBe(warm.mem.buffers);
    expect(end.mem.created).toBe(warm.mem.created);
    expect(end.mem.objects.textures).toBe(warm.mem.objects.textures);
    expect(end.mem.objects.pipelines).toBe(warm.mem.objects.pipelines);
    expect(end.faces).toBe(1);
    await page.evaluate(() => window.__app.stop());
  }, 400_000);

  it('plays a video file (recorded in the page by MediaRecorder), frame by frame', async () => {
    const webm = await page.evaluate(async () => {
      const img = new Image();
      img.src = 'samples/astronaut.png';
      await img.decode();
      const c = document.createElement('canvas');
      [c.width, c.height] = [320, 240];
      const ctx = c.getContext('2d')!;
      const rec = new MediaRecorder(c.captureStream(30), { mimeType: 'video/webm' });
      const chunks: Blob[] = [];
      rec.ondataavailable = (e) => chunks.push(e.data);
      const done = new Promise((ok) => (rec.onstop = ok));
      rec.start();
      for (let f = 0; f < 36; f++) {
        ctx.drawImage(img, -40 + f, -20, 400, 400);
        await new Promise((ok) => setTimeout(ok, 33));
      }
      rec.stop();
      await done;
      const bytes = new Uint8Array(await new Blob(chunks).arrayBuffer());
      let s = '';
      for (const b of bytes) s += String.fromCharCode(b);
      return btoa(s);
    });
    const before = (await page.evaluate(() => window.__app.frames)) as number;
    await page.setInputFiles('#video', { name: 'generated.webm', mimeType: 'video/webm', buffer: Buffer.from(webm, 'base64') });
    await page.waitForFunction((n) => window.__app.frames >= n + 4 || window.__app.message !== '', before, { timeout: 60_000, polling: 100 });
    const s = await page.evaluate(() => ({ source: window.__app.source, message: window.__app.message, faces: window.__app.last?.faces.length, w: window.__app.last?.width }));
    expect(s.message, why()).toBe('');
    expect(s.source).toBe('generated.webm');
    expect(s.w).toBe(320);
    expect(s.faces).toBe(1);
    expect(await page.textContent('#source')).toBe('Video: generated.webm');
    await page.evaluate(() => window.__app.stop());
  }, 90_000);

  it('says so in plain words when the camera is refused', async () => {
    await page.context().clearPermissions();
    await page.click('#camera');
    await page.waitForFunction(() => window.__app.message.startsWith('Camera') || window.__app.message.startsWith('No camera'), undefined, { timeout: 20_000 });
    const msg = await page.evaluate(() => ({ text: window.__app.message, cls: document.getElementById('message')!.className, visible: document.getElementById('message')!.offsetHeight > 0 }));
    expect(msg.text).toMatch(/^Camera access was refused\. Allow the camera for this site/);
    expect(msg.cls).toBe('error');
    expect(msg.visible).toBe(true);
    expect(await page.evaluate(() => window.__app.status)).toBe('ready'); // photos and videos still work
  });
});

describe('the web app without what it needs', () => {
  it('uses a (fake) camera when it is allowed', async () => {
    const context = await browser.newContext({ permissions: ['camera'] });
    const p = await context.newPage();
    const plog = pageLog(p);
    try {
      await p.goto(server.url);
      await p.waitForFunction(() => window.__app?.frames >= 1 || window.__app?.status === 'error', undefined, { timeout: 60_000 });
      await p.click('#camera');
      await p.waitForFunction(() => (window.__app.source ?? '').startsWith('camera') && window.__app.frames >= 3, undefined, { timeout: 60_000, polling: 100 });
      const s = await p.evaluate(() => ({ message: window.__app.message, w: window.__app.last?.width, top: document.getElementById('top')!.textContent }));
      expect(s.message, plog.join('\n')).toBe('');
      expect(s.w).toBeGreaterThan(0);
      expect(s.top).toBe('no face found'); // Chromium's fake camera shows a test pattern
    } finally {
      await context.close();
    }
  }, 90_000);

  it('explains that WebGPU is missing (navigator.gpu absent) instead of showing a blank page', async () => {
    const context = await browser.newContext();
    await context.addInitScript(() => Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined, configurable: true }));
    const p = await context.newPage();
    try {
      await p.goto(server.url);
      await p.waitForFunction(() => window.__app?.status === 'error', undefined, { timeout: 20_000 });
      const s = await p.evaluate(() => ({ text: document.getElementById('message')!.textContent, shown: document.getElementById('message')!.offsetHeight > 0, disabled: (document.getElementById('camera') as HTMLButtonElement).disabled }));
      expect(s.text).toMatch(/^WebGPU is not available in this browser, so the models cannot run here\./);
      expect(s.text).toMatch(/--enable-unsafe-webgpu/);
      expect(s.shown).toBe(true);
      expect(s.disabled).toBe(true);
    } finally {
      await context.close();
    }
  });

  it('explains it too in a Chromium started without WebGPU', async () => {
    const plain = await launchChromium({ webgpu: false });
    try {
      const p = await plain.newPage();
      await p.goto(server.url);
      await p.waitForFunction(() => window.__app?.status === 'error' || window.__app?.status === 'ready', undefined, { timeout: 30_000 });
      const s = await p.evaluate(() => ({ status: window.__app.status, text: window.__app.message }));
      expect(s.status).toBe('error');
      expect(s.text).toMatch(/^WebGPU is not available in this browser/);
    } finally {
      await plain.close();
    }
  });
});
