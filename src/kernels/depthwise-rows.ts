/**
 * Depthwise convolution forward from the unpacked NHWC activation (conv2d_depthwise_rows.wgsl): multiplier 1
 * and channels a multiple of 4, the common depthwise layer. Each invocation computes a run of output pixels
 * along a row, loading the input window once per kernel row. The activation is bound as it is (vec4 buffer)
 * or copied by the driver into a linear texture; no padded copy is made, which is where the packed kernel of
 * conv2d_depthwise.wgsl spends most of its time on memory-bound layers.
 */
import type { Engine } from '../device/engine.js';
import type { Tensor } from '../graph/tensor.js';
import type { ForwardProblem } from './conv-gpu.js';
import rowsWgsl from '../../shaders/conv2d_depthwise_rows.wgsl';
import { epilogueBindings, epilogueFlags } from './conv-epilogue.js';
import { describe, type ConvGeometry } from './conv-geometry.js';
import { fitsLinearTexture, linearTexture } from './linear-texture.js';
import { Uniforms } from './uniforms.js';

const kernel = { name: 'conv2d_depthwise_rows', code: rowsWgsl };

/** Output pixels per invocation along a row (8 measured fastest on lavapipe for 3×3 at 56×56×64). */
export const DEPTHWISE_ROWS = { P: 8 };

/** The shapes this kernel serves: depthwise with multiplier 1 and channels a multiple of 4. */
export function depthwiseRowsApplies(g: ConvGeometry): boolean {
  return g.groups === g.c && g.cg === 1 && g.coutg === 1 && g.c % 4 === 0;
}

export function depthwiseRowsForward(engine: Engine, texture: boolean, p: ForwardProblem): Tensor {
  const g = p.g;
  const out = engine.empty([g.n, g.ho, g.wo, g.cout]);
  if (out.size === 0) return out;
  const P = DEPTHWISE_ROWS.P;
  const cq = g.c / 4;
  const wb = Math.ceil(g.wo / P);
  const total = g.n * g.ho * wb * cq;
  const useTexture = texture && fitsLinearTexture(engine, p.x);
  const label = `conv2d depthwise ${describe(g)} (rows, ${useTexture ? 'texture' : 'buffer'})`;
  const staged = useTexture ? linearTexture(engine, p.x, label) : undefined;
  engine.runtime.dispatch({
    kernel,
    defines: { TEXTURE: staged ? 1 : 0, P, KW: g.kw, SW: g.sw, DW: g.dw },
    label,
    uniforms: new Uniforms().u32(g.h, g.w, cq, g.ho, g.wo, wb, total, g.kh, g.sh, g.dh, epilogueFlags(p), 0).i32(g.pt, g.pl),
    bindings: [staged ? { view: staged.texture.view } : p.x.binding(), p.w.binding(), out.binding(), ...epilogueBindings(engine, p)],
    grid: Math.ceil(total / 64),
  });
  staged?.release();
  return out;
}
