// C[b] = A[b]·B[b] from storage buffers, each invocation a 4 × 8 register block (workgroup 8 × 8: 32 rows ×
// 64 columns). Loads use clamped row/column indices so the inner loop has no bounds checks (results of
// clamped lanes are discarded). Defines: TRANS_A (a is [K, M]), TRANS_B (b is [N, K]), VEC_A / VEC_B (the
// operand's contiguous axis is a multiple of 4, so it is bound as vec4s and blocks load as vec4).
// Blocks travel as mat4x4f and accumulators are named registers, not loop-indexed arrays: SwiftShader keeps
// such arrays in memory (several times slower there).
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

// Column i: A[m0 + i, k .. k+3]. `rows`: element offsets of the 4 (clamped) rows at k = 0; `sa`: step per k.
fn load_a(rows: vec4u, k: u32, sa: u32, m0: u32, ao: u32) -> mat4x4f {
#if VEC_A
#if TRANS_A
  // M % 4 == 0 and m0 < M, so rows m0..m0+3 are one aligned vec4 per k: load 4 and transpose.
  let M = params.M;
  return transpose(mat4x4f(a[(ao + k * M + m0) >> 2u], a[(ao + (k + 1u) * M + m0) >> 2u],
                           a[(ao + (k + 2u) * M + m0) >> 2u], a[(ao + (k + 3u) * M + m0) >> 2u]));
#else
  return mat4x4f(a[(rows.x + k) >> 2u], a[(rows.y + k) >> 2u], a[(rows.z + k) >> 2u], a[(rows.w + k) >> 2u]);
#endif
#else
  let p = rows + vec4u(k * sa);
  let s = sa;
  return mat4x4f(vec4f(ea(p.x), ea(p.x + s), ea(p.x + 2u * s), ea(p.x + 3u * s)),
                 vec4f(ea(p.y), ea(p.y + s), ea(p.y + 2u * s), ea(p.y + 3u * s)),
                 vec4f(ea(p.z), ea(p.z + s), ea(p.z + 2u * s), ea(p.z + 3u * s)),
                 vec4f(ea(p.w), ea(p.w + s), ea(p.w + 2u * s), ea(p.w + 3u * s)));
#endif
}

// Column j: B[k + j, n .. n+3] for a group of 4 columns starting at n. `cols`: element offsets of the 4
// (clamped) columns at k = 0; `sb`: step per k.
fn load_b(cols: vec4u, k: u32, sb: u32, n: u32, bo: u32) -> mat4x4f {
#if VEC_B
#if TRANS_B
  // K % 4 == 0: each column is contiguous along k; load 4 and transpose.
  return transpose(mat4x4f(b[(cols.x + k) >> 2u], b[(cols.y + k) >> 2u], b[(cols.z + k) >> 2u], b[(cols.w + k) >> 2u]));
#else
  // N % 4 == 0: the group is one aligned vec4 per k; clamp the group start, not each column.
  let N = params.N;
  let q = (bo + min(n, N - 4u)) >> 2u;
  let r = N >> 2u;
  return mat4x4f(b[q + k * r], b[q + (k + 1u) * r], b[q + (k + 2u) * r], b[q + (k + 3u) * r]);
#endif
#else
  let p = cols + vec4u(k * sb);
  let s = sb;
  return mat4x4f(vec4f(eb(p.x), eb(p.y), eb(p.z), eb(p.w)),
                 vec4f(eb(p.x + s), eb(p.y + s), eb(p.z + s), eb(p.w + s)),
                 vec4f(eb(p.x + 2u * s), eb(p.y + 2u * s), eb(p.z + 2u * s), eb(p.w + 2u * s)),
                 vec4f(eb(p.x + 3u * s), eb(p.y + 3u * s), eb(p.z + 3u * s), eb(p.w + 3u * s)));
#endif
}

