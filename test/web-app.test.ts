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
    await page.evaluate(() => window.__app.open('moving'));
    const at = async (n: number) => {
      await page.waitForFunction((n) => window.__app.frames >= n || window.__app.message.startsWith('Processing'), n, { timeout: 120_000, polling: 100 });
      return page.evaluate(() => ({ frames: window.__app.frames, mem: window.__app.memory(), faces: window.__app.last?.faces.length ?? 0, message: window.__app.message }));
    };
    const start = (await page.evaluate(() => window.__app.frames)) as number;
    const warm = await at(start + 20);
    const end = await at(start + 200);
    expect(end.message, why()).toBe('');
    expect(end.frames - start).toBeGreaterThanOrEqual(200);
    console.log(`200 frames: live ${end.mem.liveBytes} B, ${end.mem.buffers} buffers, ${end.mem.objects.bindGroupsCreated - warm.mem.objects.bindGroupsCreated} bind groups created after warm-up`);
    expect(end.mem.liveBytes).toBe(warm.mem.liveBytes);
    expect(end.mem.buffers).toBe(warm.mem.buffers);
    expect(end.mem.created).toBe(warm.mem.created);
    expect(end.mem.objects.textures).toBe(warm.mem.objects.textures);
    expect(end.mem.objects.pipelines).toBe(warm.mem.objects.pipelines);
    expect(end.faces).toBe(1);
    await page.evaluate(() => window.__app.stop());
  }, 240_000);
});
