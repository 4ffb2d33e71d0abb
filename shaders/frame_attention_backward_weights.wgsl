// Frame attention pooling backward to the weights: with S = Σ_j w_j, a_i = w_i/S, out = Σ_i a_i f_i and the
// upstream gradients dy (of out, with DY) and da (of the normalised weights a, with DA), u_i = dy · f_i + da_i:
//   dw_i = (u_i − Σ_j a_j u_j) / S.
// One workgroup per clip: a first pass reduces S and Σ w_j u_j, a second recomputes each u_i and writes dw_i
// (recomputing the dot products keeps no per-frame storage, so any T works).
const WG = 64u;
struct Params { N: u32, T: u32, D: u32, stride: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> dw: array<f32>;
#if DY
@group(0) @binding(3) var<storage, read> dy: array<f32>;
@group(0) @binding(4) var<storage, read> feats: array<f32>;
#endif
#if DA
@group(0) @binding({{B_DA}}) var<storage, read> da: array<f32>;
#endif

var<workgroup> red: array<vec2f, WG>;

fn dot_frame(n: u32, i: u32) -> f32 {
  var u = 0.0;
#if DY
  let D = params.D;
  for (var d = 0u; d < D; d++) { u = fma(dy[n * D + d], feats[(n * params.T + i) * D + d], u); }
#endif
#if DA
  u += da[n * params.T + i];
#endif
  return u;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) local_id: vec3u) {
  let lid = local_id.x;
  let T = params.T;
  for (var n = flat_workgroup(wid, nwg); n < params.N; n += params.stride) {
    var acc = vec2f(0.0);
    for (var i = lid; i < T; i += WG) {
      let wi = w[n * T + i];
      acc += vec2f(wi, wi * dot_frame(n, i));
    }
    workgroupBarrier();
    red[lid] = acc;
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
      workgroupBarrier();
      if (lid < s) { red[lid] += red[lid + s]; }
    }
    workgroupBarrier();
    let S = red[0].x;
    let mean_u = red[0].y / S;
    for (var i = lid; i < T; i += WG) { dw[n * T + i] = (dot_frame(n, i) - mean_u) / S; }
  }
}
