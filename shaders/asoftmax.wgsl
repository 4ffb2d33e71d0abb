// A-Softmax (SphereFace) logits and their backward. x [N, D], w [D, K] (or [K, D] with ROWS, nn.Linear's
// layout) whose class vectors are normalised on the fly (inv_norm[k] = 1/‖w_k‖). Plain logit f_j = x·ŵ_j = ‖x‖cos θ_j; for the target class
//   f_y = (λ·‖x‖cos θ_y + ‖x‖ψ(θ_y)) / (1 + λ),  ψ(θ) = (−1)^k cos(mθ) − 2k,  k = ⌊mθ/π⌋ (from the detached angle),
// with cos(mθ) = T_m(cos θ) (Chebyshev), so dψ/dcos θ = (−1)^k m U_{m−1}(cos θ) has no 1/sin θ.
// Modes: WNORM (inv_norm per column), LOGITS (f), STATS (per-row backward coefficients), DX, DW.
struct Params { n: u32, d: u32, k: u32, m: u32, a: f32, b: f32, use_labels: u32 }
@group(0) @binding(0) var<uniform> params: Params;

#if WNORM
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> inv_norm: array<f32>;
#endif
#if LOGITS
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> inv_norm: array<f32>;
@group(0) @binding(4) var<storage, read> labels: array<i32>;
@group(0) @binding(5) var<storage, read_write> f: array<f32>;
#endif
#if STATS
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> inv_norm: array<f32>;
@group(0) @binding(4) var<storage, read> labels: array<i32>;
@group(0) @binding(5) var<storage, read_write> stats: array<vec2f>;
#endif
#if DX
@group(0) @binding(1) var<storage, read> df: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> w: array<f32>;
@group(0) @binding(4) var<storage, read> inv_norm: array<f32>;
@group(0) @binding(5) var<storage, read> labels: array<i32>;
@group(0) @binding(6) var<storage, read> stats: array<vec2f>;
@group(0) @binding(7) var<storage, read_write> dx: array<f32>;
#endif
#if DW
@group(0) @binding(1) var<storage, read> df: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> labels: array<i32>;
@group(0) @binding(4) var<storage, read> stats: array<vec2f>;
@group(0) @binding(5) var<storage, read_write> dw: array<f32>;
#endif

const PI = 3.14159265358979;
const TINY = 1e-12;

// Where w[d, k] (and dw's) lives: [D, K], or [K, D] with ROWS.
fn widx(d: u32, k: u32) -> u32 {
#if ROWS
  return k * params.d + d;
#else
  return d * params.k + k;
#endif
}

#if WNORM
#else
// The row's target class, or -1 when there is none (no labels, or a label out of range: left unmargined; the
// cross-entropy on top turns an out-of-range label into NaN).
fn target_class(row: u32) -> i32 {
  if (params.use_labels == 0u) { return -1; }
  let y = labels[row];
  return select(-1, y, y >= 0 && u32(y) < params.k);
}

// (ψ, dψ/dc) at c = cos θ.
fn psi(c_in: f32) -> vec2f {
  let c = clamp(c_in, -1.0, 1.0);
  let m = params.m;
  let kk = min(floor(f32(m) * acos(c) / PI), f32(m - 1u));
  var tp = 1.0; // T_{j-1}
  var t = c;    // T_j
  var up = 0.0; // U_{j-2}
  var u = 1.0;  // U_{j-1}
  for (var j = 1u; j < m; j++) {
    let tn = 2.0 * c * t - tp;
    tp = t;
    t = tn;
    let un = 2.0 * c * u - up;
    up = u;
    u = un;
  }
  let sign = select(1.0, -1.0, (u32(kk) & 1u) == 1u);
  return vec2f(sign * t - 2.0 * kk, sign * f32(m) * u);
}
#endif

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) local_id: vec3u) {
  let lid = local_id.x;
#if WNORM
  let k = flat_workgroup(wid, nwg) * 64u + lid;
  if (k >= params.k) { return; }
  var s = 0.0;
  for (var d = 0u; d < params.d; d++) { let v = w[widx(d, k)]; s += v * v; }
  inv_norm[k] = 1.0 / max(sqrt(s), TINY);
#endif
#if LOGITS
  // One invocation per (row, class): neighbours read neighbouring columns of w.
  let t = flat_workgroup(wid, nwg) * 64u + lid;
  if (t >= params.n * params.k) { return; }
  let row = t / params.k;
  let k = t - row * params.k;
  var dot = 0.0;
  var xx = 0.0;
  for (var d = 0u; d < params.d; d++) {
    let xv = x[row * params.d + d];
    dot += xv * w[widx(d, k)];
    xx += xv * xv;
  }
  var fv = dot * inv_norm[k];
  if (i32(k) == target_class(row)) {
    let xn = sqrt(xx);
    let p = psi(fv / max(xn, TINY));
    fv = params.a * fv + params.b * xn * p.x;
  }
  f[t] = fv;
#endif
#if STATS
  // Per row: (coef_g, coef_r) with d f_y / dx = coef_g·ŵ_y + coef_r·x, d f_y / dŵ_y = coef_g·x.
  let row = flat_workgroup(wid, nwg) * 64u + lid;
  if (row >= params.n) { return; }
  let y = target_class(row);
  if (y < 0) { stats[row] = vec2f(1.0, 0.0); return; }
  var dot = 0.0;
  var xx = 0.0;
  for (var d = 0u; d < params.d; d++) {
    let xv = x[row * params.d + d];
    dot += xv * w[widx(d, u32(y))];
    xx += xv * xv;
  }
  let xn = max(sqrt(xx), TINY);
  let c = dot * inv_norm[u32(y)] / xn;
  let p = psi(c);
  stats[row] = vec2f(params.a + params.b * p.y, params.b * (p.x - c * p.y) / xn);
#endif
#if DX
  // dx[n, d] = Σ_k G[n, k]·ŵ[d, k] + coef_r·df[n, y]·x[n, d], G = df with the target column scaled by coef_g.
  let t = flat_workgroup(wid, nwg) * 64u + lid;
  if (t >= params.n * params.d) { return; }
  let row = t / params.d;
  let d = t - row * params.d;
  let y = target_class(row);
  let st = stats[row];
  var acc = 0.0;
  for (var k = 0u; k < params.k; k++) {
    let g = df[row * params.k + k] * select(1.0, st.x, i32(k) == y);
    acc += g * w[widx(d, k)] * inv_norm[k];
  }
  if (y >= 0) { acc += st.y * df[row * params.k + u32(y)] * x[t]; }
  dx[t] = acc;
#endif
#if DW
  // One invocation per (d, class): dŵ[d, k] = Σ_n G[n, k]·x[n, d]; the normalisation's backward
  // (dŵ − ŵ(ŵ·dŵ))/‖w‖ needs Σ_d ŵ·dŵ per column, which a second pass (COLFIX) applies.
  let t = flat_workgroup(wid, nwg) * 64u + lid;
  if (t >= params.d * params.k) { return; }
#if ROWS
  let k = t / params.d;
  let d = t - k * params.d;
#else
  let d = t / params.k;
  let k = t - d * params.k;
#endif
  var acc = 0.0;
  for (var row = 0u; row < params.n; row++) {
    let y = target_class(row);
    let g = df[row * params.k + k] * select(1.0, stats[row].x, i32(k) == y);
    acc += g * x[row * params.d + d];
  }
  dw[t] = acc;
#endif
}
