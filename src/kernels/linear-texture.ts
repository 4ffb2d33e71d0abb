/**
 * A tensor's data in an rgba32float texture, filled by driver copies instead of a kernel: texel t (floats
 * 4t … 4t + 3) sits at x = t % 1024, y = (t / 1024) % 8192, layer t / 2^23, so a shader finds it with shifts
 * and masks (`linear_texel` in the runtime's WGSL prelude, kept in step with LINEAR_TEXTURE). A size that is not
 * a multiple of 4 copies a few bytes past the tensor into the last texel (pooled buffers are whole multiples of
 * 64 bytes); shaders never read those. On lavapipe texture loads are vectorised across lanes where storage-buffer
 * loads are not, and the copy costs less than one pass of a kernel over the data.
 */
import type { Engine } from '../device/engine.js';
import { ShapeError, fmtShape } from '../device/errors.js';
import type { Tensor } from '../graph/tensor.js';
import { texturePool, type PooledTexture } from './texture-pool.js';

export const LINEAR_TEXTURE = { width: 1024, rows: 8192 } as const;
const ROW_BYTES = LINEAR_TEXTURE.width * 16;

/** Whether `t` fits: its buffer holds whole texels and the texture at most the device's layers. */
export function fitsLinearTexture(engine: Engine, t: Tensor): boolean {
  const texels = Math.ceil(t.size / 4);
  if (t.size === 0 || t.buffer.size < texels * 16 || engine.limits.maxTextureDimension2D < LINEAR_TEXTURE.rows) return false;
  return Math.ceil(texels / (LINEAR_TEXTURE.width * LINEAR_TEXTURE.rows)) <= engine.limits.maxTextureArrayLayers;
}

/** Copies `t` into a pooled texture; call `release` once the kernels reading it are recorded. */
export function linearTexture(engine: Engine, t: Tensor, label: string): { texture: PooledTexture; release(): void } {
  if (!fitsLinearTexture(engine, t)) throw new ShapeError(label, `${fmtShape(t.shape)} does not fit a linear texture (its buffer must hold whole texels, and the device enough texture layers)`);
  const { width, rows } = LINEAR_TEXTURE;
  const texels = Math.ceil(t.size / 4);
  const fullRows = Math.floor(texels / width);
  const totalRows = Math.ceil(texels / width);
  const layers = Math.max(1, Math.ceil(totalRows / rows));
  const pool = texturePool(engine);
  const texture = pool.acquire(width, Math.min(totalRows, rows), layers);
  for (let l = 0; l * rows < fullRows; l++) {
    const count = Math.min(rows, fullRows - l * rows);
    engine.runtime.copyBufferToTexture(t.buffer, l * rows * ROW_BYTES, ROW_BYTES, texture.texture, [0, 0, l], [width, count, 1], `${label}: copy into a texture`);
  }
  const tail = texels - fullRows * width;
  if (tail > 0) {
    engine.runtime.copyBufferToTexture(t.buffer, fullRows * ROW_BYTES, ROW_BYTES, texture.texture, [0, fullRows % rows, Math.floor(fullRows / rows)], [tail, 1, 1], `${label}: copy into a texture`);
  }
  return { texture, release: () => pool.release(texture) };
}
