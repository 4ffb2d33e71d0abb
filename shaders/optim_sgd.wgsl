// One fused SGD step per element, with PyTorch's semantics (torch.optim.SGD, single-tensor path):
//   g = grad (negated when maximising) + weight_decay·p
//   buf = g on the first step, else momentum·buf + (1 − dampening)·g;  g = nesterov ? g + momentum·buf : buf
//   p = p − lr·g
// Hyper-parameters are uniforms (changing lr never recompiles); MOMENTUM=0 drops the buffer binding.
struct Params {
  n: u32,
  // bit 0: first step (the buffer is not read: it is uninitialised pool memory); bit 1: nesterov; bit 2: maximize
  flags: u32,
  lr: f32,
  weight_decay: f32,
  momentum: f32,
  // 1 − dampening, computed on the host as PyTorch does
  one_minus_dampening: f32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
#if MOMENTUM
@group(0) @binding(3) var<storage, read_write> momentum_buffer: array<f32>;
#endif

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = flat_workgroup(wid, nwg) * 256u + lid;
  if (i >= params.n) { return; }
  var p = param[i];
  var g = grad[i];
  if ((params.flags & 4u) != 0u) { g = -g; }
  // A branch, not g + 0·p: with a zero weight decay an infinite or NaN parameter must not leak into g.
  if (params.weight_decay != 0.0) { g = g + params.weight_decay * p; }
#if MOMENTUM
  var buf: f32;
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
