/**
 * The kernel runtime: compiles and caches pipelines, records dispatches into one command encoder and
 * submits them in batches, packs uniforms into one buffer per batch, splits large 1-D grids, and turns
 * GPU validation / out-of-memory errors into JS errors that name the kernels of the batch that failed.
 */
import { GpuError } from '../device/errors.js';
import type { InFlight } from '../device/waiter.js';
import { Uniforms } from './uniforms.js';

export interface KernelSource {
  /** Kernel name, used in pipeline labels and error messages. */
  name: string;
  /** WGSL text; `{{KEY}}` placeholders are replaced from `defines`. */
  code: string;
  entryPoint?: string;
}

export type Binding = { buffer: GPUBuffer; offset?: number; size?: number } | { view: GPUTextureView };

export interface Dispatch {
  kernel: KernelSource;
  /** Textual substitutions (an op's expression, a type): each distinct set compiles once. */
  defines?: Record<string, string | number>;
  /** WGSL `override` constants (tile sizes, workgroup sizes). */
  constants?: Record<string, number>;
  /** Names the call for error messages, e.g. `matmul [3,5,7]x[3,7,2]`. */
  label: string;
  /** Bound at @binding(0) when given; resources follow at @binding(1)…. */
  uniforms?: Uniforms;
  bindings: Binding[];
  /** Workgroup counts. A number is a 1-D grid that is folded into x·y when it exceeds the per-dimension limit;
   * shaders then use `flat_workgroup(wid, nwg)` to recover the linear index and must bounds-check it. */
  grid: number | readonly [number, number, number];
}

/** A command as captured for replay (see recording.ts): what was recorded, with its resources and uniform bytes. */
export type CapturedCommand =
  | { kind: 'dispatch'; pipeline: GPUComputePipeline; uniform: Uint8Array | null; bindings: Binding[]; grid: [number, number, number]; label: string }
  | { kind: 'copy'; src: GPUBuffer; srcOffset: number; dst: GPUBuffer; dstOffset: number; bytes: number; label: string }
  | { kind: 'texture-copy'; src: GPUBuffer; offset: number; bytesPerRow: number; texture: GPUTexture; origin: [number, number, number]; size: [number, number, number]; label: string };

/** A captured command ready to encode: dispatches carry their bind group, made once. */
export type ReplayStep =
  | { kind: 'dispatch'; pipeline: GPUComputePipeline; bindGroup: GPUBindGroup; grid: [number, number, number] }
  | Exclude<CapturedCommand, { kind: 'dispatch' }>;

/** Helpers prepended to every kernel. */
const PRELUDE = /* wgsl */ `
fn flat_workgroup(wid: vec3u, nwg: vec3u) -> u32 { return wid.x + nwg.x * (wid.y + nwg.y * wid.z); }
// Texel t of a linear texture (linear-texture.ts): x = t mod 1024, y = ⌊t / 1024⌋ mod 8192, layer ⌊t / 2²³⌋.
fn linear_texel(t: u32) -> vec3u { return vec3u(t & 1023u, (t >> 10u) & 8191u, t >> 23u); }
// NaN propagation (IEEE 754 maximum/minimum, PyTorch): WGSL's max/min/clamp may return the non-NaN operand. The
// test reads the bit pattern, as compilers may fold x != x to false. Suffixes name the type, so that a shader
// templated on T calls relu_{{T}} / isnan_{{T}}.
fn isnan_f32(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }
fn isnan_vec4f(x: vec4f) -> vec4<bool> { return (bitcast<vec4u>(x) & vec4u(0x7fffffffu)) > vec4u(0x7f800000u); }
fn relu_f32(x: f32) -> f32 { return select(max(x, 0.0), x, isnan_f32(x)); }
fn relu_vec4f(x: vec4f) -> vec4f { return select(max(x, vec4f(0.0)), x, isnan_vec4f(x)); }
fn max_nan(a: f32, b: f32) -> f32 { return select(select(max(a, b), b, isnan_f32(b)), a, isnan_f32(a)); }
fn min_nan(a: f32, b: f32) -> f32 { return select(select(min(a, b), b, isnan_f32(b)), a, isnan_f32(a)); }
// v, or NaN when m is NaN (m: a line's max or log-sum-exp), whatever exp does with NaN (SwiftShader: +Inf).
fn nan_if_f32(v: f32, m: f32) -> f32 { return select(v, m, isnan_f32(m)); }
fn quiet_nan() -> f32 { var bits = 0x7fc00000u; return bitcast<f32>(bits); } // a var: made at run time, not folded
`;

