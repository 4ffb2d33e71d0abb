/**
 * Sigmoid attention broadcast on NHWC activations: y = x ⊙ σ(a), where a is either a per-channel gate
 * [N, 1, 1, C] (broadcast over H×W: SE / CBAM channel attention) or a spatial map [N, H, W, 1] (broadcast over
 * channels: CBAM / M1 spatial attention). The sigmoid and the product are one pass; so is the backward for a
 * spatial map (one invocation per pixel owns its channels), while a channel gate's da = σ'(a)·Σ_hw dy⊙x is
 * reduced over pixel chunks in the dx pass and the chunks summed by a second small kernel.
 */
import { assert, fmtShape } from '../device/errors.js';
import { HostTensor, type TensorMeta } from '../graph/host.js';
import type { Tensor } from '../graph/tensor.js';
import gateWgsl from '../../shaders/gate.wgsl';
import { defineMultiOp, type MultiPlan } from './multi-op.js';
import { defineOp, type Plan } from './op.js';
import { Uniforms } from './uniforms.js';

const kernel = { name: 'gate', code: gateWgsl };
const WG = 256;
/** Units (vec4 or f32) per invocation in the forward: enough to amortise an invocation's start. */
const FWD_CHUNK = 16;
/** Aim for about this many invocations in the channel-gate backward. */
const TARGET_INVOCATIONS = 8192;

export type GateMode = 'channel' | 'spatial';

interface GatePlan extends Plan {
  mode: GateMode;
  n: number;
  hw: number;
  c: number;
}

function gateCheck(op: string, x: TensorMeta, a: TensorMeta): GatePlan {
  for (const [t, what] of [[x, 'x'], [a, 'a']] as const) assert(t.dtype === 'f32', op, () => `${what} must be f32, got ${t.dtype} ${fmtShape(t.shape)}`);
  assert(x.shape.length === 4, op, () => `x must be NHWC [N, H, W, C], got ${fmtShape(x.shape)}`);
  const [n, h, w, c] = x.shape as [number, number, number, number];
  const [an, ah, aw, ac] = a.shape.length === 4 ? (a.shape as [number, number, number, number]) : [-1, -1, -1, -1];
  const mode: GateMode | undefined = an === n && ah === 1 && aw === 1 && ac === c ? 'channel' : an === n && ah === h && aw === w && ac === 1 ? 'spatial' : undefined;
  assert(mode, op, () => `a must be [${n}, 1, 1, ${c}] (a channel gate) or [${n}, ${h}, ${w}, 1] (a spatial map) for x ${fmtShape(x.shape)}; got ${fmtShape(a.shape)}`);
  return { shape: x.shape, dtype: 'f32', mode, n, hw: h * w, c };
}

function sigmoidRef(v: number): number {
  return 1 / (1 + Math.exp(-v));
}

/** Index of the gate value for element i. */
function gateIndex(p: GatePlan, i: number): number {
  const pixel = Math.floor(i / p.c);
  return p.mode === 'spatial' ? pixel : Math.floor(pixel / p.hw) * p.c + (i % p.c);
}

/** y = x ⊙ σ(a) with a [N,1,1,C] or [N,H,W,1] broadcast over x [N,H,W,C]. */
export const sigmoidGate = defineOp<[x: Tensor, a: Tensor], GatePlan>({
  name: 'sigmoidGate',
  check: (x, a) => gateCheck('sigmoidGate', x, a),
  gpu(p, x, a) {
    const engine = x.engine;
    const y = engine.empty(x.shape);
    if (x.size === 0) return y;
    const vec = p.c % 4 === 0;
    const cu = vec ? p.c / 4 : p.c;
    const label = `sigmoidGate ${fmtShape(x.shape)} ${fmtShape(a.shape)}`;
    if (p.mode === 'channel') {
      const { used, chunkLen } = pixelChunks(p, cu, FWD_CHUNK, Infinity);
      engine.runtime.dispatch({
        kernel,
        defines: { FWD: 1, VEC: vec ? 1 : 0, CHANNEL: 1 },
        label,
        uniforms: new Uniforms().u32(p.n, cu, p.hw, 0, used, chunkLen),
        bindings: [x.binding(), a.binding(), y.binding()],
        grid: Math.ceil((p.n * used * cu) / WG),
      });
    } else {
      // Whole pixels per invocation, about FWD_CHUNK units each.
      const pixels = p.n * p.hw;
      const perThread = Math.max(1, Math.round(FWD_CHUNK / cu));
      engine.runtime.dispatch({
        kernel,
        defines: { FWD: 1, VEC: vec ? 1 : 0, CHANNEL: 0 },
        label,
        uniforms: new Uniforms().u32(pixels, cu, p.hw, 0, 0, perThread),
        bindings: [x.binding(), a.binding(), y.binding()],
        grid: Math.ceil(Math.ceil(pixels / perThread) / WG),
      });
    }
    return y;
  },
  cpu(p, x, a) {
    const y = HostTensor.zeros(x.shape);
    for (let i = 0; i < x.size; i++) y.data[i] = x.data[i]! * sigmoidRef(a.data[gateIndex(p, i)]!);
    return y;
  },
  backward: {
    save: ([x, a]) => [x, a],
    grad: ({ saved }, dy) => {
      const { dx, da } = sigmoidGateBackward(dy, saved[0]!, saved[1]!);
      return [dx, da];
    },
  },
});

