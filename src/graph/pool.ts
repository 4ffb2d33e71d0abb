/**
 * Pooled GPU buffers, bucketed by size. Two reuse disciplines:
 * - `queue-ordered` (tensor storage): a released buffer is reusable at once by GPU work recorded later. WebGPU
 *   executes a queue's commands in order, with barriers between dispatches, so a later kernel writing the buffer
 *   cannot overtake an earlier one reading it. The one host-side hazard, `queue.writeBuffer` landing before
 *   still-unsubmitted commands, is closed by the engine, which submits recorded work before any host write.
 *   Memory then stays flat over many steps recorded without a single wait.
 * - `after-completion` (mappable readback buffers): reusable only once the submit that used it has completed.
 */

export interface PoolStats {
  /** Bytes in buffers currently held by tensors (bucket sizes). */
  liveBytes: number;
  /** Bytes in released buffers: free for reuse, or waiting for their last submit to complete. */
  pooledBytes: number;
  /** Highest liveBytes seen since creation or the last resetPeak(). */
  peakLiveBytes: number;
  /** Buffers created over the pool's life (a steady state creates none). */
  created: number;
  /** Buffers that exist now: created, less those destroyed by `trim`. */
  buffers: number;
}

/** Rounds up to a bucket: 256 B minimum, then quarter steps between powers of two (≤25% waste). */
export function bucketSize(bytes: number): number {
  if (bytes <= 256) return 256;
  const p = 2 ** Math.floor(Math.log2(bytes));
  const step = p / 4;
  return Math.ceil(bytes / step) * step;
}

export class BufferPool {
  /** Free buffers per bucket, sorted by creation serial, highest first: `pop()` takes the oldest. */
  private readonly free = new Map<number, GPUBuffer[]>();
  private readonly serials = new WeakMap<GPUBuffer, number>();
  private readonly pending: { buffer: GPUBuffer; serial: number }[] = [];
  private readonly stats: PoolStats = { liveBytes: 0, pooledBytes: 0, peakLiveBytes: 0, created: 0, buffers: 0 };

  constructor(
    private readonly device: GPUDevice,
    private readonly usage: GPUBufferUsageFlags,
    private readonly label: string,
    private readonly reuse: 'queue-ordered' | 'after-completion' = 'after-completion',
  ) {}

  acquire(bytes: number): GPUBuffer {
    const size = bucketSize(bytes);
    const list = this.free.get(size);
    let buffer = list?.pop();
    if (buffer) {
      this.stats.pooledBytes -= size;
    } else {
      buffer = this.device.createBuffer({ size, usage: this.usage, label: `${this.label}:${size}` });
      this.serials.set(buffer, ++this.stats.created);
      this.stats.buffers++;
    }
    this.stats.liveBytes += size;
    if (this.stats.liveBytes > this.stats.peakLiveBytes) this.stats.peakLiveBytes = this.stats.liveBytes;
    return buffer;
  }

  /** Returns a buffer; it becomes reusable once submit `serial` has completed (`completed(serial)`). */
  release(buffer: GPUBuffer, serial: number, completedSerial: number): void {
    this.stats.liveBytes -= buffer.size;
    this.stats.pooledBytes += buffer.size;
    if (this.reuse === 'queue-ordered' || serial <= completedSerial) this.putFree(buffer);
    else this.pending.push({ buffer, serial });
  }

  /** Called when every submit up to `serial` has completed. */
  completed(serial: number): void {
    let kept = 0;
    for (const entry of this.pending) {
      if (entry.serial <= serial) this.putFree(entry.buffer);
      else this.pending[kept++] = entry;
    }
    this.pending.length = kept;
  }

  snapshot(): PoolStats {
    return { ...this.stats };
  }

  resetPeak(): void {
    this.stats.peakLiveBytes = this.stats.liveBytes;
  }

  /** Destroys every free buffer (pending ones stay until they complete). */
  trim(): void {
    for (const list of this.free.values()) {
      for (const b of list) {
        this.stats.pooledBytes -= b.size;
        this.stats.buffers--;
        b.destroy();
      }
    }
    this.free.clear();
  }

  /**
   * Keeps each free list sorted so that `acquire` always hands out the oldest free buffer. Which buffer a tensor
   * gets then depends only on which buffers are free, not on the order they were released in: a training step
   * repeated gets the same buffers each time, and so hits the runtime's bind-group cache. (A LIFO list permutes
   * the assignment from step to step, and every permutation creates hundreds of new bind groups a step.)
   */
  private putFree(buffer: GPUBuffer): void {
    let list = this.free.get(buffer.size);
    if (!list) this.free.set(buffer.size, (list = []));
    const serial = this.serials.get(buffer) ?? 0;
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.serials.get(list[mid]!) ?? 0) > serial) lo = mid + 1;
      else hi = mid;
    }
    list.splice(lo, 0, buffer);
  }
}

/**
 * The buffers of one recording (see kernels/recording.ts): everything acquired while its capture is open stays
 * its own until it is disposed, because replays write those buffers again. Released buffers are reused within
 * the capture (as the pool would) but never handed to other work.
 */
export class BufferArena {
  readonly buffers = new Set<GPUBuffer>();
  readonly released = new Set<GPUBuffer>();
  /** Buffers written from the host during the capture: a replay does not repeat the write, so none is reused. */
  readonly constants = new Set<GPUBuffer>();
  /** Buffers handed out a second time inside the capture (a host write into one would come too late on replay). */
  readonly reused = new Set<GPUBuffer>();
  private readonly free = new Map<number, GPUBuffer[]>();
  capturing = true;
  disposed = false;

  /** A released buffer of this bucket size, while capturing. */
  take(size: number): GPUBuffer | undefined {
    if (!this.capturing) return undefined;
    const b = this.free.get(size)?.shift();
    if (b) {
      this.released.delete(b);
      this.reused.add(b);
    }
    return b;
  }

  add(buffer: GPUBuffer): void {
    this.buffers.add(buffer);
  }

  release(buffer: GPUBuffer): void {
    this.released.add(buffer);
    if (!this.capturing || this.constants.has(buffer)) return;
    let list = this.free.get(buffer.size);
    if (!list) this.free.set(buffer.size, (list = []));
    list.push(buffer);
  }
}
