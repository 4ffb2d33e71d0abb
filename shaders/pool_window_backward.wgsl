// Backward of max / average pooling as a gather, no atomics: each invocation owns a BH × BW block of input
// pixels (the stride, so neighbouring blocks meet the same number of windows) of one channel group
// (T = vec4f or f32), loads each window that can touch the block once, and adds its gradient to the block's
// pixels it reaches: MAX: the pixel its index names (ih·W + iw); average: every pixel inside it, divided by
// the window's divisor. Loads per pixel fall from (windows per pixel) to about (windows per block) / (BH·BW).
struct Params {
  items: u32, groups: u32, H: u32, W: u32,
  OH: u32, OW: u32, kh: u32, kw: u32,
  sh: u32, sw: u32, pt: u32, pl: u32,   // padding before the rows / columns (top, left)
  include_pad: u32, bw_count: u32, bh_count: u32,
  pb: u32, pr: u32,                    // padding after them (bottom, right)
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> dy: array<{{T}}>;
#if MAX
@group(0) @binding(2) var<storage, read> idx: array<{{I}}>;
@group(0) @binding(3) var<storage, read_write> dx: array<{{T}}>;
#else
@group(0) @binding(2) var<storage, read_write> dx: array<{{T}}>;
#endif

const BH = {{BH}}u;
const BW = {{BW}}u;

// First window (along one axis) whose span [o·s − p, o·s − p + k) reaches position i, and one past the last
// window starting at or before i + extent − 1; clipped to [0, out).
fn first_window(i: u32, k: u32, s: u32, p: u32) -> u32 {
  let t = i32(i + p) - i32(k) + 1;
  return u32(max(t + i32(s) - 1, 0)) / s;
}
fn end_window(last: u32, s: u32, p: u32, out: u32) -> u32 { return min((last + p) / s + 1u, out); }

fn divisor(oh: u32, ow: u32) -> f32 {
  let hs = i32(oh * params.sh) - i32(params.pt);
  let ws = i32(ow * params.sw) - i32(params.pl);
  var he = min(hs + i32(params.kh), i32(params.H + params.pb));
  var we = min(ws + i32(params.kw), i32(params.W + params.pr));
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
  let bx = p % params.bw_count;
  p /= params.bw_count;
  let by = p % params.bh_count;
  let n = p / params.bh_count;
  let h0 = by * BH;
  let w0 = bx * BW;
  let oh0 = first_window(h0, params.kh, params.sh, params.pt);
  let ow0 = first_window(w0, params.kw, params.sw, params.pl);
  let oh1 = end_window(min(h0 + BH, params.H) - 1u, params.sh, params.pt, params.OH);
  let ow1 = end_window(min(w0 + BW, params.W) - 1u, params.sw, params.pl, params.OW);
  var acc: array<{{T}}, BH * BW>;
  for (var j = 0u; j < BH * BW; j++) { acc[j] = {{T}}(0.0); }
  for (var oh = oh0; oh < oh1; oh++) {
    for (var ow = ow0; ow < ow1; ow++) {
      let o = ((n * params.OH + oh) * params.OW + ow) * groups + g;
      let d = dy[o];
#if MAX
      // Position of each lane's winner relative to the block's corner.
      let rel = idx[o] - {{I}}(i32(h0 * params.W + w0));
      for (var y = 0u; y < BH; y++) {
        for (var x = 0u; x < BW; x++) {
          acc[y * BW + x] += select({{T}}(0.0), d, rel == {{I}}(i32(y * params.W + x)));
        }
      }
#else
      let q = d / divisor(oh, ow);
      let hs = i32(oh * params.sh) - i32(params.pt) - i32(h0);
      let ws = i32(ow * params.sw) - i32(params.pl) - i32(w0);
      for (var y = 0u; y < BH; y++) {
        for (var x = 0u; x < BW; x++) {
          let inside = i32(y) >= hs && i32(y) < hs + i32(params.kh) && i32(x) >= ws && i32(x) < ws + i32(params.kw);
          acc[y * BW + x] += select({{T}}(0.0), q, inside);
        }
      }
#endif
    }
  }
  for (var y = 0u; y < BH; y++) {
    for (var x = 0u; x < BW; x++) {
      if (h0 + y < params.H && w0 + x < params.W) {
        dx[((n * params.H + h0 + y) * params.W + w0 + x) * groups + g] = acc[y * BW + x];
      }
    }
  }
}
