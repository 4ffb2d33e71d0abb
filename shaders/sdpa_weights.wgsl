// The attention probabilities P = exp(scale·q_r·k_c + mask − lse_r) [B, H, n, m] (PyTorch's need_weights),
// from the forward's row log-sum-exp: one invocation per (b, h, row, key). Rows whose every key is masked
// (lse = -inf) and masked keys get 0.
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> lse: array<f32>;
@group(0) @binding(4) var<storage, read_write> p: array<f32>;
#if MASK
@group(0) @binding(5) var<storage, read> mask: array<{{MASK_T}}>;
#endif

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) local_id: vec3u) {
  let i = flat_workgroup(wid, nwg) * 64u + local_id.x;
  let n = params.n;
  let m = params.m;
  let d = params.d;
  if (i >= params.B * params.H * n * m) { return; }
  let c = i % m;
  let row = (i / m) % n;
  let bh = i / (m * n);
  var s = 0.0;
  for (var j = 0u; j < d; j++) { s = fma(q[(bh * n + row) * d + j], k[(bh * m + c) * d + j], s); }
  s = s * params.scale + mask_at(bh / params.H, bh % params.H, row, c);
  let l = lse[bh * n + row];
  p[i] = select(0.0, exp(s - l), s >= NEG_BIG && l >= NEG_BIG);
}
