// PyTorch's O × I × kH × kW convolution weights to the engine's HWIO (kH × kW × I × O): one output element
// per invocation, written in order.
struct Params { o: u32, i: u32, kh: u32, kw: u32, total: u32, _p0: u32, _p1: u32, _p2: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) local_id: vec3u) {
  let lid = local_id.x;
  let id = flat_workgroup(wid, nwg) * 256u + lid;
  if (id >= params.total) { return; }
  let o = id % params.o;
  var rest = id / params.o;
  let i = rest % params.i;
  rest = rest / params.i;
  let x = rest % params.kw;
  let y = rest / params.kw;
  dst[id] = src[((o * params.i + i) * params.kh + y) * params.kw + x];
}
