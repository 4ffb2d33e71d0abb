// Shared by the weight-gradient kernels (appended to each). dW[kh, kw, ci, g·coutg + co] is a GEMM whose
// rows are (tap, input-channel texel) of group g, columns output-channel texels and reduction the output
// pixels (n, oh, ow):  Σ A[n, oh·sh + kh·dh, ow·sw + kw·dw, g, ci] · B[n, oh, ow, g, co],
// with A the zero-bordered packed input (conv2d_pack.wgsl) and B the packed output gradient (no border).
// The reduction is split over `splits` ranges of (n, oh) rows; split s writes its partial sums at
// s·dw_size (summed afterwards by conv2d_colsum.wgsl when there is more than one split).
struct Params {
  n_rows: u32, ho: u32, wo: u32, rows_per_split: u32,
  tiles_m: u32, tiles_n: u32, total: u32, mq_total: u32,
  cqg: u32, gcq: u32, kw_total: u32, cg: u32,
  sh: u32, sw: u32, dh: u32, dw: u32,
  a_w: u32, a_h: u32, b_w: u32, b_h: u32,
  cqo: u32, gcqo: u32, coutg: u32, cout: u32,
  dw_size: u32, groups: u32, _p0: u32, _p1: u32,
}
@group(0) @binding(0) var<uniform> params: Params;
#if TEXTURE
@group(0) @binding(1) var a_src: texture_storage_2d_array<rgba32float, read>;
@group(0) @binding(2) var b_src: texture_storage_2d_array<rgba32float, read>;
fn load_a(x: u32, y: u32, l: u32) -> vec4f { return textureLoad(a_src, vec2u(x, y), l); }
fn load_b(x: u32, y: u32, l: u32) -> vec4f { return textureLoad(b_src, vec2u(x, y), l); }
#else
@group(0) @binding(1) var<storage, read> a_src: array<vec4f>;
@group(0) @binding(2) var<storage, read> b_src: array<vec4f>;
fn load_a(x: u32, y: u32, l: u32) -> vec4f { return a_src[(l * params.a_h + y) * params.a_w + x]; }
fn load_b(x: u32, y: u32, l: u32) -> vec4f { return b_src[(l * params.b_h + y) * params.b_w + x]; }
#endif
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

// (tn, tm, g, s) of tile t: column blocks fastest, then row blocks, groups, splits.
fn tile_coords(t: u32) -> vec4u {
  let tn = t % params.tiles_n;
  var rest = t / params.tiles_n;
  let tm = rest % params.tiles_m;
  rest = rest / params.tiles_m;
  return vec4u(tn, tm, rest % params.groups, rest / params.groups);
}

// The (n, oh) rows of split s.
fn split_rows(s: u32) -> vec2u {
  let r0 = s * params.rows_per_split;
  return vec2u(r0, min(r0 + params.rows_per_split, params.n_rows));
}

// A's texel offset (x, y) for row texel mq (clamped to the last one) of group g.
fn row_offset(mq: u32, g: u32) -> vec2u {
  let m = min(mq, params.mq_total - 1u);
  let tap = m / params.cqg;
  let cq = m % params.cqg;
  return vec2u((tap % params.kw_total) * params.dw * params.gcq + g * params.cqg + cq, (tap / params.kw_total) * params.dh);
}

// Writes the 4 × 4 block of row texel mq, column texel q: rows[e'] holds input channel 4cq + e' over 4 columns.
fn store_block(s: u32, g: u32, mq: u32, q: u32, r0: vec4f, r1: vec4f, r2: vec4f, r3: vec4f) {
  if (mq >= params.mq_total || q >= params.cqo) { return; }
  let tap = mq / params.cqg;
  let cq = mq % params.cqg;
  var rows = array<vec4f, 4>(r0, r1, r2, r3);
  for (var e2 = 0u; e2 < 4u; e2++) {
    let ci = 4u * cq + e2;
    if (ci >= params.cg) { break; }
    let o = s * params.dw_size + (tap * params.cg + ci) * params.cout + g * params.coutg;
    for (var e = 0u; e < 4u; e++) {
      let co = 4u * q + e;
      if (co < params.coutg) { out[o + co] = rows[e2][e]; }
    }
  }
}
