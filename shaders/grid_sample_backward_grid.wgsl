// Backward of grid_sample to the grid: with the bilinear value v(ix, iy) of each channel,
//   dgrid.x = Σ_c dy_c · ∂v_c/∂ix · ∂ix/∂gx,  ∂v/∂ix = (v01 − v00)(1 − wy) + (v11 − v10) wy,
//   dgrid.y = Σ_c dy_c · ∂v_c/∂iy · ∂iy/∂gy,  ∂v/∂iy = (v10 − v00)(1 − wx) + (v11 − v01) wx,
// ∂ix/∂gx = (W − 1)/2 with align_corners, else W/2 (and likewise for y). One invocation per output location.
struct Params { N: u32, H: u32, W: u32, C: u32, Ho: u32, Wo: u32, align: u32, _pad: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> grid: array<f32>;
@group(0) @binding(4) var<storage, read_write> dgrid: array<f32>;

fn unnormalise(g: f32, size: u32) -> f32 {
  var i = ((g + 1.0) * f32(size) - 1.0) * 0.5;
  if (params.align != 0u) { i = (g + 1.0) * 0.5 * f32(size - 1u); }
  // A NaN coordinate samples nothing (every tap outside, 0 as PyTorch's zeros padding): clamp would pick a bound.
  return select(clamp(i, -2.0, f32(size) + 1.0), -2.0, isnan_f32(g));
}

fn tap(n: u32, yy: i32, xx: i32, c: u32) -> f32 {
  if (yy < 0 || xx < 0 || yy >= i32(params.H) || xx >= i32(params.W)) { return 0.0; }
  return x[((n * params.H + u32(yy)) * params.W + u32(xx)) * params.C + c];
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) local_id: vec3u) {
  let lid = local_id.x;
  let p = flat_workgroup(wid, nwg) * 64u + lid;
  if (p >= params.N * params.Ho * params.Wo) { return; }
  let n = p / (params.Ho * params.Wo);
  let ix = unnormalise(grid[2u * p], params.W);
  let iy = unnormalise(grid[2u * p + 1u], params.H);
  let fx = floor(ix);
  let fy = floor(iy);
  let x0 = i32(fx);
  let y0 = i32(fy);
  let wx = ix - fx;
  let wy = iy - fy;
  var gx = 0.0;
  var gy = 0.0;
  for (var c = 0u; c < params.C; c++) {
    let g = dy[p * params.C + c];
    let v00 = tap(n, y0, x0, c);
    let v01 = tap(n, y0, x0 + 1, c);
    let v10 = tap(n, y0 + 1, x0, c);
    let v11 = tap(n, y0 + 1, x0 + 1, c);
    gx += g * ((v01 - v00) * (1.0 - wy) + (v11 - v10) * wy);
    gy += g * ((v10 - v00) * (1.0 - wx) + (v11 - v01) * wx);
  }
  var sx = f32(params.W) * 0.5;
  var sy = f32(params.H) * 0.5;
  if (params.align != 0u) {
    sx = f32(params.W - 1u) * 0.5;
    sy = f32(params.H - 1u) * 0.5;
  }
  dgrid[2u * p] = gx * sx;
  dgrid[2u * p + 1u] = gy * sy;
}
