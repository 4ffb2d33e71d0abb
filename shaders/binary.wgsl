// out = op(a, b) with NumPy broadcasting. BROADCAST=0: a and b have the output's shape (no index math);
// BROADCAST=1: each input is read through strides that are 0 on broadcast axes. SCALAR=1: b is a uniform.
struct Params {
  n: u32, rank: u32, scalar: f32, _pad: u32,
  shape: array<vec4u, 2>,
  a_strides: array<vec4u, 2>,
  b_strides: array<vec4u, 2>,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
#if SCALAR
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
#else
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
#endif

fn op(x: f32, y: f32) -> f32 { return {{EXPR}}; }

// x^y with NumPy's meaning for negative bases and integer exponents.
fn pow_signed(x: f32, y: f32) -> f32 {
  if (y == 0.0) { return 1.0; }
  // A NaN operand gives NaN (the builtin may not: SwiftShader's pow(NaN, y) is +Inf).
  if (isnan_f32(x) || isnan_f32(y)) { return select(x, y, isnan_f32(y)); }
  let r = pow(abs(x), y);
  if (x >= 0.0) { return r; }
  var nan_bits = 0x7fc00000u; // a var, so the NaN is made at run time, not folded as a constant
  if (fract(y) != 0.0) { return bitcast<f32>(nan_bits); }
  let odd = (i32(y) & 1) == 1;
  return select(r, -r, odd);
}


@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) local_id: vec3u) {
  let lid = local_id.x;
  let i = flat_workgroup(wid, nwg) * 256u + lid;
  if (i >= params.n) { return; }
#if BROADCAST
  var rest = i;
  var ia = 0u;
  var ib = 0u;
  for (var d = i32(params.rank) - 1; d >= 0; d--) {
    let extent = params.shape[d / 4][d % 4];
    let coord = rest % extent;
    rest = rest / extent;
    ia += coord * params.a_strides[d / 4][d % 4];
    ib += coord * params.b_strides[d / 4][d % 4];
  }
#else
  let ia = i;
  let ib = i;
#endif
#if SCALAR
  out[i] = op(a[ia], params.scalar);
#else
  out[i] = op(a[ia], b[ib]);
#endif
}
