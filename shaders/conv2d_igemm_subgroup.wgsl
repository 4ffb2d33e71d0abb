enable subgroups;
// Implicit-GEMM convolution sharing activations across a subgroup of SG lanes (see
// conv2d_igemm_common.wgsl for the indexing). A workgroup is one subgroup and owns 4·SG output pixels ×
// 4·SG·COLS channels of one group. Per tap and input-channel texel, lane l loads the activation texels of
// pixels 4l … 4l+3 and the 4 weight texels of each of its COLS channel texels; the activations then reach
// every lane through subgroupBroadcast from constant lanes, so each lane does 16·SG·COLS vec4 FMAs for
// 4 + 4·COLS loads. Lane l accumulates all 4·SG pixels of channel texels tn·SG·COLS + c·SG + l (c < COLS).
// COLS = 2 halves the broadcasts and a quarter of the loads per FMA; COLS = 1 wastes less on narrow layers.
const SG = {{SG}}u;
const COLS = {{COLS}}u;
const PIX = 4u * SG;

// acc[k0 + s·i] += A[pixel, 4 channels] · W[4 rows, 4 columns], for the 4 pixels (i < 4) one lane loaded.
fn rows4(acc: ptr<function, array<vec4f, PIX * COLS>>, k0: u32, s: u32, a0: vec4f, a1: vec4f, a2: vec4f, a3: vec4f,
         w0: vec4f, w1: vec4f, w2: vec4f, w3: vec4f) {
  (*acc)[k0] = fma(vec4f(a0.x), w0, fma(vec4f(a0.y), w1, fma(vec4f(a0.z), w2, fma(vec4f(a0.w), w3, (*acc)[k0]))));
  (*acc)[k0 + s] = fma(vec4f(a1.x), w0, fma(vec4f(a1.y), w1, fma(vec4f(a1.z), w2, fma(vec4f(a1.w), w3, (*acc)[k0 + s]))));
  (*acc)[k0 + 2u * s] = fma(vec4f(a2.x), w0, fma(vec4f(a2.y), w1, fma(vec4f(a2.z), w2, fma(vec4f(a2.w), w3, (*acc)[k0 + 2u * s]))));
  (*acc)[k0 + 3u * s] = fma(vec4f(a3.x), w0, fma(vec4f(a3.y), w1, fma(vec4f(a3.z), w2, fma(vec4f(a3.w), w3, (*acc)[k0 + 3u * s]))));
}

@compute @workgroup_size(SG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(subgroup_invocation_id) lane: u32) {
  // The tile comes from the workgroup id, so every branch below is uniform across the subgroup.
  let t = flat_workgroup(wid, nwg);
  if (t >= params.total) { return; }
  let tn = t % params.tiles_n;
  let rest = t / params.tiles_n;
  let tm = rest % params.tiles_m;
  let g = rest / params.tiles_m;
  let p0 = tm * PIX;
  let mine = p0 + 4u * lane;
  let q0 = tn * SG * COLS + lane;
  let b0 = pixel_base(mine, g);
  let b1 = pixel_base(mine + 1u, g);
  let b2 = pixel_base(mine + 2u, g);
  let b3 = pixel_base(mine + 3u, g);

  var acc: array<vec4f, PIX * COLS>;
  for (var a = 0u; a < params.nkh; a++) {
    for (var b = 0u; b < params.nkw; b++) {
      let off = tap_offset(a, b);
      var r = tap_row(a, b);
      let c0 = b0.xy + off;
      let c1 = b1.xy + off;
      let c2 = b2.xy + off;
      let c3 = b3.xy + off;
      for (var cq = 0u; cq < params.cqg; cq++) {
        let a0 = load_a(c0.x + cq, c0.y, b0.z);
        let a1 = load_a(c1.x + cq, c1.y, b1.z);
        let a2 = load_a(c2.x + cq, c2.y, b2.z);
        let a3 = load_a(c3.x + cq, c3.y, b3.z);
{{WEIGHT_LOADS}}
        r += 4u;
{{BROADCASTS}}
      }
    }
  }

  for (var i = 0u; i < PIX; i++) {
    let p = p0 + i;
    if (p >= params.npix) { break; }
    let o = out_base(p, g);
    for (var c = 0u; c < COLS; c++) {
      for (var e = 0u; e < 4u; e++) {
        let ch = 4u * (q0 + c * SG) + e;
        if (ch < params.coutg) { store(o + ch, g, ch, acc[i * COLS + c][e]); }
      }
    }
  }
}