const DISPATCHES_PER_SUBMIT = 16;
const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
const UNIFORM_BLOCK_BYTES = 256;
const BIND_GROUP_CACHE = 4096;
/** Evictions after which the runtime asks for a garbage collection (see EngineOptions.collectGarbage). */
const EVICTIONS_PER_COLLECT = 2048;

interface Batch {
  encoder: GPUCommandEncoder;
  pass: GPUComputePassEncoder | null;
  labels: string[];
  dispatches: number;
  uniformBuffer: GPUBuffer | null;
  uniformStaging: Uint8Array<ArrayBuffer>;
  uniformBytes: number;
}

interface PendingError {
  labels: string[];
  promise: Promise<GPUError | null>;
  kind: GpuError['kind'];
}

export class KernelRuntime {
  private readonly modules = new Map<string, GPUShaderModule>();
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private batch: Batch | null = null;
  private readonly pendingErrors: PendingError[] = [];
  private readonly raised: GpuError[] = [];
  private readonly freeUniformBuffers: GPUBuffer[] = [];
  private readonly bindGroups = new Map<string, GPUBindGroup>();
  private evicted = 0;
  /** Frees what is unreachable (evicted bind groups among it); set by the engine where the platform allows. */
  collectGarbage: (() => void) | undefined;
  private readonly layouts = new WeakMap<GPUComputePipeline, GPUBindGroupLayout>();
  private readonly ids = new WeakMap<object, number>();
  private nextId = 0;
  private readonly uniformAlign: number;
  private readonly uniformCapacity: number;
  /** Serial of the last submit, and of the last one known complete. */
  submitted = 0;
  completed = 0;
  /** Counters for tests and benchmarks. */
  readonly counters = { dispatches: 0, submits: 0, pipelinesCompiled: 0, bindGroupHits: 0, bindGroupsCreated: 0, collections: 0 };
  /** Listeners told when a submit completes (buffer pools). */
  readonly onComplete: ((serial: number) => void)[] = [];
  /** FNV-1a hash and count of the labels recorded since the last wait began (see `takeWorkName`). */
  private workHash = FNV_OFFSET;
  private workCount = 0;
  /** Set once the device is lost (or the engine destroyed): every later command throws it. */
  private lostError: GpuError | null = null;
  private uniformBuffersCreated = 0;
  /** Commands recorded while a capture is open (see recording.ts), in order. */
  private captured: CapturedCommand[] | null = null;

  constructor(
    readonly device: GPUDevice,
    private readonly inFlight: InFlight,
  ) {
    this.uniformAlign = Math.max(device.limits.minUniformBufferOffsetAlignment, UNIFORM_BLOCK_BYTES);
    this.uniformCapacity = this.uniformAlign * DISPATCHES_PER_SUBMIT;
    inFlight.workName = () => this.takeWorkName();
    device.addEventListener('uncapturederror', (ev) => {
      const err = (ev as GPUUncapturedErrorEvent).error;
      this.raised.push(new GpuError(kindOf(err), [], err.message));
    });
  }

  /**
   * Marks the device lost: recording, submitting and reading throw a GpuError from now on. A lost device never
   * comes back (WebGPU), so the message says what to do instead.
   */
  markLost(reason: string, message: string): void {
    this.lostError ??= new GpuError(
      'device-lost',
      [],
      `the GPU device was lost (${reason}${message ? `: ${message}` : ''}). Its tensors, models and pipelines are gone; ` +
        'create a new engine with createEngine() and load the models again.',
    );
    this.batch = null;
  }

  get lost(): GpuError | null {
    return this.lostError;
  }

  /** Starts noting every command recorded from now on (they still run as usual). */
  startCapture(): void {
    if (this.captured) throw new Error('record: a recording is already open (recordings do not nest)');
    this.captured = [];
  }

