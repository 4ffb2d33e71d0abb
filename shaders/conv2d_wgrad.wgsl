// Weight gradient without subgroups (see conv2d_wgrad_common.wgsl): each invocation owns PM row texels
// (4·PM rows) × Q column texels of one group and one split, loading PM + Q texels per output pixel for
// 4·PM·Q vec4 FMAs. TEXTURE=1 reads storage textures, else vec4 storage buffers.
const PM = {{PM}}u;
const Q = {{Q}}u;
const WG = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) local_id: vec3u) {
  let lid = local_id.x;
  let id = flat_workgroup(wid, nwg) * WG + lid;
  if (id >= params.total) { return; }
  let tc = tile_coords(id);
  let g = tc.z;
  let s = tc.w;
  let mq0 = tc.y * PM;
  let q0 = tc.x * Q;
  var aoff: array<vec2u, PM>;
  for (var i = 0u; i < PM; i++) { aoff[i] = row_offset(mq0 + i, g); }
  var bx: array<u32, Q>;
  for (var j = 0u; j < Q; j++) { bx[j] = g * params.cqo + min(q0 + j, params.cqo - 1u); }
  let astep = params.sw * params.gcq;

  var acc: array<vec4f, 4u * PM * Q>;
  let rows = split_rows(s);
  for (var row = rows.x; row < rows.y; row++) {
    let n = row / params.ho;
    let oh = row % params.ho;
    let ay = oh * params.sh;
    for (var ow = 0u; ow < params.wo; ow++) {
      var yb: array<vec4f, Q>;
      for (var j = 0u; j < Q; j++) { yb[j] = load_b(bx[j] + ow * params.gcqo, oh, n); }
      for (var i = 0u; i < PM; i++) {
        let x = load_a(aoff[i].x + ow * astep, aoff[i].y + ay, n);
        for (var j = 0u; j < Q; j++) {
          let k = 4u * i * Q + j;
          acc[k] = fma(vec4f(x.x), yb[j], acc[k]);
          acc[k + Q] = fma(vec4f(x.y), yb[j], acc[k + Q]);
          acc[k + 2u * Q] = fma(vec4f(x.z), yb[j], acc[k + 2u * Q]);
          acc[k + 3u * Q] = fma(vec4f(x.w), yb[j], acc[k + 3u * Q]);
        }
      }
    }
  }

  for (var i = 0u; i < PM; i++) {
    for (var j = 0u; j < Q; j++) {
      let k = 4u * i * Q + j;
      store_block(s, g, mq0 + i, q0 + j, acc[k], acc[k + Q], acc[k + 2u * Q], acc[k + 3u * Q]);
    }
  }
}
