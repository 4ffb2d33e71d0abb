// Affine sampling grid (spatial transformer, M4): grid[n, y, x] = θ_n · (x_s, y_s, 1) with normalised output
// coordinates as PyTorch's affine_grid: align_corners: −1 + 2i/(S − 1); otherwise (2i + 1)/S − 1; a size of 1
// gives 0 either way. Output [N, H, W, 2] (x then y), one invocation per output location.
struct Params { N: u32, H: u32, W: u32, align: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> theta: array<f32>;
@group(0) @binding(2) var<storage, read_write> grid: array<f32>;

fn base_coord(i: u32, size: u32) -> f32 {
  if (size <= 1u) { return 0.0; }
  if (params.align != 0u) { return -1.0 + 2.0 * f32(i) / f32(size - 1u); }
  return (2.0 * f32(i) + 1.0) / f32(size) - 1.0;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) local_id: vec3u) {
  let lid = local_id.x;
  let idx = flat_workgroup(wid, nwg) * 64u + lid;
  let H = params.H;
  let W = params.W;
  if (idx >= params.N * H * W) { return; }
  let n = idx / (H * W);
  let y = (idx / W) % H;
  let x = idx % W;
  let xs = base_coord(x, W);
  let ys = base_coord(y, H);
  let t = n * 6u;
  grid[2u * idx] = theta[t] * xs + theta[t + 1u] * ys + theta[t + 2u];
  grid[2u * idx + 1u] = theta[t + 3u] * xs + theta[t + 4u] * ys + theta[t + 5u];
}
