// FMA throughput microkernel (benchmarks only). Each invocation runs CHAINS independent vec4 FMA chains
// for params.iters steps, UNROLL steps per loop trip: independent chains keep the FMA pipes busy despite
// each FMA's latency. The loop count comes from a uniform and the start values from the invocation id,
// so nothing can be folded at compile time, and the sum of the chains is stored so nothing is dead.
// FLOPs per invocation: iters * CHAINS * 4 lanes * 2.
struct Params { iters: u32, n: u32, mul: f32, add: f32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> out: array<vec4f>;

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) local_id: vec3u) {
  let lid = local_id.x;
  let i = flat_workgroup(wid, nwg) * {{WG}}u + lid;
  if (i >= params.n) { return; }
  let m = vec4f(params.mul);
  let c = vec4f(params.add);
  let seed = f32(i & 1023u) * 1e-3;
  var acc: array<vec4f, {{CHAINS}}>;
  for (var k = 0u; k < {{CHAINS}}u; k++) { acc[k] = vec4f(seed + f32(k), seed - f32(k), seed * f32(k), seed); }
  // mul < 1 keeps every chain bounded (it converges to add / (1 - mul)): no overflow, no denormals.
  for (var t = 0u; t < params.iters; t += {{UNROLL}}u) {
    for (var u = 0u; u < {{UNROLL}}u; u++) {
      for (var k = 0u; k < {{CHAINS}}u; k++) { acc[k] = fma(acc[k], m, c); }
    }
  }
  var s = vec4f(0.0);
  for (var k = 0u; k < {{CHAINS}}u; k++) { s += acc[k]; }
  out[i] = s;
}
