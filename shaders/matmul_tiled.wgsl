// C[b] = A[b]·B[b] from storage buffers with workgroup-memory tiles: a workgroup of 16 × 16 invocations
// computes a 64 × 64 tile, each invocation a 4 × 4 block. Per step of 16 k the workgroup stages A[64 × 16] and
// B[16 × 64] (zero outside the matrices, so edges need no special case), with consecutive invocations
// reading consecutive addresses along whichever axis is contiguous. Transposes are strides in uniforms: one
// pipeline serves every layout. The usual fast path on real GPUs; on lavapipe barriers and workgroup
// loads are slow.
const BM = 64u;
const BN = 64u;
const BK = 16u;

@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<vec4f>;

// Row k of each tile, as vec4s along m (A) or n (B): tile_a[k·16 + m/4] = A[m0 + m .. m0 + m + 3, k0 + k].
var<workgroup> tile_a: array<vec4f, 256>;
var<workgroup> tile_b: array<vec4f, 256>;

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid3: vec3u, @builtin(local_invocation_index) li: u32) {
  let M = params.M;
  let N = params.N;
  let K = params.K;
  let m0 = params.m_base + wid.y * BM;
  let n0 = wid.x * BN;
  let bi = params.batch_base + wid.z;
  let offs = batch_offsets(bi);
  let a_kfast = params.sa_k == 1u;
  let b_nfast = params.sb_n == 1u;

  var acc: array<vec4f, 4>;
  for (var k0 = 0u; k0 < K; k0 += BK) {
    for (var j = 0u; j < 4u; j++) {
      let e = li + 256u * j;
      var m: u32;
      var k: u32;
      if (a_kfast) { k = e % BK; m = e / BK; } else { m = e % BM; k = e / BM; }
      var v = 0.0;
      if (m0 + m < M && k0 + k < K) { v = a[offs.x + (m0 + m) * params.sa_m + (k0 + k) * params.sa_k]; }
      tile_a[k * 16u + m / 4u][m % 4u] = v;
      var n: u32;
      if (b_nfast) { n = e % BN; k = e / BN; } else { k = e % BK; n = e / BK; }
      var w = 0.0;
      if (n0 + n < N && k0 + k < K) { w = b[offs.y + (k0 + k) * params.sb_k + (n0 + n) * params.sb_n]; }
      tile_b[k * 16u + n / 4u][n % 4u] = w;
    }
    workgroupBarrier();
    for (var k = 0u; k < BK; k++) {
      let av = tile_a[k * 16u + lid3.y];
      let bv = tile_b[k * 16u + lid3.x];
      acc[0] = fma(vec4f(av.x), bv, acc[0]);
      acc[1] = fma(vec4f(av.y), bv, acc[1]);
      acc[2] = fma(vec4f(av.z), bv, acc[2]);
      acc[3] = fma(vec4f(av.w), bv, acc[3]);
    }
    workgroupBarrier();
  }

  let n = n0 + 4u * lid3.x;
  let bq = bias4(n);
  let oo = bi * M * N;
  for (var i = 0u; i < 4u; i++) {
    let m = m0 + 4u * lid3.y + i;
    if (m < M) { store4(oo + m * N, n, acc[i], bq); }
  }
}
