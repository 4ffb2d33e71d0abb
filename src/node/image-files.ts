/**
 * Image files in Node: PNG read and written by the project (zlib from Node, CRC-32 here), JPEG decoded by jpeg-js.
 * Every failure names the file and what is wrong with it.
 */
import { readFileSync } from 'node:fs';
import { inflateSync, deflateSync } from 'node:zlib';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import jpeg from 'jpeg-js';
import type { Image8 } from '../data/types.js';
import { describeFsError } from './fs-errors.js';

const PNG_SIGNATURE = Uint8Array.of(137, 80, 78, 71, 13, 10, 26, 10);

/** Largest image decoded, in pixels (as jpeg-js's default): larger claims are refused before anything is allocated. */
export const MAX_IMAGE_PIXELS = 100_000_000;

function checkPixels(name: string, kind: string, width: number, height: number): void {
  if (width * height > MAX_IMAGE_PIXELS) {
    throw new Error(`${name}: the ${kind} claims ${width}×${height} pixels (${((width * height) / 1e6).toFixed(0)} MP), over the ${MAX_IMAGE_PIXELS / 1e6} MP limit; refused before decoding`);
  }
}

/** A JPEG's frame size from its SOF marker (null when none is found before the scan data). */
function jpegSize(bytes: Uint8Array): { width: number; height: number } | null {
  let pos = 2;
  while (pos + 4 <= bytes.length) {
    if (bytes[pos] !== 0xff) return null;
    const marker = bytes[pos + 1]!;
    if (marker === 0xff) {
      pos++; // fill byte
      continue;
    }
    if (marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) {
      pos += 2;
      continue;
    }
    const len = (bytes[pos + 2]! << 8) | bytes[pos + 3]!;
    const isSof = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (isSof && pos + 9 <= bytes.length) return { height: (bytes[pos + 5]! << 8) | bytes[pos + 6]!, width: (bytes[pos + 7]! << 8) | bytes[pos + 8]! };
    if (marker === 0xda) return null; // start of scan: no frame header before it
    pos += 2 + len;
  }
  return null;
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 255]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Reads a PNG or JPEG (by its first bytes, whatever the extension says). */
export function readImage(path: string): Image8 {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(readFileSync(path));
  } catch (e) {
    throw new Error(describeFsError(path, e, 'file'));
  }
  return decodeImage(bytes, path);
}

export function decodeImage(bytes: Uint8Array, name = 'image'): Image8 {
  if (bytes.length >= 8 && PNG_SIGNATURE.every((b, i) => bytes[i] === b)) return decodePng(bytes, name);
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) {
    const size = jpegSize(bytes);
    if (size) checkPixels(name, 'JPEG', size.width, size.height);
    try {
      const d = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false, maxResolutionInMP: MAX_IMAGE_PIXELS / 1e6, maxMemoryUsageInMB: 1024 });
      return { width: d.width, height: d.height, channels: 3, data: d.data };
    } catch (e) {
      const ended = bytes[bytes.length - 2] === 0xff && bytes[bytes.length - 1] === 0xd9;
      throw new Error(`${name}: ${ended ? 'corrupt JPEG' : 'truncated or corrupt JPEG (no end-of-image marker)'} (${(e as Error).message})`);
    }
  }
  throw new Error(`${name}: not a PNG or JPEG file (unrecognised first bytes)`);
}