  /** Ends the capture and returns its commands. */
  stopCapture(): CapturedCommand[] {
    const out = this.captured ?? [];
    this.captured = null;
    return out;
  }

  get capturing(): boolean {
    return this.captured !== null;
  }

  /** A bind group for a replayed dispatch: the uniform block (if any) at binding 0, then its resources. */
  replayBindGroup(pipeline: GPUComputePipeline, uniform: GPUBufferBinding | null, bindings: Binding[], label: string): GPUBindGroup {
    const entries: GPUBindGroupEntry[] = uniform ? [{ binding: 0, resource: uniform }] : [];
    bindings.forEach((b, i) => entries.push({ binding: i + 1, resource: 'view' in b ? b.view : b }));
    this.counters.bindGroupsCreated++;
    return this.device.createBindGroup({ layout: this.layoutOf(pipeline), entries, label });
  }

  /**
   * Encodes captured steps into one command buffer and submits it after any recorded work, with the same error
   * scopes and completion tracking as a batch: the host cost is three calls per dispatch, no planning.
   */
  replay(steps: readonly ReplayStep[], label: string): void {
    this.assertAlive(label);
    this.flush();
    this.device.pushErrorScope('internal');
    this.device.pushErrorScope('out-of-memory');
    this.device.pushErrorScope('validation');
    const encoder = this.device.createCommandEncoder({ label });
    let pass: GPUComputePassEncoder | null = null;
    // Each native call costs about 1-2 µs in Dawn's Node binding: skip the state a pass already has.
    let pipeline: GPUComputePipeline | null = null;
    for (const s of steps) {
      if (s.kind === 'dispatch') {
        if (!pass) {
          pass = encoder.beginComputePass({ label });
          pipeline = null;
        }
        if (s.pipeline !== pipeline) pass.setPipeline((pipeline = s.pipeline));
        pass.setBindGroup(0, s.bindGroup);
        pass.dispatchWorkgroups(s.grid[0], s.grid[1], s.grid[2]);
        continue;
      }
      pass?.end();
      pass = null;
      if (s.kind === 'copy') encoder.copyBufferToBuffer(s.src, s.srcOffset, s.dst, s.dstOffset, s.bytes);
      else encoder.copyBufferToTexture({ buffer: s.src, offset: s.offset, bytesPerRow: s.bytesPerRow, rowsPerImage: s.size[1] }, { texture: s.texture, origin: s.origin }, s.size);
    }
    pass?.end();
    this.counters.dispatches += steps.length;
    this.submit(encoder.finish(), [label]);
  }

  /** GPU objects the runtime holds now (pipelines, modules, cached bind groups, uniform buffers). */
  objects(): { pipelines: number; modules: number; bindGroups: number; uniformBuffers: number } {
    return { pipelines: this.pipelines.size, modules: this.modules.size, bindGroups: this.bindGroups.size, uniformBuffers: this.uniformBuffersCreated };
  }

  /** Throws the device-lost error, if any, naming what was being asked. */
  assertAlive(what: string): void {
    const lost = this.lostError;
    if (lost) throw new GpuError('device-lost', [what], lost.message.replace(/^GPU device-lost error in the engine: /, ''));
  }

  /** The serial a buffer released now must wait for: the next submit if work is recorded, else the last. */
  get releaseSerial(): number {
    return this.batch ? this.submitted + 1 : this.submitted;
  }

  pipeline(kernel: KernelSource, defines?: Record<string, string | number>, constants?: Record<string, number>): GPUComputePipeline {
    const defineKey = defines ? JSON.stringify(defines) : '';
    const key = `${kernel.name}|${kernel.entryPoint ?? 'main'}|${defineKey}|${constants ? JSON.stringify(constants) : ''}`;
    let pipeline = this.pipelines.get(key);
    if (pipeline) return pipeline;
    const moduleKey = `${kernel.name}|${defineKey}`;
    let module = this.modules.get(moduleKey);
    if (!module) {
      module = this.device.createShaderModule({ code: expand(kernel, defines), label: kernel.name });
      this.modules.set(moduleKey, module);
    }
    pipeline = this.device.createComputePipeline({
      layout: 'auto',
      label: kernel.name,
      compute: { module, entryPoint: kernel.entryPoint ?? 'main', ...(constants ? { constants } : {}) },
    });
    this.counters.pipelinesCompiled++;
    this.pipelines.set(key, pipeline);
    return pipeline;
  }

