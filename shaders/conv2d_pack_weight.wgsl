// Packs convolution weights (HWIO) into vec4 texels as one matrix per group: row r = tap·kp + k (k < inner
// valid, the rest zero padding up to kp, a multiple of 4), column texel q holds columns 4q … 4q+3 (zero past
// `cols`). Element (layer l, tap, k, col) comes from src[l·s_layer + tap·s_tap + k·s_inner + col·s_col], so
// the forward (k = input channel, columns = output channels) and the transposed operand of the input
// gradient (k = output channel, columns = input channels) are both strided reads of the same HWIO tensor.
struct Params {
  rows_p: u32, cols_q: u32, taps: u32, kp: u32,
  inner: u32, cols: u32, s_tap: u32, s_inner: u32,
  s_col: u32, s_layer: u32, _p0: u32, _p1: u32,
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
  let q = gid.x;
  let r = gid.y;
  let l = gid.z;
  if (q >= params.cols_q || r >= params.rows_p) { return; }
  let tap = r / params.kp;
  let k = r % params.kp;
  var v = vec4f(0.0);
  if (tap < params.taps && k < params.inner) {
    let base = l * params.s_layer + tap * params.s_tap + k * params.s_inner;
    for (var e = 0u; e < 4u; e++) {
      let col = 4u * q + e;
      if (col < params.cols) { v[e] = src[base + col * params.s_col]; }
    }
  }
#if TEXTURE
  textureStore(dst, vec2u(q, r), l, v);
#else
  dst[(l * params.rows_p + r) * params.cols_q + q] = v;
#endif
}
