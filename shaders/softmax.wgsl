// The softmax family along one axis. The tensor is viewed as [outer, len, inner] in units of T: f32, or vec4f
// when vectorised — VROW packs 4 neighbours of one contiguous row (inner == 1, axis length % 4 == 0), VCOL packs
// 4 neighbouring lines (inner % 4 == 0), so one vec4 state holds 4 independent lines.
// A line is the 1-D slice the op reduces over. THREAD layout (WG undefined): one invocation per line, no
// barriers; WG layout: one workgroup of {{WG}} invocations per line, reduced through workgroup memory.
// Modes: SOFTMAX, LOGSOFTMAX, SOFTMAX_BWD, LOGSOFTMAX_BWD, CE (per-row cross-entropy loss; with WRITE_GRAD also
// the gradient (softmax - onehot) * inv_n), CE_BWD (that gradient scaled by dloss[0]).
// Stability: max-subtraction with an online (max, sum) pass, so the input is read twice, never exp'd unshifted
// (REG: short lines are read once into registers, then max, sum and write from there).
struct Params { lines: u32, len: u32, inner: u32, classes: u32, inv_n: f32 }
@group(0) @binding(0) var<uniform> params: Params;

#if VEC
alias T = vec4f;
#else
alias T = f32;
#endif
#if VCOL
alias S = vec4f;
#else
alias S = f32;
#endif

#if SOFTMAX_BWD
@group(0) @binding(1) var<storage, read> dy: array<T>;
@group(0) @binding(2) var<storage, read> y: array<T>;
@group(0) @binding(3) var<storage, read_write> dx: array<T>;
#endif
#if LOGSOFTMAX_BWD
@group(0) @binding(1) var<storage, read> dy: array<T>;
@group(0) @binding(2) var<storage, read> y: array<T>;
@group(0) @binding(3) var<storage, read_write> dx: array<T>;
#endif
#if SOFTMAX
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read_write> y: array<T>;
#endif
#if LOGSOFTMAX
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read_write> y: array<T>;
#endif
#if CE
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read> labels: array<i32>;
@group(0) @binding(3) var<storage, read_write> row_loss: array<f32>;
#if WRITE_GRAD
@group(0) @binding(4) var<storage, read_write> dx: array<T>;
#endif
#endif
#if CE_BWD
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read> labels: array<i32>;
@group(0) @binding(3) var<storage, read> dloss: array<f32>;
@group(0) @binding(4) var<storage, read_write> dx: array<T>;
#endif

// Below every finite f32 exponent argument we meet; -inf literals are not allowed in WGSL.
const NEG_BIG = -3.0e38;

// NaN-propagating max of states: a NaN anywhere in a line makes its max NaN, and keep_nan then makes the line's
// outputs NaN whatever exp does with a NaN argument (SwiftShader's exp(NaN) is +Inf; WGSL's max may drop NaN).
#if VCOL
fn smax(a: S, b: S) -> S { return select(select(max(a, b), b, isnan_vec4f(b)), a, isnan_vec4f(a)); }
#else
fn smax(a: S, b: S) -> S { return max_nan(a, b); }
#endif
#if VEC
fn keep_nan(v: T, m: T) -> T { return select(v, m, isnan_vec4f(m)); }
#else
fn keep_nan(v: T, m: T) -> T { return select(v, m, isnan_f32(m)); }
#endif

// Horizontal reductions of one loaded T into the per-line state S, and the state broadcast back to T.
#if VROW
fn hmax(v: T) -> S { return max_nan(max_nan(v.x, v.y), max_nan(v.z, v.w)); }
fn hsum(v: T) -> S { return dot(v, vec4f(1.0)); }
fn bc(s: S) -> T { return T(s); }
#else
fn hmax(v: T) -> S { return v; }
fn hsum(v: T) -> S { return v; }
fn bc(s: S) -> T { return s; }
#endif

struct MS { m: S, s: S }

// Folds v into a running (max, sum of exp(x - max)): rescales the sum when the max grows.
fn online(st: MS, v: T) -> MS {
  let mn = smax(st.m, hmax(v));
  return MS(mn, st.s * exp(st.m - mn) + hsum(exp(v - bc(mn))));
}

fn nan_f32() -> f32 {
  var bits = 0x7fc00000u; // a var, so the NaN is made at run time, not folded as a constant
  return bitcast<f32>(bits);
}

#if WG
var<workgroup> red_a: array<f32, {{WG}}>;
var<workgroup> red_b: array<f32, {{WG}}>;

fn all_ms(st: MS, lid: u32) -> MS {
  red_a[lid] = st.m;
  red_b[lid] = st.s;
  for (var w = {{WG}}u / 2u; w > 0u; w = w / 2u) {
    workgroupBarrier();
    if (lid < w) {
      let m1 = red_a[lid];
      let m2 = red_a[lid + w];
      let m = smax(m1, m2);
      red_b[lid] = red_b[lid] * exp(m1 - m) + red_b[lid + w] * exp(m2 - m);
      red_a[lid] = m;
    }
  }
  workgroupBarrier();
  return MS(red_a[0], red_b[0]);
}

fn all_sum(v: S, lid: u32) -> S {
  red_a[lid] = v;
  for (var w = {{WG}}u / 2u; w > 0u; w = w / 2u) {
    workgroupBarrier();
    if (lid < w) { red_a[lid] = red_a[lid] + red_a[lid + w]; }
  }
  workgroupBarrier();
  return red_a[0];
}
const STEP = {{WG}}u;
#else
fn all_ms(st: MS, lid: u32) -> MS { return st; }
fn all_sum(v: S, lid: u32) -> S { return v; }
const STEP = 1u;
#endif

