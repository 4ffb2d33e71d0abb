// C[b] = A[b]·B[b] with both operands in read-only rgba32float texture arrays (see matmul_pack.wgsl):
// A texel (q, m) = A[m, 4q..4q+3], B texel (q, k) = B[k, 4q..4q+3], zero-padded to whole tiles, so the inner
// loop has no bounds checks. Each invocation computes a TM × (4·TNV) register block; invocations walk
// micro-tiles in a flat 1-D order, columns fastest.
const TM = 4u;
const TNV = 2u;
const WG = 64u;

@group(0) @binding(1) var at: texture_storage_2d_array<rgba32float, read>;
@group(0) @binding(2) var bt: texture_storage_2d_array<rgba32float, read>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<vec4f>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
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

  var acc: array<array<vec4f, TNV>, TM>;
  for (var kq = 0u; kq < params.kq; kq++) {
    var av: array<vec4f, TM>;
    for (var i = 0u; i < TM; i++) { av[i] = textureLoad(at, vec2u(kq, m0 + i), la); }
    var bv: array<array<vec4f, TNV>, 4>;
    for (var j = 0u; j < 4u; j++) {
      for (var c = 0u; c < TNV; c++) { bv[j][c] = textureLoad(bt, vec2u(q0 + c, 4u * kq + j), lb); }
    }
    for (var i = 0u; i < TM; i++) {
      for (var c = 0u; c < TNV; c++) {
        acc[i][c] = fma(vec4f(av[i].x), bv[0][c], acc[i][c]);
        acc[i][c] = fma(vec4f(av[i].y), bv[1][c], acc[i][c]);
        acc[i][c] = fma(vec4f(av[i].z), bv[2][c], acc[i][c]);
        acc[i][c] = fma(vec4f(av[i].w), bv[3][c], acc[i][c]);
      }
    }
  }

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
