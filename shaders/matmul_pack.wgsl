// Copies one operand of a matmul from its buffer into an rgba32float texture array, one layer per matrix:
// texel (q, r) of layer l holds X[l][r0 + r, 4q .. 4q+3], where X[l][r, c] = src[l·batch_stride + r·s_row + c·s_col]
// (so transposed operands are read in place, and tall operands are staged in chunks of rows from r0). Outside rows × cols it writes zeros: the matmul kernels read
// whole padded tiles without bounds checks.
struct Params {
  rows: u32, cols: u32, rows_p: u32, cols_q: u32,
  s_row: u32, s_col: u32, batch_stride: u32, r0: u32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var dst: texture_storage_2d_array<rgba32float, write>;

@compute @workgroup_size(8, 8)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let q = gid.x;
  let r = gid.y;
  if (q >= params.cols_q || r >= params.rows_p) { return; }
  var v = vec4f(0.0);
  if (r < params.rows) { // rows left in this chunk
    let base = gid.z * params.batch_stride + (params.r0 + r) * params.s_row;
    for (var e = 0u; e < 4u; e++) {
      let c = 4u * q + e;
      if (c < params.cols) { v[e] = src[base + c * params.s_col]; }
    }
  }
  textureStore(dst, vec2u(q, r), gid.z, v);
}
