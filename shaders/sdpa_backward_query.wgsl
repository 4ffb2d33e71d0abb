#if SUBGROUPS
enable subgroups;
#endif
// SDPA backward, query side (FlashAttention-2 recomputation): for BR query rows per workgroup,
//   delta_r = Σ dO_r·O_r,  P_rc = exp(scale·q_r·k_c + mask − lse_r),  dS_rc = P_rc·(dO_r·v_c − delta_r),
//   dQ_r = scale · Σ_c dS_rc k_c,
// streaming the keys in tiles of BC; delta is also written for the key/value kernel, and with DMASK dS itself
// (the gradient of an additive mask before its broadcast axes are summed). Invocations split the
// feature axes as in the forward; a tile's two BR·BC dot products (q·k and dO·v) are reduced together.
const BR = {{BR}}u;
const BC = {{BC}}u;
const QPT = {{QPT}}u;
const CPT = {{CPT}}u;
const TILE = BR * BC;

@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read> o: array<f32>;
@group(0) @binding(5) var<storage, read> dout: array<f32>;
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
  let lid = local_id.x;
  let slot = claim_slot();
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
  let qb = bh * n * d;
  let kb = bh * m * d;
  let vb = bh * m * dv;
  let ob = bh * n * dv;

  var qr: array<f32, BR * QPT>;
  var dor: array<f32, BR * CPT>;
  var part: array<f32, NP>;
  for (var r = 0u; r < BR; r++) {
    let row = r0 + r;
    for (var j = 0u; j < {{QB}}; j++) {
      let i = lid + j * WG;
      if (row < n && i < d) { qr[r * QPT + j] = q[qb + row * d + i]; }
    }
    for (var j = 0u; j < {{CB}}; j++) {
      let col = lid + j * WG;
      if (row < n && col < dv) {
        let x = dout[ob + row * dv + col];
        dor[r * CPT + j] = x;
        part[r] = fma(x, o[ob + row * dv + col], part[r]);
      }
    }
  }
  reduce_workgroup(&part, lid, slot);
  var dlt: array<f32, BR>;
  var lrow: array<f32, BR>;
  for (var r = 0u; r < BR; r++) {
    let row = min(r0 + r, n - 1u);
    dlt[r] = part[r];
    lrow[r] = lse[bh * n + row];
  }
  if (g < count && lid == 0u) {
    for (var r = 0u; r < BR; r++) {
      if (r0 + r < n) { delta[bh * n + r0 + r] = dlt[r]; }
    }
  }

  var acc: array<f32, BR * QPT>;
  for (var c0 = 0u; c0 < m; c0 += BC) {
    for (var p = 0u; p < NP; p++) { part[p] = 0.0; }
    for (var c = 0u; c < BC; c++) {
      let key = c0 + c;
      if (key < m) {
        for (var j = 0u; j < {{QB}}; j++) {
          let i = lid + j * WG;
          if (i < d) {
            let kv = k[kb + key * d + i];
            for (var r = 0u; r < BR; r++) { part[r * BC + c] = fma(qr[r * QPT + j], kv, part[r * BC + c]); }
          }
        }
        for (var j = 0u; j < {{CB}}; j++) {
          let col = lid + j * WG;
          if (col < dv) {
            let vv = v[vb + key * dv + col];
            for (var r = 0u; r < BR; r++) { part[TILE + r * BC + c] = fma(dor[r * CPT + j], vv, part[TILE + r * BC + c]); }
          }
        }
      }
    }
    reduce_workgroup(&part, lid, slot);

    // dS for the tile, into part[0 .. TILE).
    for (var r = 0u; r < BR; r++) {
      let row = min(r0 + r, n - 1u);
      for (var c = 0u; c < BC; c++) {
        let key = c0 + c;
        var ds = 0.0;
        if (key < m) {
          let s = part[r * BC + c] * params.scale + mask_at(b, h, row, key);
          let live = s >= NEG_BIG && lrow[r] >= NEG_BIG;
          let p = select(0.0, exp(s - lrow[r]), live);
          ds = p * (part[TILE + r * BC + c] - dlt[r]);
        }
        part[r * BC + c] = ds;
      }
    }
#if DMASK
    if (g < count && lid == 0u) {
      for (var r = 0u; r < BR; r++) {
        for (var c = 0u; c < BC; c++) {
          if (r0 + r < n && c0 + c < m) { dmask[(bh * n + r0 + r) * m + c0 + c] = part[r * BC + c]; }
        }
      }
    }
#endif
    for (var c = 0u; c < BC; c++) {
      let key = c0 + c;
      if (key < m) {
        for (var j = 0u; j < {{QB}}; j++) {
          let i = lid + j * WG;
          if (i < d) {
            let kv = k[kb + key * d + i];
            for (var r = 0u; r < BR; r++) { acc[r * QPT + j] = fma(part[r * BC + c], kv, acc[r * QPT + j]); }
          }
        }
      }
    }
  }

  if (g >= count) { return; }
  for (var r = 0u; r < BR; r++) {
    let row = r0 + r;
    if (row >= n) { break; }
    for (var j = 0u; j < {{QB}}; j++) {
      let i = lid + j * WG;
      if (i < d) { dq[qb + row * d + i] = acc[r * QPT + j] * params.scale; }
    }
  }
}