@compute @workgroup_size(WG_X, WG_Y)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let M = params.M;
  let N = params.N;
  let K = params.K;
  let m0 = params.m_base + gid.y * 4u;
  let n0 = gid.x * 8u;
  if (m0 >= M || n0 >= N) { return; }
  let bi = params.batch_base + gid.z;
  let offs = batch_offsets(bi);
  let ao = offs.x;
  let bo = offs.y;

  // Element offsets (at k = 0) of the clamped rows of A and columns of B this invocation reads.
  let ms = min(vec4u(m0) + vec4u(0u, 1u, 2u, 3u), vec4u(M - 1u));
  let na = min(vec4u(n0) + vec4u(0u, 1u, 2u, 3u), vec4u(N - 1u));
  let nb = min(vec4u(n0) + vec4u(4u, 5u, 6u, 7u), vec4u(N - 1u));
#if TRANS_A
  let rows = vec4u(ao) + ms;
  let sa = M;
#else
  let rows = vec4u(ao) + ms * K;
  let sa = 1u;
#endif
#if TRANS_B
  let cols0 = vec4u(bo) + na * K;
  let cols1 = vec4u(bo) + nb * K;
  let sb = 1u;
#else
  let cols0 = vec4u(bo) + na;
  let cols1 = vec4u(bo) + nb;
  let sb = N;
#endif

  var c00 = vec4f(0.0); var c01 = vec4f(0.0); var c10 = vec4f(0.0); var c11 = vec4f(0.0);
  var c20 = vec4f(0.0); var c21 = vec4f(0.0); var c30 = vec4f(0.0); var c31 = vec4f(0.0);
  let k4 = K & ~3u;
  for (var k = 0u; k < k4; k += 4u) {
    let am = load_a(rows, k, sa, m0, ao);
    let b0 = load_b(cols0, k, sb, n0, bo);
    let b1 = load_b(cols1, k, sb, n0 + 4u, bo);
    c00 += b0 * am[0]; c01 += b1 * am[0];
    c10 += b0 * am[1]; c11 += b1 * am[1];
    c20 += b0 * am[2]; c21 += b1 * am[2];
    c30 += b0 * am[3]; c31 += b1 * am[3];
  }
  // K % 4 tail, scalar.
  for (var k = k4; k < K; k++) {
    let pa = rows + vec4u(k * sa);
    let av = vec4f(ea(pa.x), ea(pa.y), ea(pa.z), ea(pa.w));
    let p0 = cols0 + vec4u(k * sb);
    let p1 = cols1 + vec4u(k * sb);
    let b0 = vec4f(eb(p0.x), eb(p0.y), eb(p0.z), eb(p0.w));
    let b1 = vec4f(eb(p1.x), eb(p1.y), eb(p1.z), eb(p1.w));
    c00 = fma(vec4f(av.x), b0, c00); c01 = fma(vec4f(av.x), b1, c01);
    c10 = fma(vec4f(av.y), b0, c10); c11 = fma(vec4f(av.y), b1, c11);
    c20 = fma(vec4f(av.z), b0, c20); c21 = fma(vec4f(av.z), b1, c21);
    c30 = fma(vec4f(av.w), b0, c30); c31 = fma(vec4f(av.w), b1, c31);
  }

  let oo = bi * M * N;
  let bq0 = bias4(n0);
  let bq1 = bias4(n0 + 4u);
  store4(oo + m0 * N, n0, c00, bq0); store4(oo + m0 * N, n0 + 4u, c01, bq1);
  if (m0 + 1u < M) { store4(oo + (m0 + 1u) * N, n0, c10, bq0); store4(oo + (m0 + 1u) * N, n0 + 4u, c11, bq1); }
  if (m0 + 2u < M) { store4(oo + (m0 + 2u) * N, n0, c20, bq0); store4(oo + (m0 + 2u) * N, n0 + 4u, c21, bq1); }
  if (m0 + 3u < M) { store4(oo + (m0 + 3u) * N, n0, c30, bq0); store4(oo + (m0 + 3u) * N, n0 + 4u, c31, bq1); }
}