#if WG
@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) local_id: vec3u) {
  let lid = local_id.x;
  let line = flat_workgroup(wid, nwg);
  let l0 = lid;
#else
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) local_id: vec3u) {
  let lid = local_id.x;
  let line = flat_workgroup(wid, nwg) * 64u + lid;
  let l0 = 0u;
#endif
  if (line >= params.lines) { return; }
  let o = line / params.inner;
  let base = o * params.len * params.inner + (line - o * params.inner);
  let stride = params.inner;
  let len = params.len;

#if REG
  // Short lines (thread layout, len ≤ {{REG}}): the line is read once into registers (constant trip counts
  // unroll, so the array never touches memory); padding holds NEG_BIG, whose exp is 0.
  var r: array<T, {{REG}}>;
  var mx = S(NEG_BIG);
  for (var l = 0u; l < {{REG}}u; l++) {
    var v = T(NEG_BIG);
    if (l < len) { v = x[base + l * stride]; }
    r[l] = v;
    mx = smax(mx, hmax(v));
  }
  var sum = S(0.0);
#if SOFTMAX
  // One exp per element: the registers keep exp(x - max).
  for (var l = 0u; l < {{REG}}u; l++) {
    let e = exp(r[l] - bc(mx));
    r[l] = e;
    sum += hsum(e);
  }
  let inv = bc(1.0 / sum);
  let mb = bc(mx);
  for (var l = 0u; l < {{REG}}u; l++) { if (l < len) { y[base + l * stride] = keep_nan(r[l] * inv, mb); } }
#else
  for (var l = 0u; l < {{REG}}u; l++) { sum += hsum(exp(r[l] - bc(mx))); }
  let shift = bc(mx + log(sum));
  for (var l = 0u; l < {{REG}}u; l++) { if (l < len) { y[base + l * stride] = r[l] - shift; } }
#endif
#else
#if SOFTMAX
  var st = MS(S(NEG_BIG), S(0.0));
  for (var l = l0; l < len; l += STEP) { st = online(st, x[base + l * stride]); }
  st = all_ms(st, lid);
  let m = bc(st.m);
  let inv = bc(1.0 / st.s);
  for (var l = l0; l < len; l += STEP) { let i = base + l * stride; y[i] = keep_nan(exp(x[i] - m) * inv, m); }
#endif
#if LOGSOFTMAX
  var st = MS(S(NEG_BIG), S(0.0));
  for (var l = l0; l < len; l += STEP) { st = online(st, x[base + l * stride]); }
  st = all_ms(st, lid);
  let shift = bc(st.m + log(st.s));
  for (var l = l0; l < len; l += STEP) { let i = base + l * stride; y[i] = x[i] - shift; }
#endif
#endif
#if SOFTMAX_BWD
  // dx = y * (dy - sum(dy * y))
  var r = S(0.0);
  for (var l = l0; l < len; l += STEP) { let i = base + l * stride; r += hsum(dy[i] * y[i]); }
  let rb = bc(all_sum(r, lid));
  for (var l = l0; l < len; l += STEP) { let i = base + l * stride; dx[i] = y[i] * (dy[i] - rb); }
#endif
#if LOGSOFTMAX_BWD
  // dx = dy - exp(y) * sum(dy)
  var r = S(0.0);
  for (var l = l0; l < len; l += STEP) { r += hsum(dy[base + l * stride]); }
  let rb = bc(all_sum(r, lid));
  for (var l = l0; l < len; l += STEP) { let i = base + l * stride; dx[i] = dy[i] - exp(y[i]) * rb; }
#endif
#if CE
  // Rows are contiguous here (inner == 1); `line` is the row.
  let label = labels[line];
  let valid = label >= 0 && u32(label) < params.classes;
  var st = MS(S(NEG_BIG), S(0.0));
  for (var l = l0; l < len; l += STEP) { st = online(st, x[base + l]); }
  st = all_ms(st, lid);
  if (lid == 0u || STEP == 1u) {
    let e = line * params.classes + select(0u, u32(label), valid);
#if VROW
    let xl = x[e / 4u][e % 4u];
#else
    let xl = x[e];
#endif
    // An out-of-range label has no loss: NaN marks the row (and so the mean) as invalid.
    row_loss[line] = select(nan_f32(), log(st.s) + st.m - xl, valid);
  }
  let scale = params.inv_n;
#endif
#if CE_BWD
  let label = labels[line];
  let valid = label >= 0 && u32(label) < params.classes;
  var st = MS(S(NEG_BIG), S(0.0));
  for (var l = l0; l < len; l += STEP) { st = online(st, x[base + l]); }
  st = all_ms(st, lid);
  let scale = dloss[0] * params.inv_n;
#endif
#if WRITE_GRAD
  // (softmax - onehot) * scale; NaN for a row whose label is out of range.
  let m = bc(st.m);
  let inv = bc(1.0 / st.s);
  let bad = bc(select(0.0, nan_f32(), !valid));
  for (var l = l0; l < len; l += STEP) {
#if VROW
    let hot = select(vec4f(0.0), vec4f(1.0), vec4i(4 * i32(l)) + vec4i(0, 1, 2, 3) == vec4i(label));
#else
    let hot = select(0.0, 1.0, i32(l) == label);
#endif
    dx[base + l] = keep_nan((exp(x[base + l] - m) * inv - hot) * scale + bad, m);
  }
#endif
}
