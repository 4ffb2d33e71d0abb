// Shared by the implicit-GEMM convolution kernels (appended to each). One kernel serves the forward pass
// and the input gradient: both read a packed, zero-bordered activation A (conv2d_pack.wgsl) and a packed
// weight matrix W per group (conv2d_pack_weight.wgsl) and compute, for every output pixel (n, i, j) of an
// N × I × J grid and output channel c of group g,
//   out = Σ_taps Σ_k A[n, i·ss_h + offh(a), j·ss_w + offw(b), g, k] · W[g, tap(a, b)·kp + k, c]
// over taps a < nkh, b < nkw with kernel rows kh0 + a·khstep (offset offh0 + a·offh_step) and columns
// likewise. The forward uses every tap with ss = stride and offsets kh·dilation; the input gradient runs
// once per stride phase with ss = 1, the taps that reach that phase and negative offset steps (a transposed
// convolution with no zero-inserted or col2im buffer). The result lands at output pixel
// (n, o0h + i·osh, o0w + j·osw) of an out_h × out_w image with out_c channels, then bias, residual and ReLU
// as `flags` ask (bits 0, 1, 2: uniforms rather than defines, so one pipeline serves every fusion; absent
// operands are bound to a dummy buffer).
struct Params {
  npix: u32, pix_j: u32, pix_i: u32, total: u32,
  tiles_m: u32, tiles_n: u32, ss_h: u32, ss_w: u32,
  nkh: u32, nkw: u32, kh0: u32, kw0: u32,
  khstep: u32, kwstep: u32, kw_total: u32, kp: u32,
  offh0: i32, offh_step: i32, offw0: i32, offw_step: i32,
  cqg: u32, gcq: u32, a_w: u32, a_h: u32,
  w_w: u32, w_h: u32, out_c: u32, coutg: u32,
  out_h: u32, out_w: u32, o0h: u32, o0w: u32,
  osh: u32, osw: u32, flags: u32, _p1: u32,
}
@group(0) @binding(0) var<uniform> params: Params;
#if TEXTURE
@group(0) @binding(1) var a_src: texture_storage_2d_array<rgba32float, read>;
@group(0) @binding(2) var w_src: texture_storage_2d_array<rgba32float, read>;
fn load_a(x: u32, y: u32, l: u32) -> vec4f { return textureLoad(a_src, vec2u(x, y), l); }
fn load_w(q: u32, r: u32, g: u32) -> vec4f { return textureLoad(w_src, vec2u(q, r), g); }
#else
@group(0) @binding(1) var<storage, read> a_src: array<vec4f>;
@group(0) @binding(2) var<storage, read> w_src: array<vec4f>;
fn load_a(x: u32, y: u32, l: u32) -> vec4f { return a_src[(l * params.a_h + y) * params.a_w + x]; }
fn load_w(q: u32, r: u32, g: u32) -> vec4f { return w_src[(g * params.w_h + r) * params.w_w + q]; }
#endif
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;
@group(0) @binding(5) var<storage, read> residual: array<f32>;

// Texel coordinates in A of output pixel p (clamped to the last pixel: surplus lanes compute, store nothing).
fn pixel_base(p: u32, g: u32) -> vec3u {
  let pc = min(p, params.npix - 1u);
  let j = pc % params.pix_j;
  let r = pc / params.pix_j;
  return vec3u(j * params.ss_w * params.gcq + g * params.cqg, (r % params.pix_i) * params.ss_h, r / params.pix_i);
}

// Offset in `out` of output pixel p's channel 0 of group g.
fn out_base(p: u32, g: u32) -> u32 {
  let j = p % params.pix_j;
  let r = p / params.pix_j;
  let i = r % params.pix_i;
  let n = r / params.pix_i;
  return ((n * params.out_h + params.o0h + i * params.osh) * params.out_w + params.o0w + j * params.osw) * params.out_c + g * params.coutg;
}

// Row of W where tap (a, b) starts.
fn tap_row(a: u32, b: u32) -> u32 {
  return ((params.kh0 + a * params.khstep) * params.kw_total + params.kw0 + b * params.kwstep) * params.kp;
}

// Texel offset of tap (a, b) in A: (x, y).
fn tap_offset(a: u32, b: u32) -> vec2u {
  return vec2u(u32(params.offw0 + i32(b) * params.offw_step) * params.gcq, u32(params.offh0 + i32(a) * params.offh_step));
}

// Epilogue for output channel `ch` of group g (ch < coutg) at offset o = out_base + ch.
fn store(o: u32, g: u32, ch: u32, v: f32) {
  var y = v;
  if ((params.flags & 1u) != 0u) { y += bias[g * params.coutg + ch]; }
  if ((params.flags & 2u) != 0u) { y += residual[o]; }
  if ((params.flags & 4u) != 0u) { y = relu_f32(y); }
  out[o] = y;
}
