// Writes one 32-bit pattern to every element (any dtype: the host passes the value's bits).
struct Params { n: u32, bits: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> dst: array<u32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) local_id: vec3u) {
  let lid = local_id.x;
  let i = flat_workgroup(wid, nwg) * 256u + lid;
  if (i < params.n) { dst[i] = params.bits; }
}
