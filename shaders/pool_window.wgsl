// Max or average pooling over windows of an NHWC tensor, forward (one invocation per output element of a
// channel group; T = vec4f over 4 channels when C % 4 == 0, else f32) or, with BWD, backward as a gather:
// one invocation per input element sums the output gradients of the windows that contain it, so no atomics.
// MAX: padding never wins (as PyTorch's −∞ padding); ties keep the first element in window order; INDICES
// also writes (BWD: reads) the winner's flat index ih·W + iw within its image and channel (PyTorch's layout).
// Average: the divisor counts the window clipped to the padded input (countIncludePad) or to the input.
struct Params {
  items: u32, groups: u32, H: u32, W: u32,
  OH: u32, OW: u32, kh: u32, kw: u32,
  sh: u32, sw: u32, ph: u32, pw: u32,
  include_pad: u32,
}
@group(0) @binding(0) var<uniform> params: Params;
#if BWD
@group(0) @binding(1) var<storage, read> dy: array<{{T}}>;
#if MAX
@group(0) @binding(2) var<storage, read> idx: array<{{I}}>;
@group(0) @binding(3) var<storage, read_write> dx: array<{{T}}>;
#else
@group(0) @binding(2) var<storage, read_write> dx: array<{{T}}>;
#endif
#else
@group(0) @binding(1) var<storage, read> x: array<{{T}}>;
@group(0) @binding(2) var<storage, read_write> y: array<{{T}}>;
#if INDICES
@group(0) @binding(3) var<storage, read_write> idx: array<{{I}}>;
#endif
#endif

// Average pooling's divisor for the window at output (oh, ow).
fn divisor(oh: u32, ow: u32) -> f32 {
  let hs = i32(oh * params.sh) - i32(params.ph);
  let ws = i32(ow * params.sw) - i32(params.pw);
  var he = min(hs + i32(params.kh), i32(params.H + params.ph));
  var we = min(ws + i32(params.kw), i32(params.W + params.pw));
  if (params.include_pad != 0u) { return f32((he - hs) * (we - ws)); }
  he = min(he, i32(params.H));
  we = min(we, i32(params.W));
  return f32((he - max(hs, 0)) * (we - max(ws, 0)));
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = flat_workgroup(wid, nwg) * 256u + lid;
  if (i >= params.items) { return; }
  let groups = params.groups;
  let g = i % groups;
  var p = i / groups;
#if BWD
  let iw = p % params.W;
  p /= params.W;
  let ih = p % params.H;
  let n = p / params.H;
  // Windows oh with oh·sh − ph ≤ ih ≤ oh·sh − ph + kh − 1, clipped to the output.
  let th = i32(ih + params.ph) - i32(params.kh) + 1;
  let tw = i32(iw + params.pw) - i32(params.kw) + 1;
  let oh0 = u32(max(th + i32(params.sh) - 1, 0)) / params.sh;
  let ow0 = u32(max(tw + i32(params.sw) - 1, 0)) / params.sw;
  let oh1 = min((ih + params.ph) / params.sh + 1u, params.OH);
  let ow1 = min((iw + params.pw) / params.sw + 1u, params.OW);
  var acc = {{T}}(0.0);
#if MAX
  let me = {{I}}(i32(ih * params.W + iw));
#endif
  for (var oh = oh0; oh < oh1; oh++) {
    for (var ow = ow0; ow < ow1; ow++) {
      let o = ((n * params.OH + oh) * params.OW + ow) * groups + g;
#if MAX
      acc += select({{T}}(0.0), dy[o], idx[o] == me);
#else
      acc += dy[o] / divisor(oh, ow);
#endif
    }
  }
  dx[i] = acc;
#else
  let ow = p % params.OW;
  p /= params.OW;
  let oh = p % params.OH;
  let n = p / params.OH;
  let hs = i32(oh * params.sh) - i32(params.ph);
  let ws = i32(ow * params.sw) - i32(params.pw);
  let h0 = u32(max(hs, 0));
  let w0 = u32(max(ws, 0));
  let h1 = u32(min(hs + i32(params.kh), i32(params.H)));
  let w1 = u32(min(ws + i32(params.kw), i32(params.W)));
#if MAX
  var best = {{T}}(0.0);
  var bi = {{I}}(-1);
  for (var ih = h0; ih < h1; ih++) {
    for (var iw = w0; iw < w1; iw++) {
      let v = x[((n * params.H + ih) * params.W + iw) * groups + g];
      let take = (v > best) | (bi < {{I}}(0));
      best = select(best, v, take);
      bi = select(bi, {{I}}(i32(ih * params.W + iw)), take);
    }
  }
  y[i] = best;
#if INDICES
  idx[i] = bi;
#endif
#else
  var acc = {{T}}(0.0);
  for (var ih = h0; ih < h1; ih++) {
    for (var iw = w0; iw < w1; iw++) {
      acc += x[((n * params.H + ih) * params.W + iw) * groups + g];
    }
  }
  y[i] = acc / divisor(oh, ow);
#endif
#endif
}
