#if SHARE
enable subgroups;
#endif
// LayerNorm over the last axis: rows of C elements, in units of T (vec4f when C % 4 == 0, else f32).
// THREAD layout (WG undefined): one invocation per row; WG layout: one workgroup of {{WG}} per row.
// Statistics are one Welford pass (per-lane running mean and M2, merged with Chan's formula across vec4 lanes
// and invocations), so the row is read twice in the forward, and the variance has no cancellation. REG: short
// rows are read once into registers and normalised with an exact two-pass mean and variance.
// FWD: y = (x − mean)·invstd·γ + β, with SAVE also writing mean and invstd per row.
// BWD: dx = invstd·(g − mean(g) − x̂·mean(g·x̂)), g = dy·γ, x̂ = (x − mean)·invstd; with SAVED the statistics
// are read, else recomputed and written for the γ/β kernel.
// UBO: γ and β are bound as uniform buffers (GB vec4 of columns). In the thread layout every lane reads the
// same column at the same step: a uniform load serves that as one broadcast, where CPU drivers run a storage
// load as one load per lane (15% of the forward on lavapipe).
// SHARE (thread layout, subgroups of 8 to 64 lanes): lanes are rows and need the same γ/β column at the same
// step, so lane j fetches column c0 + j % 8 once and the subgroup broadcasts the 8 columns to every lane: an
// eighth of the γ/β loads (17% of the forward on lavapipe, where each lane's load is a scalar loop). Rows past
// the end are clamped instead of returning early, since broadcasts need every lane of the subgroup.
struct Params { rows: u32, len: u32, count: f32, eps: f32 }
@group(0) @binding(0) var<uniform> params: Params;

#if VEC
alias T = vec4f;
#else
alias T = f32;
#endif

#if FWD
@group(0) @binding(1) var<storage, read> x: array<T>;
#if UBO
@group(0) @binding(2) var<uniform> gamma: array<vec4f, {{GB}}>;
@group(0) @binding(3) var<uniform> beta: array<vec4f, {{GB}}>;
#else
@group(0) @binding(2) var<storage, read> gamma: array<T>;
@group(0) @binding(3) var<storage, read> beta: array<T>;
#endif
@group(0) @binding(4) var<storage, read_write> y: array<T>;
#if SAVE
@group(0) @binding(5) var<storage, read_write> mean_out: array<f32>;
@group(0) @binding(6) var<storage, read_write> invstd_out: array<f32>;
#endif
#endif
#if BWD
@group(0) @binding(1) var<storage, read> dy: array<T>;
@group(0) @binding(2) var<storage, read> x: array<T>;
#if UBO
@group(0) @binding(3) var<uniform> gamma: array<vec4f, {{GB}}>;
#else
@group(0) @binding(3) var<storage, read> gamma: array<T>;
#endif
#if SAVED
@group(0) @binding(4) var<storage, read> mean_in: array<f32>;
@group(0) @binding(5) var<storage, read> invstd_in: array<f32>;
#else
@group(0) @binding(4) var<storage, read_write> mean_out: array<f32>;
@group(0) @binding(5) var<storage, read_write> invstd_out: array<f32>;
#endif
@group(0) @binding(6) var<storage, read_write> dx: array<T>;
#endif

// γ and β of column unit l (a vec4 of columns when VEC).
#if UBO
#if VEC
fn gamma_at(l: u32) -> T { return gamma[l]; }
#else
fn gamma_at(l: u32) -> T { return gamma[l / 4u][l % 4u]; }
#endif
#else
fn gamma_at(l: u32) -> T { return gamma[l]; }
#endif
#if FWD
#if UBO
#if VEC
fn beta_at(l: u32) -> T { return beta[l]; }
#else
fn beta_at(l: u32) -> T { return beta[l / 4u][l % 4u]; }
#endif
#else
fn beta_at(l: u32) -> T { return beta[l]; }
#endif
#endif

#if VEC
fn hsum(v: T) -> f32 { return dot(v, vec4f(1.0)); }
#else
fn hsum(v: T) -> f32 { return v; }
#endif

// Running statistics: n values per lane, their mean and sum of squared deviations.
struct Wf { n: f32, mean: T, m2: T }

