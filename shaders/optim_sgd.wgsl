// One fused SGD step per element, with PyTorch's semantics (torch.optim.SGD, single-tensor path):
//   g = grad (negated when maximising) + weight_decay·p
//   buf = g on the first step, else momentum·buf + (1 − dampening)·g;  g = nesterov ? g + momentum·buf : buf
//   p = p − lr·g
// Hyper-parameters are uniforms (changing lr never recompiles); MOMENTUM=0 drops the buffer binding.
// V is f32 or vec4f: the vec4 form covers the tensor's padded buffer (pool buffers are multiples of 16 bytes),
// so padding lanes compute on garbage that belongs to no tensor. Each invocation updates PER_THREAD items,
// strided by the whole grid so neighbouring invocations touch neighbouring addresses.
alias V = {{T}};
struct Params {
  // items (scalars or vec4s) to update, and the grid's invocation count (the stride between an invocation's items)
  n: u32,
  stride: u32,
  // bit 0: first step (the buffer is not read: it is uninitialised pool memory); bit 1: nesterov; bit 2: maximize
  flags: u32,
  lr: f32,
  weight_decay: f32,
  momentum: f32,
  // 1 − dampening, computed on the host as PyTorch does
  one_minus_dampening: f32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> param: array<V>;
@group(0) @binding(2) var<storage, read> grad: array<V>;
#if MOMENTUM
@group(0) @binding(3) var<storage, read_write> momentum_buffer: array<V>;
#endif

fn update(i: u32) {
  var p = param[i];
  var g = grad[i];
  if ((params.flags & 4u) != 0u) { g = -g; }
  // A branch, not g + 0·p: with a zero weight decay an infinite or NaN parameter must not leak into g.
  if (params.weight_decay != 0.0) { g = g + params.weight_decay * p; }
#if MOMENTUM
  var buf: V;
  if ((params.flags & 1u) != 0u) {
    buf = g;
  } else {
    buf = momentum_buffer[i] * params.momentum + params.one_minus_dampening * g;
  }
  momentum_buffer[i] = buf;
  if ((params.flags & 2u) != 0u) { g = g + params.momentum * buf; } else { g = buf; }
#endif
  param[i] = p - params.lr * g;
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