function decodePng(bytes: Uint8Array, name: string): Image8 {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 8;
  let width = 0;
  let height = 0;
  let depth = 0;
  let colour = -1;
  let palette: Uint8Array | null = null;
  let transparency: Uint8Array | null = null;
  const idat: Uint8Array[] = [];
  while (pos + 12 <= bytes.length) {
    const len = view.getUint32(pos);
    const type = String.fromCharCode(...bytes.subarray(pos + 4, pos + 8));
    if (pos + 12 + len > bytes.length) throw new Error(`${name}: corrupt PNG (chunk ${type} runs past the end of the file)`);
    const data = bytes.subarray(pos + 8, pos + 8 + len);
    if (crc32(bytes.subarray(pos + 4, pos + 8 + len)) !== view.getUint32(pos + 8 + len)) throw new Error(`${name}: corrupt PNG (bad CRC in chunk ${type})`);
    if (type === 'IHDR') {
      const h = new DataView(data.buffer, data.byteOffset, data.byteLength);
      width = h.getUint32(0);
      height = h.getUint32(4);
      depth = data[8]!;
      colour = data[9]!;
      if (data[12] !== 0) throw new Error(`${name}: interlaced PNGs are not supported (re-save it without interlacing)`);
      checkPixels(name, 'PNG', width, height);
    } else if (type === 'PLTE') palette = data;
    else if (type === 'tRNS') transparency = data;
    else if (type === 'IDAT') idat.push(data);
    else if (type === 'IEND') break;
    pos += 12 + len;
  }
  if (!width || !height || colour < 0) throw new Error(`${name}: corrupt PNG (no IHDR)`);
  const samples = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }[colour as 0 | 2 | 3 | 4 | 6];
  if (!samples || ![1, 2, 4, 8, 16].includes(depth) || (depth < 8 && colour !== 0 && colour !== 3)) throw new Error(`${name}: unsupported PNG colour type ${colour} / bit depth ${depth}`);
  const bitsPerPixel = samples * depth;
  const stride = Math.ceil((width * bitsPerPixel) / 8);
  let raw: Uint8Array;
  try {
    // Capped at the size the header declares: a small file cannot inflate into gigabytes.
    raw = new Uint8Array(inflateSync(Buffer.concat(idat), { maxOutputLength: Math.max(1, height * (stride + 1)) }));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ERR_BUFFER_TOO_LARGE') throw new Error(`${name}: corrupt PNG (image data inflates past the ${height * (stride + 1)} bytes its ${width}×${height} header declares)`);
    throw new Error(`${name}: corrupt PNG (image data does not inflate: ${(e as Error).message})`);
  }
  const bpp = Math.max(1, bitsPerPixel >> 3);
  if (raw.length < height * (stride + 1)) throw new Error(`${name}: corrupt PNG (image data is ${raw.length} bytes, ${height * (stride + 1)} expected)`);
  const lines = new Uint8Array(height * stride);
  let prev = new Uint8Array(stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    const src = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const cur = lines.subarray(y * stride, (y + 1) * stride);
    for (let i = 0; i < stride; i++) {
      const a = i >= bpp ? cur[i - bpp]! : 0;
      const b = prev[i]!;
      const c = i >= bpp ? prev[i - bpp]! : 0;
      let v = src[i]!;
      if (filter === 1) v += a;
      else if (filter === 2) v += b;
      else if (filter === 3) v += (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c;
        const pa = Math.abs(p - a);
        const pb = Math.abs(p - b);
        const pc = Math.abs(p - c);
        v += pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      } else if (filter !== 0) throw new Error(`${name}: corrupt PNG (filter type ${filter} on row ${y})`);
      cur[i] = v & 255;
    }
    prev = cur;
  }
  // Samples to 8 bits, then to gray / RGB / RGBA.
  const sample = (y: number, i: number): number => {
    const line = lines.subarray(y * stride, (y + 1) * stride);
    if (depth === 8) return line[i]!;
    if (depth === 16) return line[2 * i]!; // high byte
    const perByte = 8 / depth;
    const v = (line[Math.floor(i / perByte)]! >> (8 - depth * ((i % perByte) + 1))) & ((1 << depth) - 1);
    return colour === 3 ? v : Math.round((v * 255) / ((1 << depth) - 1));
  };
  if (colour === 3) {
    if (!palette) throw new Error(`${name}: corrupt PNG (palette image without PLTE)`);
    const alpha = transparency !== null;
    const ch = alpha ? 4 : 3;
    const out = new Uint8Array(width * height * ch);
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++) {
        const idx = sample(y, x);
        const o = (y * width + x) * ch;
        out[o] = palette[3 * idx] ?? 0;
        out[o + 1] = palette[3 * idx + 1] ?? 0;
        out[o + 2] = palette[3 * idx + 2] ?? 0;
        if (alpha) out[o + 3] = transparency![idx] ?? 255;
      }
    return { width, height, channels: ch as 3 | 4, data: out };
  }
  // Gray + alpha becomes RGBA (Image8 has no 2-channel form).
  const ch = colour === 4 ? 4 : (samples as 1 | 3 | 4);
  const out = new Uint8Array(width * height * ch);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * ch;
      if (colour === 4) {
        const g = sample(y, 2 * x);
        out[o] = out[o + 1] = out[o + 2] = g;
        out[o + 3] = sample(y, 2 * x + 1);
      } else for (let c = 0; c < samples; c++) out[o + c] = sample(y, x * samples + c);
    }
  return { width, height, channels: ch as 1 | 3 | 4, data: out };
}

export function encodePng(img: Image8): Uint8Array {
  const { width, height, channels } = img;
  if (img.data.length !== width * height * channels) throw new Error(`encodePng: ${width}×${height}×${channels} needs ${width * height * channels} bytes, got ${img.data.length}`);
  const colour = { 1: 0, 3: 2, 4: 6 }[channels];
  const stride = width * channels;
  const raw = new Uint8Array(height * (stride + 1));
  for (let y = 0; y < height; y++) {
    // Filter "up" on every row but the first: cheap and compresses smooth pictures well.
    raw[y * (stride + 1)] = y === 0 ? 0 : 2;
    for (let i = 0; i < stride; i++) {
      const v = img.data[y * stride + i]!;
      raw[y * (stride + 1) + 1 + i] = y === 0 ? v : (v - img.data[(y - 1) * stride + i]!) & 255;
    }
  }
  const ihdr = new Uint8Array(13);
  const h = new DataView(ihdr.buffer);
  h.setUint32(0, width);
  h.setUint32(4, height);
  ihdr[8] = 8;
  ihdr[9] = colour;
  const chunks = [chunk('IHDR', ihdr), chunk('IDAT', new Uint8Array(deflateSync(raw))), chunk('IEND', new Uint8Array(0))];
  const out = new Uint8Array(8 + chunks.reduce((n, c) => n + c.length, 0));
  out.set(PNG_SIGNATURE);
  let o = 8;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  v.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/** Writes a PNG, creating the folder when needed. */
export function writePng(path: string, img: Image8): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, encodePng(img));
}
