// Temporal softmax pooling's class marginal in one streaming pass (the inference path of M2, eqs. 5–6):
// one invocation per clip walks its T frames once, keeping the E column sums Σ_f exp(o[f, c] − m) against a
// running max m (rescaled when a frame raises it), so every score is read once and exponentiated about once.
// E is compile-time: the column sums stay in registers. VEC (when T·E is a multiple of 4, so every clip
// starts on a 16-byte boundary) reads 4 frames at a time as E vec4 loads and rescales once per 4 frames;
// TEXTURE (with VEC) reads them from a linear texture instead.
// Writes p(c) and/or log p(c); the loss, frame marginal and joint come from temporal_pool.wgsl.
const E = {{E}}u;
const WG = 64u;
const FG = 4u;
const NEG_BIG = -3.4028234663852886e38;

struct Params { N: u32, T: u32 }
@group(0) @binding(0) var<uniform> params: Params;
#if TEXTURE
// The scores in a linear texture (linear-texture.ts), filled by a driver copy: on CPU adapters texture loads
// are vectorised across lanes, storage-buffer loads are not.
@group(0) @binding(1) var scores_tex: texture_storage_2d_array<rgba32float, read>;
fn texel(t: u32) -> vec4f {
  let c = linear_texel(t);
  return textureLoad(scores_tex, c.xy, c.z);
}
fn score(i: u32) -> f32 { return texel(i / 4u)[i % 4u]; }
#else
#if VEC
@group(0) @binding(1) var<storage, read> scores: array<vec4f>;
fn texel(t: u32) -> vec4f { return scores[t]; }
fn score(i: u32) -> f32 { return scores[i / 4u][i % 4u]; }
#else
@group(0) @binding(1) var<storage, read> scores: array<f32>;
fn score(i: u32) -> f32 { return scores[i]; }
#endif
#endif
#if PROBS
@group(0) @binding({{B_PROBS}}) var<storage, read_write> probs: array<f32>;
#endif
#if LOGP
@group(0) @binding({{B_LOGP}}) var<storage, read_write> logp: array<f32>;
#endif

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) local_id: vec3u) {
  let lid = local_id.x;
  let clip = flat_workgroup(wid, nwg) * WG + lid;
  if (clip >= params.N) { return; }
  let base = clip * params.T * E;
  var s: array<f32, E>;
  var m = NEG_BIG;
  var f0 = 0u;
  var bad = false; // a NaN score: every output of the clip is NaN (as the CPU reference), whatever exp(NaN) gives
#if VEC
  for (; f0 + FG <= params.T; f0 += FG) {
    var v: array<vec4f, FG * E / 4u>;
    let b4 = (base + f0 * E) / 4u;
    var mg = NEG_BIG;
    for (var j = 0u; j < FG * E / 4u; j++) {
      v[j] = texel(b4 + j);
      bad = bad || any(isnan_vec4f(v[j]));
      mg = max(mg, max(max(v[j].x, v[j].y), max(v[j].z, v[j].w)));
    }
    let nm = max(m, mg);
    let r = exp(m - nm);
    for (var c = 0u; c < E; c++) { s[c] *= r; }
    for (var k = 0u; k < FG; k++) {
      for (var c = 0u; c < E; c++) {
        let e = k * E + c;
        s[c] += exp(v[e / 4u][e % 4u] - nm);
      }
    }
    m = nm;
  }
#endif
  for (var f = f0; f < params.T; f++) {
    var o: array<f32, E>;
    var mf = NEG_BIG;
    for (var c = 0u; c < E; c++) {
      o[c] = score(base + f * E + c);
      bad = bad || isnan_f32(o[c]);
      mf = max(mf, o[c]);
    }
    let nm = max(m, mf);
    let r = exp(m - nm);
    for (var c = 0u; c < E; c++) { s[c] = s[c] * r + exp(o[c] - nm); }
    m = nm;
  }
  var z = 0.0;
  for (var c = 0u; c < E; c++) { z += s[c]; }
  let log_z = log(z);
  for (var c = 0u; c < E; c++) {
#if PROBS
    probs[clip * E + c] = select(s[c] / z, quiet_nan(), bad);
#endif
#if LOGP
    logp[clip * E + c] = select(log(s[c]) - log_z, quiet_nan(), bad);
#endif
  }
}
