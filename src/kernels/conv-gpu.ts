/**
 * GPU launches for conv2d and its gradients. Every kernel reads its two big operands packed as vec4 texels
 * (conv2d_pack*.wgsl): activations with the padding's zero border baked in and each group's channels
 * padded to a multiple of 4, weights as one zero-padded matrix per group. The packed copies are the size of
 * the operands (no im2col). They live either in rgba32float storage textures (read-only texture loads are
 * vectorised on lavapipe, where storage-buffer loads are scalarised per lane) or in vec4 storage buffers
 * (portable); the variants below pick one, with or without subgroups, per device.
 *
 * Kernel families:
 * - implicit GEMM (conv2d_igemm*.wgsl): the forward pass, and the input gradient run as one stride-1
 *   correlation per stride phase over the taps that reach it (a transposed convolution without inserting
 *   zeros);
 * - weight gradient (conv2d_wgrad*.wgsl): a GEMM reducing over output pixels, split over rows with partial
 *   sums added by conv2d_colsum.wgsl;
 * - depthwise (conv2d_depthwise*.wgsl): direct kernels for groups = C_in, where a GEMM tile would be mostly
 *   padding; the common multiplier-1 forward pass reads the activation unpacked (depthwise-rows.ts).
 */
import type { Engine } from '../device/engine.js';
import { fmtShape } from '../device/errors.js';
import type { Tensor } from '../graph/tensor.js';
import packWgsl from '../../shaders/conv2d_pack.wgsl';
import packWeightWgsl from '../../shaders/conv2d_pack_weight.wgsl';
import igemmCommonWgsl from '../../shaders/conv2d_igemm_common.wgsl';
import igemmWgsl from '../../shaders/conv2d_igemm.wgsl';
import igemmSubgroupWgsl from '../../shaders/conv2d_igemm_subgroup.wgsl';
import wgradCommonWgsl from '../../shaders/conv2d_wgrad_common.wgsl';
import wgradWgsl from '../../shaders/conv2d_wgrad.wgsl';
import wgradSubgroupWgsl from '../../shaders/conv2d_wgrad_subgroup.wgsl';
import depthwiseWgsl from '../../shaders/conv2d_depthwise.wgsl';
import depthwiseWgradWgsl from '../../shaders/conv2d_depthwise_wgrad.wgsl';
import colsumWgsl from '../../shaders/conv2d_colsum.wgsl';
import { epilogueBindings, epilogueFlags } from './conv-epilogue.js';
import { depthwiseRowsApplies, depthwiseRowsForward } from './depthwise-rows.js';
import { describe, type ConvGeometry } from './conv-geometry.js';
import { fill } from './fill.js';
import type { Binding } from './runtime.js';
import { texturePool } from './texture-pool.js';
import { Uniforms } from './uniforms.js';
import { registerTunable, type TunableKernel, type Variant } from './variants.js';

export type Flavor = 'texture-subgroup' | 'texture' | 'buffer';

const kernels = {
  pack: { name: 'conv2d_pack', code: packWgsl },
  packWeight: { name: 'conv2d_pack_weight', code: packWeightWgsl },
  igemm: { name: 'conv2d_igemm', code: `${igemmWgsl}\n${igemmCommonWgsl}` },
  igemmSubgroup: { name: 'conv2d_igemm_subgroup', code: `${igemmSubgroupWgsl}\n${igemmCommonWgsl}` },
  wgrad: { name: 'conv2d_wgrad', code: `${wgradWgsl}\n${wgradCommonWgsl}` },
  wgradSubgroup: { name: 'conv2d_wgrad_subgroup', code: `${wgradSubgroupWgsl}\n${wgradCommonWgsl}` },
  depthwise: { name: 'conv2d_depthwise', code: depthwiseWgsl },
  depthwiseWgrad: { name: 'conv2d_depthwise_wgrad', code: depthwiseWgradWgsl },
  colsum: { name: 'conv2d_colsum', code: colsumWgsl },
};

/**
 * Tuning knobs (exported for measurement scripts; the kernels read them at dispatch time). Register blocks
 * of the kernels without subgroups, output pixels × channel texels per invocation: on lavapipe 8 × 2 is as
 * fast as any larger block, and blocks past Mesa's unrolling limit (8 × 4 written as loops) run 3× slower.
 */
export const IGEMM_BLOCK = { P: 8, Q: 2 };
export const WGRAD_BLOCK = { PM: 4, Q: 2 };
export const DEPTHWISE_PIXELS = 4;

const ceilDiv = (a: number, b: number) => Math.ceil(a / b);
const roundUp = (a: number, b: number) => ceilDiv(a, b) * b;

/** Subgroup kernels need one fixed subgroup size they were written for: a workgroup is one subgroup. */
function subgroupSize(engine: Engine): number | undefined {
  const sg = engine.fixedSubgroupSize;
  return sg === 4 || sg === 8 ? sg : undefined;
}

// ------------------------------------------------------------------------------------ packed operands

interface Packed {
  binding: Binding;
  /** Texels per row, rows per layer (image or group). */
  width: number;
  height: number;
  release(): void;
}

interface PackedActivation extends Packed {
  /** Texels per pixel per group, and per pixel. */
  cqg: number;
  gcq: number;
}

function fitsTexture(engine: Engine, width: number, height: number, layers: number): boolean {
  const dim = engine.limits.maxTextureDimension2D;
  return width <= dim && height <= dim && layers <= engine.limits.maxTextureArrayLayers;
}