type BwdPlan = GatePlan & MultiPlan<'dx' | 'da'>;

/** dx = dy ⊙ σ(a) and da = σ'(a) ⊙ Σ(dy ⊙ x) over the broadcast axes, fused. */
export const sigmoidGateBackward = defineMultiOp<[dy: Tensor, x: Tensor, a: Tensor], 'dx' | 'da', BwdPlan>({
  name: 'sigmoidGateBackward',
  check(dy, x, a) {
    const p = gateCheck('sigmoidGateBackward', x, a);
    assert(dy.dtype === 'f32' && dy.shape.join() === x.shape.join(), 'sigmoidGateBackward', () => `dy ${dy.dtype} ${fmtShape(dy.shape)} must be f32 shaped like x ${fmtShape(x.shape)}`);
    return { ...p, outputs: { dx: { shape: x.shape, dtype: 'f32' }, da: { shape: a.shape, dtype: 'f32' } } };
  },
  gpu(p, dy, x, a) {
    const engine = x.engine;
    const dx = engine.empty(x.shape);
    const da = engine.empty(a.shape);
    const vec = p.c % 4 === 0;
    const cu = vec ? p.c / 4 : p.c;
    const label = `sigmoidGateBackward ${fmtShape(x.shape)} ${fmtShape(a.shape)}`;
    const base = { VEC: vec ? 1 : 0 };
    if (x.size === 0) return { dx, da: zeroFill(da) };
    if (p.mode === 'spatial') {
      const pixels = p.n * p.hw;
      engine.runtime.dispatch({
        kernel,
        defines: { ...base, BWD_SPATIAL: 1, CHANNEL: 0 },
        label,
        uniforms: new Uniforms().u32(pixels, cu, p.hw, 0, 0, 0),
        bindings: [dy.binding(), x.binding(), a.binding(), dx.binding(), da.binding()],
        grid: Math.ceil(pixels / WG),
      });
      return { dx, da };
    }
    const { used, chunkLen } = pixelChunks(p, cu, 16, TARGET_INVOCATIONS);
    const u = new Uniforms().u32(p.n, cu, p.hw, 0, used, chunkLen);
    const part = used > 1 ? engine.empty([p.n, used, p.c]) : da;
    engine.runtime.dispatch({
      kernel,
      defines: { ...base, BWD_PARTIAL: 1, CHANNEL: 1, FINAL: used > 1 ? 0 : 1 },
      label: `${label} (dx, partial da)`,
      uniforms: u,
      bindings: [dy.binding(), x.binding(), a.binding(), dx.binding(), part.binding()],
      grid: Math.ceil((p.n * used * cu) / WG),
    });
    if (used > 1) {
      engine.runtime.dispatch({
        kernel,
        defines: { ...base, BWD_FINISH: 1, CHANNEL: 1 },
        label: `${label} (da)`,
        uniforms: u,
        bindings: [part.binding(), a.binding(), da.binding()],
        grid: Math.ceil((p.n * cu) / WG),
      });
      part.dispose();
    }
    return { dx, da };
  },
  cpu(p, dy, x, a) {
    const dx = HostTensor.zeros(x.shape);
    const acc = new Float64Array(a.size);
    for (let i = 0; i < x.size; i++) {
      const g = gateIndex(p, i);
      dx.data[i] = dy.data[i]! * sigmoidRef(a.data[g]!);
      acc[g] += dy.data[i]! * x.data[i]!;
    }
    const da = HostTensor.zeros(a.shape);
    for (let g = 0; g < a.size; g++) {
      const s = sigmoidRef(a.data[g]!);
      da.data[g] = acc[g]! * s * (1 - s);
    }
    return { dx, da };
  },
});

/** Splits each image's pixels into chunks of at least `minLen`, about `target` invocations in all (fewer chunks, fewer partial sums). */
function pixelChunks(p: GatePlan, units: number, minLen: number, target: number): { used: number; chunkLen: number } {
  const chunks = Math.max(1, Math.min(Math.ceil(target / (p.n * units)), Math.ceil(p.hw / minLen)));
  const chunkLen = Math.ceil(p.hw / chunks);
  return { used: Math.ceil(p.hw / chunkLen), chunkLen };
}

/** An empty x (H·W = 0 or C = 0) leaves da all zeros. */
function zeroFill(da: Tensor): Tensor {
  if (da.size > 0) da.engine.write(da, new Float32Array(da.size));
  return da;
}
