// Implicit-GEMM convolution without subgroups (see conv2d_igemm_common.wgsl for the indexing): each
// invocation owns P consecutive output pixels × Q texels (4Q channels) of one group and keeps them in
// registers; per tap and input-channel texel it loads P activation texels and 4Q weight texels and does
// 4·P·Q vec4 FMAs. TEXTURE=1 reads read-only storage textures (vectorised loads on lavapipe), else vec4
// storage buffers (portable; workgroup of 64 stays within SwiftShader's 256 invocations).
const P = {{P}}u;
const Q = {{Q}}u;
const WG = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) local_id: vec3u) {
  let lid = local_id.x;
  let id = flat_workgroup(wid, nwg) * WG + lid;
  if (id >= params.total) { return; }
  let tn = id % params.tiles_n;
  let rest = id / params.tiles_n;
  let tm = rest % params.tiles_m;
  let g = rest / params.tiles_m;
  let p0 = tm * P;
  let q0 = tn * Q;

  var base: array<vec3u, P>;
  for (var i = 0u; i < P; i++) { base[i] = pixel_base(p0 + i, g); }

  var acc: array<vec4f, P * Q>;
  for (var a = 0u; a < params.nkh; a++) {
    for (var b = 0u; b < params.nkw; b++) {
      let off = tap_offset(a, b);
      var r = tap_row(a, b);
      for (var cq = 0u; cq < params.cqg; cq++) {
        var xa: array<vec4f, P>;
        for (var i = 0u; i < P; i++) { xa[i] = load_a(base[i].x + off.x + cq, base[i].y + off.y, base[i].z); }
        for (var jq = 0u; jq < Q; jq++) {
          let w0 = load_w(q0 + jq, r, g);
          let w1 = load_w(q0 + jq, r + 1u, g);
          let w2 = load_w(q0 + jq, r + 2u, g);
          let w3 = load_w(q0 + jq, r + 3u, g);
          for (var i = 0u; i < P; i++) {
            let x = xa[i];
            acc[i * Q + jq] = fma(vec4f(x.x), w0, fma(vec4f(x.y), w1, fma(vec4f(x.z), w2, fma(vec4f(x.w), w3, acc[i * Q + jq]))));
          }
        }
        r += 4u;
      }
    }
  }

  for (var i = 0u; i < P; i++) {
    let p = p0 + i;
    if (p >= params.npix) { break; }
    let o = out_base(p, g);
    for (var jq = 0u; jq < Q; jq++) {
      for (var e = 0u; e < 4u; e++) {
        let ch = 4u * (q0 + jq) + e;
        if (ch < params.coutg) { store(o + ch, g, ch, acc[i * Q + jq][e]); }
      }
    }
  }
}
