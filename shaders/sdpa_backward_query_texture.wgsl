enable subgroups;
// sdpa_backward_query.wgsl for one-subgroup workgroups reading Q, K, V and dO from zero-padded texture arrays
// (see sdpa_forward_texture.wgsl): lane l owns feature quads l, l + WG, …; each tile's q·k and dO·v products
// are reduced with subgroupAdd alone (no workgroup memory, no barrier). Writes the row deltas Σ dO·O for the
// key/value kernel and dQ = scale · Σ_c dS_rc k_c; with DMASK also dS (the additive mask's gradient).
const BR = {{BR}}u;
const BC = {{BC}}u;
const QQ = {{QQ}}u;
const CQ = {{CQ}}u;
const TILE = BR * BC;

@group(0) @binding(1) var qt: texture_storage_2d_array<rgba32float, read>;
@group(0) @binding(2) var kt: texture_storage_2d_array<rgba32float, read>;
@group(0) @binding(3) var vt: texture_storage_2d_array<rgba32float, read>;
@group(0) @binding(4) var dot_: texture_storage_2d_array<rgba32float, read>;
@group(0) @binding(5) var<storage, read> o: array<f32>;
@group(0) @binding(6) var<storage, read> lse: array<f32>;
@group(0) @binding(7) var<storage, read_write> delta: array<f32>;
@group(0) @binding(8) var<storage, read_write> dq: array<f32>;
#if MASK
@group(0) @binding(9) var<storage, read> mask: array<{{MASK_T}}>;
#endif
#if DMASK
@group(0) @binding(10) var<storage, read_write> dmask: array<f32>;  // dS over [B, H, n, m], the mask's gradient
#endif

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) local_id: vec3u) {
  let lane = local_id.x;
  let n = params.n;
  let m = params.m;
  let d = params.d;
  let dv = params.dv;
  let count = params.B * params.H * params.blocks;
  let g = flat_workgroup(wid, nwg);
  let w = min(g, count - 1u);
  let bh = w / params.blocks;
  let r0 = (w % params.blocks) * BR;
  let b = bh / params.H;
  let h = bh % params.H;

  var qr: array<vec4f, BR * QQ>;
  var dor: array<vec4f, BR * CQ>;
  var dlt: array<f32, BR>;
  var lrow: array<f32, BR>;
  for (var r = 0u; r < BR; r++) {
    let row = r0 + r;
    for (var j = 0u; j < QQ; j++) { qr[r * QQ + j] = textureLoad(qt, vec2u(lane + j * WG, row), bh); }
    var acc = 0.0;
    for (var j = 0u; j < CQ; j++) {
      let x = textureLoad(dot_, vec2u(lane + j * WG, row), bh);
      dor[r * CQ + j] = x;
      let col = 4u * (lane + j * WG);
      let ob = (bh * n + min(row, n - 1u)) * dv + col;
      var ov = vec4f(0.0);
      for (var e = 0u; e < 4u; e++) {
        if (row < n && col + e < dv) { ov[e] = o[ob + e]; }
      }
      acc += dot(x, ov);
    }
    dlt[r] = subgroupAdd(acc);
    lrow[r] = lse[bh * n + min(row, n - 1u)];
  }
  if (g < count && lane == 0u) {
    for (var r = 0u; r < BR; r++) {
      if (r0 + r < n) { delta[bh * n + r0 + r] = dlt[r]; }
    }
  }

  var acc: array<vec4f, BR * QQ>;
  for (var c0 = 0u; c0 < m; c0 += BC) {
    var part: array<f32, NP>;
    // The tile's k quads, kept for dQ: a texture load costs far more than a register (or stack) reload.
    var kc: array<vec4f, BC * QQ>;
    for (var i = 0u; i < NP; i++) { part[i] = 0.0; }
    for (var c = 0u; c < BC; c++) {
      for (var j = 0u; j < QQ; j++) {
        let kv = textureLoad(kt, vec2u(lane + j * WG, c0 + c), bh);
        kc[c * QQ + j] = kv;
        for (var r = 0u; r < BR; r++) { part[r * BC + c] += dot(qr[r * QQ + j], kv); }
      }
      for (var j = 0u; j < CQ; j++) {
        let vv = textureLoad(vt, vec2u(lane + j * WG, c0 + c), bh);
        for (var r = 0u; r < BR; r++) { part[TILE + r * BC + c] += dot(dor[r * CQ + j], vv); }
      }
    }
    for (var i = 0u; i < NP; i++) { part[i] = subgroupAdd(part[i]); }

    for (var r = 0u; r < BR; r++) {
      let row = min(r0 + r, n - 1u);
      for (var c = 0u; c < BC; c++) {
        let key = c0 + c;
        let s = part[r * BC + c] * params.scale + mask_at(b, h, row, min(key, m - 1u));
        let live = key < m && s >= NEG_BIG && lrow[r] >= NEG_BIG;
        let p = select(0.0, exp(s - lrow[r]), live);
        part[r * BC + c] = p * (part[TILE + r * BC + c] - dlt[r]);
      }
    }
#if DMASK
    if (g < count && lane == 0u) {
      for (var r = 0u; r < BR; r++) {
        for (var c = 0u; c < BC; c++) {
          if (r0 + r < n && c0 + c < m) { dmask[(bh * n + r0 + r) * m + c0 + c] = part[r * BC + c]; }
        }
      }
    }
#endif
    for (var c = 0u; c < BC; c++) {
      for (var j = 0u; j < QQ; j++) {
        for (var r = 0u; r < BR; r++) { acc[r * QQ + j] = fma(vec4f(part[r * BC + c]), kc[c * QQ + j], acc[r * QQ + j]); }
      }
    }
  }

  if (g >= count) { return; }
  for (var r = 0u; r < BR; r++) {
    let row = r0 + r;
    if (row >= n) { break; }
    for (var j = 0u; j < QQ; j++) {
      let col = 4u * (lane + j * WG);
      let x = acc[r * QQ + j] * params.scale;
      for (var e = 0u; e < 4u; e++) {
        if (col + e < d) { dq[(bh * n + row) * d + col + e] = x[e]; }
      }
    }
  }
}
