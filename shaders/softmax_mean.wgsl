// out[0] = scale * sum(src[0..n)): one workgroup, each invocation sums a strided slice, then a tree in
// workgroup memory. Used for the batch mean of per-row losses (n is a batch size, small).
struct Params { n: u32, scale: f32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

var<workgroup> red: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_id) local_id: vec3u) {
  let lid = local_id.x;
  var acc = 0.0;
  for (var i = lid; i < params.n; i += 256u) { acc += src[i]; }
  red[lid] = acc;
  for (var w = 128u; w > 0u; w = w / 2u) {
    workgroupBarrier();
    if (lid < w) { red[lid] = red[lid] + red[lid + w]; }
  }
  if (lid == 0u) { out[0] = red[0] * params.scale; }
}
