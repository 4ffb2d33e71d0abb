// Adaptive average pooling of NHWC to [N, OH, OW, C] with PyTorch's windows: output row o averages input
// rows floor(o·H/OH) ≤ h < ceil((o+1)·H/OH) (columns likewise). Forward: one invocation per output element
// of a channel group (T = vec4f or f32). BWD: one invocation per input element gathers dy/area over the
// windows that contain it: rows o ≥ floor(h·OH/H) while floor(o·H/OH) ≤ h.
struct Params { items: u32, groups: u32, H: u32, W: u32, OH: u32, OW: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<{{T}}>;
@group(0) @binding(2) var<storage, read_write> dst: array<{{T}}>;

fn win_start(o: u32, n: u32, on: u32) -> u32 { return (o * n) / on; }
fn win_end(o: u32, n: u32, on: u32) -> u32 { return ((o + 1u) * n + on - 1u) / on; }

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) local_id: vec3u) {
  let lid = local_id.x;
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
  var acc = {{T}}(0.0);
  for (var oh = (ih * params.OH) / params.H; oh < params.OH && oh * params.H < (ih + 1u) * params.OH; oh++) {
    let rows = f32(win_end(oh, params.H, params.OH) - win_start(oh, params.H, params.OH));
    for (var ow = (iw * params.OW) / params.W; ow < params.OW && ow * params.W < (iw + 1u) * params.OW; ow++) {
      let cols = f32(win_end(ow, params.W, params.OW) - win_start(ow, params.W, params.OW));
      acc += src[((n * params.OH + oh) * params.OW + ow) * groups + g] / (rows * cols);
    }
  }
  dst[i] = acc;
#else
  let ow = p % params.OW;
  p /= params.OW;
  let oh = p % params.OH;
  let n = p / params.OH;
  let h0 = win_start(oh, params.H, params.OH);
  let h1 = win_end(oh, params.H, params.OH);
  let w0 = win_start(ow, params.W, params.OW);
  let w1 = win_end(ow, params.W, params.OW);
  var acc = {{T}}(0.0);
  for (var ih = h0; ih < h1; ih++) {
    for (var iw = w0; iw < w1; iw++) {
      acc += src[((n * params.H + ih) * params.W + iw) * groups + g];
    }
  }
  dst[i] = acc / f32((h1 - h0) * (w1 - w0));
#endif
}
