#if SUBGROUPS
enable subgroups;
#endif
// Fused scaled dot-product attention: out = softmax(scale·Q·Kᵀ + mask)·V per (batch, head), and the row
// log-sum-exp for the backward. A workgroup owns BR query rows and streams the keys in tiles of BC with an
// online softmax, so no n × m matrix exists anywhere. Invocations split the feature axes (sdpa_common.wgsl):
// each holds its slice of the BR query rows and of the BR output rows in registers; a tile's BR·BC scores are
// reduced across the workgroup, then every invocation updates the running max / sum and its output slice.
// Rows whose every key is masked (-inf) produce zeros and lse = -inf.
const BR = {{BR}}u;
const BC = {{BC}}u;
const QPT = {{QPT}}u; // ceil(d / WG): query elements per invocation and row
const CPT = {{CPT}}u; // ceil(dv / WG): output columns per invocation and row

@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<storage, read_write> lse: array<f32>;
#if MASK
@group(0) @binding(6) var<storage, read> mask: array<{{MASK_T}}>;
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
  // Surplus workgroups of a folded grid redo the last block and store nothing (no early return before barriers).
  let w = min(g, count - 1u);
  let bh = w / params.blocks;
  let r0 = (w % params.blocks) * BR;
  let b = bh / params.H;
  let h = bh % params.H;
  let qb = bh * n * d;
  let kb = bh * m * d;
  let vb = bh * m * dv;

  var qr: array<f32, BR * QPT>;
  for (var r = 0u; r < BR; r++) {
    let row = r0 + r;
    for (var j = 0u; j < {{QB}}; j++) {
      let i = lid + j * WG;
      if (row < n && i < d) { qr[r * QPT + j] = q[qb + row * d + i]; }
    }
  }
  var o: array<f32, BR * CPT>;
  var mx: array<f32, BR>;
  var l: array<f32, BR>;
  for (var r = 0u; r < BR; r++) { mx[r] = NEG_BIG; }

  for (var c0 = 0u; c0 < m; c0 += BC) {
    // Partial scores over this invocation's slice of d.
    // Zeroed explicitly: some compilers hoist a loop-local var and keep its value across iterations.
    var part: array<f32, NP>;
    for (var i = 0u; i < NP; i++) { part[i] = 0.0; }
    for (var j = 0u; j < {{QB}}; j++) {
      let i = lid + j * WG;
      if (i < d) {
        for (var c = 0u; c < BC; c++) {
          let key = c0 + c;
          if (key < m) {
            let kv = k[kb + key * d + i];
            for (var r = 0u; r < BR; r++) { part[r * BC + c] = fma(qr[r * QPT + j], kv, part[r * BC + c]); }
          }
        }
      }
    }
    reduce_workgroup(&part, lid, slot);

    // Online softmax, done redundantly by every invocation (no further barrier): part becomes the tile's
    // unnormalised probabilities, the output slice is rescaled by exp(old max − new max).
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
        for (var j = 0u; j < {{CB}}; j++) { o[r * CPT + j] *= alpha; }
      }
    }

    for (var c = 0u; c < BC; c++) {
      let key = c0 + c;
      if (key < m) {
        for (var j = 0u; j < {{CB}}; j++) {
          let col = lid + j * WG;
          if (col < dv) {
            let vv = v[vb + key * dv + col];
            for (var r = 0u; r < BR; r++) { o[r * CPT + j] = fma(part[r * BC + c], vv, o[r * CPT + j]); }
          }
        }
      }
    }
  }

  if (g >= count) { return; }
  for (var r = 0u; r < BR; r++) {
    let row = r0 + r;
    if (row >= n) { break; }
    let inv = select(1.0 / l[r], 0.0, l[r] == 0.0);
    let ob = (bh * n + row) * dv;
    for (var j = 0u; j < {{CB}}; j++) {
      let col = lid + j * WG;
      if (col < dv) { out[ob + col] = o[r * CPT + j] * inv; }
    }
    if (lid == 0u) { lse[bh * n + row] = select(mx[r] + log(l[r]), params.neg_inf, l[r] == 0.0); }
  }
}
