// Temporal softmax pooling (M2, eqs. 5–6): for each clip, one softmax over all T×E frame-class scores,
//   p(c, f) = exp(o[f, c] − lse),  lse = log Σ_{f,c} exp(o),
// and in the same pass the class marginal p(c) = Σ_f p(c, f) (as probabilities and, stably, as
//   log p(c) = LSE_f(o[·, c]) − lse), the frame marginal p(f) = Σ_c p(c, f), the joint, and −log p(y).
// One workgroup per clip; with a mean loss, one workgroup walks every clip and averages.
// Outputs are chosen by defines; their binding numbers come from the host ({{B_*}}).
const WG = 64u;

struct Params { N: u32, T: u32, E: u32, stride: u32, nan: f32 }
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

var<workgroup> red: array<f32, WG>;

fn wg_max(x: f32, lid: u32) -> f32 {
  workgroupBarrier();
  red[lid] = x;
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    workgroupBarrier();
    if (lid < s) { red[lid] = max(red[lid], red[lid + s]); }
  }
  workgroupBarrier();
  return red[0];
}

fn wg_sum(x: f32, lid: u32) -> f32 {
  workgroupBarrier();
  red[lid] = x;
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    workgroupBarrier();
    if (lid < s) { red[lid] = red[lid] + red[lid + s]; }
  }
  workgroupBarrier();
  return red[0];
}

// log Σ_f exp(o[f, c]) for one class column of a clip.
fn column_lse(base: u32, c: u32) -> f32 {
  let T = params.T;
  let E = params.E;
  var mx = scores[base + c];
  for (var f = 1u; f < T; f++) { mx = max(mx, scores[base + f * E + c]); }
  var s = 0.0;
  for (var f = 0u; f < T; f++) { s += exp(scores[base + f * E + c] - mx); }
  return mx + log(s);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let T = params.T;
  let E = params.E;
  let size = T * E;
  var loss_sum = 0.0;
  for (var clip = flat_workgroup(wid, nwg); clip < params.N; clip += params.stride) {
    let base = clip * size;
    var mx = scores[base];
    for (var i = lid; i < size; i += WG) { mx = max(mx, scores[base + i]); }
    mx = wg_max(mx, lid);
    var z = 0.0;
    for (var i = lid; i < size; i += WG) { z += exp(scores[base + i] - mx); }
    let lse = mx + log(wg_sum(z, lid));
#if COLUMNS
    for (var c = lid; c < E; c += WG) {
      let lp = column_lse(base, c) - lse;
#if PROBS
      probs[clip * E + c] = exp(lp);
#endif
#if LOGP
      logp[clip * E + c] = lp;
#endif
    }
#endif
#if FRAMES
    for (var f = lid; f < T; f += WG) {
      var s = 0.0;
      for (var c = 0u; c < E; c++) { s += exp(scores[base + f * E + c] - lse); }
      frames[clip * T + f] = s;
    }
#endif
#if JOINT
    for (var i = lid; i < size; i += WG) { joint[base + i] = exp(scores[base + i] - lse); }
#endif
#if LOSS
    if (lid == 0u) {
      let y = labels[clip];
      // A label outside [0, E) gives NaN (array labels are range-checked on the host).
      var l = params.nan;
      if (y >= 0 && u32(y) < E) { l = lse - column_lse(base, u32(y)); }
#if MEAN
      loss_sum += l;
#else
      loss[clip] = l;
#endif
    }
#endif
  }
#if MEAN
  if (lid == 0u) { loss[0] = loss_sum / f32(params.N); }
#endif
}