fn wf_add(st: Wf, v: T) -> Wf {
  let n = st.n + 1.0;
  let d = v - st.mean;
  let mean = st.mean + d * (1.0 / n);
  return Wf(n, mean, st.m2 + d * (v - mean));
}

// Chan et al.: merges (count, mean, M2) triples.
fn chan(a: vec3f, b: vec3f) -> vec3f {
  let n = a.x + b.x;
  if (b.x == 0.0) { return a; }
  if (a.x == 0.0) { return b; }
  let d = b.y - a.y;
  return vec3f(n, a.y + d * (b.x / n), a.z + b.z + d * d * (a.x * b.x / n));
}

fn fold(st: Wf) -> vec3f {
#if VEC
  let n = st.n;
  return chan(chan(vec3f(n, st.mean.x, st.m2.x), vec3f(n, st.mean.y, st.m2.y)), chan(vec3f(n, st.mean.z, st.m2.z), vec3f(n, st.mean.w, st.m2.w)));
#else
  return vec3f(st.n, st.mean, st.m2);
#endif
}

#if SHARE
// Lane k's value for every lane, k = 0 … 7 (the lane index of a broadcast must be a constant).
fn share8(v: T) -> array<T, 8> {
  return array<T, 8>(subgroupBroadcast(v, 0u), subgroupBroadcast(v, 1u), subgroupBroadcast(v, 2u), subgroupBroadcast(v, 3u),
                     subgroupBroadcast(v, 4u), subgroupBroadcast(v, 5u), subgroupBroadcast(v, 6u), subgroupBroadcast(v, 7u));
}
#endif

#if WG
var<workgroup> red_n: array<f32, {{WG}}>;
var<workgroup> red_m: array<f32, {{WG}}>;
var<workgroup> red_v: array<f32, {{WG}}>;

fn all_stats(s: vec3f, lid: u32) -> vec3f {
  red_n[lid] = s.x;
  red_m[lid] = s.y;
  red_v[lid] = s.z;
  for (var w = {{WG}}u / 2u; w > 0u; w = w / 2u) {
    workgroupBarrier();
    if (lid < w) {
      let r = chan(vec3f(red_n[lid], red_m[lid], red_v[lid]), vec3f(red_n[lid + w], red_m[lid + w], red_v[lid + w]));
      red_n[lid] = r.x;
      red_m[lid] = r.y;
      red_v[lid] = r.z;
    }
  }
  workgroupBarrier();
  let out = vec3f(red_n[0], red_m[0], red_v[0]);
  workgroupBarrier();
  return out;
}

fn all_sum2(s: vec2f, lid: u32) -> vec2f {
  red_m[lid] = s.x;
  red_v[lid] = s.y;
  for (var w = {{WG}}u / 2u; w > 0u; w = w / 2u) {
    workgroupBarrier();
    if (lid < w) {
      red_m[lid] = red_m[lid] + red_m[lid + w];
      red_v[lid] = red_v[lid] + red_v[lid + w];
    }
  }
  workgroupBarrier();
  return vec2f(red_m[0], red_v[0]);
}
const STEP = {{WG}}u;
#else
fn all_stats(s: vec3f, lid: u32) -> vec3f { return s; }
fn all_sum2(s: vec2f, lid: u32) -> vec2f { return s; }
const STEP = 1u;
#endif

fn row_stats(base: u32, l0: u32, lid: u32) -> vec2f {
  var st = Wf(0.0, T(0.0), T(0.0));
  for (var l = l0; l < params.len; l += STEP) { st = wf_add(st, x[base + l]); }
  let s = all_stats(fold(st), lid);
  return vec2f(s.y, inverseSqrt(s.z / params.count + params.eps));
}

