// One fused Adam / AdamW step per element, with PyTorch's semantics (torch.optim.Adam/AdamW, single-tensor path):
//   g = grad (negated when maximising);  AdamW: p = p·(1 − lr·wd);  Adam: g = g + wd·p
//   m = lerp(m, g, 1 − β1);  v = β2·v + (1 − β2)·g²;  v̂ = amsgrad ? max(v̂, v) : v
//   p = p − step_size · m / (√v̂ / √(1 − β2^t) + eps),  step_size = lr / (1 − β1^t)
// Bias corrections are computed on the host per step; everything travels in uniforms.
// V is f32 or vec4f: the vec4 form covers the tensor's padded buffer (pool buffers are multiples of 16 bytes),
// so padding lanes compute on garbage that belongs to no tensor. Each invocation updates PER_THREAD items,
// strided by the whole grid so neighbouring invocations touch neighbouring addresses.
alias V = {{T}};
struct Params {
  // items (scalars or vec4s) to update, and the grid's invocation count (the stride between an invocation's items)
  n: u32,
  stride: u32,
  // bit 0: first step (state buffers are uninitialised pool memory: read as zeros); bit 1: maximize;
  // bit 2: decoupled weight decay (AdamW)
  flags: u32,
  weight_decay: f32,
  // 1 − lr·weight_decay (AdamW's multiplicative decay)
  decay: f32,
  // lerp weight 1 − β1, and β2, 1 − β2
  w1: f32,
  beta2: f32,
  one_minus_beta2: f32,
  eps: f32,
  step_size: f32,
  bias_correction2_sqrt: f32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> param: array<V>;
@group(0) @binding(2) var<storage, read> grad: array<V>;
@group(0) @binding(3) var<storage, read_write> exp_avg: array<V>;
@group(0) @binding(4) var<storage, read_write> exp_avg_sq: array<V>;
#if AMSGRAD
@group(0) @binding(5) var<storage, read_write> max_exp_avg_sq: array<V>;
#endif

// torch.lerp's two-sided formula (exact at both ends).
fn lerp(a: V, b: V, w: f32) -> V {
  if (w < 0.5) { return a + w * (b - a); }
  return b - (b - a) * (1.0 - w);
}

fn update(i: u32) {
  let first = (params.flags & 1u) != 0u;
  var p = param[i];
  var g = grad[i];
  if ((params.flags & 2u) != 0u) { g = -g; }
  if (params.weight_decay != 0.0) {
    if ((params.flags & 4u) != 0u) { p = p * params.decay; } else { g = g + params.weight_decay * p; }
  }
  var m = V(0.0);
  var v = V(0.0);
  if (!first) {
    m = exp_avg[i];
    v = exp_avg_sq[i];
  }
  m = lerp(m, g, params.w1);
  v = v * params.beta2 + params.one_minus_beta2 * (g * g);
  exp_avg[i] = m;
  exp_avg_sq[i] = v;
#if AMSGRAD
  var vmax = v;
  if (!first) {
    // torch.maximum keeps a NaN (WGSL's max may not): a NaN gradient stays visible in the state.
    let old = max_exp_avg_sq[i];
    vmax = select(select(max(old, v), v, isnan_{{T}}(v)), old, isnan_{{T}}(old));
  }
  max_exp_avg_sq[i] = vmax;
  let denom = sqrt(vmax) / params.bias_correction2_sqrt + params.eps;
#else
  let denom = sqrt(v) / params.bias_correction2_sqrt + params.eps;
#endif
  param[i] = p - params.step_size * (m / denom);
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) local_id: vec3u) {
  let lid = local_id.x;
  let base = flat_workgroup(wid, nwg) * 256u + lid;
  // A folded grid may hold more invocations than asked for: those beyond the stride would repeat items.
  if (base >= params.stride) { return; }
  for (var k = 0u; k < {{PER_THREAD}}u; k++) {
    let i = base + k * params.stride;
    if (i < params.n) { update(i); }
  }
}
