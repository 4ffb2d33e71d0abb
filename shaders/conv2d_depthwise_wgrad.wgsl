// Depthwise weight gradient: dW[tap, 0, co] = Σ over output pixels of x[pixel at tap, co / M] · dy[pixel, co].
// Each invocation owns one tap × one texel of output channels × one split of the (n, oh) rows; A is the
// packed zero-bordered input (one group), B the packed output gradient. Partial sums of split s land at
// s·dw_size (summed by conv2d_colsum.wgsl when there is more than one split).
struct Params {
  n_rows: u32, ho: u32, wo: u32, rows_per_split: u32,
  total: u32, cq: u32, taps: u32, kw_total: u32,
  sh: u32, sw: u32, dh: u32, dw: u32,
  a_cq: u32, a_w: u32, a_h: u32, a_c: u32,
  b_w: u32, b_h: u32, mult: u32, cout: u32,
  dw_size: u32, _p0: u32, _p1: u32, _p2: u32,
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

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) local_id: vec3u) {
  let lid = local_id.x;
  let id = flat_workgroup(wid, nwg) * 64u + lid;
  if (id >= params.total) { return; }
  let q = id % params.cq;
  let rest = id / params.cq;
  let tap = rest % params.taps;
  let s = rest / params.taps;
  let ax0 = (tap % params.kw_total) * params.dw * params.a_cq;
  let ay0 = (tap / params.kw_total) * params.dh;
  let r0 = s * params.rows_per_split;
  let r1 = min(r0 + params.rows_per_split, params.n_rows);
  var acc = vec4f(0.0);
  for (var row = r0; row < r1; row++) {
    let n = row / params.ho;
    let oh = row % params.ho;
    let ay = ay0 + oh * params.sh;
    for (var ow = 0u; ow < params.wo; ow++) {
      let ax = ax0 + ow * params.sw * params.a_cq;
      var xv: vec4f;
      if (params.mult == 1u) {
        xv = load_a(ax + q, ay, n);
      } else {
        for (var e = 0u; e < 4u; e++) {
          let c = min((4u * q + e) / params.mult, params.a_c - 1u);
          xv[e] = load_a(ax + c / 4u, ay, n)[c % 4u];
        }
      }
      acc = fma(xv, load_b(ow * params.cq + q, oh, n), acc);
    }
  }
  let o = s * params.dw_size + tap * params.cout;
  for (var e = 0u; e < 4u; e++) {
    let co = 4u * q + e;
    if (co < params.cout) { out[o + co] = acc[e]; }
  }
}