  dispatch(d: Dispatch): void {
    // An empty grid (a batch of 0, an empty axis) has nothing to run; its bindings may even be below the
    // shader's minimum size, so nothing is bound either.
    this.assertAlive(d.label);
    const [x, y, z] = this.grid(d);
    if (x * y * z === 0) return;
    const batch = this.openBatch();
    const pipeline = this.pipeline(d.kernel, d.defines, d.constants);
    const entries: GPUBindGroupEntry[] = [];
    if (d.uniforms) {
      const bytes = d.uniforms.bytes();
      if (batch.uniformBytes + bytes.byteLength > this.uniformCapacity) throw new Error(`${d.label}: uniform block of ${bytes.byteLength} bytes exceeds the batch's space`);
      batch.uniformStaging.set(bytes, batch.uniformBytes);
      batch.uniformBuffer ??= this.acquireUniformBuffer();
      entries.push({ binding: 0, resource: { buffer: batch.uniformBuffer, offset: batch.uniformBytes, size: bytes.byteLength } });
      batch.uniformBytes += Math.ceil(bytes.byteLength / this.uniformAlign) * this.uniformAlign;
    }
    d.bindings.forEach((b, i) => entries.push({ binding: i + 1, resource: 'view' in b ? b.view : b }));
    const bindGroup = this.bindGroup(pipeline, entries, d.label);
    this.captured?.push({ kind: 'dispatch', pipeline, uniform: d.uniforms ? d.uniforms.bytes().slice() : null, bindings: [...d.bindings], grid: [x, y, z], label: d.label });
    batch.pass ??= batch.encoder.beginComputePass({ label: 'fergpu batch' });
    batch.pass.setPipeline(pipeline);
    batch.pass.setBindGroup(0, bindGroup);
    batch.pass.dispatchWorkgroups(x, y, z);
    this.record(batch, d.label);
    batch.dispatches++;
    this.counters.dispatches++;
    if (batch.dispatches >= DISPATCHES_PER_SUBMIT || batch.uniformBytes + this.uniformAlign > this.uniformCapacity) this.flush();
  }

  /**
   * Bind groups are cached by pipeline and resources: creating one costs tens of µs in Dawn, and a training
   * loop binds the same pooled buffers (and the same uniform slots) step after step. Resources get ids that
   * are never reused, so an entry for a destroyed buffer can never be hit again; the cache is bounded.
   */
  private bindGroup(pipeline: GPUComputePipeline, entries: GPUBindGroupEntry[], label: string): GPUBindGroup {
    let key = String(this.idOf(pipeline));
    for (const e of entries) {
      const r = e.resource as GPUBufferBinding | GPUTextureView;
      key += 'buffer' in r ? `|${this.idOf(r.buffer)}:${r.offset ?? 0}:${r.size ?? -1}` : `|t${this.idOf(r)}`;
    }
    let group = this.bindGroups.get(key);
    if (group) {
      // Refresh its place in the eviction order.
      this.bindGroups.delete(key);
      this.bindGroups.set(key, group);
      this.counters.bindGroupHits++;
      return group;
    }
    group = this.device.createBindGroup({ layout: this.layoutOf(pipeline), entries, label });
    this.counters.bindGroupsCreated++;
    this.bindGroups.set(key, group);
    if (this.bindGroups.size > BIND_GROUP_CACHE) {
      this.bindGroups.delete(this.bindGroups.keys().next().value!);
      // WebGPU has no destroy() for bind groups: release the evicted ones in bulk rather than at V8's leisure.
      if (++this.evicted >= EVICTIONS_PER_COLLECT && this.collectGarbage) {
        this.evicted = 0;
        this.counters.collections++;
        this.collectGarbage();
      }
    }
    return group;
  }

  private idOf(o: object): number {
    let id = this.ids.get(o);
    if (id === undefined) this.ids.set(o, (id = ++this.nextId));
    return id;
  }

