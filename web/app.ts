/**
 * The web app: opens a WebGPU engine in the page, imports the models, and runs each frame of the chosen source
 * (photo, video file, camera, moving sample) through FacePipeline, drawing the overlay and the side panel. One
 * frame is in flight at a time and every stage awaits the GPU, so the page stays responsive while models run.
 * `window.__app` exposes the state to the tests and the browser demo.
 */
import { createEngine, describeAdapter, type Engine } from '../src/device/engine.js';
import { gpuObjects, type GpuObjects } from '../src/kernels/objects.js';
import type { PoolStats } from '../src/graph/pool.js';
import { DEFAULT_URLS, loadAppModels, type AppModels } from './models.js';
import { drawAttention, drawBars, drawClip, drawFrame, formatTimes, COLORS, topOf } from './overlay.js';
import { FacePipeline, type FrameResult } from './pipeline.js';
import { CameraError, cameraSource, grab, movingSource, nextVideoFrame, photoSource, urlImageSource, videoFileSource, type Source } from './sources.js';

export interface AppState {
  status: 'starting' | 'ready' | 'error';
  message: string;
  frames: number;
  last?: FrameResult;
  source?: string;
  /** Longest main-thread task seen (ms), from the Long Tasks API. */
  longestTask: number;
  /** Main-thread tasks over 50 ms: start (ms since load) and duration. */
  longTasks: { start: number; ms: number }[];
  memory(): PoolStats & { objects: GpuObjects };
  open(kind: 'sample' | 'moving' | 'camera' | 'url', url?: string): Promise<void>;
  stop(): void;
  /** Page-space rectangles of the first face's box and of each FER bar's track, for screenshot checks. */
  layout(): { box?: DOMRect; bars: Record<string, DOMRect>; canvas: DOMRect };
}

declare global {
  interface Window {
    __app: AppState;
  }
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const frameCanvas = $<HTMLCanvasElement>('frame');
const work = document.createElement('canvas');
const ctx = frameCanvas.getContext('2d')!;
const message = $('message');
const SAMPLE = 'samples/astronaut.png';

let engine: Engine | undefined;
let models: AppModels | undefined;
let pipeline: FacePipeline | undefined;
let source: Source | undefined;
let generation = 0;
let thumbs: HTMLCanvasElement[] = [];
let lastDone = 0;
let fps = 0;
/** The frame being processed (one at a time: a new source waits for it before the pipeline is reset). */
let inflight: Promise<unknown> = Promise.resolve();

const state: AppState = {
  status: 'starting',
  message: '',
  frames: 0,
  longestTask: 0,
  longTasks: [],
  memory: () => ({ ...engine!.memory(), objects: gpuObjects(engine!) }),
  open: (kind, url) => open(kind, url),
  stop: () => void stop(),
  layout() {
    const c = frameCanvas.getBoundingClientRect();
    const r = state.last;
    const f = r?.faces[0];
    const s = r ? c.width / r.width : 1; // the canvas holds the working frame, scaled by CSS
    const box = f ? new DOMRect(c.x + f.box.x * s, c.y + f.box.y * s, f.box.width * s, f.box.height * s) : undefined;
    const bars: Record<string, DOMRect> = {};
    document.querySelectorAll<HTMLElement>('#bars-fer .bar').forEach((b) => (bars[b.dataset.label!] = b.querySelector('.track')!.getBoundingClientRect()));
    return { ...(box ? { box } : {}), bars, canvas: c };
  },
};
window.__app = state;

function say(text: string, kind: 'info' | 'error' | '' = 'info'): void {
  message.textContent = text;
  message.className = text ? kind : '';
  state.message = text;
}

function fail(text: string): void {
  state.status = 'error';
  say(text, 'error');
}

new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    state.longestTask = Math.max(state.longestTask, e.duration);
    if (state.longTasks.length < 500) state.longTasks.push({ start: Math.round(e.startTime), ms: Math.round(e.duration) });
  }
}).observe({ type: 'longtask', buffered: true });

