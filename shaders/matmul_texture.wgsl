// C[b] = A[b]·B[b] with both operands in read-only rgba32float texture arrays (see matmul_pack.wgsl):
// A texel (q, m) = A[m, 4q..4q+3], B texel (q, k) = B[k, 4q..4q+3], zero-padded to whole tiles, so the inner
// loop has no bounds checks. Each invocation computes a 4 × 8 register block; invocations walk micro-tiles
// in a flat 1-D order, columns fastest. The block is unrolled by hand into named registers: SwiftShader
// keeps loop-indexed arrays in memory (9× slower there); LLVM on lavapipe unrolls either form.
const TM = 4u;
const TNV = 2u;
const WG = 64u;

@group(0) @binding(1) var at: texture_storage_2d_array<rgba32float, read>;
@group(0) @binding(2) var bt: texture_storage_2d_array<rgba32float, read>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<vec4f>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) local_id: vec3u) {
  let lid = local_id.x;
  let g = flat_workgroup(wid, nwg) * WG + lid;
  let tn = g % params.tiles_n;
  let t = g / params.tiles_n;
  let tm = t % params.tiles_m;
  let bi = t / params.tiles_m;
  if (bi >= params.batch) { return; }
  let layers = batch_offsets(bi);
  let la = layers.x;
  let lb = layers.y;
  let m0 = tm * TM;
  let q0 = tn * TNV;

  var c00 = vec4f(0.0); var c01 = vec4f(0.0); var c10 = vec4f(0.0); var c11 = vec4f(0.0);
  var c20 = vec4f(0.0); var c21 = vec4f(0.0); var c30 = vec4f(0.0); var c31 = vec4f(0.0);
  for (var kq = 0u; kq < params.kq; kq++) {
    let a0 = textureLoad(at, vec2u(kq, m0), la);
    let a1 = textureLoad(at, vec2u(kq, m0 + 1u), la);
    let a2 = textureLoad(at, vec2u(kq, m0 + 2u), la);
    let a3 = textureLoad(at, vec2u(kq, m0 + 3u), la);
    let k = 4u * kq;
    let b00 = textureLoad(bt, vec2u(q0, k), lb);
    let b01 = textureLoad(bt, vec2u(q0 + 1u, k), lb);
    let b10 = textureLoad(bt, vec2u(q0, k + 1u), lb);
    let b11 = textureLoad(bt, vec2u(q0 + 1u, k + 1u), lb);
    let b20 = textureLoad(bt, vec2u(q0, k + 2u), lb);
    let b21 = textureLoad(bt, vec2u(q0 + 1u, k + 2u), lb);
    let b30 = textureLoad(bt, vec2u(q0, k + 3u), lb);
    let b31 = textureLoad(bt, vec2u(q0 + 1u, k + 3u), lb);
    c00 = dot4(c00, a0, b00, b10, b20, b30); c01 = dot4(c01, a0, b01, b11, b21, b31);
    c10 = dot4(c10, a1, b00, b10, b20, b30); c11 = dot4(c11, a1, b01, b11, b21, b31);
    c20 = dot4(c20, a2, b00, b10, b20, b30); c21 = dot4(c21, a2, b01, b11, b21, b31);
    c30 = dot4(c30, a3, b00, b10, b20, b30); c31 = dot4(c31, a3, b01, b11, b21, b31);
  }
  let acc = array<array<vec4f, 2>, 4>(array(c00, c01), array(c10, c11), array(c20, c21), array(c30, c31));

  let M = params.M;
  let N = params.N;
  let oo = bi * M * N;
  var bq: array<vec4f, TNV>;
  for (var c = 0u; c < TNV; c++) { bq[c] = bias4(4u * (q0 + c)); }
  for (var i = 0u; i < TM; i++) {
    let m = params.m_base + m0 + i; // texture rows are this chunk's; output rows are global
    if (m >= M) { break; }
    for (var c = 0u; c < TNV; c++) { store4(oo + m * N, 4u * (q0 + c), acc[i][c], bq[c]); }
  }
}

// acc + a.x·b0 + a.y·b1 + a.z·b2 + a.w·b3
fn dot4(acc: vec4f, a: vec4f, b0: vec4f, b1: vec4f, b2: vec4f, b3: vec4f) -> vec4f {
  return fma(vec4f(a.w), b3, fma(vec4f(a.z), b2, fma(vec4f(a.y), b1, fma(vec4f(a.x), b0, acc))));
}
