/**
 * Cached rgba32float texture arrays for kernels that stage operands in textures (matmul). Sizes are rounded
 * up to buckets so shapes that differ a little share textures, and released textures are kept for reuse, so
 * repeated calls allocate nothing.
 *
 * A released texture can be handed out again at once: it is written and read only by GPU commands, which
 * run in recording order with WebGPU's hazard tracking between dispatches, so unlike buffers (which the host
 * fills with writeBuffer) there is no host write that could overtake earlier reads.
 */
import type { Engine } from '../device/engine.js';

export interface PooledTexture {
  texture: GPUTexture;
  /** A '2d-array' view (also for one layer, where the default view would be '2d'). */
  view: GPUTextureView;
  width: number;
  height: number;
  layers: number;
}

/** Free textures kept beyond this are destroyed, least recently released first. */
const MAX_FREE_BYTES = 256 * 2 ** 20;
const BYTES_PER_TEXEL = 16;

/** 8 minimum, then quarter steps between powers of two (≤ 25% waste), capped at `max`. */
function bucket(n: number, max: number): number {
  if (n <= 8) return Math.min(8, max);
  const p = 2 ** Math.floor(Math.log2(n));
  return Math.min(Math.ceil(n / (p / 4)) * (p / 4), max);
}

export class TexturePool {
  private readonly free = new Map<string, PooledTexture[]>();
  private readonly order: PooledTexture[] = [];
  private freeBytes = 0;
  /** Evicted textures that recorded-but-unsubmitted work may still use: destroyed once that work is done. */
  private doomed: { texture: GPUTexture; serial: number }[] = [];
  /** Textures created over the pool's life (a steady state creates none). */
  created = 0;
  /** Textures destroyed after eviction. */
  destroyed = 0;
  /** Textures acquired while a recording captures (see recording.ts). */
  capturing: Set<PooledTexture> | null = null;
  /**
   * Textures a recording replays into: never evicted while pinned. They may still be handed out between replays,
   * since every user writes a staging texture before reading it, in queue order.
   */
  readonly pinned = new Map<PooledTexture, number>();

  constructor(private readonly engine: Engine) {
    engine.runtime.onComplete.push((serial) => {
      this.doomed = this.doomed.filter((d) => {
        if (d.serial > serial) return true;
        d.texture.destroy();
        this.destroyed++;
        return false;
      });
    });
  }

  /** A texture of at least width × height texels and exactly `layers` layers. */
  acquire(width: number, height: number, layers: number): PooledTexture {
    const dim = this.engine.limits.maxTextureDimension2D;
    const w = bucket(width, dim);
    const h = bucket(height, dim);
    const key = `${w}x${h}x${layers}`;
    const t = this.free.get(key)?.pop();
    if (t) {
      this.order.splice(this.order.indexOf(t), 1);
      this.freeBytes -= bytesOf(t);
      this.capturing?.add(t);
      return t;
    }
    const texture = this.engine.device.createTexture({
      size: [w, h, layers],
      format: 'rgba32float',
      // Copy usages: operands already in the texel layout arrive by a driver copy instead of a kernel.
      usage: GPUTextureUsage.STORAGE_BINDING | GPUTextureUsage.COPY_DST | GPUTextureUsage.COPY_SRC,
      label: `fergpu staging ${key}`,
    });
    this.created++;
    const pooled = { texture, view: texture.createView({ dimension: '2d-array' }), width: w, height: h, layers };
    this.capturing?.add(pooled);
    return pooled;
  }

  release(t: PooledTexture): void {
    const key = `${t.width}x${t.height}x${t.layers}`;
    let list = this.free.get(key);
    if (!list) this.free.set(key, (list = []));
    list.push(t);
    this.order.push(t);
    this.freeBytes += bytesOf(t);
    for (let i = 0; this.freeBytes > MAX_FREE_BYTES && i < this.order.length - 1; ) {
      const old = this.order[i]!;
      if (this.pinned.has(old)) {
        i++;
        continue;
      }
      this.order.splice(i, 1);
      const l = this.free.get(`${old.width}x${old.height}x${old.layers}`)!;
      l.splice(l.indexOf(old), 1);
      this.freeBytes -= bytesOf(old);
      this.doomed.push({ texture: old.texture, serial: this.engine.runtime.releaseSerial });
    }
  }

  /** Bytes held in free textures. */
  get pooledBytes(): number {
    return this.freeBytes;
  }
}

function bytesOf(t: PooledTexture): number {
  return t.width * t.height * t.layers * BYTES_PER_TEXEL;
}

const pools = new WeakMap<Engine, TexturePool>();

/** The staging-texture pool of an engine, if it has made one. */
export function existingTexturePool(engine: Engine): TexturePool | undefined {
  return pools.get(engine);
}

export function texturePool(engine: Engine): TexturePool {
  let p = pools.get(engine);
  if (!p) pools.set(engine, (p = new TexturePool(engine)));
  return p;
}
