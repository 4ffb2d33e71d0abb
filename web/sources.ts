/**
 * Where frames come from: a photo, a video file, the camera, or a generated "moving sample" (a photo panned and
 * zoomed on a canvas, captured as a video stream); and the grab of one frame into pixels at a working size.
 * Browser only.
 */
import type { Pixels } from '../src/import/face-crop.js';

export type Source =
  | { kind: 'image'; name: string; image: ImageBitmap | HTMLImageElement }
  | { kind: 'video'; name: string; video: HTMLVideoElement; live: boolean; stop(): void };

/** Frames are processed at most this wide or tall (the detector sees 256 pixels anyway). */
export const WORK_SIDE = 640;

export class CameraError extends Error {
  override name = 'CameraError';
}

/** Plain words for getUserMedia's failures. */
export function cameraMessage(e: unknown): string {
  const name = (e as { name?: string })?.name ?? '';
  if (name === 'NotAllowedError' || name === 'SecurityError' || name === 'PermissionDeniedError')
    return 'Camera access was refused. Allow the camera for this site (the camera icon in the address bar) and press Camera again, or pick a photo or a video file.';
  if (name === 'NotFoundError' || name === 'OverconstrainedError' || name === 'DevicesNotFoundError') return 'No camera was found. Connect one, or pick a photo or a video file.';
  if (name === 'NotReadableError' || name === 'TrackStartError') return 'The camera is in use by another application (or the system blocked it). Close that application and try again.';
  return `The camera could not be started: ${(e as Error)?.message ?? String(e)}`;
}

function videoElement(): HTMLVideoElement {
  const v = document.createElement('video');
  v.muted = true;
  v.playsInline = true;
  return v;
}

async function started(v: HTMLVideoElement, name: string): Promise<void> {
  if (v.readyState < 2) {
    await new Promise<void>((ok, fail) => {
      v.addEventListener('loadeddata', () => ok(), { once: true });
      v.addEventListener('error', () => fail(new Error(`${name}: this browser cannot play it (${v.error?.message || `media error ${v.error?.code}`})`)), { once: true });
    });
  }
  await v.play();
}

export async function photoSource(file: Blob, name: string): Promise<Source> {
  try {
    return { kind: 'image', name, image: await createImageBitmap(file) };
  } catch {
    throw new Error(`${name} is not an image this browser can decode`);
  }
}

export async function urlImageSource(url: string): Promise<Source> {
  const img = new Image();
  img.src = url;
  try {
    await img.decode();
  } catch {
    throw new Error(`could not load the image ${url}`);
  }
  return { kind: 'image', name: url.split('/').pop()!, image: img };
}

export async function videoFileSource(file: Blob, name: string): Promise<Source> {
  const v = videoElement();
  const url = URL.createObjectURL(file);
  v.src = url;
  v.loop = true;
  await started(v, name);
  return { kind: 'video', name, video: v, live: false, stop: () => (v.pause(), URL.revokeObjectURL(url)) };
}

export async function cameraSource(): Promise<Source> {
  if (!navigator.mediaDevices?.getUserMedia) throw new CameraError('This page cannot reach a camera here: it needs a secure context (https or localhost) and a browser with camera support.');
  let stream: MediaStream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 640 }, height: { ideal: 480 }, facingMode: 'user' }, audio: false });
  } catch (e) {
    throw new CameraError(cameraMessage(e));
  }
  const v = videoElement();
  v.srcObject = stream;
  await started(v, 'camera');
  const track = stream.getVideoTracks()[0];
  return { kind: 'video', name: `camera: ${track?.label || 'default'}`, video: v, live: true, stop: () => stream.getTracks().forEach((t) => t.stop()) };
}

/** The image panned and zoomed on a canvas at 30 frames/s, captured as a stream: a video without a file or camera. */
export async function movingSource(image: ImageBitmap | HTMLImageElement, name = 'moving sample'): Promise<Source> {
  const c = document.createElement('canvas');
  c.width = 480;
  c.height = 360;
  const ctx = c.getContext('2d')!;
  let t = 0;
  const draw = () => {
    const zoom = 1 + 0.25 * Math.sin(t / 40);
    const w = image.width * zoom * (c.height / image.height);
    const h = c.height * zoom;
    ctx.fillStyle = '#000';
    ctx.fillRect(0, 0, c.width, c.height);
    ctx.drawImage(image, (c.width - w) / 2 + 60 * Math.sin(t / 25), (c.height - h) / 2 + 20 * Math.cos(t / 33), w, h);
    t++;
  };
  draw();
  const timer = setInterval(draw, 1000 / 30);
  const stream = c.captureStream(30);
  const v = videoElement();
  v.srcObject = stream;
  await started(v, name);
  return { kind: 'video', name, video: v, live: true, stop: () => (clearInterval(timer), stream.getTracks().forEach((tr) => tr.stop())) };
}

export function sourceSize(s: Source): { width: number; height: number } {
  if (s.kind === 'image') return { width: s.image.width, height: s.image.height };
  return { width: s.video.videoWidth, height: s.video.videoHeight };
}

/** Draws the source's current frame into `canvas` at the working size and returns its pixels (RGBA). */
export function grab(s: Source, canvas: HTMLCanvasElement): Pixels {
  const { width, height } = sourceSize(s);
  if (!width || !height) throw new Error(`${s.name}: no frame yet`);
  const k = Math.min(1, WORK_SIDE / Math.max(width, height));
  const w = Math.round(width * k);
  const h = Math.round(height * k);
  if (canvas.width !== w || canvas.height !== h) [canvas.width, canvas.height] = [w, h];
  const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
  ctx.drawImage(s.kind === 'image' ? s.image : s.video, 0, 0, w, h);
  const img = ctx.getImageData(0, 0, w, h);
  return { width: w, height: h, channels: 4, data: img.data };
}

/** Resolves at the next new video frame (requestVideoFrameCallback where there is one). */
export function nextVideoFrame(v: HTMLVideoElement): Promise<void> {
  return new Promise((ok) => {
    if ('requestVideoFrameCallback' in v) v.requestVideoFrameCallback(() => ok());
    else requestAnimationFrame(() => ok());
  });
}
