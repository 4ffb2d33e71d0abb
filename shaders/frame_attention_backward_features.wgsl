// Frame attention pooling backward to the features: df_i[d] = a_i · dy[d] with a_i = w_i / Σ_j w_j.
// One invocation per (clip, feature) computes Σ_j w_j once and writes the T gradients of its column.
struct Params { N: u32, T: u32, D: u32, _pad: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> df: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) local_id: vec3u) {
  let lid = local_id.x;
  let idx = flat_workgroup(wid, nwg) * 64u + lid;
  let T = params.T;
  let D = params.D;
  if (idx >= params.N * D) { return; }
  let n = idx / D;
  let d = idx % D;
  var s = 0.0;
  for (var i = 0u; i < T; i++) { s += w[n * T + i]; }
  let g = dy[idx] / s;
  for (var i = 0u; i < T; i++) { df[(n * T + i) * D + d] = w[n * T + i] * g; }
}
