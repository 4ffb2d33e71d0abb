/**
 * The engine: one WebGPU device with its kernel runtime, buffer pools and variant choices. Platform-neutral;
 * Node wires Dawn in through src/node.
 */
import { backward as runBackward } from '../graph/autograd.js';
import { BufferArena, BufferPool, bucketSize, type PoolStats } from '../graph/pool.js';
import { BYTES_PER_ELEMENT, dtypeOf, toDtypeArray, typedArrayFor, type AnyTypedArray, type DType, type HostData } from '../graph/dtype.js';
import { currentOp, withOp } from '../graph/op-context.js';
import { checkShape, sizeOf } from '../graph/shape.js';
import { Storage, Tensor } from '../graph/tensor.js';
import { add } from '../kernels/elementwise.js';
import { fill } from '../kernels/fill.js';
import { record, type InputSpec, type Recording } from '../kernels/recording.js';
import { KernelRuntime } from '../kernels/runtime.js';
import { VariantChooser, type TuningStore } from '../kernels/variants.js';
import { fmtShape, GpuError, ShapeError } from './errors.js';
import { GpuChecks } from './gpu-checks.js';
import { busyWaiter, InFlight, type Waiter } from './waiter.js';

export interface EngineOptions {
  /** The WebGPU entry point; defaults to `navigator.gpu`. */
  gpu?: GPU;
  /** How to wait for GPU promises (Node supplies a polite waiter). */
  waiter?: Waiter;
  powerPreference?: GPUPowerPreference;
  /** Where measured kernel-variant choices are remembered between runs. */
  tuningStore?: TuningStore;
  /**
   * Runs a full garbage collection (Node supplies V8's). A bind group evicted from the runtime's cache is freed
   * only when its wrapper is collected, and a CPU driver maps memory for each live one: work that binds many
   * different buffers (gradient checks, many shapes) would otherwise reach the process's map limit first.
   */
  collectGarbage?: () => void;
}

export interface AdapterReport {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  isFallbackAdapter: boolean;
  subgroupMinSize: number | undefined;
  subgroupMaxSize: number | undefined;
  features: string[];
  limits: Record<string, number>;
}

/** Limits requested at the adapter's maximum: kernels need big storage buffers and workgroups. */
const WANTED_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
  'maxStorageTexturesPerShaderStage',
  'maxTextureDimension2D',
  'maxTextureArrayLayers',
  'maxUniformBufferBindingSize',
] as const;

const WANTED_FEATURES: GPUFeatureName[] = ['shader-f16', 'subgroups', 'timestamp-query'] as GPUFeatureName[];

export const NO_ADAPTER_HELP =
  'No WebGPU adapter was found. In Node, WebGPU comes from Dawn (npm package `webgpu`) over Vulkan: on a machine ' +
  'without a GPU run `npm run setup` (installs Mesa lavapipe from Debian bookworm-backports: libvulkan1, ' +
  'mesa-vulkan-drivers ≥ 25; bookworm\'s own Mesa 22.3 is rejected by Dawn). In a browser, use one with WebGPU ' +
  'enabled (Chromium: --enable-unsafe-webgpu).';

export class Engine {
  readonly runtime: KernelRuntime;
  readonly features: ReadonlySet<string>;
  readonly variants: VariantChooser;
  readonly inFlight: InFlight;
  /** Input checks made by kernels on the GPU (out-of-range label tensors), raised by the next read. */
  readonly checks: GpuChecks;
  private readonly pool: BufferPool;
  private readonly readPool: BufferPool;
  private destroyed = false;
  /** The arena of the recording whose capture is open, and the owner of every buffer in an arena. */
  private arena: BufferArena | null = null;
  private readonly arenaOf = new Map<GPUBuffer, BufferArena>();
  /** Buffers of frozen tensors, each with the forms derived from it (packed weights), freed with the buffer. */
  private readonly frozen = new Map<GPUBuffer, Map<string, { value: unknown; free: () => void }>>();

