// out[b, j, i] = in[b, i, j] for in of shape [batch, rows, cols], through a 32×33 workgroup-memory tile so
// that both the reads and the writes of a row of invocations are contiguous. 32-bit words: any dtype.
struct Params { batch: u32, rows: u32, cols: u32, tiles_r: u32, tiles_c: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<u32>;
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;

const T = 32u;
var<workgroup> tile: array<u32, 1056>; // 32 rows of 33: the pad keeps column reads off one bank

@compute @workgroup_size(32, 8)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) l: vec3u) {
  let w = flat_workgroup(wid, nwg);
  let per_batch = params.tiles_r * params.tiles_c;
  if (w >= params.batch * per_batch) { return; } // whole workgroup: uniform
  let b = w / per_batch;
  let r0 = ((w % per_batch) / params.tiles_c) * T;
  let c0 = (w % params.tiles_c) * T;
  let plane = b * params.rows * params.cols;
  for (var j = 0u; j < T; j += 8u) {
    let r = r0 + l.y + j;
    let c = c0 + l.x;
    if (r < params.rows && c < params.cols) { tile[(l.y + j) * 33u + l.x] = src[plane + r * params.cols + c]; }
  }
  workgroupBarrier();
  for (var j = 0u; j < T; j += 8u) {
    let c = c0 + l.y + j; // output row
    let r = r0 + l.x;     // output column
    if (c < params.cols && r < params.rows) { dst[plane + c * params.rows + r] = tile[l.x * 33u + l.y + j]; }
  }
}
