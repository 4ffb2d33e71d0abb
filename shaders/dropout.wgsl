// Dropout with a counter-based mask: element i is kept iff pcg(pcg(i) ^ key) ≥ threshold, where key = pcg(seed)
// and threshold = ⌊p·2³²⌋, so P(keep) = 1 − p to 2⁻³². Integer-only, so every device — and the CPU reference
// (src/kernels/dropout.ts) — draws the same mask from the same seed; the backward regenerates it.
// y = kept ? x·scale : 0. PER units per invocation strided by the grid; T = vec4f when n % 4 == 0.
struct Params { n: u32, stride: u32, key: u32, threshold: u32, scale: f32 }
@group(0) @binding(0) var<uniform> params: Params;

#if VEC
alias T = vec4f;
#else
alias T = f32;
#endif
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read_write> y: array<T>;

// PCG-RXS-M-XS 32-bit output permutation of one LCG step (O'Neill), a fast well-mixing hash.
fn pcg(v: u32) -> u32 {
  let state = v * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}

fn kept(i: u32) -> bool { return pcg(pcg(i) ^ params.key) >= params.threshold; }

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) local_id: vec3u) {
  let lid = local_id.x;
  let t = flat_workgroup(wid, nwg) * 256u + lid;
  for (var k = 0u; k < {{PER}}u; k++) {
    let i = t + k * params.stride;
    if (i >= params.n) { return; }
#if VEC
    let e = 4u * i;
    let keep = vec4<bool>(kept(e), kept(e + 1u), kept(e + 2u), kept(e + 3u));
    y[i] = select(T(0.0), x[i] * params.scale, keep);
#else
    y[i] = select(0.0, x[i] * params.scale, kept(i));
#endif
  }
}
