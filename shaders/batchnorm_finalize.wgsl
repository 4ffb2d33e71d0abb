// Per channel group (T = vec4f or f32): folds batchnorm_reduce's partials into the saved statistics
// saved = [mean; 1/sqrt(var + eps)] ([2, C]) and, with RUNNING, updates the running statistics in place
// (PyTorch: running = (1 − momentum)·running + momentum·stat, with the unbiased variance);
// BWD folds backward partials into [dgamma; dbeta]; EVAL makes `saved` from the running statistics;
// VARIANCE also writes the biased batch variance (what the batch is normalised with) at binding B_VAR.
struct Params { groups: u32, chunks: u32, count: f32, eps: f32, momentum: f32, unbias: f32 }
@group(0) @binding(0) var<uniform> params: Params;
#if EVAL
@group(0) @binding(1) var<storage, read> rmean: array<{{T}}>;
@group(0) @binding(2) var<storage, read> rvar: array<{{T}}>;
@group(0) @binding(3) var<storage, read_write> saved: array<{{T}}>;
#else
#if BWD
@group(0) @binding(1) var<storage, read> part: array<{{T}}>;
@group(0) @binding(2) var<storage, read> saved: array<{{T}}>;
@group(0) @binding(3) var<storage, read_write> grads: array<{{T}}>;
#else
@group(0) @binding(1) var<storage, read> part: array<{{T}}>;
@group(0) @binding(2) var<storage, read> x: array<{{T}}>;
@group(0) @binding(3) var<storage, read_write> saved: array<{{T}}>;
#if RUNNING
@group(0) @binding(4) var<storage, read_write> rmean: array<{{T}}>;
@group(0) @binding(5) var<storage, read_write> rvar: array<{{T}}>;
#endif
#if VARIANCE
@group(0) @binding({{B_VAR}}) var<storage, read_write> variance: array<{{T}}>;
#endif
#endif
#endif

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let g = gid.x;
  let groups = params.groups;
  if (g >= groups) { return; }
#if EVAL
  saved[g] = rmean[g];
  saved[groups + g] = inverseSqrt(rvar[g] + params.eps);
#else
  var s1 = {{T}}(0.0);
  var s2 = {{T}}(0.0);
  for (var k = 0u; k < params.chunks; k++) {
    s1 += part[(2u * k) * groups + g];
    s2 += part[(2u * k + 1u) * groups + g];
  }
#if BWD
  grads[g] = s2 * saved[groups + g];
  grads[groups + g] = s1;
#else
  let d = s1 / params.count;
  // Clamped at 0 against rounding, keeping a NaN (a NaN input must not leave a finite variance).
  let v = relu_{{T}}(s2 / params.count - d * d);
  let mean = x[g] + d;
  saved[g] = mean;
  saved[groups + g] = inverseSqrt(v + params.eps);
#if VARIANCE
  variance[g] = v;
#endif
#if RUNNING
  let m = params.momentum;
  rmean[g] = (1.0 - m) * rmean[g] + m * mean;
  rvar[g] = (1.0 - m) * rvar[g] + m * (v * params.unbias);
#endif
#endif
#endif
}
