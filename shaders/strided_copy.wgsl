// dst[dst_base + Σ c·dst_strides] = src[src_base + Σ c·src_strides] for every coordinate c of `shape`
// (rank ≤ 8, already simplified by the host). 32-bit words, so any dtype copies bit-exactly.
// permute, slice and concat all reduce to this.
struct Params {
  n: u32, rank: u32, src_base: u32, dst_base: u32,
  shape: array<vec4u, 2>,
  src_strides: array<vec4u, 2>,
  dst_strides: array<vec4u, 2>,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<u32>;
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = flat_workgroup(wid, nwg) * 256u + lid;
  if (i >= params.n) { return; }
  var rest = i;
  var s = params.src_base;
  var d = params.dst_base;
  for (var a = i32(params.rank) - 1; a >= 0; a--) {
    let extent = params.shape[a / 4][a % 4];
    let c = rest % extent;
    rest = rest / extent;
    s += c * params.src_strides[a / 4][a % 4];
    d += c * params.dst_strides[a / 4][a % 4];
  }
  dst[d] = src[s];
}
