// Packs an NHWC activation into vec4 texels for the convolution kernels, with the zero border of the
// padding baked in (so the kernels need no bounds checks) and each group's channels padded to a multiple
// of 4 (so a texel never straddles two groups). Texel (x, y) of image n, with x = (w + pl)·gcq + g·cqg + cq
// and y = h + pt, holds channels g·cg + 4cq … g·cg + 4cq + 3 of pixel (n, h, w); zeros outside.
// With a step s > 1 (1×1 convolutions with stride s, no padding) texel (x, y) holds pixel (y·s_h, x·s_w)
// instead: only the pixels the convolution reads are packed. TEXTURE=1 writes an rgba32float texture array
// (one layer per image), else a vec4 buffer in the same order.
struct Params {
  h: u32, w: u32, c: u32, cg: u32,
  cqg: u32, gcq: u32, pt: u32, pl: u32,
  out_w: u32, out_h: u32, step_h: u32, step_w: u32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
#if TEXTURE
@group(0) @binding(2) var dst: texture_storage_2d_array<rgba32float, write>;
#else
@group(0) @binding(2) var<storage, read_write> dst: array<vec4f>;
#endif

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let x = gid.x;
  let y = gid.y;
  let n = gid.z;
  if (x >= params.out_w || y >= params.out_h) { return; }
  let gq = x % params.gcq;
  let g = gq / params.cqg;
  let cq = gq % params.cqg;
  let hh = i32(y * params.step_h) - i32(params.pt);
  let ww = i32(x / params.gcq * params.step_w) - i32(params.pl);
  var v = vec4f(0.0);
  if (hh >= 0 && hh < i32(params.h) && ww >= 0 && ww < i32(params.w)) {
    let base = ((n * params.h + u32(hh)) * params.w + u32(ww)) * params.c + g * params.cg;
    for (var e = 0u; e < 4u; e++) {
      let ci = 4u * cq + e;
      if (ci < params.cg) { v[e] = src[base + ci]; }
    }
  }
#if TEXTURE
  textureStore(dst, vec2u(x, y), n, v);
#else
  dst[(n * params.out_h + y) * params.out_w + x] = v;
#endif
}
