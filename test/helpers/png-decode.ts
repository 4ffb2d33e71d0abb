/**
 * A minimal PNG decoder for test fixtures (Node): 8-bit gray / RGB / RGBA / gray+alpha, not interlaced.
 * The project's image reader (src/node/image-files.ts) was being written concurrently; this keeps the
 * tfjs-import tests independent of it.
 */
import { inflateSync } from 'node:zlib';
import type { Image8 } from '../../src/data/types.js';

export function decodePng(bytes: Uint8Array): Image8 {
  const sig = [137, 80, 78, 71, 13, 10, 26, 10];
  if (!sig.every((b, i) => bytes[i] === b)) throw new Error('not a PNG');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let width = 0;
  let height = 0;
  let colorType = 0;
  const idat: Uint8Array[] = [];
  for (let at = 8; at < bytes.length; ) {
    const len = view.getUint32(at);
    const type = String.fromCharCode(...bytes.subarray(at + 4, at + 8));
    const body = bytes.subarray(at + 8, at + 8 + len);
    if (type === 'IHDR') {
      width = view.getUint32(at + 8);
      height = view.getUint32(at + 12);
      const depth = body[8];
      colorType = body[9]!;
      if (depth !== 8 || body[12] !== 0) throw new Error(`PNG: only 8-bit non-interlaced images (depth ${depth}, interlace ${body[12]})`);
    } else if (type === 'IDAT') idat.push(body);
    else if (type === 'IEND') break;
    at += 12 + len;
  }
  const inChannels = ({ 0: 1, 2: 3, 4: 2, 6: 4 } as Record<number, number>)[colorType];
  if (!inChannels) throw new Error(`PNG: unsupported colour type ${colorType}`);
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * inChannels;
  const px = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    const src = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const row = px.subarray(y * stride, (y + 1) * stride);
    const prev = y > 0 ? px.subarray((y - 1) * stride, y * stride) : new Uint8Array(stride);
    for (let i = 0; i < stride; i++) {
      const a = i >= inChannels ? row[i - inChannels]! : 0;
      const b = prev[i]!;
      const c = i >= inChannels ? prev[i - inChannels]! : 0;
      let pred = 0;
      if (filter === 1) pred = a;
      else if (filter === 2) pred = b;
      else if (filter === 3) pred = (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c;
        const pa = Math.abs(p - a);
        const pb = Math.abs(p - b);
        const pc = Math.abs(p - c);
        pred = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      } else if (filter !== 0) throw new Error(`PNG: bad filter ${filter} on row ${y}`);
      row[i] = (src[i]! + pred) & 255;
    }
  }
  if (inChannels === 2) {
    // gray + alpha → gray
    const g = new Uint8Array(width * height);
    for (let i = 0; i < g.length; i++) g[i] = px[2 * i]!;
    return { width, height, channels: 1, data: g };
  }
  return { width, height, channels: inChannels as 1 | 3 | 4, data: px };
}
