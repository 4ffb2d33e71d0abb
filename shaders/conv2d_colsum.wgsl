// out[s·cols + c] = Σ in[r·cols + c] over the rows r of split s: the bias gradient (rows = output pixels,
// cols = channels) and the sum of the weight gradient's split partials (rows = splits). Adjacent
// invocations read adjacent columns.
struct Params { rows: u32, cols: u32, rows_per_split: u32, total: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) local_id: vec3u) {
  let lid = local_id.x;
  let id = flat_workgroup(wid, nwg) * 64u + lid;
  if (id >= params.total) { return; }
  let c = id % params.cols;
  let s = id / params.cols;
  let r0 = s * params.rows_per_split;
  let r1 = min(r0 + params.rows_per_split, params.rows);
  var acc = 0.0;
  for (var r = r0; r < r1; r++) { acc += src[r * params.cols + c]; }
  out[id] = acc;
}