  constructor(
    readonly device: GPUDevice,
    readonly adapter: AdapterReport,
    waiter: Waiter,
    tuningStore?: TuningStore,
    /** What the engine was created with: `createEngine(engine.options)` opens another like it (after a loss, say). */
    readonly options: EngineOptions = {},
  ) {
    this.features = new Set(device.features as unknown as Iterable<string>);
    this.inFlight = new InFlight(waiter);
    this.runtime = new KernelRuntime(device, this.inFlight);
    if (options.collectGarbage) this.runtime.collectGarbage = options.collectGarbage;
    this.checks = new GpuChecks(device, this.runtime);
    // UNIFORM too: small read-only operands (LayerNorm's γ and β) bind as uniform buffers, whose loads CPU
    // drivers serve as one broadcast where a storage load costs one load per lane.
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    this.pool = new BufferPool(device, usage, 'fergpu tensor', 'queue-ordered');
    this.readPool = new BufferPool(device, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, 'fergpu readback');
    this.runtime.onComplete.push((serial) => {
      this.pool.completed(serial);
      this.readPool.completed(serial);
    });
    this.variants = new VariantChooser(this, tuningStore);
    void device.lost.then((info) => this.runtime.markLost(info.reason === 'destroyed' && this.destroyed ? 'engine.destroy() was called' : info.reason, info.message));
  }

  /** Null while the device works; the device-lost error once it is lost or the engine destroyed. */
  get lost(): GpuError | null {
    return this.runtime.lost;
  }

  get limits(): GPUSupportedLimits {
    return this.device.limits;
  }

  get waitMode(): Waiter['mode'] {
    return this.inFlight.waiter.mode;
  }

  /** Switches between sleeping and Dawn's busy-wait while GPU work is pending (benchmarks compare both). */
  setWaiter(waiter: Waiter): void {
    this.inFlight.waiter = waiter;
  }

  /** Subgroup size when the device runs subgroups at one fixed size, else undefined. */
  get fixedSubgroupSize(): number | undefined {
    if (!this.features.has('subgroups')) return undefined;
    const { subgroupMinSize: lo, subgroupMaxSize: hi } = this.adapter;
    return lo !== undefined && lo === hi ? lo : undefined;
  }

  /**
   * An uninitialised tensor from the pool (kernels write every element). `fresh`: inside an open recording, a
   * buffer that no recorded command has used yet (for constants written from the host).
   */
  empty(shape: readonly number[], dtype: DType = 'f32', fresh = false): Tensor {
    this.runtime.assertAlive(`empty ${fmtShape(shape)}`);
    checkShape('empty', shape);
    const bytes = Math.max(sizeOf(shape) * BYTES_PER_ELEMENT, 4);
    const limit = this.limits.maxStorageBufferBindingSize;
    if (bytes > limit) {
      // Blame the op whose launch asked for the tensor (an output or intermediate), when there is one.
      const op = currentOp();
      throw new ShapeError(op ?? 'empty', `${op ? 'needs a tensor' : 'tensor'} ${fmtShape(shape)} of ${bytes} bytes, over the device's storage-binding limit of ${limit} (maxStorageBufferBindingSize); split the work into smaller batches`);
    }
    return new Tensor(this, new Storage(this, this.acquire(bytes, fresh)), [...shape], dtype);
  }

  /**
   * A tensor holding `data` (copied). `shape` defaults to 1-D. The dtype defaults to the array's (see HostData:
   * Float64Array rounds to f32, small integer arrays widen to i32/u32); integer dtypes refuse values they cannot
   * hold exactly.
   */
  tensor(data: HostData, shape?: readonly number[], dtype?: DType): Tensor {
    const dt = dtype ?? (ArrayBuffer.isView(data) ? dtypeOf(data, 'tensor') : 'f32');
    const shp = shape ?? [data.length];
    checkShape('tensor', shp);
    if (sizeOf(shp) !== data.length) throw new ShapeError('tensor', `${data.length} values do not fill shape ${fmtShape(shp)} (${sizeOf(shp)} elements)`);
    const typed = toDtypeArray('tensor', data, dt);
    // Inside a recording, a constant gets a buffer no recorded command has used (see write).
    const t = withOp(() => `tensor ${fmtShape(shp)}`, () => this.empty(shp, dt, true));
    this.write(t, typed);
    return t;
  }

