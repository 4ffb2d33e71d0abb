// The backward of w's column normalisation, in place: dw[:, k] = (dŵ − ŵ (ŵ·dŵ)) / ‖w_k‖ with ŵ = w·inv_norm.
// One workgroup per column: the dot product over d is reduced in workgroup memory, then each invocation
// rewrites the rows it read.
struct Params { d: u32, k: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read> inv_norm: array<f32>;
@group(0) @binding(3) var<storage, read_write> dw: array<f32>;

var<workgroup> red: array<f32, 64>;

// Where w[d, k] (and dw's) lives: [D, K], or [K, D] with ROWS (nn.Linear's layout).
fn widx(d: u32, k: u32) -> u32 {
#if ROWS
  return k * params.d + d;
#else
  return d * params.k + k;
#endif
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) local_id: vec3u) {
  let lid = local_id.x;
  let k = flat_workgroup(wid, nwg);
  if (k >= params.k) { return; }
  let inv = inv_norm[k];
  var acc = 0.0;
  for (var d = lid; d < params.d; d += 64u) { acc += w[widx(d, k)] * inv * dw[widx(d, k)]; }
  red[lid] = acc;
  for (var s = 32u; s > 0u; s = s / 2u) {
    workgroupBarrier();
    if (lid < s) { red[lid] = red[lid] + red[lid + s]; }
  }
  workgroupBarrier();
  let dot = red[0];
  for (var d = lid; d < params.d; d += 64u) {
    let i = widx(d, k);
    dw[i] = (dw[i] - w[i] * inv * dot) * inv;
  }
}