  private layoutOf(pipeline: GPUComputePipeline): GPUBindGroupLayout {
    let layout = this.layouts.get(pipeline);
    if (!layout) this.layouts.set(pipeline, (layout = pipeline.getBindGroupLayout(0)));
    return layout;
  }

  /** Records a buffer-to-buffer copy in order with the dispatches. */
  copyBuffer(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number, label: string): void {
    this.assertAlive(label);
    const batch = this.openBatch();
    this.endPass(batch);
    batch.encoder.copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
    this.captured?.push({ kind: 'copy', src, srcOffset, dst, dstOffset, bytes, label });
    this.record(batch, label);
  }

  /**
   * Records a buffer-to-texture copy (rgba32float rows of `bytesPerRow`, a multiple of 256 when
   * there is more than one row) in order with the dispatches.
   */
  copyBufferToTexture(src: GPUBuffer, offset: number, bytesPerRow: number, texture: GPUTexture, origin: [number, number, number], size: [number, number, number], label: string): void {
    this.assertAlive(label);
    const batch = this.openBatch();
    this.endPass(batch);
    batch.encoder.copyBufferToTexture({ buffer: src, offset, bytesPerRow, rowsPerImage: size[1] }, { texture, origin }, size);
    this.captured?.push({ kind: 'texture-copy', src, offset, bytesPerRow, texture, origin: [...origin], size: [...size], label });
    this.record(batch, label);
  }

  /** Notes a recorded command: in its batch's labels (for errors) and in the name of the work in flight. */
  private record(batch: Batch, label: string): void {
    batch.labels.push(label);
    let h = this.workHash;
    for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), FNV_PRIME);
    this.workHash = h;
    this.workCount++;
  }

  /**
   * Names the commands recorded since the previous call (their labels carry kernel and shapes, so a training
   * step or a benchmark call repeated gets the same name each time) and starts a new name. The waiter keys
   * its learned wait durations on it.
   */
  private takeWorkName(): string {
    const name = `${this.workCount}:${(this.workHash >>> 0).toString(36)}`;
    this.workHash = FNV_OFFSET;
    this.workCount = 0;
    return name;
  }

  /** Submits recorded work, if any. */
  flush(): void {
    const batch = this.batch;
    if (!batch) return;
    this.batch = null;
    this.endPass(batch);
    if (batch.uniformBuffer) this.device.queue.writeBuffer(batch.uniformBuffer, 0, batch.uniformStaging, 0, batch.uniformBytes);
    this.submit(batch.encoder.finish(), batch.labels);
    // The next batch may reuse this uniform buffer at once: its writeBuffer is a queue operation issued after
    // this submit, so it cannot overtake the reads recorded here.
    if (batch.uniformBuffer) this.freeUniformBuffers.push(batch.uniformBuffer);
  }

  /** Submits one command buffer whose three error scopes are open; tracks its errors and completion. */
  private submit(commands: GPUCommandBuffer, labels: string[]): void {
    this.device.queue.submit([commands]);
    const serial = ++this.submitted;
    this.counters.submits++;
    for (const kind of ['validation', 'out-of-memory', 'internal'] as const) {
      this.pendingErrors.push({ labels, kind, promise: this.device.popErrorScope() });
    }
    this.inFlight.track(this.device.queue.onSubmittedWorkDone()).then(() => {
      if (serial > this.completed) this.completed = serial;
      for (const listener of this.onComplete) listener(serial);
    });
  }

  /** Submits everything and waits for it; throws the first GPU error raised since the last check. */
  async sync(): Promise<void> {
    this.assertAlive('sync');
    this.flush();
    await this.inFlight.track(this.device.queue.onSubmittedWorkDone());
    await this.checkErrors();
    // A device lost meanwhile still reports its queue's work as done: say so instead of pretending it ran.
    this.assertAlive('sync');
  }

  /** Throws the first GPU error raised by work submitted so far (without waiting for the work itself). */
  async checkErrors(): Promise<void> {
    const pending = this.pendingErrors.splice(0);
    const results = await Promise.all(pending.map((p) => this.inFlight.track(p.promise)));
    results.forEach((err, i) => {
      if (err) this.raised.push(new GpuError(pending[i]!.kind, unique(pending[i]!.labels), err.message));
    });
    const first = this.raised.shift();
    this.raised.length = 0;
    if (first) throw first;
  }

  private openBatch(): Batch {
    if (this.batch) return this.batch;
    this.device.pushErrorScope('internal');
    this.device.pushErrorScope('out-of-memory');
    this.device.pushErrorScope('validation');
    this.batch = {
      encoder: this.device.createCommandEncoder({ label: 'fergpu batch' }),
      pass: null,
      labels: [],
      dispatches: 0,
      uniformBuffer: null,
      uniformStaging: new Uint8Array(this.uniformCapacity),
      uniformBytes: 0,
    };
    return this.batch;
  }

  private endPass(batch: Batch): void {
    batch.pass?.end();
    batch.pass = null;
  }

  private acquireUniformBuffer(): GPUBuffer {
    const free = this.freeUniformBuffers.pop();
    if (free) return free;
    this.uniformBuffersCreated++;
    return this.device.createBuffer({ size: this.uniformCapacity, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, label: 'fergpu uniforms' });
  }

  private grid(d: Dispatch): [number, number, number] {
    const max = this.device.limits.maxComputeWorkgroupsPerDimension;
    if (typeof d.grid === 'number') {
      const n = d.grid;
      if (n <= max) return [n, 1, 1];
      const y = Math.ceil(n / max);
      if (y > max) throw new Error(`${d.label}: grid of ${n} workgroups exceeds ${max}² (maxComputeWorkgroupsPerDimension²)`);
      return [Math.ceil(n / y), y, 1];
    }
    const [x, y, z] = d.grid;
    if (x > max || y > max || z > max) throw new Error(`${d.label}: grid [${x}, ${y}, ${z}] exceeds maxComputeWorkgroupsPerDimension (${max})`);
    return [x, y, z];
  }
}

