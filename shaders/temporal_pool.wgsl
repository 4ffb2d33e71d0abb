#if SG
enable subgroups;
#endif
// Temporal softmax pooling (M2, eqs. 5–6): for each clip, one softmax over all T×E frame-class scores,
//   p(c, f) = exp(o[f, c] − lse),  lse = log Σ_{f,c} exp(o),
// and in the same launch the class marginal p(c) = Σ_f p(c, f) (as probabilities and, stably, as
//   log p(c) = LSE_f(o[·, c]) − lse), the frame marginal p(f) = Σ_c p(c, f), the joint, and −log p(y).
// Layout: TPC invocations per clip (a power of two, ≥ E where possible), WG/TPC clips per workgroup. Each
// invocation streams its class column(s) once with an online log-sum-exp, so p(c) and log p(c) read every
// score once. The clip's lse combines the TPC partials: with SG (devices with a fixed subgroup size, the
// workgroup being one subgroup) by subgroupShuffleXor within aligned groups of TPC lanes, with no barrier
// (barriers dominate on CPU adapters); otherwise through workgroup memory with two barriers. p(f) and the
// joint take a second pass. A batch-mean loss is accumulated by one workgroup walking every clip.
// Outputs are chosen by defines; their binding numbers come from the host ({{B_*}}).
const WG = {{WG}}u;
const TPC = {{TPC}}u;
const CPW = WG / TPC;
const NEG_BIG = -3.4028234663852886e38;

struct Params { N: u32, T: u32, E: u32, groups: u32, stride: u32, nan: f32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> scores: array<f32>;
#if LOSS
@group(0) @binding(2) var<storage, read> labels: array<i32>;
@group(0) @binding({{B_LOSS}}) var<storage, read_write> loss: array<f32>;
#endif
#if PROBS
@group(0) @binding({{B_PROBS}}) var<storage, read_write> probs: array<f32>;
#endif
#if LOGP
@group(0) @binding({{B_LOGP}}) var<storage, read_write> logp: array<f32>;
#endif
#if FRAMES
@group(0) @binding({{B_FRAMES}}) var<storage, read_write> frames: array<f32>;
#endif
#if JOINT
@group(0) @binding({{B_JOINT}}) var<storage, read_write> joint: array<f32>;
#endif

#if SG
// The clip's (max, Σ exp) from the TPC lanes that share it: a butterfly within aligned groups of TPC lanes.
fn combine(m0: f32, s0: f32, slot: u32) -> f32 {
  var m = m0;
  var s = s0;
  for (var k = 1u; k < TPC; k <<= 1u) {
    let om = subgroupShuffleXor(m, k);
    let os = subgroupShuffleXor(s, k);
    let nm = max_nan(m, om); // NaN propagates (see column_stats)
    s = s * exp(m - nm) + os * exp(om - nm);
    m = nm;
  }
  return m + log(s);
}
#else
var<workgroup> part_m: array<f32, WG>;
var<workgroup> part_s: array<f32, WG>;

fn combine(m0: f32, s0: f32, slot: u32, lid: u32) -> f32 {
  part_m[lid] = m0;
  part_s[lid] = s0;
  workgroupBarrier();
  var mx = NEG_BIG;
  for (var k = 0u; k < TPC; k++) { mx = max_nan(mx, part_m[slot * TPC + k]); }
  var z = 0.0;
  for (var k = 0u; k < TPC; k++) { z += part_s[slot * TPC + k] * exp(part_m[slot * TPC + k] - mx); }
  workgroupBarrier(); // part_* are rewritten by the next group
  return mx + log(z);
}
#endif

// (max, Σ exp(o − max)) of one class column, in one pass; the rescale runs only when the max grows. A NaN score
// makes both NaN, so the clip's lse and every output of the clip are NaN (as the CPU reference).
fn column_stats(base: u32, c: u32) -> vec2f {
  let T = params.T;
  let E = params.E;
  var m = scores[base + c];
  var s = 1.0;
  var bad = isnan_f32(m);
  for (var f = 1u; f < T; f++) {
    let o = scores[base + f * E + c];
    bad = bad || isnan_f32(o);
    if (o > m) {
      s = s * exp(m - o) + 1.0;
      m = o;
    } else {
      s += exp(o - m);
    }
  }
  return select(vec2f(m, s), vec2f(quiet_nan()), bad);
}

@compute @workgroup_size(WG)
#if SG
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(subgroup_invocation_id) lid: u32) {
#else
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) local_id: vec3u) {
  let lid = local_id.x;
#endif
  let T = params.T;
  let E = params.E;
  let size = T * E;
  let slot = lid / TPC;
  let lane = lid % TPC;
  var loss_sum = 0.0;
  for (var g = flat_workgroup(wid, nwg); g < params.groups; g += params.stride) {
    let clip = g * CPW + slot;
    let live = clip < params.N;
    let base = min(clip, params.N - 1u) * size;

    // Column log-sum-exps (the first one kept), merged into this invocation's partial of the clip's lse.
    var own = vec2f(NEG_BIG, 0.0);
    var tm = NEG_BIG;
    var ts = 0.0;
    for (var c = lane; c < E; c += TPC) {
      let st = column_stats(base, c);
      if (c == lane) { own = st; }
      let nm = max_nan(tm, st.x);
      ts = ts * exp(tm - nm) + st.y * exp(st.x - nm);
      tm = nm;
    }
#if SG
    let lse = combine(tm, ts, slot);
#else
    let lse = combine(tm, ts, slot, lid);
#endif

    if (live) {
#if COLUMNS
      for (var c = lane; c < E; c += TPC) {
        var st = own;
        if (c != lane) { st = column_stats(base, c); }
        let lp = st.x + log(st.y) - lse;
#if PROBS
        probs[clip * E + c] = nan_if_f32(exp(lp), lse);
#endif
#if LOGP
        logp[clip * E + c] = lp;
#endif
      }
#endif
#if FRAMES
      for (var f = lane; f < T; f += TPC) {
        var s = 0.0;
        for (var c = 0u; c < E; c++) { s += exp(scores[base + f * E + c] - lse); }
        frames[clip * T + f] = nan_if_f32(s, lse);
      }
#endif
#if JOINT
      for (var i = lane; i < size; i += TPC) { joint[base + i] = nan_if_f32(exp(scores[base + i] - lse), lse); }
#endif
#if LOSS
      let y = labels[clip];
      // The invocation owning column y reports; a label outside [0, E) gives NaN (host arrays are range-checked).
      if (y < 0 || u32(y) >= E) {
        if (lane == 0u) {
#if MEAN
          loss_sum += params.nan;
#else
          loss[clip] = params.nan;
#endif
        }
      } else if (u32(y) % TPC == lane) {
        var st = own;
        if (u32(y) != lane) { st = column_stats(base, u32(y)); }
        let l = lse - (st.x + log(st.y));
#if MEAN
        loss_sum += l;
#else
        loss[clip] = l;
#endif
      }
#endif
    }
  }
#if MEAN
  // Sum the invocations' shares of the batch loss.
#if SG
  let total = subgroupAdd(loss_sum);
  if (lid == 0u) { loss[0] = total / f32(params.N); }
#else
  part_s[lid] = loss_sum;
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    workgroupBarrier();
    if (lid < s) { part_s[lid] += part_s[lid + s]; }
  }
  if (lid == 0u) { loss[0] = part_s[0] / f32(params.N); }
#endif
#endif
}
