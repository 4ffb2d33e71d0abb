enable subgroups;
// C[b] = A[b]·B[b] from the same padded texture arrays as matmul_texture.wgsl, for devices whose subgroups
// are exactly 8 lanes. A subgroup owns a 32 × 32 output tile; lane l computes all 32 rows × columns
// 4l..4l+3. Per step of 4 k, each lane loads A for its own 4 rows (one texel each) and B for its 4 columns,
// then the A texels are shared with subgroupBroadcast instead of every lane loading all 32 rows.
const WG = 128u;
const SUBGROUPS = 16u; // WG / 8

@group(0) @binding(1) var at: texture_storage_2d_array<rgba32float, read>;
@group(0) @binding(2) var bt: texture_storage_2d_array<rgba32float, read>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<vec4f>;

// Hands each subgroup a distinct slot in its workgroup without assuming how lanes map to local indices.
var<workgroup> next_slot: atomic<u32>;

// acc[r0 + r] += A[row r0+r, k..k+3] · B[k..k+3, lane's 4 columns], for the 4 rows a lane broadcast.
fn rows4(acc: ptr<function, array<vec4f, 32>>, r0: u32, a0: vec4f, a1: vec4f, a2: vec4f, a3: vec4f,
         b0: vec4f, b1: vec4f, b2: vec4f, b3: vec4f) {
  (*acc)[r0] = fma(vec4f(a0.x), b0, fma(vec4f(a0.y), b1, fma(vec4f(a0.z), b2, fma(vec4f(a0.w), b3, (*acc)[r0]))));
  (*acc)[r0 + 1u] = fma(vec4f(a1.x), b0, fma(vec4f(a1.y), b1, fma(vec4f(a1.z), b2, fma(vec4f(a1.w), b3, (*acc)[r0 + 1u]))));
  (*acc)[r0 + 2u] = fma(vec4f(a2.x), b0, fma(vec4f(a2.y), b1, fma(vec4f(a2.z), b2, fma(vec4f(a2.w), b3, (*acc)[r0 + 2u]))));
  (*acc)[r0 + 3u] = fma(vec4f(a3.x), b0, fma(vec4f(a3.y), b1, fma(vec4f(a3.z), b2, fma(vec4f(a3.w), b3, (*acc)[r0 + 3u]))));
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(subgroup_invocation_id) lane: u32) {
  var slot = 0u;
  if (subgroupElect()) { slot = atomicAdd(&next_slot, 1u); }
  slot = subgroupBroadcastFirst(slot);
  let tile = flat_workgroup(wid, nwg) * SUBGROUPS + slot;
  let total = params.batch * params.tiles_m * params.tiles_n;
  // Surplus subgroups recompute the last tile and store nothing: no early return before the broadcasts.
  let t = min(tile, total - 1u);
  let tn = t % params.tiles_n;
  let tm = (t / params.tiles_n) % params.tiles_m;
  let bi = t / (params.tiles_n * params.tiles_m);
  let layers = batch_offsets(bi);
  let la = layers.x;
  let lb = layers.y;
  let m0 = tm * 32u;
  let mine = m0 + 4u * lane;
  let q = tn * 8u + lane;

  var acc: array<vec4f, 32>;
  for (var kq = 0u; kq < params.kq; kq++) {
    let a0 = textureLoad(at, vec2u(kq, mine), la);
    let a1 = textureLoad(at, vec2u(kq, mine + 1u), la);
    let a2 = textureLoad(at, vec2u(kq, mine + 2u), la);
    let a3 = textureLoad(at, vec2u(kq, mine + 3u), la);
    let k = 4u * kq;
    let b0 = textureLoad(bt, vec2u(q, k), lb);
    let b1 = textureLoad(bt, vec2u(q, k + 1u), lb);
    let b2 = textureLoad(bt, vec2u(q, k + 2u), lb);
    let b3 = textureLoad(bt, vec2u(q, k + 3u), lb);
    rows4(&acc, 0u, subgroupBroadcast(a0, 0u), subgroupBroadcast(a1, 0u), subgroupBroadcast(a2, 0u), subgroupBroadcast(a3, 0u), b0, b1, b2, b3);
    rows4(&acc, 4u, subgroupBroadcast(a0, 1u), subgroupBroadcast(a1, 1u), subgroupBroadcast(a2, 1u), subgroupBroadcast(a3, 1u), b0, b1, b2, b3);
    rows4(&acc, 8u, subgroupBroadcast(a0, 2u), subgroupBroadcast(a1, 2u), subgroupBroadcast(a2, 2u), subgroupBroadcast(a3, 2u), b0, b1, b2, b3);
    rows4(&acc, 12u, subgroupBroadcast(a0, 3u), subgroupBroadcast(a1, 3u), subgroupBroadcast(a2, 3u), subgroupBroadcast(a3, 3u), b0, b1, b2, b3);
    rows4(&acc, 16u, subgroupBroadcast(a0, 4u), subgroupBroadcast(a1, 4u), subgroupBroadcast(a2, 4u), subgroupBroadcast(a3, 4u), b0, b1, b2, b3);
    rows4(&acc, 20u, subgroupBroadcast(a0, 5u), subgroupBroadcast(a1, 5u), subgroupBroadcast(a2, 5u), subgroupBroadcast(a3, 5u), b0, b1, b2, b3);
    rows4(&acc, 24u, subgroupBroadcast(a0, 6u), subgroupBroadcast(a1, 6u), subgroupBroadcast(a2, 6u), subgroupBroadcast(a3, 6u), b0, b1, b2, b3);
    rows4(&acc, 28u, subgroupBroadcast(a0, 7u), subgroupBroadcast(a1, 7u), subgroupBroadcast(a2, 7u), subgroupBroadcast(a3, 7u), b0, b1, b2, b3);
  }

  if (tile >= total) { return; }
  let M = params.M;
  let N = params.N;
  let oo = bi * M * N;
  let bq = bias4(4u * q);
  for (var i = 0u; i < 32u; i++) {
    let m = params.m_base + m0 + i; // texture rows are this chunk's; output rows are global
    if (m >= M) { break; }
    store4(oo + m * N, 4u * q, acc[i], bq);
  }
}
