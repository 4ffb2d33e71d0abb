/**
 * Recorded replay of fixed-shape work (the idea of ONNX Runtime's graph capture and CUDA graphs): `record` runs a
 * function once on input tensors of fixed shapes, capturing every command it records (pipelines, resources,
 * uniform bytes); `run` then writes new input data and encodes the captured commands straight into one submit,
 * without the JavaScript that planned them: no shape checks, no planning, no variant choice, no bind-group lookup.
 *
 * What makes a replay equal to a fresh call:
 * - every buffer acquired during the capture belongs to the recording (an arena), so no other work can take an
 *   intermediate that the replay writes again; buffers written from the host during the capture (constants) are
 *   never reused for anything else inside it either, since a replay does not repeat host writes;
 * - staging textures it used are pinned (never destroyed); others may share them, as every user writes a staging
 *   texture before reading it;
 * - the function runs without autograd and must depend on its inputs only: state that changes between calls (an
 *   optimiser's step count, a dropout counter, data read back to the host) is frozen at its recorded value.
 *   Record inference (eval mode), not training steps.
 */
import type { Engine } from '../device/engine.js';
import { fmtShape, ShapeError } from '../device/errors.js';
import { noGrad } from '../graph/autograd.js';
import type { AnyTypedArray, DType } from '../graph/dtype.js';
import { keep, tidy } from '../graph/scope.js';
import { Tensor } from '../graph/tensor.js';
import type { ReplayStep } from './runtime.js';
import { texturePool, type PooledTexture } from './texture-pool.js';

export interface InputSpec {
  shape: readonly number[];
  dtype?: DType;
}

export interface Recording<O> {
  /** The recording's own input tensors (written by `run`). */
  readonly inputs: readonly Tensor[];
  /** The outputs of the recorded function; every `run` overwrites them in place. */
  readonly outputs: O;
  /** Commands replayed per run. */
  readonly commands: number;
  /** Writes each input (a typed array, plain numbers or a tensor of the same size) and replays; returns `outputs`. */
  run(...data: (AnyTypedArray | readonly number[] | Tensor)[]): O;
  /** Frees the recording's buffers, inputs and outputs included. */
  dispose(): void;
}

const UNIFORM_ALIGN = 256;

function collect(value: unknown, into: Tensor[], depth = 0): void {
  if (value instanceof Tensor) into.push(value);
  else if (value && typeof value === 'object' && depth < 4) for (const v of Array.isArray(value) ? value : Object.values(value)) collect(v, into, depth + 1);
}

export function record<O>(engine: Engine, specs: readonly (InputSpec | readonly number[])[], fn: (...inputs: Tensor[]) => O, label = 'recording'): Recording<O> {
  const runtime = engine.runtime;
  if (runtime.capturing) throw new ShapeError('record', 'a recording is already open (recordings do not nest)');
  const textures = texturePool(engine);
  const arena = engine.openArena();
  const usedTextures = new Set<PooledTexture>();
  let outputs: O;
  let inputs: Tensor[] = [];
  try {
    // Inputs start as zeros, written before the capture opens so that no replay repeats the write.
    inputs = specs.map((s) => {
      const spec = Array.isArray(s) ? { shape: s as readonly number[] } : (s as InputSpec);
      const t = engine.zeros(spec.shape, spec.dtype ?? 'f32');
      return keep(t);
    });
    runtime.flush();
    textures.capturing = usedTextures;
    runtime.startCapture();
    outputs = noGrad(() => tidy(() => fn(...inputs)));
  } catch (e) {
    runtime.stopCapture();
    textures.capturing = null;
    for (const t of inputs) t.dispose();
    engine.disposeArena(arena);
    throw e;
  }
  const commands = runtime.stopCapture();
  textures.capturing = null;
  engine.closeArena(arena);
  const outs: Tensor[] = [];
  collect(outputs, outs);
  for (const t of outs) keep(t);
  for (const t of usedTextures) textures.pinned.set(t, (textures.pinned.get(t) ?? 0) + 1);

  // One uniform buffer for every dispatch's block, written once: uniforms hold shapes and constants only.
  const uniformBytes = commands.reduce((n, c) => n + (c.kind === 'dispatch' && c.uniform ? Math.ceil(c.uniform.byteLength / UNIFORM_ALIGN) * UNIFORM_ALIGN : 0), 0);
  const uniforms = uniformBytes ? engine.device.createBuffer({ size: uniformBytes, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, label: `${label} uniforms` }) : null;
  const staging = new Uint8Array(uniformBytes);
  let offset = 0;
  const steps: ReplayStep[] = commands.map((c) => {
    if (c.kind !== 'dispatch') return c;
    let binding: GPUBufferBinding | null = null;
    if (c.uniform) {
      staging.set(c.uniform, offset);
      binding = { buffer: uniforms!, offset, size: c.uniform.byteLength };
      offset += Math.ceil(c.uniform.byteLength / UNIFORM_ALIGN) * UNIFORM_ALIGN;
    }
    return { kind: 'dispatch', pipeline: c.pipeline, grid: c.grid, bindGroup: runtime.replayBindGroup(c.pipeline, binding, c.bindings, `${label}: ${c.label}`) };
  });
  if (uniforms) engine.device.queue.writeBuffer(uniforms, 0, staging);

  let disposed = false;
  return {
    inputs,
    outputs: outputs!,
    commands: steps.length,
    run(...data) {
      if (disposed) throw new ShapeError('record', `${label} was disposed`);
      if (data.length !== inputs.length) throw new ShapeError('record', `${label} takes ${inputs.length} inputs (${inputs.map((t) => fmtShape(t.shape)).join(', ')}), got ${data.length}`);
      if (outs.some((t) => t.isDisposed)) throw new ShapeError('record', `${label}: an output was disposed; the recording owns its outputs (clone one to keep it)`);
      data.forEach((d, i) => {
        const input = inputs[i]!;
        if (d instanceof Tensor) {
          if (d.size !== input.size || d.dtype !== input.dtype) throw new ShapeError('record', `${label}: input ${i} is ${d} but the recording takes ${input}`);
          engine.copy(d, input);
        } else engine.write(input, d);
      });
      runtime.replay(steps, `replay of ${label}`);
      return outputs!;
    },
    dispose() {
      if (disposed) return;
      disposed = true;
      for (const t of new Set([...outs, ...inputs])) if (!t.isDisposed) t.dispose();
      for (const t of usedTextures) {
        const n = (textures.pinned.get(t) ?? 1) - 1;
        if (n > 0) textures.pinned.set(t, n);
        else textures.pinned.delete(t);
      }
      uniforms?.destroy();
      engine.disposeArena(arena);
    },
  };
}
