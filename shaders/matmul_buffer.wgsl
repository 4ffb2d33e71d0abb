// C[b] = A[b]·B[b] from storage buffers, each invocation a TM×(4·TNV) register block. Loads use clamped
// row/column indices so the inner loop has no bounds checks (results of clamped lanes are discarded).
// Defines: TRANS_A (a is [K, M]), TRANS_B (b is [N, K]), VEC_A / VEC_B (the operand's contiguous axis is a
// multiple of 4, so it is bound as vec4s and blocks load as vec4).
const TM = 4u;
const TNV = 2u;
const WG_X = 8u;
const WG_Y = 8u;

#if VEC_A
@group(0) @binding(1) var<storage, read> a: array<vec4f>;
fn ea(i: u32) -> f32 { return a[i >> 2u][i & 3u]; }
#else
@group(0) @binding(1) var<storage, read> a: array<f32>;
fn ea(i: u32) -> f32 { return a[i]; }
#endif
#if VEC_B
@group(0) @binding(2) var<storage, read> b: array<vec4f>;
fn eb(i: u32) -> f32 { return b[i >> 2u][i & 3u]; }
#else
@group(0) @binding(2) var<storage, read> b: array<f32>;
fn eb(i: u32) -> f32 { return b[i]; }
#endif
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<vec4f>;

@compute @workgroup_size(WG_X, WG_Y)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let M = params.M;
  let N = params.N;
  let K = params.K;
  let m0 = params.m_base + gid.y * TM;
  let n0 = gid.x * 4u * TNV;
  if (m0 >= M || n0 >= N) { return; }
  let bi = params.batch_base + gid.z;
  let offs = batch_offsets(bi);
  let ao = offs.x;
  let bo = offs.y;

  // Element offsets of the (clamped) rows of A and columns of B this invocation reads.
  var ar: array<u32, TM>;
  for (var i = 0u; i < TM; i++) {
    let m = min(m0 + i, M - 1u);
#if TRANS_A
    ar[i] = ao + m;
#else
    ar[i] = ao + m * K;
#endif
  }
  var bc: array<u32, 4 * TNV>;
  for (var j = 0u; j < 4u * TNV; j++) {
    let n = min(n0 + j, N - 1u);
#if TRANS_B
    bc[j] = bo + n * K;
#else
    bc[j] = bo + n;
#endif
  }
#if TRANS_A
  let sa = M; // step in a per k
#else
  let sa = 1u;
#endif
#if TRANS_B
  let sb = 1u;
#else
  let sb = N;
#endif

  var acc: array<array<vec4f, TNV>, TM>;
  let k4 = K & ~3u;
  for (var k = 0u; k < k4; k += 4u) {
    // av[i]: A[m0+i, k..k+3]
    var av: array<vec4f, TM>;
#if VEC_A
#if TRANS_A
    // M % 4 == 0, so rows m0..m0+3 are one aligned vec4 per k.
    let c0 = a[(ao + k * M + m0) >> 2u];
    let c1 = a[(ao + (k + 1u) * M + m0) >> 2u];
    let c2 = a[(ao + (k + 2u) * M + m0) >> 2u];
    let c3 = a[(ao + (k + 3u) * M + m0) >> 2u];
    for (var i = 0u; i < TM; i++) { av[i] = vec4f(c0[i], c1[i], c2[i], c3[i]); }
#else
    for (var i = 0u; i < TM; i++) { av[i] = a[(ar[i] + k) >> 2u]; }
#endif
#else
    for (var i = 0u; i < TM; i++) {
      let p = ar[i] + k * sa;
      av[i] = vec4f(ea(p), ea(p + sa), ea(p + 2u * sa), ea(p + 3u * sa));
    }
#endif
    // bv[j][c]: B[k+j, n0+4c .. n0+4c+3]
    var bv: array<array<vec4f, TNV>, 4>;
#if VEC_B
#if TRANS_B
    for (var c = 0u; c < TNV; c++) {
      let r0 = b[(bc[4u * c] + k) >> 2u];
      let r1 = b[(bc[4u * c + 1u] + k) >> 2u];
      let r2 = b[(bc[4u * c + 2u] + k) >> 2u];
      let r3 = b[(bc[4u * c + 3u] + k) >> 2u];
      for (var j = 0u; j < 4u; j++) { bv[j][c] = vec4f(r0[j], r1[j], r2[j], r3[j]); }
    }
#else
    // N % 4 == 0: the block's columns are aligned vec4s; clamp the block start, not each column.
    for (var c = 0u; c < TNV; c++) {
      let n = min(n0 + 4u * c, N - 4u);
      for (var j = 0u; j < 4u; j++) { bv[j][c] = b[(bo + (k + j) * N + n) >> 2u]; }
    }
#endif
#else
    for (var j = 0u; j < 4u; j++) {
      let kk = (k + j) * sb;
      for (var c = 0u; c < TNV; c++) {
        bv[j][c] = vec4f(eb(bc[4u * c] + kk), eb(bc[4u * c + 1u] + kk), eb(bc[4u * c + 2u] + kk), eb(bc[4u * c + 3u] + kk));
      }
    }
#endif
    for (var i = 0u; i < TM; i++) {
      for (var c = 0u; c < TNV; c++) {
        acc[i][c] = fma(vec4f(av[i].x), bv[0][c], acc[i][c]);
        acc[i][c] = fma(vec4f(av[i].y), bv[1][c], acc[i][c]);
        acc[i][c] = fma(vec4f(av[i].z), bv[2][c], acc[i][c]);
        acc[i][c] = fma(vec4f(av[i].w), bv[3][c], acc[i][c]);
      }
    }
  }
  // K % 4 tail, scalar.
  for (var k = k4; k < K; k++) {
    var brow: array<vec4f, TNV>;
    for (var c = 0u; c < TNV; c++) {
      let kk = k * sb;
      brow[c] = vec4f(eb(bc[4u * c] + kk), eb(bc[4u * c + 1u] + kk), eb(bc[4u * c + 2u] + kk), eb(bc[4u * c + 3u] + kk));
    }
    for (var i = 0u; i < TM; i++) {
      let x = ea(ar[i] + k * sa);
      for (var c = 0u; c < TNV; c++) { acc[i][c] = fma(vec4f(x), brow[c], acc[i][c]); }
    }
  }

  let oo = bi * M * N;
  var bq: array<vec4f, TNV>;
  for (var c = 0u; c < TNV; c++) { bq[c] = bias4(n0 + 4u * c); }
  for (var i = 0u; i < TM; i++) {
    let m = m0 + i;
    if (m >= M) { break; }
    for (var c = 0u; c < TNV; c++) { store4(oo + m * N, n0 + 4u * c, acc[i][c], bq[c]); }
  }
}