/** Where `width × height × layers` texels go: a pooled texture, or a scratch vec4 buffer. */
function allocate(engine: Engine, texture: boolean, width: number, height: number, layers: number): Packed & { dst: Binding } {
  if (texture) {
    const pool = texturePool(engine);
    const t = pool.acquire(width, height, layers);
    return { binding: { view: t.view }, dst: { view: t.view }, width, height, release: () => pool.release(t) };
  }
  const buf = engine.empty([Math.max(layers * height * width * 4, 4)]);
  return { binding: buf.binding(), dst: buf.binding(), width, height, release: () => buf.dispose() };
}

interface ActivationLayout {
  n: number;
  h: number;
  w: number;
  c: number;
  groups: number;
  pt: number;
  pb: number;
  pl: number;
  pr: number;
  /** Keep every step-th row / column only (unpadded 1×1 convolutions with a stride). */
  stepH?: number;
  stepW?: number;
}

function activationDims(a: ActivationLayout): { cqg: number; gcq: number; width: number; height: number } {
  const cqg = ceilDiv(a.c / a.groups, 4);
  const gcq = a.groups * cqg;
  const h = ceilDiv(a.h, a.stepH ?? 1);
  const w = ceilDiv(a.w, a.stepW ?? 1);
  return { cqg, gcq, width: (w + a.pl + a.pr) * gcq, height: h + a.pt + a.pb };
}

/** A strided 1×1 convolution without padding reads every stride-th pixel only: pack just those. */
function subsampled(g: ConvGeometry): boolean {
  return g.kh === 1 && g.kw === 1 && g.pt + g.pb + g.pl + g.pr === 0 && g.sh * g.sw > 1;
}

/** The forward input's layout: padded, or subsampled for strided 1×1 convolutions (then read at stride 1). */
function inputLayout(g: ConvGeometry): ActivationLayout {
  const sub = subsampled(g);
  return {
    n: g.n, h: g.h, w: g.w, c: g.c, groups: g.groups, pt: g.pt, pb: g.pb, pl: g.pl, pr: g.pr,
    ...(sub ? { stepH: g.sh, stepW: g.sw } : {}),
  };
}

/** Packs an NHWC tensor (see conv2d_pack.wgsl). A buffer whose layout already matches is bound as is. */
function packActivation(engine: Engine, texture: boolean, src: Tensor, a: ActivationLayout): PackedActivation {
  const d = activationDims(a);
  const cg = a.c / a.groups;
  const stepH = a.stepH ?? 1;
  const stepW = a.stepW ?? 1;
  if (!texture && a.groups === 1 && cg % 4 === 0 && a.pt + a.pb + a.pl + a.pr === 0 && stepH * stepW === 1) {
    // The 1×1 / unpadded fast path: NHWC with C % 4 = 0 is already the packed layout.
    return { binding: src.binding(), width: d.width, height: d.height, cqg: d.cqg, gcq: d.gcq, release: () => {} };
  }
  const dst = allocate(engine, texture, d.width, d.height, a.n);
  engine.runtime.dispatch({
    kernel: kernels.pack,
    defines: { TEXTURE: texture ? 1 : 0 },
    label: `conv2d_pack ${fmtShape(src.shape)} groups ${a.groups} pad ${a.pt},${a.pb},${a.pl},${a.pr}`,
    uniforms: new Uniforms().u32(a.h, a.w, a.c, cg, d.cqg, d.gcq, a.pt, a.pl, d.width, d.height, stepH, stepW),
    bindings: [src.binding(), dst.dst],
    grid: [ceilDiv(d.width, 8), ceilDiv(d.height, 8), a.n],
  });
  return { ...dst, cqg: d.cqg, gcq: d.gcq };
}

interface WeightLayout {
  layers: number;
  taps: number;
  /** Rows per tap (a multiple of 4), of which `inner` hold values. */
  kp: number;
  inner: number;
  cols: number;
  colsQ: number;
  sTap: number;
  sInner: number;
  sCol: number;
  sLayer: number;
}

/**
 * Packs weights as one matrix per layer (see conv2d_pack_weight.wgsl); weights of a frozen tensor (an inference
 * model's) are packed once per layout and kept with the tensor, so their `release` does nothing.
 */
function packWeights(engine: Engine, texture: boolean, src: Tensor, l: WeightLayout): Packed {
  if (!engine.isFrozen(src)) return packWeightsNow(engine, texture, src, l);
  const key = `conv2d weight ${texture ? 'texture' : 'buffer'} ${l.layers} ${l.taps} ${l.kp} ${l.inner} ${l.cols} ${l.colsQ} ${l.sTap} ${l.sInner} ${l.sCol} ${l.sLayer}`;
  const kept = engine.derived(src, key, () => packWeightsNow(engine, texture, src, l), (p) => p.release());
  return kept ? { ...kept, release: () => {} } : packWeightsNow(engine, texture, src, l);
}

function packWeightsNow(engine: Engine, texture: boolean, src: Tensor, l: WeightLayout): Packed {
  const rows = l.taps * l.kp;
  const dst = allocate(engine, texture, l.colsQ, rows, l.layers);
  engine.runtime.dispatch({
    kernel: kernels.packWeight,
    defines: { TEXTURE: texture ? 1 : 0 },
    label: `conv2d_pack_weight ${fmtShape(src.shape)} ${l.layers}x${rows}x${l.colsQ}`,
    uniforms: new Uniforms().u32(rows, l.colsQ, l.taps, l.kp, l.inner, l.cols, l.sTap, l.sInner, l.sCol, l.sLayer, 0, 0),
    bindings: [src.binding(), dst.dst],
    grid: [ceilDiv(l.colsQ, 8), ceilDiv(rows, 8), l.layers],
  });
  return dst;
}

// -------------------------------------------------------------------------------------- tap walks

