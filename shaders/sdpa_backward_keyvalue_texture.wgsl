enable subgroups;
// sdpa_backward_keyvalue.wgsl for one-subgroup workgroups reading from zero-padded texture arrays (see
// sdpa_forward_texture.wgsl): a workgroup owns BC keys, their k and v quads and dK/dV accumulators in
// registers, and streams the query rows BR at a time; each row's q·k and dO·v products are reduced with
// subgroupAdd alone (no workgroup memory, no barrier).
const BR = {{BR}}u;
const BC = {{BC}}u;
const QQ = {{QQ}}u;
const CQ = {{CQ}}u;
const TILE = BR * BC;

@group(0) @binding(1) var qt: texture_storage_2d_array<rgba32float, read>;
@group(0) @binding(2) var kt: texture_storage_2d_array<rgba32float, read>;
@group(0) @binding(3) var vt: texture_storage_2d_array<rgba32float, read>;
@group(0) @binding(4) var dot_: texture_storage_2d_array<rgba32float, read>;
@group(0) @binding(5) var<storage, read> lse: array<f32>;
@group(0) @binding(6) var<storage, read> delta: array<f32>;
@group(0) @binding(7) var<storage, read_write> dk: array<f32>;
@group(0) @binding(8) var<storage, read_write> dv: array<f32>;
#if MASK
@group(0) @binding(9) var<storage, read> mask: array<{{MASK_T}}>;
#endif

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) local_id: vec3u) {
  let lane = local_id.x;
  let n = params.n;
  let m = params.m;
  let d = params.d;
  let dvn = params.dv;
  let count = params.B * params.H * params.blocks;
  let g = flat_workgroup(wid, nwg);
  let w = min(g, count - 1u);
  let bh = w / params.blocks;
  let c0 = (w % params.blocks) * BC;
  let b = bh / params.H;
  let h = bh % params.H;

  var kr: array<vec4f, BC * QQ>;
  var vr: array<vec4f, BC * CQ>;
  for (var c = 0u; c < BC; c++) {
    for (var j = 0u; j < QQ; j++) { kr[c * QQ + j] = textureLoad(kt, vec2u(lane + j * WG, c0 + c), bh); }
    for (var j = 0u; j < CQ; j++) { vr[c * CQ + j] = textureLoad(vt, vec2u(lane + j * WG, c0 + c), bh); }
  }
  var dka: array<vec4f, BC * QQ>;
  var dva: array<vec4f, BC * CQ>;

  for (var r0 = 0u; r0 < n; r0 += BR) {
    var qrow: array<vec4f, BR * QQ>;
    var drow: array<vec4f, BR * CQ>;
    var part: array<f32, NP>;
    for (var i = 0u; i < NP; i++) { part[i] = 0.0; }
    for (var r = 0u; r < BR; r++) {
      for (var j = 0u; j < QQ; j++) {
        let x = textureLoad(qt, vec2u(lane + j * WG, r0 + r), bh);
        qrow[r * QQ + j] = x;
        for (var c = 0u; c < BC; c++) { part[r * BC + c] += dot(x, kr[c * QQ + j]); }
      }
      for (var j = 0u; j < CQ; j++) {
        let x = textureLoad(dot_, vec2u(lane + j * WG, r0 + r), bh);
        drow[r * CQ + j] = x;
        for (var c = 0u; c < BC; c++) { part[TILE + r * BC + c] += dot(x, vr[c * CQ + j]); }
      }
    }
    for (var i = 0u; i < NP; i++) { part[i] = subgroupAdd(part[i]); }

    for (var r = 0u; r < BR; r++) {
      let row = min(r0 + r, n - 1u);
      let lr = lse[bh * n + row];
      let dl = delta[bh * n + row];
      for (var c = 0u; c < BC; c++) {
        let s = part[r * BC + c] * params.scale + mask_at(b, h, row, min(c0 + c, m - 1u));
        let live = r0 + r < n && s >= NEG_BIG && lr >= NEG_BIG;
        let p = select(0.0, exp(s - lr), live);
        let ds = p * (part[TILE + r * BC + c] - dl);
        for (var j = 0u; j < CQ; j++) { dva[c * CQ + j] = fma(vec4f(p), drow[r * CQ + j], dva[c * CQ + j]); }
        for (var j = 0u; j < QQ; j++) { dka[c * QQ + j] = fma(vec4f(ds), qrow[r * QQ + j], dka[c * QQ + j]); }
      }
    }
  }

  if (g >= count) { return; }
  for (var c = 0u; c < BC; c++) {
    let key = c0 + c;
    if (key >= m) { break; }
    for (var j = 0u; j < QQ; j++) {
      let col = 4u * (lane + j * WG);
      let x = dka[c * QQ + j] * params.scale;
      for (var e = 0u; e < 4u; e++) {
        if (col + e < d) { dk[(bh * m + key) * d + col + e] = x[e]; }
      }
    }
    for (var j = 0u; j < CQ; j++) {
      let col = 4u * (lane + j * WG);
      let x = dva[c * CQ + j];
      for (var e = 0u; e < 4u; e++) {
        if (col + e < dvn) { dv[(bh * m + key) * dvn + col + e] = x[e]; }
      }
    }
  }
}
