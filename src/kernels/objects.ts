/**
 * A count of the GPU objects an engine holds, for soak tests and long-lived processes: a steady state creates
 * none, so any count that keeps rising over repeated steps is a leak (or a cache that misses).
 */
import type { Engine } from '../device/engine.js';
import { existingTexturePool } from './texture-pool.js';

export interface GpuObjects {
  /** Tensor buffers that exist (held by tensors or free in the pool). */
  buffers: number;
  /** Tensor buffers created over the engine's life. */
  buffersCreated: number;
  /** Staging textures that exist. */
  textures: number;
  pipelines: number;
  shaderModules: number;
  /** Bind groups held by the runtime's cache (bounded). */
  bindGroups: number;
  /** Bind groups created over the engine's life: flat in a repeated step, which reuses its cached groups. */
  bindGroupsCreated: number;
  uniformBuffers: number;
}

export function gpuObjects(engine: Engine): GpuObjects {
  const mem = engine.memory();
  const r = engine.runtime.objects();
  const tex = existingTexturePool(engine);
  return {
    buffers: mem.buffers,
    buffersCreated: mem.created,
    textures: tex ? tex.created - tex.destroyed : 0,
    pipelines: r.pipelines,
    shaderModules: r.modules,
    bindGroups: r.bindGroups,
    bindGroupsCreated: engine.runtime.counters.bindGroupsCreated,
    uniformBuffers: r.uniformBuffers,
  };
}
