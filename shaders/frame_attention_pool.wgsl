// Frame attention pooling (M1, eqs. 3–4): a_i = w_i / Σ_j w_j and out = Σ_i a_i f_i, for positive frame
// weights w [N, T] and frame features f [N, T, D], in one pass: one invocation per (clip, feature) sums
// w_i f_i[d] and w_i together and divides once. WEIGHTS also writes a [N, T] (the invocation of feature 0
// of each clip; with D = 0 there is one invocation per clip for it).
struct Params { N: u32, T: u32, D: u32, _pad: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read> feats: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
#if WEIGHTS
@group(0) @binding(4) var<storage, read_write> a: array<f32>;
#endif

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) local_id: vec3u) {
  let lid = local_id.x;
  let idx = flat_workgroup(wid, nwg) * 64u + lid;
  let T = params.T;
  let D = params.D;
  let per_clip = max(D, 1u);
  if (idx >= params.N * per_clip) { return; }
  let n = idx / per_clip;
  let d = idx % per_clip;
  var acc = 0.0;
  var s = 0.0;
  for (var i = 0u; i < T; i++) {
    let wi = w[n * T + i];
    if (d < D) { acc = fma(wi, feats[(n * T + i) * D + d], acc); }
    s += wi;
  }
  if (d < D) { out[n * D + d] = acc / s; }
#if WEIGHTS
  if (d == 0u) {
    for (var i = 0u; i < T; i++) { a[n * T + i] = w[n * T + i] / s; }
  }
#endif
}
