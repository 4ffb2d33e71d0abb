// LayerNorm's γ and β gradients: column sums over the rows, dγ = Σ dy·x̂, dβ = Σ dy.
// PARTIAL: one invocation per (row chunk, column unit) sums its chunk (neighbours read neighbouring columns);
// with FINAL (a single chunk) it writes dγ/dβ directly, else per-chunk partials that FINISH sums.
struct Params { rows: u32, cols: u32, chunks: u32, chunk_len: u32 }
@group(0) @binding(0) var<uniform> params: Params;

#if VEC
alias T = vec4f;
#else
alias T = f32;
#endif

#if PARTIAL
@group(0) @binding(1) var<storage, read> dy: array<T>;
@group(0) @binding(2) var<storage, read> x: array<T>;
@group(0) @binding(3) var<storage, read> mean: array<f32>;
@group(0) @binding(4) var<storage, read> invstd: array<f32>;
@group(0) @binding(5) var<storage, read_write> out_g: array<T>;
@group(0) @binding(6) var<storage, read_write> out_b: array<T>;
#else
@group(0) @binding(1) var<storage, read> part_g: array<T>;
@group(0) @binding(2) var<storage, read> part_b: array<T>;
@group(0) @binding(3) var<storage, read_write> out_g: array<T>;
@group(0) @binding(4) var<storage, read_write> out_b: array<T>;
#endif

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) local_id: vec3u) {
  let lid = local_id.x;
  let t = flat_workgroup(wid, nwg) * 64u + lid;
#if PARTIAL
  if (t >= params.chunks * params.cols) { return; }
  let chunk = t / params.cols;
  let col = t - chunk * params.cols;
  let r0 = chunk * params.chunk_len;
  let r1 = min(r0 + params.chunk_len, params.rows);
  var ag = T(0.0);
  var ab = T(0.0);
  for (var r = r0; r < r1; r++) {
    let d = dy[r * params.cols + col];
    ag += d * (x[r * params.cols + col] - T(mean[r])) * T(invstd[r]);
    ab += d;
  }
  out_g[t] = ag;
  out_b[t] = ab;
#else
  if (t >= params.cols) { return; }
  var ag = T(0.0);
  var ab = T(0.0);
  for (var c = 0u; c < params.chunks; c++) {
    ag += part_g[c * params.cols + t];
    ab += part_b[c * params.cols + t];
  }
  out_g[t] = ag;
  out_b[t] = ab;
#endif
}
