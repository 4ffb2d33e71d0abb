// Backward of temporal softmax pooling (temporal_pool.wgsl) to the scores, summing the contributions of
// every output given a gradient (defines GP, GL, GF, GJ, LOSS), with J = p(c, f) recomputed:
//   p(c):      J·(gp_c − Σ_c' gp_c' p(c'))
//   p(c, f):   J·(gj − Σ gj·J)   (the clip's one softmax)
//   log p(c):  exp(o − LSE_f o[·, c])·gl_c − J·Σ_c' gl_c'
//   p(f):      J·(gf_f − Σ_f' gf_f' p(f'))
//   −log p(y): g·(J − [c = y]·exp(o − LSE_f o[·, y]))
// One workgroup per clip; the element pass runs by class columns, so each column's LSE is computed once.
const WG = 64u;

struct Params { N: u32, T: u32, E: u32, stride: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> scores: array<f32>;
@group(0) @binding(2) var<storage, read_write> dscores: array<f32>;
#if GP
@group(0) @binding({{B_GP}}) var<storage, read> gp: array<f32>;
#endif
#if GL
@group(0) @binding({{B_GL}}) var<storage, read> gl: array<f32>;
#endif
#if GF
@group(0) @binding({{B_GF}}) var<storage, read> gf: array<f32>;
#endif
#if GJ
@group(0) @binding({{B_GJ}}) var<storage, read> gj: array<f32>;
#endif
#if LOSS
@group(0) @binding({{B_GLOSS}}) var<storage, read> gloss: array<f32>;
@group(0) @binding({{B_LABELS}}) var<storage, read> labels: array<i32>;
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
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) local_id: vec3u) {
  let lid = local_id.x;
  let T = params.T;
  let E = params.E;
  let size = T * E;
  for (var clip = flat_workgroup(wid, nwg); clip < params.N; clip += params.stride) {
    let base = clip * size;
    var mx = scores[base];
    for (var i = lid; i < size; i += WG) { mx = max(mx, scores[base + i]); }
    mx = wg_max(mx, lid);
    var z = 0.0;
    for (var i = lid; i < size; i += WG) { z += exp(scores[base + i] - mx); }
    let lse = mx + log(wg_sum(z, lid));

#if GP
    var a = 0.0;
    for (var c = lid; c < E; c += WG) { a += gp[clip * E + c] * exp(column_lse(base, c) - lse); }
    let sum_gp = wg_sum(a, lid);
#endif
#if GL
    var bl = 0.0;
    for (var c = lid; c < E; c += WG) { bl += gl[clip * E + c]; }
    let sum_gl = wg_sum(bl, lid);
#endif
#if GF
    var cf = 0.0;
    for (var f = lid; f < T; f += WG) {
      var pf = 0.0;
      for (var c = 0u; c < E; c++) { pf += exp(scores[base + f * E + c] - lse); }
      cf += gf[clip * T + f] * pf;
    }
    let sum_gf = wg_sum(cf, lid);
#endif
#if GJ
    var aj = 0.0;
    for (var i = lid; i < size; i += WG) { aj += gj[base + i] * exp(scores[base + i] - lse); }
    let sum_gj = wg_sum(aj, lid);
#endif
#if LOSS
#if MEAN
    let g_loss = gloss[0] / f32(params.N); // one gradient for the batch mean
#else
    let g_loss = gloss[clip];
#endif
    let y = labels[clip];
    let yc = select(E, u32(y), y >= 0 && u32(y) < E);
    var y_lse = 0.0;
    if (yc < E) { y_lse = column_lse(base, yc); }
#endif

    for (var c = lid; c < E; c += WG) {
#if GL
      let c_lse = column_lse(base, c);
      let g_l = gl[clip * E + c];
#endif
      for (var f = 0u; f < T; f++) {
        let o = scores[base + f * E + c];
        let J = exp(o - lse);
        var d = 0.0;
#if GP
        d += J * (gp[clip * E + c] - sum_gp);
#endif
#if GL
        d += exp(o - c_lse) * g_l - J * sum_gl;
#endif
#if GF
        d += J * (gf[clip * T + f] - sum_gf);
#endif
#if GJ
        d += J * (gj[base + f * E + c] - sum_gj);
#endif
#if LOSS
        var own = 0.0;
        if (c == yc) { own = exp(o - y_lse); }
        d += g_loss * (J - own);
#endif
        dscores[base + f * E + c] = d;
      }
    }
  }
}