  /**
   * Marks a tensor's values as final (weights of an inference model): kernels may then cache forms derived from
   * it (convolution weights packed into their tiled layout) instead of deriving them every call. Writes and copies
   * into it throw, and optimisers refuse it; the caches go when its last view is disposed. Returns `t`.
   */
  freeze(t: Tensor): Tensor {
    if (!this.frozen.has(t.buffer)) this.frozen.set(t.buffer, new Map());
    return t;
  }

  isFrozen(t: Tensor): boolean {
    return this.frozen.has(t.buffer);
  }

  /**
   * A form derived from a frozen tensor, made once by `make` and kept until the tensor is released (then `free`).
   * Undefined when `t` is not frozen, or when the form is new and a recording is capturing (what it allocates
   * belongs to the recording).
   */
  derived<D>(t: Tensor, key: string, make: () => D, free: (d: D) => void): D | undefined {
    const forms = this.frozen.get(t.buffer);
    if (!forms) return undefined;
    let entry = forms.get(key);
    if (!entry) {
      if (this.runtime.capturing) return undefined;
      const value = make();
      entry = { value, free: () => free(value) };
      forms.set(key, entry);
    }
    return entry.value as D;
  }

  /** Overwrites a tensor's values from the CPU (converted as by `tensor`). */
  write(t: Tensor, data: HostData): void {
    if (this.frozen.has(t.buffer)) throw new ShapeError('write', `${t} is frozen (engine.freeze): its values are final`);
    this.own('write', t);
    if (data.length !== t.size) throw new ShapeError('write', `${data.length} values for tensor ${fmtShape(t.shape)} (${t.size} elements)`);
    let typed = toDtypeArray('write', data, t.dtype);
    // A fresh ArrayBuffer: Dawn's Node binding crashes on views of a SharedArrayBuffer.
    if (typed.buffer instanceof SharedArrayBufferCtor) {
      const copy = typedArrayFor(t.dtype, t.size);
      copy.set(typed);
      typed = copy;
    }
    if (t.size === 0) return;
    this.runtime.assertAlive(`write ${fmtShape(t.shape)}`);
    if (this.arena?.capturing) {
      // A replay repeats GPU commands, not host writes: only constants made inside the recording may be written.
      if (this.arenaOf.get(t.buffer) !== this.arena) throw new ShapeError('record', `a host write to ${t} (made before the recording) inside the recorded function would not be replayed; pass the data as an input`);
      if (this.arena.reused.has(t.buffer)) throw new ShapeError('record', `a host write to ${t}, whose buffer earlier commands of the recording used, would land before them on replay; make constants with engine.tensor()`);
      this.arena.constants.add(t.buffer);
    }
    // Recorded commands must reach the queue first: the buffer may have been recycled from a tensor that
    // they still read (see BufferPool), and writeBuffer takes effect at the point of the queue it is called.
    this.runtime.flush();
    this.device.queue.writeBuffer(t.buffer, 0, typed.buffer, typed.byteOffset, t.size * BYTES_PER_ELEMENT);
  }