function render(r: FrameResult | undefined): void {
  if (!source) return;
  if (frameCanvas.width !== work.width || frameCanvas.height !== work.height) [frameCanvas.width, frameCanvas.height] = [work.width, work.height];
  drawFrame(ctx, work, r, { attention: $<HTMLInputElement>('attn').checked, keypoints: $<HTMLInputElement>('kp').checked });
  if (!r || !pipeline) return;
  const face = r.faces[r.primary];
  const top = topOf(face);
  $('top').textContent = top ? `${top.label} · ${(100 * top.p).toFixed(1)}%` : r.faces.length ? '–' : 'no face found';
  drawBars($('bars-fer'), pipeline.emotionLabels, face?.emotion, COLORS.bar);
  drawBars($('bars-m1'), models?.m1?.info.labels ?? [], r.m1?.probs, COLORS.m1);
  $('m1-note').textContent = r.m1 ? `(${r.m1.filled}/${pipeline.clipLength} frames${r.m1.filled < pipeline.clipLength ? ', first repeated' : ''})` : '';
  drawClip($<HTMLCanvasElement>('clip'), thumbs, r.m1);
  drawAttention($<HTMLCanvasElement>('attention'), thumbs[thumbs.length - 1], r.m1);
  $('times').textContent = formatTimes(r, fps, pipeline.options.detectEvery ?? 1);
}

/** A thumbnail of the tracked face's crop, the clip's frames as M1 saw them. */
function keepThumb(r: FrameResult): void {
  const f = r.faces[r.primary];
  if (!f) {
    thumbs = [];
    return;
  }
  if (r.m1 && r.m1.filled === 1) thumbs = [];
  const t = document.createElement('canvas');
  t.width = t.height = 64;
  t.getContext('2d')!.drawImage(work, f.crop.x, f.crop.y, f.crop.width, f.crop.height, 0, 0, 64, 64);
  thumbs.push(t);
  while (thumbs.length > Math.max(1, pipeline!.clipLength)) thumbs.shift();
}

async function step(gen: number): Promise<void> {
  const run = (async () => {
    const px = grab(source!, work);
    const r = await pipeline!.process(px);
    if (gen !== generation) return; // the source changed meanwhile
    const now = performance.now();
    if (lastDone) fps = fps ? 0.8 * fps + 0.2 * (1000 / (now - lastDone)) : 1000 / (now - lastDone);
    lastDone = now;
    state.frames++;
    state.last = r;
    if (state.message.startsWith('Compiling')) say('');
    keepThumb(r);
    render(r);
  })();
  inflight = run.catch(() => {});
  await run;
}

async function runVideo(gen: number, s: Extract<Source, { kind: 'video' }>): Promise<void> {
  const every = () => !s.live && $<HTMLInputElement>('every').checked;
  while (gen === generation) {
    await nextVideoFrame(s.video);
    if (gen !== generation) return;
    if (every()) s.video.pause();
    try {
      await step(gen);
    } catch (e) {
      if (gen === generation) say(`Processing stopped: ${(e as Error).message}`, 'error');
      return;
    }
    if (every() && gen === generation) await s.video.play().catch(() => {});
    // Let input events and painting in before the next frame.
    await new Promise((ok) => setTimeout(ok, 0));
  }
}

/** Stops the source; the pipeline forgets its clip once the frame in flight is done. */
function stop(): Promise<void> {
  generation++;
  if (source?.kind === 'video') source.stop();
  thumbs = [];
  lastDone = 0;
  fps = 0;
  return inflight.then(() => pipeline?.reset());
}

