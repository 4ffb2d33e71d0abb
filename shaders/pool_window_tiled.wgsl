// Max or average pooling with the window and stride fixed at compile time (KH, KW, SH, SW): one invocation
// computes a TH × TW tile of outputs of one channel group (T = vec4f or f32) from the union of their windows,
// loading each input element of that patch once (3×3/2 with a 2×2 tile: 25 loads for 4 outputs instead of
// 36). The loops have constant bounds, so they unroll and the window-membership tests vanish. Padding,
// sizes and ties behave as in pool_window.wgsl (each output scans its window in row-major order).
struct Params {
  items: u32, groups: u32, H: u32, W: u32,
  OH: u32, OW: u32, kh: u32, kw: u32,
  sh: u32, sw: u32, pt: u32, pl: u32,   // padding before the rows / columns (top, left)
  include_pad: u32, tiles_w: u32, tiles_h: u32,
  pb: u32, pr: u32,                    // padding after them (bottom, right)
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<{{T}}>;
@group(0) @binding(2) var<storage, read_write> y: array<{{T}}>;
#if INDICES
@group(0) @binding(3) var<storage, read_write> idx: array<{{I}}>;
#endif

const KH = {{KH}}u;
const KW = {{KW}}u;
const SH = {{SH}}u;
const SW = {{SW}}u;
const TH = {{TH}}u;
const TW = {{TW}}u;
const PH = (TH - 1u) * SH + KH;
const PW = (TW - 1u) * SW + KW;

fn divisor(oh: u32, ow: u32) -> f32 {
  let hs = i32(oh * SH) - i32(params.pt);
  let ws = i32(ow * SW) - i32(params.pl);
  var he = min(hs + i32(KH), i32(params.H + params.pb));
  var we = min(ws + i32(KW), i32(params.W + params.pr));
  if (params.include_pad != 0u) { return f32((he - hs) * (we - ws)); }
  he = min(he, i32(params.H));
  we = min(we, i32(params.W));
  return f32((he - max(hs, 0)) * (we - max(ws, 0)));
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) local_id: vec3u) {
  let lid = local_id.x;
  let i = flat_workgroup(wid, nwg) * 256u + lid;
  if (i >= params.items) { return; }
  let groups = params.groups;
  let g = i % groups;
  var p = i / groups;
  let tx = p % params.tiles_w;
  p /= params.tiles_w;
  let ty = p % params.tiles_h;
  let n = p / params.tiles_h;
  let oh0 = ty * TH;
  let ow0 = tx * TW;
  // Top-left input position of the patch (may lie in the padding).
  let hs = i32(oh0 * SH) - i32(params.pt);
  let ws = i32(ow0 * SW) - i32(params.pl);
  var acc: array<{{T}}, TH * TW>;
#if MAX
  var bi: array<{{I}}, TH * TW>;
  for (var t = 0u; t < TH * TW; t++) { acc[t] = {{T}}(0.0); bi[t] = {{I}}(-1); }
#else
  for (var t = 0u; t < TH * TW; t++) { acc[t] = {{T}}(0.0); }
#endif
  // Branch-free: out-of-range patch elements load a clamped in-range address and are masked out.
  for (var py = 0u; py < PH; py++) {
    let ih = hs + i32(py);
    let row_ok = ih >= 0 && ih < i32(params.H);
    let ihc = u32(clamp(ih, 0, i32(params.H) - 1));
    for (var px = 0u; px < PW; px++) {
      let iw = ws + i32(px);
      let ok = row_ok && iw >= 0 && iw < i32(params.W);
      let v = x[((n * params.H + ihc) * params.W + u32(clamp(iw, 0, i32(params.W) - 1))) * groups + g];
#if MAX
      let at = {{I}}(ih * i32(params.W) + iw);
      let v_nan = isnan_{{T}}(v);
#endif
      for (var oy = 0u; oy < TH; oy++) {
        for (var ox = 0u; ox < TW; ox++) {
          // Whether (py, px) lies in output (oy, ox)'s window: constant once unrolled.
          if (py >= oy * SH && py < oy * SH + KH && px >= ox * SW && px < ox * SW + KW) {
            let t = oy * TW + ox;
#if MAX
            let take = ((v > acc[t]) | v_nan | (bi[t] < {{I}}(0))) & {{B}}(ok);
            acc[t] = select(acc[t], v, take);
            bi[t] = select(bi[t], at, take);
#else
            acc[t] += select({{T}}(0.0), v, ok);
#endif
          }
        }
      }
    }
  }
  for (var oy = 0u; oy < TH; oy++) {
    for (var ox = 0u; ox < TW; ox++) {
      let oh = oh0 + oy;
      let ow = ow0 + ox;
      if (oh < params.OH && ow < params.OW) {
        let o = ((n * params.OH + oh) * params.OW + ow) * groups + g;
        let t = oy * TW + ox;
#if MAX
        y[o] = acc[t];
#if INDICES
        idx[o] = bi[t];
#endif
#else
        y[o] = acc[t] / divisor(oh, ow);
#endif
      }
    }
  }
}