/**
 * The taps one kernel launch visits along one axis: kernel index k0 + a·kstep for a < count, read at
 * offset off0 + a·offStep in the packed operand's padded coordinates.
 */
interface TapWalk {
  count: number;
  k0: number;
  kstep: number;
  off0: number;
  offStep: number;
}

/** Forward: every tap, at offsets k·dilation. */
function forwardWalk(k: number, d: number): TapWalk {
  return { count: k, k0: 0, kstep: 1, off0: 0, offStep: d };
}

/**
 * Input gradient along one axis, for input positions r + s·i (i < count): tap k reaches them when
 * (r + pad − k·d) is a multiple of s, from output position i + (r + pad − k·d) / s.
 */
interface PhaseAxis {
  r: number;
  count: number;
  walk: TapWalk;
  /** Lowest and highest output row read, before the gradient's border is added. */
  lo: number;
  hi: number;
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

function phaseAxes(size: number, k: number, s: number, d: number, pad: number): PhaseAxis[] {
  const axes: PhaseAxis[] = [];
  const kstep = s / gcd(s, d);
  for (let r = 0; r < s; r++) {
    const count = size > r ? ceilDiv(size - r, s) : 0;
    let k0 = 0;
    while (k0 < Math.min(k, kstep) && (((r + pad - k0 * d) % s) + s) % s !== 0) k0++;
    const taps = k0 < Math.min(k, kstep) ? ceilDiv(k - k0, kstep) : 0;
    const c0 = taps ? (r + pad - k0 * d) / s : 0;
    const step = -(kstep * d) / s;
    const cLast = c0 + (taps - 1) * step;
    axes.push({ r, count, walk: { count: taps, k0: taps ? k0 : 0, kstep, off0: c0, offStep: step }, lo: taps ? cLast : 0, hi: taps ? c0 + count - 1 : 0 });
  }
  return axes;
}

// ------------------------------------------------------------------------------------ implicit GEMM

interface IgemmLaunch {
  a: PackedActivation;
  w: Packed;
  out: Tensor;
  groups: number;
  /** Output channels per group and in all, the output image size. */
  coutg: number;
  outC: number;
  outH: number;
  outW: number;
  /** Pixel grid and the A-stride per grid step. */
  n: number;
  gi: number;
  gj: number;
  ssH: number;
  ssW: number;
  th: TapWalk;
  tw: TapWalk;
  kwTotal: number;
  kp: number;
  o0h: number;
  o0w: number;
  osh: number;
  osw: number;
  bias?: Tensor | undefined;
  residual?: Tensor | undefined;
  relu: boolean;
  label: string;
  /** Channel texels per lane in the subgroup kernel (see subgroupCols). */
  sgCols: number;
}

/**
 * Subgroup kernel (SG = 8): 2 channel texels per lane (tiles 64 channels wide) from `wideFrom` channels per
 * group, which halves the broadcasts per FMA (5–10% on lavapipe); 1 below. `fuseColumns`: see dispatchIgemm.
 */
export const IGEMM_SUBGROUP = { wideFrom: 64 };
export const IGEMM_OPTS = { fuseColumns: true };

function subgroupCols(engine: Engine, flavor: Flavor, coutg: number): number {
  return flavor === 'texture-subgroup' && coutg >= IGEMM_SUBGROUP.wideFrom && subgroupSize(engine) === 8 ? 2 : 1;
}

/** Channel texels per invocation of the non-subgroup kernel: 1 for layers of ≤ 4 channels, else the block's. */
function blockQ(coutg: number): number {
  return coutg <= 4 ? 1 : IGEMM_BLOCK.Q;
}

/**
 * The subgroup kernel's tile is 4·SG channels wide; layers of ≤ 2·SG channels per group (mostly padding
 * there, e.g. the input gradient of an RGB stem) run the non-subgroup texture kernel instead.
 */
function narrowFlavor(engine: Engine, flavor: Flavor, coutg: number): Flavor {
  return flavor === 'texture-subgroup' && coutg <= 2 * subgroupSize(engine)! ? 'texture' : flavor;
}

/** Weight-matrix columns (texels) are padded to whole tiles: the kernels then read no column out of range. */
function colMultiple(engine: Engine, flavor: Flavor, sgCols: number, coutg: number): number {
  return flavor === 'texture-subgroup' ? subgroupSize(engine)! * sgCols : blockQ(coutg);
}

function dispatchIgemm(engine: Engine, flavor: Flavor, l: IgemmLaunch): void {
  const npix = l.n * l.gi * l.gj;
  if (npix === 0) return;
  const sg = flavor === 'texture-subgroup' ? subgroupSize(engine)! : 0;
  const pix = sg ? 4 * sg : IGEMM_BLOCK.P;
  const q = blockQ(l.coutg);
  const colsPerTile = sg ? sg * l.sgCols : q;
  const tilesM = ceilDiv(npix, pix);
  const tilesN = ceilDiv(ceilDiv(l.coutg, 4), colsPerTile);
  const total = l.groups * tilesM * tilesN;
  // One group, every kernel column at unit steps: a kernel row's (column, channel texel) pairs are contiguous
  // in A and in W, so the column and channel loops run as one loop of nkw·cqg steps.
  const fuse = IGEMM_OPTS.fuseColumns && l.groups === 1 && l.tw.k0 === 0 && l.tw.kstep === 1 && l.tw.count === l.kwTotal && l.tw.off0 === 0 && l.tw.offStep === 1;
  const tw: TapWalk = fuse ? { count: 1, k0: 0, kstep: 1, off0: 0, offStep: 0 } : l.tw;
  const u = new Uniforms()
    .u32(npix, l.gj, l.gi, total, tilesM, tilesN, l.ssH, l.ssW)
    .u32(l.th.count, tw.count, l.th.k0, tw.k0, l.th.kstep, tw.kstep, l.kwTotal, l.kp)
    .i32(l.th.off0, l.th.offStep, tw.off0, tw.offStep)
    .u32(fuse ? l.a.cqg * l.kwTotal : l.a.cqg, l.a.gcq, l.a.width, l.a.height, l.w.width, l.w.height, l.outC, l.coutg)
    .u32(l.outH, l.outW, l.o0h, l.o0w, l.osh, l.osw, epilogueFlags(l), 0);
  const bindings = [l.a.binding, l.w.binding, l.out.binding(), ...epilogueBindings(engine, l)];
  const defines: Record<string, string | number> = { TEXTURE: flavor === 'buffer' ? 0 : 1 };
  if (sg) {
    defines.SG = sg;
    defines.COLS = l.sgCols;
    defines.WEIGHT_LOADS = igemmWeightLoads(sg, l.sgCols);
    defines.BROADCASTS = igemmBroadcasts(sg, l.sgCols);
  } else {
    defines.P = IGEMM_BLOCK.P;
    defines.Q = q;
  }
  engine.runtime.dispatch({
    kernel: sg ? kernels.igemmSubgroup : kernels.igemm,
    defines,
    label: `${l.label} (${flavor})`,
    uniforms: u,
    bindings,
    grid: sg ? total : ceilDiv(total, 64),
  });
}

/** Per step: each lane's weight texels (4 rows × its COLS column texels). */
function igemmWeightLoads(sg: number, cols: number): string {
  const lines: string[] = [];
  for (let c = 0; c < cols; c++) {
    for (let e = 0; e < 4; e++) lines.push(`        let w${c}_${e} = load_w(q0 + ${c * sg}u, r + ${e}u, g);`);
  }
  return lines.join('\n');
}

/** Per step: lane j's 4 activation texels, broadcast, times every lane's weight texels. */
function igemmBroadcasts(sg: number, cols: number): string {
  const lines: string[] = [];
  for (let j = 0; j < sg; j++) {
    lines.push(`        { let b0 = subgroupBroadcast(a0, ${j}u); let b1 = subgroupBroadcast(a1, ${j}u); let b2 = subgroupBroadcast(a2, ${j}u); let b3 = subgroupBroadcast(a3, ${j}u);`);
    for (let c = 0; c < cols; c++) lines.push(`          rows4(&acc, ${4 * j * cols + c}u, ${cols}u, b0, b1, b2, b3, w${c}_0, w${c}_1, w${c}_2, w${c}_3);`);
    lines.push('        }');
  }
  return lines.join('\n');
}

function useTexture(engine: Engine, flavor: Flavor, dims: [number, number, number][]): boolean {
  return flavor !== 'buffer' && dims.every(([w, h, l]) => fitsTexture(engine, w, h, l));
}

/** Texture flavors whose packed operands exceed the texture limits fall back to buffers. */
function storageFlavor(engine: Engine, flavor: Flavor, dims: [number, number, number][]): Flavor {
  return useTexture(engine, flavor, dims) ? flavor : 'buffer';
}

export interface ForwardProblem {
  g: ConvGeometry;
  x: Tensor;
  w: Tensor;
  bias?: Tensor | undefined;
  residual?: Tensor | undefined;
  relu: boolean;
}

export function conv2dForwardGpu(engine: Engine, flavor0: Flavor, p: ForwardProblem): Tensor {
  const g = p.g;
  const out = engine.empty([g.n, g.ho, g.wo, g.cout]);
  if (out.size === 0) return out;
  const act = inputLayout(g);
  const ss = subsampled(g) ? 1 : 0;
  const ad = activationDims(act);
  const kp = 4 * ad.cqg;
  const colsQ0 = ceilDiv(g.coutg, 4);
  const flavor = storageFlavor(engine, narrowFlavor(engine, flavor0, g.coutg), [[ad.width, ad.height, g.n], [roundUp(colsQ0, 16), g.kh * g.kw * kp, g.groups]]);
  const texture = flavor !== 'buffer';
  const sgCols = subgroupCols(engine, flavor, g.coutg);
  const a = packActivation(engine, texture, p.x, act);
  const w = packWeights(engine, texture, p.w, {
    layers: g.groups, taps: g.kh * g.kw, kp, inner: g.cg, cols: g.coutg, colsQ: roundUp(colsQ0, colMultiple(engine, flavor, sgCols, g.coutg)),
    sTap: g.cg * g.cout, sInner: g.cout, sCol: 1, sLayer: g.coutg,
  });
  dispatchIgemm(engine, flavor, {
    a, w, out, groups: g.groups, coutg: g.coutg, outC: g.cout, outH: g.ho, outW: g.wo,
    n: g.n, gi: g.ho, gj: g.wo, ssH: ss || g.sh, ssW: ss || g.sw, th: forwardWalk(g.kh, g.dh), tw: forwardWalk(g.kw, g.dw),
    kwTotal: g.kw, kp, o0h: 0, o0w: 0, osh: 1, osw: 1, bias: p.bias, residual: p.residual, relu: p.relu, sgCols,
    label: `conv2d ${describe(g)}`,
  });
  a.release();
  w.release();
  return out;
}

/** The gradient's zero border: every phase's taps read output rows lo … hi. */
function gradientBorder(axes: PhaseAxis[], size: number): [number, number] {
  let before = 0;
  let after = 0;
  for (const ax of axes) {
    if (!ax.walk.count || !ax.count) continue;
    before = Math.max(before, -ax.lo);
    after = Math.max(after, ax.hi - (size - 1));
  }
  return [before, after];
}

export interface BackwardInputProblem {
  g: ConvGeometry;
  dy: Tensor;
  w: Tensor;
}

export function conv2dBackwardInputGpu(engine: Engine, flavor0: Flavor, p: BackwardInputProblem): Tensor {
  const g = p.g;
  const dx = engine.empty([g.n, g.h, g.w, g.c]);
  if (dx.size === 0) return dx;
  const rowsH = phaseAxes(g.h, g.kh, g.sh, g.dh, g.pt);
  const rowsW = phaseAxes(g.w, g.kw, g.sw, g.dw, g.pl);
  const [bt, bb] = gradientBorder(rowsH, g.ho);
  const [bl, br] = gradientBorder(rowsW, g.wo);
  const act: ActivationLayout = { n: g.n, h: g.ho, w: g.wo, c: g.cout, groups: g.groups, pt: bt, pb: bb, pl: bl, pr: br };
  const ad = activationDims(act);
  const kp = 4 * ad.cqg;
  const colsQ0 = ceilDiv(g.cg, 4);
  const flavor = storageFlavor(engine, narrowFlavor(engine, flavor0, g.cg), [[ad.width, ad.height, g.n], [roundUp(colsQ0, 16), g.kh * g.kw * kp, g.groups]]);
  const texture = flavor !== 'buffer';
  const sgCols = subgroupCols(engine, flavor, g.cg);
  const a = packActivation(engine, texture, p.dy, act);
  const w = packWeights(engine, texture, p.w, {
    layers: g.groups, taps: g.kh * g.kw, kp, inner: g.coutg, cols: g.cg, colsQ: roundUp(colsQ0, colMultiple(engine, flavor, sgCols, g.cg)),
    sTap: g.cg * g.cout, sInner: 1, sCol: g.cout, sLayer: g.coutg,
  });
  for (const ph of rowsH) {
    for (const pw of rowsW) {
      if (!ph.count || !pw.count) continue;
      dispatchIgemm(engine, flavor, {
        a, w, out: dx, groups: g.groups, coutg: g.cg, outC: g.c, outH: g.h, outW: g.w,
        n: g.n, gi: ph.count, gj: pw.count, ssH: 1, ssW: 1,
        th: { ...ph.walk, off0: ph.walk.off0 + bt }, tw: { ...pw.walk, off0: pw.walk.off0 + bl },
        kwTotal: g.kw, kp, o0h: ph.r, o0w: pw.r, osh: g.sh, osw: g.sw, relu: false, sgCols,
        label: `conv2dBackwardInput ${describe(g)} phase ${ph.r},${pw.r}`,
      });
    }
  }
  a.release();
  w.release();
  return dx;
}

// ---------------------------------------------------------------------------------- weight gradient

/** Splits of a reduction over `rows` rows for `tiles` independent tiles: enough parallel work, bounded scratch. */
function chooseSplits(rows: number, tiles: number, targetTiles: number, partialSize: number): { splits: number; rowsPerSplit: number } {
  const maxByMemory = Math.max(1, Math.floor((32 << 20) / Math.max(partialSize * 4, 1)));
  const want = Math.min(Math.max(1, Math.ceil(targetTiles / tiles)), maxByMemory, rows);
  const rowsPerSplit = ceilDiv(rows, want);
  return { splits: ceilDiv(rows, rowsPerSplit), rowsPerSplit };
}

/** out[c] = Σ_r src[r·cols + c] (r < rows), in up to two passes. */
export function columnSum(engine: Engine, src: Tensor, rows: number, cols: number, out: Tensor, label: string): void {
  const pass = (input: Tensor, r: number, rowsPerSplit: number, dst: Tensor) => {
    const splits = ceilDiv(r, rowsPerSplit) || 1;
    const total = splits * cols;
    engine.runtime.dispatch({
      kernel: kernels.colsum,
      label,
      uniforms: new Uniforms().u32(r, cols, rowsPerSplit, total),
      bindings: [input.binding(), dst.binding()],
      grid: ceilDiv(total, 64),
    });
  };
  // One pass when each column's sum is short or there are columns enough to fill the device.
  if (rows <= 256 || cols >= 8192) {
    pass(src, rows, Math.max(rows, 1), out);
    return;
  }
  const splits = Math.min(ceilDiv(rows, 64), Math.max(1, Math.floor(8192 / cols)));
  const rowsPerSplit = ceilDiv(rows, splits);
  const partial = engine.empty([ceilDiv(rows, rowsPerSplit) * cols]);
  pass(src, rows, rowsPerSplit, partial);
  pass(partial, ceilDiv(rows, rowsPerSplit), ceilDiv(rows, rowsPerSplit), out);
  partial.dispose();
}

export interface BackwardWeightProblem {
  g: ConvGeometry;
  x: Tensor;
  dy: Tensor;
}

export function conv2dBackwardWeightGpu(engine: Engine, flavor0: Flavor, p: BackwardWeightProblem): Tensor {
  const g = p.g;
  const dw = engine.empty([g.kh, g.kw, g.cg, g.cout]);
  const dwSize = dw.size;
  const actX = inputLayout(g);
  const actDy: ActivationLayout = { n: g.n, h: g.ho, w: g.wo, c: g.cout, groups: g.groups, pt: 0, pb: 0, pl: 0, pr: 0 };
  const ax = activationDims(actX);
  const ay = activationDims(actDy);
  const [sh, sw] = subsampled(g) ? [1, 1] : [g.sh, g.sw];
  const flavor = storageFlavor(engine, narrowFlavor(engine, flavor0, g.coutg), [[ax.width, ax.height, g.n], [ay.width, ay.height, g.n]]);
  const texture = flavor !== 'buffer';
  const sg = flavor === 'texture-subgroup' ? subgroupSize(engine)! : 0;
  const mqTotal = g.kh * g.kw * ax.cqg;
  const cqo = ay.cqg;
  const tilesM = ceilDiv(mqTotal, sg || WGRAD_BLOCK.PM);
  const tilesN = ceilDiv(cqo, sg || WGRAD_BLOCK.Q);
  const tiles = g.groups * tilesM * tilesN;
  const nRows = g.n * g.ho;
  if (nRows === 0) {
    dw.dispose();
    return fill(engine, [g.kh, g.kw, g.cg, g.cout], 0);
  }
  // Subgroup tiles are workgroups of SG lanes, the others single invocations: aim for a few thousand lanes.
  const { splits, rowsPerSplit } = chooseSplits(nRows, tiles, sg ? 512 : 4096, dwSize);
  const a = packActivation(engine, texture, p.x, actX);
  const b = packActivation(engine, texture, p.dy, actDy);
  const target = splits > 1 ? engine.empty([splits * dwSize]) : dw;
  const total = tiles * splits;
  const u = new Uniforms()
    .u32(nRows, g.ho, g.wo, rowsPerSplit, tilesM, tilesN, total, mqTotal)
    .u32(ax.cqg, ax.gcq, g.kw, g.cg, sh, sw, g.dh, g.dw)
    .u32(a.width, a.height, b.width, b.height, cqo, ay.gcq, g.coutg, g.cout)
    .u32(dwSize, g.groups, 0, 0);
  const defines: Record<string, string | number> = { TEXTURE: texture ? 1 : 0 };
  if (sg) {
    defines.SG = sg;
    defines.BROADCASTS = wgradBroadcasts(sg);
    defines.BROADCASTS4 = wgradBroadcasts4(sg);
  } else {
    defines.PM = WGRAD_BLOCK.PM;
    defines.Q = WGRAD_BLOCK.Q;
  }
  engine.runtime.dispatch({
    kernel: sg ? kernels.wgradSubgroup : kernels.wgrad,
    defines,
    label: `conv2dBackwardWeight ${describe(g)} (${flavor}, ${splits} splits)`,
    uniforms: u,
    bindings: [a.binding, b.binding, target.binding()],
    grid: sg ? total : ceilDiv(total, 64),
  });
  a.release();
  b.release();
  if (target !== dw) {
    columnSum(engine, target, splits, dwSize, dw, `conv2dBackwardWeight ${describe(g)} split sum`);
    target.dispose();
  }
  return dw;
}

function wgradBroadcasts(sg: number): string {
  const lines: string[] = [];
  for (let j = 0; j < sg; j++) {
    lines.push(`      { let aj = subgroupBroadcast(a, ${j}u);`);
    for (let e = 0; e < 4; e++) lines.push(`        acc[${4 * j + e}u] = fma(vec4f(aj[${e}]), b, acc[${4 * j + e}u]);`);
    lines.push('      }');
  }
  return lines.join('\n');
}

function wgradBroadcasts4(sg: number): string {
  const lines: string[] = [];
  for (let j = 0; j < sg; j++) {
    lines.push(`      { let p0 = subgroupBroadcast(a0, ${j}u); let p1 = subgroupBroadcast(a1, ${j}u); let p2 = subgroupBroadcast(a2, ${j}u); let p3 = subgroupBroadcast(a3, ${j}u);`);
    for (let e = 0; e < 4; e++) {
      const k = `acc[${4 * j + e}u]`;
      lines.push(`        ${k} = fma(vec4f(p0[${e}]), b0, fma(vec4f(p1[${e}]), b1, fma(vec4f(p2[${e}]), b2, fma(vec4f(p3[${e}]), b3, ${k}))));`);
    }
    lines.push('      }');
  }
  return lines.join('\n');
}

// --------------------------------------------------------------------------------------- depthwise

interface DepthwiseLaunch {
  a: PackedActivation;
  w: Packed;
  out: Tensor;
  /** Channels of the output and of the packed operand A, the multiplier. */
  outC: number;
  aC: number;
  mult: number;
  mode: 0 | 1 | 2;
  outH: number;
  outW: number;
  n: number;
  gi: number;
  gj: number;
  ssH: number;
  ssW: number;
  th: TapWalk;
  tw: TapWalk;
  kwTotal: number;
  o0h: number;
  o0w: number;
  osh: number;
  osw: number;
  bias?: Tensor | undefined;
  residual?: Tensor | undefined;
  relu: boolean;
  texture: boolean;
  label: string;
}

function dispatchDepthwise(engine: Engine, l: DepthwiseLaunch): void {
  const npix = l.n * l.gi * l.gj;
  if (npix === 0) return;
  const cq = ceilDiv(l.outC, 4);
  const total = cq * ceilDiv(npix, DEPTHWISE_PIXELS);
  const u = new Uniforms()
    .u32(npix, l.gj, l.gi, total, cq, l.ssH, l.ssW, l.mult)
    .u32(l.th.count, l.tw.count, l.th.k0, l.tw.k0, l.th.kstep, l.tw.kstep, l.kwTotal, l.aC)
    .i32(l.th.off0, l.th.offStep, l.tw.off0, l.tw.offStep)
    .u32(l.a.gcq, l.a.width, l.a.height, l.w.width, l.outC, l.outH, l.outW, l.o0h)
    .u32(l.o0w, l.osh, l.osw, epilogueFlags(l));
  const bindings = [l.a.binding, l.w.binding, l.out.binding(), ...epilogueBindings(engine, l)];
  const defines = { TEXTURE: l.texture ? 1 : 0, P: DEPTHWISE_PIXELS, MODE: l.mode };
  engine.runtime.dispatch({ kernel: kernels.depthwise, defines, label: l.label, uniforms: u, bindings, grid: ceilDiv(total, 64) });
}

/** Depthwise weights [kH, kW, 1, C_out] as one texel row per tap. */
function packDepthwiseWeights(engine: Engine, texture: boolean, w: Tensor, g: ConvGeometry): Packed {
  return packWeights(engine, texture, w, {
    layers: 1, taps: g.kh * g.kw, kp: 1, inner: 1, cols: g.cout, colsQ: ceilDiv(g.cout, 4), sTap: g.cout, sInner: 0, sCol: 1, sLayer: 0,
  });
}

export function depthwiseForwardGpu(engine: Engine, texture0: boolean, p: ForwardProblem): Tensor {
  const g = p.g;
  const out = engine.empty([g.n, g.ho, g.wo, g.cout]);
  if (out.size === 0) return out;
  const act: ActivationLayout = { n: g.n, h: g.h, w: g.w, c: g.c, groups: 1, pt: g.pt, pb: g.pb, pl: g.pl, pr: g.pr };
  const ad = activationDims(act);
  const texture = texture0 && fitsTexture(engine, ad.width, ad.height, g.n) && fitsTexture(engine, ceilDiv(g.cout, 4), g.kh * g.kw, 1);
  const a = packActivation(engine, texture, p.x, act);
  const w = packDepthwiseWeights(engine, texture, p.w, g);
  const mult = g.coutg;
  dispatchDepthwise(engine, {
    a, w, out, outC: g.cout, aC: g.c, mult, mode: mult === 1 ? 0 : 1, outH: g.ho, outW: g.wo,
    n: g.n, gi: g.ho, gj: g.wo, ssH: g.sh, ssW: g.sw, th: forwardWalk(g.kh, g.dh), tw: forwardWalk(g.kw, g.dw), kwTotal: g.kw,
    o0h: 0, o0w: 0, osh: 1, osw: 1, bias: p.bias, residual: p.residual, relu: p.relu, texture,
    label: `conv2d depthwise ${describe(g)} (${texture ? 'texture' : 'buffer'})`,
  });
  a.release();
  w.release();
  return out;
}

export function depthwiseBackwardInputGpu(engine: Engine, texture0: boolean, p: BackwardInputProblem): Tensor {
  const g = p.g;
  const dx = engine.empty([g.n, g.h, g.w, g.c]);
  if (dx.size === 0) return dx;
  const rowsH = phaseAxes(g.h, g.kh, g.sh, g.dh, g.pt);
  const rowsW = phaseAxes(g.w, g.kw, g.sw, g.dw, g.pl);
  const [bt, bb] = gradientBorder(rowsH, g.ho);
  const [bl, br] = gradientBorder(rowsW, g.wo);
  const act: ActivationLayout = { n: g.n, h: g.ho, w: g.wo, c: g.cout, groups: 1, pt: bt, pb: bb, pl: bl, pr: br };
  const ad = activationDims(act);
  const texture = texture0 && fitsTexture(engine, ad.width, ad.height, g.n) && fitsTexture(engine, ceilDiv(g.cout, 4), g.kh * g.kw, 1);
  const a = packActivation(engine, texture, p.dy, act);
  const w = packDepthwiseWeights(engine, texture, p.w, g);
  const mult = g.coutg;
  for (const ph of rowsH) {
    for (const pw of rowsW) {
      if (!ph.count || !pw.count) continue;
      dispatchDepthwise(engine, {
        a, w, out: dx, outC: g.c, aC: g.cout, mult, mode: mult === 1 ? 0 : 2, outH: g.h, outW: g.w,
        n: g.n, gi: ph.count, gj: pw.count, ssH: 1, ssW: 1,
        th: { ...ph.walk, off0: ph.walk.off0 + bt }, tw: { ...pw.walk, off0: pw.walk.off0 + bl }, kwTotal: g.kw,
        o0h: ph.r, o0w: pw.r, osh: g.sh, osw: g.sw, relu: false, texture,
        label: `conv2dBackwardInput depthwise ${describe(g)} phase ${ph.r},${pw.r} (${texture ? 'texture' : 'buffer'})`,
      });
    }
  }
  a.release();
  w.release();
  return dx;
}

export function depthwiseBackwardWeightGpu(engine: Engine, texture0: boolean, p: BackwardWeightProblem): Tensor {
  const g = p.g;
  const dw = engine.empty([g.kh, g.kw, 1, g.cout]);
  const dwSize = dw.size;
  const nRows = g.n * g.ho;
  const taps = g.kh * g.kw;
  const cq = ceilDiv(g.cout, 4);
  const actX: ActivationLayout = { n: g.n, h: g.h, w: g.w, c: g.c, groups: 1, pt: g.pt, pb: g.pb, pl: g.pl, pr: g.pr };
  const actDy: ActivationLayout = { n: g.n, h: g.ho, w: g.wo, c: g.cout, groups: 1, pt: 0, pb: 0, pl: 0, pr: 0 };
  const ax = activationDims(actX);
  const ay = activationDims(actDy);
  if (nRows === 0) {
    dw.dispose();
    return fill(engine, [g.kh, g.kw, 1, g.cout], 0);
  }
  const texture = texture0 && fitsTexture(engine, ax.width, ax.height, g.n) && fitsTexture(engine, ay.width, ay.height, g.n);
  const { splits, rowsPerSplit } = chooseSplits(nRows, taps * cq, 4096, dwSize);
  const a = packActivation(engine, texture, p.x, actX);
  const b = packActivation(engine, texture, p.dy, actDy);
  const target = splits > 1 ? engine.empty([splits * dwSize]) : dw;
  const total = taps * cq * splits;
  engine.runtime.dispatch({
    kernel: kernels.depthwiseWgrad,
    defines: { TEXTURE: texture ? 1 : 0 },
    label: `conv2dBackwardWeight depthwise ${describe(g)} (${texture ? 'texture' : 'buffer'}, ${splits} splits)`,
    uniforms: new Uniforms()
      .u32(nRows, g.ho, g.wo, rowsPerSplit, total, cq, taps, g.kw)
      .u32(g.sh, g.sw, g.dh, g.dw, ax.gcq, a.width, a.height, g.c)
      .u32(b.width, b.height, g.coutg, g.cout, dwSize, 0, 0, 0),
    bindings: [a.binding, b.binding, target.binding()],
    grid: ceilDiv(total, 64),
  });
  a.release();
  b.release();
  if (target !== dw) {
    columnSum(engine, target, splits, dwSize, dw, `conv2dBackwardWeight depthwise ${describe(g)} split sum`);
    target.dispose();
  }
  return dw;
}

// ----------------------------------------------------------------------------------------- variants

export type ConvProblem =
  | ({ kind: 'forward' } & ForwardProblem)
  | ({ kind: 'backward-input' } & BackwardInputProblem)
  | ({ kind: 'backward-weight' } & BackwardWeightProblem);

function sampleGeometry(n: number, size: number, c: number, cout: number, groups = 1): ConvGeometry {
  return { n, h: size, w: size, c, kh: 3, kw: 3, cout, groups, cg: c / groups, coutg: cout / groups, sh: 1, sw: 1, dh: 1, dw: 1, pt: 1, pb: 1, pl: 1, pr: 1, ho: size, wo: size };
}

/** Sample problems: a ResNet-like 3×3 64 → 64 layer, small enough to time in a fraction of a second. */
function sample(engine: Engine, kind: ConvProblem['kind'], g: ConvGeometry): { problem: ConvProblem; dispose(): void } {
  const x = engine.empty([g.n, g.h, g.w, g.c]);
  const w = engine.empty([g.kh, g.kw, g.cg, g.cout]);
  const dy = engine.empty([g.n, g.ho, g.wo, g.cout]);
  const tensors = [x, w, dy];
  for (const t of tensors) engine.write(t, new Float32Array(t.size).fill(0.5));
  const problem: ConvProblem =
    kind === 'forward' ? { kind, g, x, w, relu: false } : kind === 'backward-input' ? { kind, g, dy, w } : { kind, g, x, dy };
  return { problem, dispose: () => tensors.forEach((t) => t.dispose()) };
}

function runGeneral(engine: Engine, flavor: Flavor, p: ConvProblem): Tensor {
  if (p.kind === 'forward') return conv2dForwardGpu(engine, flavor, p);
  if (p.kind === 'backward-input') return conv2dBackwardInputGpu(engine, flavor, p);
  return conv2dBackwardWeightGpu(engine, flavor, p);
}

function runDepthwise(engine: Engine, texture: boolean, p: ConvProblem, rows = false): Tensor {
  if (p.kind === 'forward' && rows && depthwiseRowsApplies(p.g)) return depthwiseRowsForward(engine, texture, p);
  if (p.kind === 'forward') return depthwiseForwardGpu(engine, texture, p);
  if (p.kind === 'backward-input') return depthwiseBackwardInputGpu(engine, texture, p);
  return depthwiseBackwardWeightGpu(engine, texture, p);
}

function generalVariants(): Variant<ConvProblem>[] {
  return [
    { name: 'texture-subgroup', supported: (e) => subgroupSize(e) !== undefined, run: (e, p) => runGeneral(e, 'texture-subgroup', p) },
    { name: 'texture', supported: () => true, run: (e, p) => runGeneral(e, 'texture', p) },
    { name: 'buffer', supported: () => true, run: (e, p) => runGeneral(e, 'buffer', p) },
  ];
}

/** Forward pass and input gradient of grouped / dense convolutions (they share the implicit-GEMM kernels). */
export const conv2dKernel: TunableKernel<ConvProblem> = registerTunable({
  name: 'conv2d',
  variants: generalVariants(),
  sample: (engine) => sample(engine, 'forward', sampleGeometry(2, 28, 64, 64)),
});

export const conv2dBackwardWeightKernel: TunableKernel<ConvProblem> = registerTunable({
  name: 'conv2d-backward-weight',
  variants: generalVariants(),
  sample: (engine) => sample(engine, 'backward-weight', sampleGeometry(2, 28, 64, 64)),
});

/**
 * Depthwise forward, input and weight gradients. The `rows-*` variants run the forward pass of multiplier-1
 * layers with channels a multiple of 4 from the unpacked activation (depthwise-rows.ts); everything else
 * they hand to the packed kernels of the same storage.
 */
export const conv2dDepthwiseKernel: TunableKernel<ConvProblem> = registerTunable({
  name: 'conv2d-depthwise',
  variants: [
    { name: 'rows-texture', supported: () => true, run: (e, p) => runDepthwise(e, true, p, true) },
    { name: 'rows-buffer', supported: () => true, run: (e, p) => runDepthwise(e, false, p, true) },
    { name: 'texture', supported: () => true, run: (e, p) => runDepthwise(e, true, p) },
    { name: 'buffer', supported: () => true, run: (e, p) => runDepthwise(e, false, p) },
  ],
  sample: (engine) => sample(engine, 'forward', sampleGeometry(2, 28, 64, 64, 64)),
});
