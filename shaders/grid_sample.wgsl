// Bilinear grid sampling with zero padding (PyTorch grid_sample, mode 'bilinear', padding 'zeros') on NHWC:
// out[n, y, x, c] samples input[n, ·, ·, c] at grid[n, y, x] = (gx, gy) in [−1, 1], unnormalised as
// align_corners: (g + 1)/2 · (S − 1); otherwise ((g + 1)·S − 1)/2. Corners outside the input contribute 0.
// One invocation per output element; neighbouring invocations read neighbouring channels.
struct Params { N: u32, H: u32, W: u32, C: u32, Ho: u32, Wo: u32, align: u32, _pad: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> grid: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

// Clamped to [−2, S + 1]: beyond it every tap is outside anyway, and the integer conversion stays in range.
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
  let idx = flat_workgroup(wid, nwg) * 64u + lid;
  let C = params.C;
  let total = params.N * params.Ho * params.Wo * C;
  if (idx >= total) { return; }
  let c = idx % C;
  let p = idx / C; // output location n·Ho·Wo + y·Wo + x
  let n = p / (params.Ho * params.Wo);
  let ix = unnormalise(grid[2u * p], params.W);
  let iy = unnormalise(grid[2u * p + 1u], params.H);
  let fx = floor(ix);
  let fy = floor(iy);
  let x0 = i32(fx);
  let y0 = i32(fy);
  let wx = ix - fx;
  let wy = iy - fy;
  out[idx] = (tap(n, y0, x0, c) * (1.0 - wx) + tap(n, y0, x0 + 1, c) * wx) * (1.0 - wy)
           + (tap(n, y0 + 1, x0, c) * (1.0 - wx) + tap(n, y0 + 1, x0 + 1, c) * wx) * wy;
}
