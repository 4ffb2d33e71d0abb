// Depthwise convolution forward, multiplier 1 and channels a multiple of 4, read straight from the NHWC
// activation (no padded copy): each invocation computes P consecutive output pixels of one output row × one
// texel of 4 channels. For each kernel row it loads the WIN input texels those P outputs span once and reuses
// them for every tap of the row; KW, SW and DW are compile-time so that window lives in registers. Rows
// outside the image are skipped and columns outside read as zeros.
// TEXTURE=1 reads the activation from a linear rgba32float texture (linear_texel in the runtime's prelude),
// filled by a driver copy of the buffer: on lavapipe texture loads are
// vectorised across lanes where storage-buffer loads are not. TEXTURE=0 reads the buffer as vec4s.
struct Params {
  h: u32, w: u32, cq: u32, ho: u32,
  wo: u32, wb: u32, total: u32, kh: u32,
  sh: u32, dh: u32, flags: u32, _pad: u32,
  pt: i32, pl: i32,
}
@group(0) @binding(0) var<uniform> params: Params;
#if TEXTURE
@group(0) @binding(1) var x_src: texture_storage_2d_array<rgba32float, read>;
fn load_x(t: u32) -> vec4f {
  let c = linear_texel(t);
  return textureLoad(x_src, c.xy, c.z);
}
#else
@group(0) @binding(1) var<storage, read> x_src: array<vec4f>;
fn load_x(t: u32) -> vec4f { return x_src[t]; }
#endif
// Weights [kH, kW, 1, C] as texels: tap-major, cq texels per tap.
@group(0) @binding(2) var<storage, read> w_src: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> out: array<vec4f>;
// Bias, residual and ReLU as `flags` bits 0, 1, 2 ask (absent operands are bound to a 16-byte dummy).
@group(0) @binding(4) var<storage, read> bias: array<vec4f>;
@group(0) @binding(5) var<storage, read> residual: array<vec4f>;

const P = {{P}}u;
const KW = {{KW}}u;
const SW = {{SW}}u;
const DW = {{DW}}u;
const WIN = (P - 1u) * SW + (KW - 1u) * DW + 1u;
const WG = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) local_id: vec3u) {
  let lid = local_id.x;
  let id = flat_workgroup(wid, nwg) * WG + lid;
  if (id >= params.total) { return; }
  // Channel texel fastest, so neighbouring invocations read neighbouring texels.
  let q = id % params.cq;
  var rest = id / params.cq;
  let ow0 = (rest % params.wb) * P;
  rest = rest / params.wb;
  let oh = rest % params.ho;
  let n = rest / params.ho;
  let iw0 = i32(ow0 * SW) - params.pl;
  let last = i32(params.w) - 1;

  var acc: array<vec4f, P>;
  for (var a = 0u; a < params.kh; a++) {
    let ih = i32(oh * params.sh + a * params.dh) - params.pt;
    if (ih < 0 || ih >= i32(params.h)) { continue; }
    let row = (n * params.h + u32(ih)) * params.w;
    var win: array<vec4f, WIN>;
    for (var j = 0u; j < WIN; j++) {
      let iw = iw0 + i32(j);
      let v = load_x((row + u32(clamp(iw, 0, last))) * params.cq + q);
      win[j] = select(vec4f(0.0), v, iw >= 0 && iw <= last);
    }
    for (var b = 0u; b < KW; b++) {
      let wv = w_src[(a * KW + b) * params.cq + q];
      for (var i = 0u; i < P; i++) { acc[i] = fma(win[i * SW + b * DW], wv, acc[i]); }
    }
  }

  let bv = select(vec4f(0.0), bias[q % arrayLength(&bias)], (params.flags & 1u) != 0u);
  for (var i = 0u; i < P; i++) {
    let ow = ow0 + i;
    if (ow >= params.wo) { break; }
    let o = ((n * params.ho + oh) * params.wo + ow) * params.cq + q;
    var y = acc[i] + bv;
    if ((params.flags & 2u) != 0u) { y += residual[o]; }
    if ((params.flags & 4u) != 0u) { y = relu_vec4f(y); }
    out[o] = y;
  }
}
