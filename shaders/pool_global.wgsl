// Global average / max pooling of NHWC [N, H·W rows, groups of T] to [N, groups]: a column reduction.
// Invocation i takes channel group i % groups of image n over a chunk of rows (lanes read neighbouring
// addresses, each lane walks its rows in order). With one chunk per image the result is written directly;
// otherwise the partials part[n][chunk][group] are folded by the FOLD pass (one invocation per output).
// MAX keeps the first maximum's row (h·W + w) as an index (I = vec4i or i32), or the last NaN's (NaN propagates,
// as PyTorch's adaptive max pooling); SUM scales by `scale`.
struct Params { rows: u32, groups: u32, chunk: u32, chunks: u32, items: u32, scale: f32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<{{T}}>;
@group(0) @binding(2) var<storage, read_write> dst: array<{{T}}>;
#if MAX
#if FOLD
@group(0) @binding(3) var<storage, read> src_idx: array<{{I}}>;
@group(0) @binding(4) var<storage, read_write> dst_idx: array<{{I}}>;
#else
@group(0) @binding(3) var<storage, read_write> dst_idx: array<{{I}}>;
#endif
#endif

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) local_id: vec3u) {
  let lid = local_id.x;
  let i = flat_workgroup(wid, nwg) * 256u + lid;
  if (i >= params.items) { return; }
  let groups = params.groups;
  let g = i % groups;
#if FOLD
  // i = n·groups + g; partials of image n are chunks × groups.
  let base = (i / groups) * params.chunks * groups + g;
#if MAX
  var best = src[base];
  var bi = src_idx[base];
  for (var k = 1u; k < params.chunks; k++) {
    let v = src[base + k * groups];
    // Later chunks hold later rows: only a strictly larger value (or a NaN: PyTorch keeps the last) replaces the first maximum.
    let take = (v > best) | isnan_{{T}}(v);
    best = select(best, v, take);
    bi = select(bi, src_idx[base + k * groups], take);
  }
  dst[i] = best;
  dst_idx[i] = bi;
#else
  var s = {{T}}(0.0);
  for (var k = 0u; k < params.chunks; k++) { s += src[base + k * groups]; }
  dst[i] = s * params.scale;
#endif
#else
  let p = i / groups;
  let k = p % params.chunks;
  let n = p / params.chunks;
  let r0 = k * params.chunk;
  let r1 = min(r0 + params.chunk, params.rows);
  let img = n * params.rows * groups + g;
#if MAX
  var best = src[img + r0 * groups];
  var bi = {{I}}(i32(r0));
  for (var r = r0 + 1u; r < r1; r++) {
    let v = src[img + r * groups];
    let take = (v > best) | isnan_{{T}}(v);
    best = select(best, v, take);
    bi = select(bi, {{I}}(i32(r)), take);
  }
  dst[i] = best;
  dst_idx[i] = bi;
#else
  var a = {{T}}(0.0);
  var b = {{T}}(0.0);
  var r = r0;
  for (; r + 1u < r1; r += 2u) {
    a += src[img + r * groups];
    b += src[img + (r + 1u) * groups];
  }
  if (r < r1) { a += src[img + r * groups]; }
  dst[i] = (a + b) * params.scale;
#endif
#endif
}
