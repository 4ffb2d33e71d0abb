enable subgroups;
// sdpa_forward.wgsl for devices with a fixed subgroup size, where the workgroup is exactly one subgroup:
// Q, K and V are staged in zero-padded rgba32float texture arrays (texel (quad, row) of layer b·H + h holds
// features 4·quad … 4·quad + 3), since on CPU adapters a textureLoad serves all lanes in one vector call
// while storage-buffer loads run lane by lane. Lane l owns feature quads l, l + WG, …; each tile's scores are
// reduced with subgroupAdd alone, so there is no workgroup memory and no barrier. The textures are padded to
// whole tiles (rows) and to QQ·WG / CQ·WG quads, so the loops read without bounds checks.
const BR = {{BR}}u;
const BC = {{BC}}u;
const QQ = {{QQ}}u; // query/key quads per lane
const CQ = {{CQ}}u; // value/output quads per lane

@group(0) @binding(1) var qt: texture_storage_2d_array<rgba32float, read>;
@group(0) @binding(2) var kt: texture_storage_2d_array<rgba32float, read>;
@group(0) @binding(3) var vt: texture_storage_2d_array<rgba32float, read>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<storage, read_write> lse: array<f32>;
#if MASK
@group(0) @binding(6) var<storage, read> mask: array<{{MASK_T}}>;
#endif

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) local_id: vec3u) {
  let lane = local_id.x;
  let n = params.n;
  let m = params.m;
  let dv = params.dv;
  let count = params.B * params.H * params.blocks;
  let g = flat_workgroup(wid, nwg);
  let w = min(g, count - 1u);
  let bh = w / params.blocks;
  let r0 = (w % params.blocks) * BR;
  let b = bh / params.H;
  let h = bh % params.H;

  var qr: array<vec4f, BR * QQ>;
  for (var r = 0u; r < BR; r++) {
    for (var j = 0u; j < QQ; j++) { qr[r * QQ + j] = textureLoad(qt, vec2u(lane + j * WG, r0 + r), bh); }
  }
  var o: array<vec4f, BR * CQ>;
  var mx: array<f32, BR>;
  var l: array<f32, BR>;
  for (var r = 0u; r < BR; r++) { mx[r] = NEG_BIG; }

  for (var c0 = 0u; c0 < m; c0 += BC) {
    var part: array<f32, NP>;
    for (var i = 0u; i < NP; i++) { part[i] = 0.0; }
    for (var c = 0u; c < BC; c++) {
      for (var j = 0u; j < QQ; j++) {
        let kv = textureLoad(kt, vec2u(lane + j * WG, c0 + c), bh);
        for (var r = 0u; r < BR; r++) { part[r * BC + c] += dot(qr[r * QQ + j], kv); }
      }
    }
    for (var i = 0u; i < NP; i++) { part[i] = subgroupAdd(part[i]); }

    for (var r = 0u; r < BR; r++) {
      let row = min(r0 + r, n - 1u);
      var tmax = NEG_BIG;
      for (var c = 0u; c < BC; c++) {
        let key = c0 + c;
        var s = params.neg_inf;
        if (key < m) { s = part[r * BC + c] * params.scale + mask_at(b, h, row, key); }
        part[r * BC + c] = s;
        tmax = max(tmax, s);
      }
      let mnew = max(mx[r], tmax);
      let alpha = exp(mx[r] - mnew);
      var sum = 0.0;
      for (var c = 0u; c < BC; c++) {
        let s = part[r * BC + c];
        let e = select(exp(s - mnew), 0.0, s < NEG_BIG);
        part[r * BC + c] = e;
        sum += e;
      }
      mx[r] = mnew;
      l[r] = l[r] * alpha + sum;
      // Once the running max settles (the usual case), alpha is 1 for the whole subgroup: skip the rescale.
      if (alpha != 1.0) {
        for (var j = 0u; j < CQ; j++) { o[r * CQ + j] *= alpha; }
      }
    }

    for (var c = 0u; c < BC; c++) {
      for (var j = 0u; j < CQ; j++) {
        let vv = textureLoad(vt, vec2u(lane + j * WG, c0 + c), bh);
        for (var r = 0u; r < BR; r++) { o[r * CQ + j] = fma(vec4f(part[r * BC + c]), vv, o[r * CQ + j]); }
      }
    }
  }

  if (g >= count) { return; }
  for (var r = 0u; r < BR; r++) {
    let row = r0 + r;
    if (row >= n) { break; }
    let inv = select(1.0 / l[r], 0.0, l[r] == 0.0);
    let ob = (bh * n + row) * dv;
    for (var j = 0u; j < CQ; j++) {
      let col = 4u * (lane + j * WG);
      let x = o[r * CQ + j] * inv;
      for (var e = 0u; e < 4u; e++) {
        if (col + e < dv) { out[ob + col + e] = x[e]; }
      }
    }
    if (lane == 0u) { lse[bh * n + row] = select(mx[r] + log(l[r]), params.neg_inf, l[r] == 0.0); }
  }
}
