// Backward of the reductions that pool a whole axis, as a map over the input's elements (no atomics):
//   GLOBAL (dy: [N, C]):      average: dx = dy[n, c]·scale;  MAX: dy[n, c] where idx[n, c] == h·W + w, else 0.
//   CHANNEL (dy: [N·H·W]):    mean:    dx = dy[p]·scale;     MAX: dy[p] where idx[p] == c, else 0.
// dx is NHWC seen as [pixels, groups] of T (vec4f over channels when C % 4 == 0); `rows` = H·W.
struct Params { items: u32, groups: u32, rows: u32, scale: f32 }
@group(0) @binding(0) var<uniform> params: Params;
#if GLOBAL
@group(0) @binding(1) var<storage, read> dy: array<{{T}}>;
#if MAX
@group(0) @binding(2) var<storage, read> idx: array<{{I}}>;
#endif
#else
@group(0) @binding(1) var<storage, read> dy: array<f32>;
#if MAX
@group(0) @binding(2) var<storage, read> idx: array<i32>;
#endif
#endif
#if MAX
@group(0) @binding(3) var<storage, read_write> dx: array<{{T}}>;
#else
@group(0) @binding(2) var<storage, read_write> dx: array<{{T}}>;
#endif

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) local_id: vec3u) {
  let lid = local_id.x;
  let i = flat_workgroup(wid, nwg) * 256u + lid;
  if (i >= params.items) { return; }
  let groups = params.groups;
  let g = i % groups;
  let pixel = i / groups;
#if GLOBAL
  let o = (pixel / params.rows) * groups + g;
#if MAX
  dx[i] = select({{T}}(0.0), dy[o], idx[o] == {{I}}(i32(pixel % params.rows)));
#else
  dx[i] = dy[o] * params.scale;
#endif
#else
#if MAX
#if VEC4
  let c = vec4i(i32(4u * g)) + vec4i(0, 1, 2, 3);
#else
  let c = i32(g);
#endif
  dx[i] = select({{T}}(0.0), {{T}}(dy[pixel]), c == {{I}}(idx[pixel]));
#else
  dx[i] = {{T}}(dy[pixel] * params.scale);
#endif
#endif
}