  /**
   * Reads a tensor back: submits pending work, copies into a mappable buffer and waits. The GPU input checks
   * (see GpuChecks) come back in the same mapping: a failed one throws here, naming its op.
   */
  async read(t: Tensor): Promise<AnyTypedArray> {
    this.own('read', t);
    this.runtime.assertAlive(`read ${fmtShape(t.shape)}`);
    const bytes = t.size * BYTES_PER_ELEMENT;
    if (bytes === 0) {
      await this.runtime.sync();
      return typedArrayFor(t.dtype, 0);
    }
    const checkBytes = this.checks.bytes;
    const total = bytes + checkBytes;
    const staging = this.readPool.acquire(total);
    this.runtime.copyBuffer(t.buffer, 0, staging, 0, bytes, `read ${fmtShape(t.shape)}`);
    this.checks.copyInto(staging, bytes);
    this.runtime.flush();
    try {
      await this.inFlight.track(staging.mapAsync(GPUMapMode.READ, 0, total));
    } catch (e) {
      // A lost device rejects the mapping with a bare AbortError; its lost promise settles at about the same time.
      await Promise.race([this.device.lost, new Promise((r) => setTimeout(r, 1000))]);
      this.runtime.assertAlive(`read ${fmtShape(t.shape)}`);
      await this.runtime.checkErrors();
      throw e;
    }
    this.runtime.assertAlive(`read ${fmtShape(t.shape)}`);
    const mapped = staging.getMappedRange(0, total);
    const out = typedArrayFor(t.dtype, mapped.slice(0, bytes));
    const checks = checkBytes ? new Uint32Array(mapped.slice(bytes, total)) : null;
    staging.unmap();
    this.readPool.release(staging, this.runtime.releaseSerial, this.runtime.completed);
    await this.runtime.checkErrors();
    if (checks) this.checks.raise(checks);
    return out;
  }

  /** Copies `src` into `dst` (same size and dtype), in order with the recorded kernels. Not recorded for autograd. */
  copy(src: Tensor, dst: Tensor): void {
    this.own('copy', src, dst);
    if (src.size !== dst.size || src.dtype !== dst.dtype) throw new ShapeError('copy', `${src} into ${dst}: sizes or dtypes differ`);
    if (this.frozen.has(dst.buffer)) throw new ShapeError('copy', `${dst} is frozen (engine.freeze): its values are final`);
    if (src.size > 0) this.runtime.copyBuffer(src.buffer, 0, dst.buffer, 0, src.bytes, `copy ${fmtShape(src.shape)}`);
  }

  /** A new tensor holding a copy of `t`'s values, with no autograd history. */
  clone(t: Tensor): Tensor {
    const out = this.empty(t.shape, t.dtype);
    this.copy(t, out);
    return out;
  }

  /** A tensor of one value. */
  full(shape: readonly number[], value: number, dtype: DType = 'f32'): Tensor {
    return fill(this, shape, value, dtype);
  }

  zeros(shape: readonly number[], dtype: DType = 'f32'): Tensor {
    return fill(this, shape, 0, dtype);
  }

  ones(shape: readonly number[], dtype: DType = 'f32'): Tensor {
    return fill(this, shape, 1, dtype);
  }

  /** Back-propagates from `root` (see Tensor.backward). */
  backward(root: Tensor, dy?: Tensor): void {
    if (!dy && root.size !== 1) throw new ShapeError('backward', `an output gradient is needed for a tensor of shape ${fmtShape(root.shape)} (only one-element tensors default to 1)`);
    const seed = dy ? dy.detach() : this.ones(root.shape);
    runBackward(root, seed, (acc, g) => {
      const sum = add(acc, g);
      acc.dispose();
      g.dispose();
      return sum;
    });
  }

  /**
   * Records fixed-shape work once and returns a replayable recording (see kernels/recording.ts): `rec.run(data)`
   * writes the inputs and replays the captured commands without re-running the JavaScript that planned them.
   */
  record<O>(inputs: readonly (InputSpec | readonly number[])[], fn: (...inputs: Tensor[]) => O, label?: string): Recording<O> {
    return record(this, inputs, fn, label);
  }

  /** Submits recorded work and waits for the GPU; throws GPU errors naming the kernels. */
  sync(): Promise<void> {
    return this.runtime.sync();
  }

  /** Refuses tensors of another engine (their buffers belong to another device), naming the call. */
  private own(op: string, ...ts: Tensor[]): void {
    for (const t of ts) if (t.engine !== this) throw new ShapeError(op, `${t} belongs to another engine: each engine has its own GPU device; copy it over with engine.tensor(await t.read(), t.shape, t.dtype)`);
  }

  private acquire(bytes: number, fresh: boolean): GPUBuffer {
    const arena = this.arena;
    if (!arena) return this.pool.acquire(bytes);
    const buffer = (fresh ? undefined : arena.take(bucketSize(bytes))) ?? this.pool.acquire(bytes);
    arena.add(buffer);
    this.arenaOf.set(buffer, arena);
    return buffer;
  }

