// Backward of the affine grid to θ: dθ[n, r, 0..2] = Σ_{y,x} dgrid[n, y, x, r] · (x_s, y_s, 1). One workgroup
// per sample reduces its H·W locations (six sums) in workgroup memory.
const WG = 64u;
struct Params { N: u32, H: u32, W: u32, align: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> dgrid: array<f32>;
@group(0) @binding(2) var<storage, read_write> dtheta: array<f32>;

var<workgroup> red: array<array<f32, 6>, WG>;

fn base_coord(i: u32, size: u32) -> f32 {
  if (size <= 1u) { return 0.0; }
  if (params.align != 0u) { return -1.0 + 2.0 * f32(i) / f32(size - 1u); }
  return (2.0 * f32(i) + 1.0) / f32(size) - 1.0;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) local_id: vec3u) {
  let lid = local_id.x;
  let H = params.H;
  let W = params.W;
  let hw = H * W;
  for (var n = flat_workgroup(wid, nwg); n < params.N; n += params.N) {
    var acc: array<f32, 6>;
    for (var i = lid; i < hw; i += WG) {
      let xs = base_coord(i % W, W);
      let ys = base_coord(i / W, H);
      let gx = dgrid[2u * (n * hw + i)];
      let gy = dgrid[2u * (n * hw + i) + 1u];
      acc[0] += gx * xs;
      acc[1] += gx * ys;
      acc[2] += gx;
      acc[3] += gy * xs;
      acc[4] += gy * ys;
      acc[5] += gy;
    }
    red[lid] = acc;
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
      workgroupBarrier();
      if (lid < s) {
        for (var k = 0u; k < 6u; k++) { red[lid][k] += red[lid + s][k]; }
      }
    }
    workgroupBarrier();
    if (lid < 6u) { dtheta[n * 6u + lid] = red[0][lid]; }
  }
}
