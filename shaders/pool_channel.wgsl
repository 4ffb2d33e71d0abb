// Mean or max over the channels of each pixel of an NHWC tensor: [P = N·H·W, C] → [P] (CBAM's spatial branch).
// One invocation per pixel walks its row of C values (as vec4s when C % 4 == 0) with independent per-lane
// accumulators and combines them at the end. MAX also writes the channel of the first maximum (i32), or of the
// first NaN.
struct Params { pixels: u32, groups: u32, scale: f32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<{{T}}>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
#if MAX
@group(0) @binding(3) var<storage, read_write> idx: array<i32>;
#endif

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) local_id: vec3u) {
  let lid = local_id.x;
  let i = flat_workgroup(wid, nwg) * 256u + lid;
  if (i >= params.pixels) { return; }
  let groups = params.groups;
  let base = i * groups;
#if MAX
  var best = x[base];
  var bi = {{I}}(0);
  for (var g = 1u; g < groups; g++) {
    let v = x[base + g];
    // NaN propagates and the first NaN stays (torch.max over a dimension).
    let take = ((v > best) | isnan_{{T}}(v)) & !isnan_{{T}}(best);
    best = select(best, v, take);
    bi = select(bi, {{I}}(i32(g)), take);
  }
#if VEC4
  // Each component j holds the first maximum among channels ≡ j (mod 4); pick the largest value, ties to
  // the lowest channel 4·bi[j] + j; a NaN beats every number.
  var m = best.x;
  var c = 4 * bi.x;
  for (var j = 1; j < 4; j++) {
    let cj = 4 * bi[j] + j;
    let nj = isnan_f32(best[j]);
    let nm = isnan_f32(m);
    if ((nj && (!nm || cj < c)) || (!nm && (best[j] > m || (best[j] == m && cj < c)))) { m = best[j]; c = cj; }
  }
  y[i] = m;
  idx[i] = c;
#else
  y[i] = best;
  idx[i] = bi;
#endif
#else
  var s = {{T}}(0.0);
  for (var g = 0u; g < groups; g++) { s += x[base + g]; }
#if VEC4
  y[i] = (s.x + s.y + s.z + s.w) * params.scale;
#else
  y[i] = s * params.scale;
#endif
#endif
}
