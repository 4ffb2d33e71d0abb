/**
 * Input checks made on the GPU, reported without a readback of their own. A kernel that finds bad data (an i32
 * label tensor with a value outside [0, classes)) records it in its slot of a small storage buffer: the first bad
 * row (atomicMin) and how many (atomicAdd). Every engine.read copies the slots along with the tensor it reads, in
 * the same mapping, and resets them in command order; a slot that caught something makes that read throw a
 * ShapeError naming the op. Slots are keyed by the op and shapes, so a training loop reuses its one slot.
 */
import { ShapeError } from './errors.js';
import type { Binding, KernelRuntime } from '../kernels/runtime.js';
import labelCheckWgsl from '../../shaders/label_check.wgsl';
import { Uniforms } from '../kernels/uniforms.js';

const MAX_SLOTS = 64;
const WORDS_PER_SLOT = 2;
const NO_ROW = 0xffffffff;
const kernel = { name: 'label_check', code: labelCheckWgsl };

export class GpuChecks {
  private buffer: GPUBuffer | null = null;
  private reset: GPUBuffer | null = null;
  private readonly slots = new Map<string, number>();
  /** Per slot: the op (and shapes) and what it requires. */
  private readonly entries: { op: string; rule: string }[] = [];

  constructor(
    private readonly device: GPUDevice,
    private readonly runtime: KernelRuntime,
  ) {}

  /** Bytes a read appends for the slots: none until an op has used one. */
  get bytes(): number {
    return this.buffer ? MAX_SLOTS * WORDS_PER_SLOT * 4 : 0;
  }

  /**
   * Records a check that every value of the i32 tensor bound by `labels` (`count` of them) lies in [0, classes);
   * `op` (the op and its shapes) names the failure at the next read.
   */
  checkLabels(labels: Binding, count: number, classes: number, op: string): void {
    if (count === 0) return;
    const slot = this.slotFor(op, `its i32 labels must lie in [0, ${classes})`);
    this.runtime.dispatch({
      kernel,
      label: `${op} label check`,
      uniforms: new Uniforms().u32(count, classes, slot * WORDS_PER_SLOT),
      bindings: [labels, { buffer: this.buffer!, offset: 0, size: this.bytes }],
      grid: Math.ceil(count / 256),
    });
  }

  /** Records, after a read's own copy into `staging`, the copy of the slots at `offset` and their reset. */
  copyInto(staging: GPUBuffer, offset: number): void {
    if (!this.buffer) return;
    this.runtime.copyBuffer(this.buffer, 0, staging, offset, this.bytes, 'read: GPU input checks');
    this.runtime.copyBuffer(this.reset!, 0, this.buffer, 0, this.bytes, 'reset GPU input checks');
  }

  /** Throws the problems the copied slots record (from `copyInto`), if any. */
  raise(words: Uint32Array): void {
    const problems: { op: string; text: string }[] = [];
    this.entries.forEach(({ op, rule }, s) => {
      const row = words[s * WORDS_PER_SLOT]!;
      const count = words[s * WORDS_PER_SLOT + 1]!;
      if (row !== NO_ROW) problems.push({ op, text: `${rule}, but ${count} ${count === 1 ? 'was' : 'were'} not, over its calls since the previous read (the first at row ${row})` });
    });
    if (!problems.length) return;
    const [first, ...rest] = problems;
    const others = rest.map((p) => `; ${p.op}: ${p.text}`).join('');
    throw new ShapeError(first!.op, `${first!.text}${others}. Found on the GPU; values computed from them are not valid`);
  }

  private slotFor(op: string, rule: string): number {
    this.ensureBuffers();
    const key = `${op}\n${rule}`;
    let slot = this.slots.get(key);
    if (slot === undefined) {
      // Past the last slot, further ops share it under a generic name.
      if (this.entries.length < MAX_SLOTS - 1) {
        slot = this.entries.length;
        this.entries.push({ op, rule });
      } else {
        slot = MAX_SLOTS - 1;
        this.entries[slot] = { op: 'an op given i32 labels', rule: 'its labels must lie in [0, classes)' };
      }
      this.slots.set(key, slot);
    }
    return slot;
  }

  private ensureBuffers(): void {
    if (this.buffer) return;
    const bytes = MAX_SLOTS * WORDS_PER_SLOT * 4;
    const init = new Uint32Array(MAX_SLOTS * WORDS_PER_SLOT);
    for (let s = 0; s < MAX_SLOTS; s++) init[s * WORDS_PER_SLOT] = NO_ROW;
    this.reset = this.device.createBuffer({ size: bytes, usage: GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST, label: 'fergpu GPU input checks: reset' });
    this.device.queue.writeBuffer(this.reset, 0, init);
    this.buffer = this.device.createBuffer({ size: bytes, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST, label: 'fergpu GPU input checks' });
    this.device.queue.writeBuffer(this.buffer, 0, init);
  }
}