function expand(kernel: KernelSource, defines?: Record<string, string | number>): string {
  let code = preprocess(kernel, defines).replace(/\{\{(\w+)\}\}/g, (_, key: string) => {
    const v = defines?.[key];
    if (v === undefined) throw new Error(`kernel ${kernel.name}: no value for placeholder {{${key}}}`);
    return String(v);
  });
  // Directives (enable/requires/diagnostic) must precede everything else.
  const lines = code.split('\n');
  let i = 0;
  while (i < lines.length && /^\s*(enable|requires|diagnostic|\/\/|$)/.test(lines[i]!)) i++;
  code = [...lines.slice(0, i), PRELUDE, ...lines.slice(i)].join('\n');
  return code;
}

/** `#if NAME` / `#else` / `#endif` blocks, kept when the define is truthy (not 0, '' or absent); nestable. */
function preprocess(kernel: KernelSource, defines?: Record<string, string | number>): string {
  const out: string[] = [];
  const stack: { keep: boolean; parentKeep: boolean }[] = [];
  let keep = true;
  for (const line of kernel.code.split('\n')) {
    const m = /^\s*#(if|else|endif)\b\s*(\w*)/.exec(line);
    if (!m) {
      if (keep) out.push(line);
      continue;
    }
    if (m[1] === 'if') {
      const v = defines?.[m[2]!];
      stack.push({ keep: Boolean(v) && v !== '0', parentKeep: keep });
      keep = keep && stack[stack.length - 1]!.keep;
    } else {
      const top = stack[stack.length - 1];
      if (!top) throw new Error(`kernel ${kernel.name}: #${m[1]} without #if`);
      if (m[1] === 'else') keep = top.parentKeep && !top.keep;
      else {
        stack.pop();
        keep = top.parentKeep;
      }
    }
  }
  if (stack.length) throw new Error(`kernel ${kernel.name}: unterminated #if`);
  return out.join('\n');
}

function kindOf(err: GPUError): GpuError['kind'] {
  const name = err.constructor?.name ?? '';
  if (name.includes('OutOfMemory')) return 'out-of-memory';
  if (name.includes('Internal')) return 'internal';
  return 'validation';
}

function unique(labels: string[]): string[] {
  const seen = [...new Set(labels)];
  return seen.length > 6 ? [...seen.slice(0, 6), `… ${seen.length - 6} more`] : seen;
}
