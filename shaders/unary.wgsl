// y = op(x) elementwise; `{{EXPR}}` is the op's expression in `x` (and the uniform `alpha`).
struct Params { n: u32, alpha: f32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

fn op(x: f32, alpha: f32) -> f32 { return {{EXPR}}; }

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) local_id: vec3u) {
  let lid = local_id.x;
  let i = flat_workgroup(wid, nwg) * 256u + lid;
  if (i < params.n) {
    // NaN in, NaN out for every unary op, whatever the builtins do with it (SwiftShader: exp(NaN) = +Inf, log(NaN) = 89).
    let x = src[i];
    dst[i] = select(op(x, params.alpha), x, isnan_f32(x));
  }
}