  /** Called by tensor storage when its last reference goes. */
  releaseBuffer(buffer: GPUBuffer): void {
    if (this.destroyed) return;
    const forms = this.frozen.get(buffer);
    if (forms) {
      this.frozen.delete(buffer);
      for (const f of forms.values()) f.free();
    }
    const arena = this.arenaOf.get(buffer);
    if (arena && !arena.disposed) return arena.release(buffer);
    this.arenaOf.delete(buffer);
    this.pool.release(buffer, this.runtime.releaseSerial, this.runtime.completed);
  }

  /** Opens an arena: buffers acquired until `closeArena` belong to it (recordings; see kernels/recording.ts). */
  openArena(): BufferArena {
    if (this.arena) throw new ShapeError('record', 'a recording is already open (recordings do not nest)');
    return (this.arena = new BufferArena());
  }

  closeArena(arena: BufferArena): void {
    arena.capturing = false;
    if (this.arena === arena) this.arena = null;
  }

  /** Returns an arena's released buffers to the pool; buffers still held by tensors go back when those are disposed. */
  disposeArena(arena: BufferArena): void {
    this.closeArena(arena);
    arena.disposed = true;
    for (const b of arena.buffers) {
      this.arenaOf.delete(b);
      if (arena.released.has(b) && !this.destroyed) this.pool.release(b, this.runtime.releaseSerial, this.runtime.completed);
    }
    arena.buffers.clear();
  }

  /** GPU memory held by tensors and by the pool. */
  memory(): PoolStats {
    return this.pool.snapshot();
  }

  resetPeakMemory(): void {
    this.pool.resetPeak();
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.runtime.markLost('engine.destroy() was called', '');
    this.device.destroy();
  }
}

const SharedArrayBufferCtor: { new (n: number): ArrayBufferLike } =
  typeof SharedArrayBuffer === 'function' ? SharedArrayBuffer : (class {} as unknown as { new (n: number): ArrayBufferLike });

/** Opens the best adapter and returns a ready engine. Throws with set-up advice when there is none. */
export async function createEngine(options: EngineOptions = {}): Promise<Engine> {
  const gpu = options.gpu ?? (typeof navigator !== 'undefined' ? navigator.gpu : undefined);
  if (!gpu) throw new Error(NO_ADAPTER_HELP);
  const adapter = await gpu.requestAdapter({ powerPreference: options.powerPreference ?? 'high-performance' });
  if (!adapter) throw new Error(NO_ADAPTER_HELP);
  const requiredLimits: Record<string, number> = {};
  for (const name of WANTED_LIMITS) {
    const v = (adapter.limits as unknown as Record<string, number | undefined>)[name];
    if (typeof v === 'number') requiredLimits[name] = v;
  }
  const requiredFeatures = WANTED_FEATURES.filter((f) => adapter.features.has(f));
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures, label: 'fergpu' });
  const info = adapter.info as GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number; isFallbackAdapter?: boolean };
  const report: AdapterReport = {
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device,
    description: info.description,
    isFallbackAdapter: Boolean(info.isFallbackAdapter),
    subgroupMinSize: info.subgroupMinSize,
    subgroupMaxSize: info.subgroupMaxSize,
    features: [...(device.features as unknown as Iterable<string>)].sort(),
    limits: requiredLimits,
  };
  return new Engine(device, report, options.waiter ?? busyWaiter, options.tuningStore, { ...options, gpu });
}

/** One line naming the adapter, for logs and benchmark headers. */
export function describeAdapter(a: AdapterReport): string {
  const name = a.description || [a.vendor, a.architecture, a.device].filter(Boolean).join(' ') || 'unknown adapter';
  const sg = a.subgroupMinSize ? `, subgroups ${a.subgroupMinSize}–${a.subgroupMaxSize}` : '';
  return `${name}${a.isFallbackAdapter ? ' (software)' : ''}${sg}; features: ${a.features.join(' ') || 'none'}`;
}
