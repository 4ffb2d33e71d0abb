enable subgroups;
// Implicit-GEMM convolution sharing activations across a subgroup of SG lanes (see
// conv2d_igemm_common.wgsl for the indexing). A workgroup is one subgroup and owns 4·SG output pixels ×
// 4·SG channels of one group. Per tap and input-channel texel, lane l loads the activation texels of
// pixels 4l … 4l+3 and the 4 weight texels of its own channel texel; the activations then reach every lane
// through subgroupBroadcast from constant lanes (nearly free), so each lane does 16·SG vec4 FMAs for 8
// loads. Lane l accumulates all 4·SG pixels of channels 4(tn·SG + l) … +3.
const SG = {{SG}}u;
const PIX = 4u * SG;

// acc[r0 + i] += A[pixel r0+i, 4 channels] · W[4 rows, lane's 4 columns], for the 4 pixels one lane loaded.
fn rows4(acc: ptr<function, array<vec4f, PIX>>, r0: u32, a0: vec4f, a1: vec4f, a2: vec4f, a3: vec4f,
         w0: vec4f, w1: vec4f, w2: vec4f, w3: vec4f) {
  (*acc)[r0] = fma(vec4f(a0.x), w0, fma(vec4f(a0.y), w1, fma(vec4f(a0.z), w2, fma(vec4f(a0.w), w3, (*acc)[r0]))));
  (*acc)[r0 + 1u] = fma(vec4f(a1.x), w0, fma(vec4f(a1.y), w1, fma(vec4f(a1.z), w2, fma(vec4f(a1.w), w3, (*acc)[r0 + 1u]))));
  (*acc)[r0 + 2u] = fma(vec4f(a2.x), w0, fma(vec4f(a2.y), w1, fma(vec4f(a2.z), w2, fma(vec4f(a2.w), w3, (*acc)[r0 + 2u]))));
  (*acc)[r0 + 3u] = fma(vec4f(a3.x), w0, fma(vec4f(a3.y), w1, fma(vec4f(a3.z), w2, fma(vec4f(a3.w), w3, (*acc)[r0 + 3u]))));
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
  let q = tn * SG + lane;
  let b0 = pixel_base(mine, g);
  let b1 = pixel_base(mine + 1u, g);
  let b2 = pixel_base(mine + 2u, g);
  let b3 = pixel_base(mine + 3u, g);

  var acc: array<vec4f, PIX>;
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
        let w0 = load_w(q, r, g);
        let w1 = load_w(q, r + 1u, g);
        let w2 = load_w(q, r + 2u, g);
        let w3 = load_w(q, r + 3u, g);
        r += 4u;
{{BROADCASTS}}
      }
    }
  }

  for (var i = 0u; i < PIX; i++) {
    let p = p0 + i;
    if (p >= params.npix) { break; }
    let o = out_base(p, g);
    for (var e = 0u; e < 4u; e++) {
      let ch = 4u * q + e;
      if (ch < params.coutg) { store(o + ch, g, ch, acc[i][e]); }
    }
  }
}
