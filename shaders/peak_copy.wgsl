// Memory-bandwidth microkernels (benchmarks only): dst = src.
// Default: storage buffer to storage buffer, T (f32 or vec4f) elements, PER_THREAD per invocation strided by
// the whole grid so neighbouring invocations touch neighbouring addresses.
// TEXTURE: a read-only rgba32float storage texture (params.width texels a row) to a vec4f storage buffer,
// one texel per invocation; on CPU drivers texture reads take a vectorised path that buffer reads do not.
struct Params { n: u32, stride: u32, width: u32, _pad: u32 }
@group(0) @binding(0) var<uniform> params: Params;
#if TEXTURE
@group(0) @binding(1) var src: texture_storage_2d<rgba32float, read>;
@group(0) @binding(2) var<storage, read_write> dst: array<vec4f>;

@compute @workgroup_size({{WG}})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.y * params.width + gid.x;
  if (gid.x < params.width && i < params.n) { dst[i] = textureLoad(src, gid.xy); }
}
#else
@group(0) @binding(1) var<storage, read> src: array<{{T}}>;
@group(0) @binding(2) var<storage, read_write> dst: array<{{T}}>;

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) local_id: vec3u) {
  let lid = local_id.x;
  let base = flat_workgroup(wid, nwg) * {{WG}}u + lid;
  if (base + ({{PER_THREAD}}u - 1u) * params.stride < params.n) {
    // The whole run is in bounds: no per-element check in the loop.
    for (var k = 0u; k < {{PER_THREAD}}u; k++) { let i = base + k * params.stride; dst[i] = src[i]; }
  } else {
    for (var k = 0u; k < {{PER_THREAD}}u; k++) {
      let i = base + k * params.stride;
      if (i < params.n) { dst[i] = src[i]; }
    }
  }
}
#endif
