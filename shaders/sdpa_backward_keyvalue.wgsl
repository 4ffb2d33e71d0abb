#if SUBGROUPS
enable subgroups;
#endif
// SDPA backward, key/value side (FlashAttention-2 recomputation): for BC keys per workgroup, streaming the
// query rows in tiles of BR,
//   P_rc = exp(scale·q_r·k_c + mask − lse_r),  dV_c = Σ_r P_rc dO_r,
//   dS_rc = P_rc·(dO_r·v_c − delta_r),          dK_c = scale · Σ_r dS_rc q_r,
// with delta from sdpa_backward_query.wgsl. The workgroup's keys and values stay in registers (each
// invocation its slice of the feature axes), as do its dK and dV accumulators.
const BR = {{BR}}u;
const BC = {{BC}}u;
const QPT = {{QPT}}u;
const CPT = {{CPT}}u;
const TILE = BR * BC;

@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read> dout: array<f32>;
@group(0) @binding(5) var<storage, read> lse: array<f32>;
@group(0) @binding(6) var<storage, read> delta: array<f32>;
@group(0) @binding(7) var<storage, read_write> dk: array<f32>;
@group(0) @binding(8) var<storage, read_write> dv: array<f32>;
#if MASK
@group(0) @binding(9) var<storage, read> mask: array<{{MASK_T}}>;
#endif

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) local_id: vec3u) {
  let lid = local_id.x;
  let slot = claim_slot();
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
  let qb = bh * n * d;
  let kb = bh * m * d;
  let vb = bh * m * dvn;
  let ob = bh * n * dvn;

  var kr: array<f32, BC * QPT>;
  var vr: array<f32, BC * CPT>;
  for (var c = 0u; c < BC; c++) {
    let key = c0 + c;
    for (var j = 0u; j < {{QB}}; j++) {
      let i = lid + j * WG;
      if (key < m && i < d) { kr[c * QPT + j] = k[kb + key * d + i]; }
    }
    for (var j = 0u; j < {{CB}}; j++) {
      let col = lid + j * WG;
      if (key < m && col < dvn) { vr[c * CPT + j] = v[vb + key * dvn + col]; }
    }
  }
  var dka: array<f32, BC * QPT>;
  var dva: array<f32, BC * CPT>;

  for (var r0 = 0u; r0 < n; r0 += BR) {
    // Zeroed explicitly: some compilers hoist a loop-local var and keep its value across iterations.
    var part: array<f32, NP>;
    for (var i = 0u; i < NP; i++) { part[i] = 0.0; }
    for (var r = 0u; r < BR; r++) {
      let row = r0 + r;
      if (row < n) {
        for (var j = 0u; j < {{QB}}; j++) {
          let i = lid + j * WG;
          if (i < d) {
            let qv = q[qb + row * d + i];
            for (var c = 0u; c < BC; c++) { part[r * BC + c] = fma(qv, kr[c * QPT + j], part[r * BC + c]); }
          }
        }
        for (var j = 0u; j < {{CB}}; j++) {
          let col = lid + j * WG;
          if (col < dvn) {
            let x = dout[ob + row * dvn + col];
            for (var c = 0u; c < BC; c++) { part[TILE + r * BC + c] = fma(x, vr[c * CPT + j], part[TILE + r * BC + c]); }
          }
        }
      }
    }
    reduce_workgroup(&part, lid, slot);

    // P into part[0 .. TILE) and, for dK, dS into part[TILE .. 2·TILE).
    for (var r = 0u; r < BR; r++) {
      let row = min(r0 + r, n - 1u);
      let lr = lse[bh * n + row];
      let dl = delta[bh * n + row];
      for (var c = 0u; c < BC; c++) {
        let key = min(c0 + c, m - 1u);
        let s = part[r * BC + c] * params.scale + mask_at(b, h, row, key);
        let live = r0 + r < n && s >= NEG_BIG && lr >= NEG_BIG;
        let p = select(0.0, exp(s - lr), live);
        part[r * BC + c] = p;
        part[TILE + r * BC + c] = p * (part[TILE + r * BC + c] - dl);
      }
    }
    for (var r = 0u; r < BR; r++) {
      let row = r0 + r;
      if (row < n) {
        for (var j = 0u; j < {{CB}}; j++) {
          let col = lid + j * WG;
          if (col < dvn) {
            let x = dout[ob + row * dvn + col];
            for (var c = 0u; c < BC; c++) { dva[c * CPT + j] = fma(part[r * BC + c], x, dva[c * CPT + j]); }
          }
        }
        for (var j = 0u; j < {{QB}}; j++) {
          let i = lid + j * WG;
          if (i < d) {
            let qv = q[qb + row * d + i];
            for (var c = 0u; c < BC; c++) { dka[c * QPT + j] = fma(part[TILE + r * BC + c], qv, dka[c * QPT + j]); }
          }
        }
      }
    }
  }

  if (g >= count) { return; }
  for (var c = 0u; c < BC; c++) {
    let key = c0 + c;
    if (key >= m) { break; }
    for (var j = 0u; j < {{QB}}; j++) {
      let i = lid + j * WG;
      if (i < d) { dk[kb + key * d + i] = dka[c * QPT + j] * params.scale; }
    }
    for (var j = 0u; j < {{CB}}; j++) {
      let col = lid + j * WG;
      if (col < dvn) { dv[vb + key * dvn + col] = dva[c * CPT + j]; }
    }
  }
}
