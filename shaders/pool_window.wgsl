// Max or average pooling over windows of an NHWC tensor. One invocation per channel group (T = vec4f over 4
// channels when C % 4 == 0, else f32) and run of `seg` outputs along a row: the index arithmetic (integer
// divisions, slow on CPU-emulated GPUs) is paid once per run. Backward: pool_window_backward.wgsl.
// MAX: padding never wins (as PyTorch's −∞ padding); ties keep the first element in window order, a NaN wins
// (the last one, as PyTorch's `val > max || isnan(val)`); INDICES
// also writes the winner's flat index ih·W + iw within its image and channel (PyTorch's layout).
// Average: the divisor counts the window clipped to the padded input (countIncludePad) or to the input.
struct Params {
  items: u32, groups: u32, H: u32, W: u32,
  OH: u32, OW: u32, kh: u32, kw: u32,
  sh: u32, sw: u32, pt: u32, pl: u32,   // padding before the rows / columns (top, left)
  include_pad: u32, segs: u32, seg: u32,
  pb: u32, pr: u32,                    // padding after them (bottom, right)
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<{{T}}>;
@group(0) @binding(2) var<storage, read_write> y: array<{{T}}>;
#if INDICES
@group(0) @binding(3) var<storage, read_write> idx: array<{{I}}>;
#endif

// Average pooling's divisor for the window at output (oh, ow).
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
  let sg = p % params.segs;
  p /= params.segs;
  let oh = p % params.OH;
  let n = p / params.OH;
  let hs = i32(oh * params.sh) - i32(params.pt);
  let h0 = u32(max(hs, 0));
  let h1 = u32(min(hs + i32(params.kh), i32(params.H)));
  let img = n * params.H;
  let ow_end = min((sg + 1u) * params.seg, params.OW);
  for (var ow = sg * params.seg; ow < ow_end; ow++) {
    let ws = i32(ow * params.sw) - i32(params.pl);
    let w0 = u32(max(ws, 0));
    let w1 = u32(min(ws + i32(params.kw), i32(params.W)));
    let o = ((n * params.OH + oh) * params.OW + ow) * groups + g;
#if MAX
    var best = {{T}}(0.0);
    var bi = {{I}}(-1);
    for (var ih = h0; ih < h1; ih++) {
      for (var iw = w0; iw < w1; iw++) {
        let v = x[((img + ih) * params.W + iw) * groups + g];
        let take = (v > best) | isnan_{{T}}(v) | (bi < {{I}}(0));
        best = select(best, v, take);
        bi = select(bi, {{I}}(i32(ih * params.W + iw)), take);
      }
    }
    y[o] = best;
#if INDICES
    idx[o] = bi;
#endif
#else
    var acc = {{T}}(0.0);
    for (var ih = h0; ih < h1; ih++) {
      for (var iw = w0; iw < w1; iw++) {
        acc += x[((img + ih) * params.W + iw) * groups + g];
      }
    }
    y[o] = acc / divisor(oh, ow);
#endif
  }
}
