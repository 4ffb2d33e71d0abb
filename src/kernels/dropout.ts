/**
 * Dropout with a seeded counter-based mask: element i of a call with seed s is kept iff
 * pcg(pcg(i) ^ pcg(s)) ≥ ⌊p·2³²⌋ (pcg: the 32-bit PCG-RXS-M-XS hash), kept elements are scaled by 1/(1 − p),
 * dropped ones are exactly 0. Only u32 arithmetic, so the same seed gives the same mask on every device and in
 * the CPU reference here. The mask is never stored: the backward regenerates it from (seed, index) — pass the
 * forward's seed and p. A new mask per training step needs a new seed (e.g. base seed + step); masks of
 * different seeds are independent-looking, not shifted copies. At eval (`training: false`) dropout is the
 * identity (a copy).
 */
import { assert, fmtShape } from '../device/errors.js';
import { HostTensor, type TensorMeta } from '../graph/host.js';
import type { Tensor } from '../graph/tensor.js';
import dropoutWgsl from '../../shaders/dropout.wgsl';
import { defineOp, type Plan } from './op.js';
import { Uniforms } from './uniforms.js';

const kernel = { name: 'dropout', code: dropoutWgsl };
const WG = 256;
const PER = 4;

export interface DropoutOptions {
  /** Drop probability in [0, 1). */
  p: number;
  /** Mask seed, an integer in [0, 2³²). */
  seed: number;
  /** False: identity (eval mode). Default true. */
  training?: boolean;
}

interface DropoutPlan extends Plan {
  key: number;
  threshold: number;
  scale: number;
  training: boolean;
}

/** The 32-bit PCG-RXS-M-XS hash, as the shader computes it. */
export function pcgHash(v: number): number {
  const state = (Math.imul(v >>> 0, 747796405) + 2891336453) >>> 0;
  const word = Math.imul(((state >>> ((state >>> 28) + 4)) ^ state) >>> 0, 277803737) >>> 0;
  return ((word >>> 22) ^ word) >>> 0;
}

function planFor(op: string, x: TensorMeta, o: DropoutOptions): DropoutPlan {
  assert(x.dtype === 'f32', op, () => `expects an f32 tensor, got ${x.dtype} ${fmtShape(x.shape)}`);
  assert(typeof o === 'object' && o !== null, op, () => 'needs options { p, seed }');
  assert(Number.isFinite(o.p) && o.p >= 0 && o.p < 1, op, () => `p must be in [0, 1), got ${o.p}`);
  assert(Number.isInteger(o.seed) && o.seed >= 0 && o.seed <= 0xffffffff, op, () => `seed must be an integer in [0, 2^32), got ${o.seed}`);
  return { shape: x.shape, dtype: 'f32', key: pcgHash(o.seed), threshold: Math.floor(o.p * 4294967296), scale: Math.fround(1 / (1 - o.p)), training: o.training ?? true };
}

function run(name: string, p: DropoutPlan, x: Tensor): Tensor {
  const engine = x.engine;
  const y = engine.empty(x.shape);
  if (x.size === 0) return y;
  if (!p.training) {
    engine.runtime.copyBuffer(x.buffer, 0, y.buffer, 0, x.bytes, `${name} (eval: identity) ${fmtShape(x.shape)}`);
    return y;
  }
  const vec = x.size % 4 === 0;
  const units = vec ? x.size / 4 : x.size;
  const groups = Math.ceil(Math.ceil(units / PER) / WG);
  engine.runtime.dispatch({
    kernel,
    defines: { VEC: vec ? 1 : 0, PER },
    label: `${name} ${fmtShape(x.shape)}`,
    uniforms: new Uniforms().u32(units, groups * WG, p.key, p.threshold).f32(p.scale),
    bindings: [x.binding(), y.binding()],
    grid: groups,
  });
  return y;
}

function cpu(p: DropoutPlan, x: HostTensor): HostTensor {
  const y = HostTensor.zeros(x.shape);
  for (let i = 0; i < x.size; i++) {
    const keep = !p.training || pcgHash((pcgHash(i) ^ p.key) >>> 0) >= p.threshold;
    y.data[i] = keep ? x.data[i]! * (p.training ? p.scale : 1) : 0;
  }
  return y;
}

/** Zeroes each element with probability p and scales the rest by 1/(1 − p); the mask is a function of (seed, index). */
export const dropout = defineOp<[x: Tensor, options: DropoutOptions], DropoutPlan>({
  name: 'dropout',
  check: (x, o) => planFor('dropout', x, o),
  gpu: (p, x) => run('dropout', p, x),
  cpu,
  backward: {
    grad: ({ args }, dy) => [dropoutBackward(dy, args[1])],
  },
});

/** dx = dy ⊙ mask / (1 − p) with the forward's mask, regenerated from the same seed and p. */
export const dropoutBackward = defineOp<[dy: Tensor, options: DropoutOptions], DropoutPlan>({
  name: 'dropoutBackward',
  check: (dy, o) => planFor('dropoutBackward', dy, o),
  gpu: (p, dy) => run('dropoutBackward', p, dy),
  cpu,
});