async function use(s: Source): Promise<void> {
  await stop();
  const gen = generation;
  source = s;
  state.source = s.name;
  $('source').textContent = `${s.kind === 'image' ? 'Photo' : s.live ? 'Live' : 'Video'}: ${s.name}`;
  if (!state.message.startsWith('Compiling')) say('');
  if (s.kind === 'image') {
    // A photo is a clip of one frame: M1 sees it repeated.
    try {
      await step(gen);
    } catch (e) {
      say(`Processing failed: ${(e as Error).message}`, 'error');
    }
  } else void runVideo(gen, s);
}

async function open(kind: 'sample' | 'moving' | 'camera' | 'url', url?: string): Promise<void> {
  if (state.status !== 'ready') return;
  try {
    if (kind === 'camera') {
      say('Asking for the camera…');
      await use(await cameraSource());
    } else if (kind === 'moving') {
      const img = await urlImageSource(url ?? SAMPLE);
      if (img.kind === 'image') await use(await movingSource(img.image));
    } else await use(await urlImageSource(url ?? SAMPLE));
  } catch (e) {
    say(e instanceof CameraError ? e.message : `Could not open it: ${(e as Error).message}`, 'error');
  }
}

function wire(): void {
  const sample = () => $<HTMLSelectElement>('samples').value;
  $('sample').onclick = () => void open('url', sample());
  $('samples').onchange = () => void open('url', sample());
  $('moving').onclick = () => void open('moving', sample());
  $('camera').onclick = () => void open('camera');
  $('stop').onclick = () => void stop();
  $<HTMLInputElement>('photo').onchange = async (e) => {
    const f = (e.target as HTMLInputElement).files?.[0];
    if (!f) return;
    try {
      await use(await photoSource(f, f.name));
    } catch (err) {
      say((err as Error).message, 'error');
    }
  };
  $<HTMLInputElement>('video').onchange = async (e) => {
    const f = (e.target as HTMLInputElement).files?.[0];
    if (!f) return;
    try {
      await use(await videoFileSource(f, f.name));
    } catch (err) {
      say((err as Error).message, 'error');
    }
  };
  for (const id of ['attn', 'kp']) $(id).onchange = () => render(state.last);
  $<HTMLSelectElement>('detect-every').onchange = (e) => {
    if (pipeline) pipeline.options.detectEvery = Number((e.target as HTMLSelectElement).value);
  };
}

function setEnabled(on: boolean): void {
  document.querySelectorAll<HTMLButtonElement | HTMLInputElement | HTMLSelectElement>('.controls button, .controls input, .controls select').forEach((b) => (b.disabled = !on));
}

const NO_WEBGPU = `WebGPU is not available in this browser, so the models cannot run here.
Use a browser with WebGPU: Chrome or Edge 113+ (on Linux start it with --enable-unsafe-webgpu, or enable chrome://flags/#enable-unsafe-webgpu), Safari 26+, or Firefox 141+ on Windows.`;

async function main(): Promise<void> {
  setEnabled(false);
  wire();
  if (!('gpu' in navigator) || !navigator.gpu) return fail(NO_WEBGPU);
  say('Opening the GPU…');
  try {
    engine = await createEngine();
  } catch (e) {
    return fail(`${NO_WEBGPU}\n(${(e as Error).message.split('.')[0]}.)`);
  }
  $('device').textContent = `GPU: ${describeAdapter(engine.adapter)}`;
  try {
    models = await loadAppModels(engine, DEFAULT_URLS, (w) => say(`Loading: ${w}…`));
  } catch (e) {
    return fail(`The models could not be loaded: ${(e as Error).message}`);
  }
  const every = Number(new URLSearchParams(location.search).get('detect-every') ?? $<HTMLSelectElement>('detect-every').value);
  const select = $<HTMLSelectElement>('detect-every');
  if (!Array.from(select.options).some((o) => o.value === String(every))) select.add(new Option(`every ${every}th`, String(every)));
  select.value = String(every);
  pipeline = new FacePipeline(engine, models, { detectEvery: every });
  state.status = 'ready';
  setEnabled(true);
  say('Compiling the kernels on the first frame (a few seconds, once)…');
  await open('sample');
}

void main();
