// Backward of grid_sample to its input: each output element scatters dy·w into the (up to) four input texels it
// sampled. Scatter, not gather: for an arbitrary grid an input texel cannot enumerate the outputs that read it.
// WebGPU has no float atomics, so the add is a compare-exchange loop on the f32 bits (atomic<u32>): exact
// per add, but the order of the adds — hence the last bits of a sum — varies from run to run. dx is zeroed
// by the host first.
struct Params { N: u32, H: u32, W: u32, C: u32, Ho: u32, Wo: u32, align: u32, _pad: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> grid: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<atomic<u32>>;

fn unnormalise(g: f32, size: u32) -> f32 {
  var i = ((g + 1.0) * f32(size) - 1.0) * 0.5;
  if (params.align != 0u) { i = (g + 1.0) * 0.5 * f32(size - 1u); }
  // A NaN coordinate samples nothing (every tap outside, 0 as PyTorch's zeros padding): clamp would pick a bound.
  return select(clamp(i, -2.0, f32(size) + 1.0), -2.0, isnan_f32(g));
}

fn add_at(n: u32, yy: i32, xx: i32, c: u32, v: f32) {
  if (yy < 0 || xx < 0 || yy >= i32(params.H) || xx >= i32(params.W) || v == 0.0) { return; }
  let i = ((n * params.H + u32(yy)) * params.W + u32(xx)) * params.C + c;
  var old = atomicLoad(&dx[i]);
  loop {
    let r = atomicCompareExchangeWeak(&dx[i], old, bitcast<u32>(bitcast<f32>(old) + v));
    if (r.exchanged) { break; }
    old = r.old_value;
  }
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) local_id: vec3u) {
  let lid = local_id.x;
  let idx = flat_workgroup(wid, nwg) * 64u + lid;
  let C = params.C;
  if (idx >= params.N * params.Ho * params.Wo * C) { return; }
  let c = idx % C;
  let p = idx / C;
  let n = p / (params.Ho * params.Wo);
  let ix = unnormalise(grid[2u * p], params.W);
  let iy = unnormalise(grid[2u * p + 1u], params.H);
  let fx = floor(ix);
  let fy = floor(iy);
  let x0 = i32(fx);
  let y0 = i32(fy);
  let wx = ix - fx;
  let wy = iy - fy;
  let g = dy[idx];
  add_at(n, y0, x0, c, g * (1.0 - wx) * (1.0 - wy));
  add_at(n, y0, x0 + 1, c, g * wx * (1.0 - wy));
  add_at(n, y0 + 1, x0, c, g * (1.0 - wx) * wy);
  add_at(n, y0 + 1, x0 + 1, c, g * wx * wy);
}
