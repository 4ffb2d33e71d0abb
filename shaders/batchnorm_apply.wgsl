// y = (x − mean)·invstd·gamma + beta over an NHWC tensor seen as [rows, groups] of T (RELU: then max(y, 0)).
// Each invocation keeps one channel group's coefficients in registers over a chunk of rows (the layout of
// batchnorm_reduce).
// BWD computes the input gradient instead (training mode; EVAL: running statistics are constants):
//   dx = gamma·invstd·(dy − dbeta/M − (x − mean)·invstd·dgamma/M),   EVAL: dx = gamma·invstd·dy.
struct Params { rows: u32, groups: u32, chunk: u32, items: u32, count: f32 }
@group(0) @binding(0) var<uniform> params: Params;
#if BWD
@group(0) @binding(1) var<storage, read> dy: array<{{T}}>;
#if EVAL
@group(0) @binding(2) var<storage, read> saved: array<{{T}}>;
@group(0) @binding(3) var<storage, read> gamma: array<{{T}}>;
@group(0) @binding(4) var<storage, read_write> dx: array<{{T}}>;
#else
@group(0) @binding(2) var<storage, read> x: array<{{T}}>;
@group(0) @binding(3) var<storage, read> saved: array<{{T}}>;
@group(0) @binding(4) var<storage, read> gamma: array<{{T}}>;
@group(0) @binding(5) var<storage, read> grads: array<{{T}}>;
@group(0) @binding(6) var<storage, read_write> dx: array<{{T}}>;
#endif
#else
@group(0) @binding(1) var<storage, read> x: array<{{T}}>;
@group(0) @binding(2) var<storage, read> saved: array<{{T}}>;
@group(0) @binding(3) var<storage, read> gamma: array<{{T}}>;
@group(0) @binding(4) var<storage, read> beta: array<{{T}}>;
@group(0) @binding(5) var<storage, read_write> y: array<{{T}}>;
#endif

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) local_id: vec3u) {
  let lid = local_id.x;
  let i = flat_workgroup(wid, nwg) * 256u + lid;
  if (i >= params.items) { return; }
  let groups = params.groups;
  let g = i % groups;
  let k = i / groups;
  let r0 = k * params.chunk;
  let r1 = min(r0 + params.chunk, params.rows);
  let mean = saved[g];
  let a = saved[groups + g] * gamma[g];
#if BWD
#if EVAL
  for (var r = r0; r < r1; r++) {
    let o = r * groups + g;
    dx[o] = a * dy[o];
  }
#else
  let inv_m = 1.0 / params.count;
  let b = grads[groups + g] * inv_m;
  let c = grads[g] * saved[groups + g] * inv_m;
  for (var r = r0; r < r1; r++) {
    let o = r * groups + g;
    dx[o] = a * (dy[o] - b - (x[o] - mean) * c);
  }
#endif
#else
  let b = beta[g];
  for (var r = r0; r < r1; r++) {
    let o = r * groups + g;
#if RELU
    y[o] = relu_{{T}}((x[o] - mean) * a + b);
#else
    y[o] = (x[o] - mean) * a + b;
#endif
  }
#endif
}
