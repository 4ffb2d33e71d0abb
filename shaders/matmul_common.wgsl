// Shared by the matmul kernels (appended to each): the parameter block, batch broadcasting and the fused
// bias + activation epilogue. One pipeline serves every shape: sizes, strides and the activation are uniforms.
struct Params {
  M: u32, N: u32, K: u32, flags: u32,          // flags bit 0: add bias
  act: u32, rank: u32, batch_base: u32, batch: u32,
  tiles_m: u32, tiles_n: u32, kq: u32, m_base: u32,
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

fn activate(x: f32) -> f32 {
  switch params.act {
    case 1u: { return max(x, 0.0); }
    case 2u: { return 1.0 / (1.0 + exp(-x)); }
    // tanh through exp of a non-positive argument: the builtin overflows to NaN for large |x| on some drivers.
    case 3u: { let e = exp(-2.0 * abs(x)); return sign(x) * (1.0 - e) / (1.0 + e); }
    default: { return x; }
  }
}

// Bias for column n, then the activation; written to out[row_off + n] when the element exists.
fn store(row_off: u32, n: u32, v: f32) {
  var x = v;
  if ((params.flags & 1u) != 0u) { x += bias[n]; }
  out[row_off + n] = activate(x);
}
