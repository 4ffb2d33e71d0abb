// Shared by the matmul kernels (appended to each): the parameter block, batch broadcasting and the fused
// bias + activation epilogue. One pipeline serves every shape: sizes, strides and the activation are uniforms.
struct Params {
  M: u32, N: u32, K: u32, flags: u32,          // flags bit 0: add bias
  act: u32, rank: u32, batch_base: u32, batch: u32,
  // m_base: first output row of this dispatch (grids over the limit, and the texture kernels' row chunks).
  tiles_m: u32, tiles_n: u32, kq: u32, m_base: u32,
  // Element strides of A along m and k, and of B along k and n (the workgroup-tiled kernel: transposes as data).
  sa_m: u32, sa_k: u32, sb_k: u32, sb_n: u32,
  // Output batch shape, and each operand's stride per batch axis (0 where broadcast). The buffer kernel
  // counts strides in elements, the texture kernels in array layers.
  bshape: array<vec4u, 2>,
  a_bstride: array<vec4u, 2>,
  b_bstride: array<vec4u, 2>,
}
@group(0) @binding(0) var<uniform> params: Params;

// (a offset, b offset) of output batch `bi`.
fn batch_offsets(bi: u32) -> vec2u {
  var rest = bi;
  var off = vec2u(0u);
  for (var d = i32(params.rank) - 1; d >= 0; d--) {
    let extent = params.bshape[d / 4][d % 4];
    let c = rest % extent;
    rest = rest / extent;
    off += c * vec2u(params.a_bstride[d / 4][d % 4], params.b_bstride[d / 4][d % 4]);
  }
  return off;
}

fn activate(x: vec4f) -> vec4f {
  switch params.act {
    case 1u: { return relu_vec4f(x); }
    case 2u: { return 1.0 / (1.0 + exp(-x)); }
    // tanh through exp of a non-positive argument: the builtin overflows to NaN for large |x| on some drivers.
    case 3u: { let e = exp(-2.0 * abs(x)); return sign(x) * (1.0 - e) / (1.0 + e); }
    default: { return x; }
  }
}

// Bias for columns n..n+3 (zeros past N or without bias); loaded once per column quad, reused for every row.
fn bias4(n: u32) -> vec4f {
  var b = vec4f(0.0);
  if ((params.flags & 1u) != 0u) {
    for (var e = 0u; e < 4u; e++) {
      if (n + e < params.N) { b[e] = bias[n + e]; }
    }
  }
  return b;
}

// Writes activate(v + b) to row `m` (offset `row_off` = (batch·M + m)·N), columns n..n+3 that exist. `out` is
// bound as vec4s (binding rounded up to 16 bytes): one vector store when N % 4 == 0 (rows stay 16-byte
// aligned), else per-component stores. Storage stores are costly on lavapipe, so the vector path matters.
fn store4(row_off: u32, n: u32, v: vec4f, b: vec4f) {
  let x = activate(v + b);
  let i = row_off + n;
  if ((params.N & 3u) == 0u) {
    if (n < params.N) { out[i >> 2u] = x; }
    return;
  }
  for (var e = 0u; e < 4u; e++) {
    if (n + e < params.N) { out[(i + e) >> 2u][(i + e) & 3u] = x[e]; }
  }
}