#if WG
@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) local_id: vec3u) {
  let lid = local_id.x;
  let row = flat_workgroup(wid, nwg);
  let l0 = lid;
  if (row >= params.rows) { return; }
  let live = true;
#else
@compute @workgroup_size(64)
#if SHARE
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) local_id: vec3u, @builtin(subgroup_invocation_id) sg_lane: u32) {
  let lid = local_id.x;
  let live = flat_workgroup(wid, nwg) * 64u + lid < params.rows;
  let row = min(flat_workgroup(wid, nwg) * 64u + lid, params.rows - 1u);
  let col8 = sg_lane % 8u;
#else
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) local_id: vec3u) {
  let lid = local_id.x;
  let row = flat_workgroup(wid, nwg) * 64u + lid;
  if (row >= params.rows) { return; }
  let live = true;
#endif
  let l0 = 0u;
#endif
  let base = row * params.len;
#if FWD
#if REG
  // Short rows (thread layout, len ≤ {{REG}}): read once into registers (constant trip counts unroll), then an
  // exact two-pass mean and variance from the registers.
  var r: array<T, {{REG}}>;
  var acc = T(0.0);
  for (var l = 0u; l < {{REG}}u; l++) {
    var v = T(0.0);
    if (l < params.len) { v = x[base + l]; }
    r[l] = v;
    acc += v;
  }
  let mean_s = hsum(acc) / params.count;
  var sq = T(0.0);
  for (var l = 0u; l < {{REG}}u; l++) {
    let d = select(T(0.0), r[l] - T(mean_s), l < params.len);
    sq += d * d;
  }
  let s = vec2f(mean_s, inverseSqrt(hsum(sq) / params.count + params.eps));
  for (var l = 0u; l < {{REG}}u; l++) {
    if (l < params.len) { y[base + l] = (r[l] - T(s.x)) * T(s.y) * gamma_at(l) + beta_at(l); }
  }
#else
  let s = row_stats(base, l0, lid);
  let mean = T(s.x);
  let invstd = T(s.y);
#if SHARE
  for (var c0 = 0u; c0 < params.len; c0 += 8u) {
    let c = min(c0 + col8, params.len - 1u);
    let g = share8(gamma_at(c));
    let b = share8(beta_at(c));
    for (var k = 0u; k < 8u; k++) {
      let l = c0 + k;
      if (live && l < params.len) { y[base + l] = (x[base + l] - mean) * invstd * g[k] + b[k]; }
    }
  }
#else
  for (var l = l0; l < params.len; l += STEP) { y[base + l] = (x[base + l] - mean) * invstd * gamma_at(l) + beta_at(l); }
#endif
#endif
#if SAVE
  if (live && (lid == 0u || STEP == 1u)) {
    mean_out[row] = s.x;
    invstd_out[row] = s.y;
  }
#endif
#endif
#if BWD
#if SAVED
  let s = vec2f(mean_in[row], invstd_in[row]);
#else
  let s = row_stats(base, l0, lid);
  if (live && (lid == 0u || STEP == 1u)) {
    mean_out[row] = s.x;
    invstd_out[row] = s.y;
  }
#endif
  let mean = T(s.x);
  let invstd = T(s.y);
  var acc = vec2f(0.0);
#if SHARE
  for (var c0 = 0u; c0 < params.len; c0 += 8u) {
    let gc = share8(gamma_at(min(c0 + col8, params.len - 1u)));
    for (var k = 0u; k < 8u; k++) {
      let l = c0 + k;
      if (l < params.len) {
        let g = dy[base + l] * gc[k];
        let xh = (x[base + l] - mean) * invstd;
        acc += vec2f(hsum(g), hsum(g * xh));
      }
    }
  }
  let r = acc * (1.0 / params.count);
  for (var c0 = 0u; c0 < params.len; c0 += 8u) {
    let gc = share8(gamma_at(min(c0 + col8, params.len - 1u)));
    for (var k = 0u; k < 8u; k++) {
      let l = c0 + k;
      if (live && l < params.len) {
        let g = dy[base + l] * gc[k];
        let xh = (x[base + l] - mean) * invstd;
        dx[base + l] = invstd * (g - T(r.x) - xh * T(r.y));
      }
    }
  }
#else
  for (var l = l0; l < params.len; l += STEP) {
    let g = dy[base + l] * gamma_at(l);
    let xh = (x[base + l] - mean) * invstd;
    acc += vec2f(hsum(g), hsum(g * xh));
  }
  let r = all_sum2(acc, lid) * (1.0 / params.count);
  for (var l = l0; l < params.len; l += STEP) {
    let g = dy[base + l] * gamma_at(l);
    let xh = (x[base + l] - mean) * invstd;
    dx[base + l] = invstd * (g - T(r.x) - xh * T(r.y));
  }
#endif
#endif
}
