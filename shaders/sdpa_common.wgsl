// Shared by the SDPA kernels (appended to each): the parameter block, the mask lookup and the workgroup
// reduction of split dot products. Every invocation of a workgroup owns a strided slice of the feature axes
// (d for Q/K, dv for V/dO: elements lid, lid + WG, …), so each dot product of a tile is a sum of WG partial
// sums, reduced here. One pipeline serves every shape: sizes, the scale and the mask strides are uniforms.
struct Params {
  B: u32, H: u32, n: u32, m: u32,
  d: u32, dv: u32, blocks: u32, _pad0: u32,   // blocks: row blocks (forward, dq) or key blocks (dk/dv) per (b, h)
  scale: f32, neg_inf: f32,
  // QPT and CPT again, as feature-loop bounds ({{QB}}, {{CB}}) that a compiler cannot unroll, on CPU adapters:
  // there the buffer kernels compile ~10× faster rolled and run as fast (their storage-buffer loads dominate).
  // GPUs get the constants (unrolled loops keep the slices in registers), as do the texture kernels, which
  // run 2–4× faster unrolled on lavapipe too.
  qpt: u32, cpt: u32,
  mask_stride: vec4u,                         // element strides of the mask over (b, h, row, key); 0 where broadcast
}
@group(0) @binding(0) var<uniform> params: Params;

const WG = {{WG}}u;
const NP = {{NP}}u;
// -FLT_MAX: the running maximum starts here, and only -inf lies below it (a masked score).
const NEG_BIG = -3.4028234663852886e38;

// The additive mask at (b, h, r, c); a KEEP mask (u32/i32, PyTorch's boolean attn_mask) attends where nonzero.
fn mask_at(b: u32, h: u32, r: u32, c: u32) -> f32 {
#if MASK
  let s = params.mask_stride;
#if KEEP
  return select(params.neg_inf, 0.0, mask[b * s.x + h * s.y + r * s.z + c * s.w] != 0u);
#else
  return mask[b * s.x + h * s.y + r * s.z + c * s.w];
#endif
#else
  return 0.0;
#endif
}

#if SINGLE
// The workgroup is exactly one subgroup (devices with a fixed subgroup size): subgroupAdd alone reduces, with
// no workgroup memory and no barrier (barriers are what costs most on CPU adapters such as lavapipe).
fn claim_slot() -> u32 { return 0u; }

fn reduce_workgroup(part: ptr<function, array<f32, NP>>, lid: u32, slot: u32) {
  for (var p = 0u; p < NP; p++) { (*part)[p] = subgroupAdd((*part)[p]); }
}
#else
#if SUBGROUPS
// One row of partial sums per subgroup; SLOTS = WG / the device's smallest subgroup size.
var<workgroup> red: array<f32, {{SLOTS}}u * NP>;
var<workgroup> slots_used: atomic<u32>;
#else
var<workgroup> red: array<f32, WG * NP>;
#endif
var<workgroup> total: array<f32, NP>;

// Each subgroup claims a row of `red` (nothing is assumed about how local indices map to subgroups).
fn claim_slot() -> u32 {
#if SUBGROUPS
  var s = 0u;
  if (subgroupElect()) { s = atomicAdd(&slots_used, 1u); }
  return subgroupBroadcastFirst(s);
#else
  return 0u;
#endif
}

// part[p] ← Σ over the workgroup of part[p], in every invocation. `red` is written only after every reader of
// the previous call passed its second barrier, and `total` likewise.
fn reduce_workgroup(part: ptr<function, array<f32, NP>>, lid: u32, slot: u32) {
#if SUBGROUPS
  for (var p = 0u; p < NP; p++) { (*part)[p] = subgroupAdd((*part)[p]); }
  if (subgroupElect()) {
    for (var p = 0u; p < NP; p++) { red[slot * NP + p] = (*part)[p]; }
  }
  workgroupBarrier();
  let used = atomicLoad(&slots_used);
  for (var p = lid; p < NP; p += WG) {
    var s = 0.0;
    for (var k = 0u; k < used; k++) { s += red[k * NP + p]; }
    total[p] = s;
  }
#else
  for (var p = 0u; p < NP; p++) { red[p * WG + lid] = (*part)[p]; }
  workgroupBarrier();
  for (var p = lid; p < NP; p += WG) {
    var s = 0.0;
    for (var k = 0u; k < WG; k++) { s += red[p * WG + k]; }
    total[p] = s;
  }
#endif
  workgroupBarrier();
  for (var p = 0u; p < NP; p++) { (*part)[p] = total[p]; }
}
#endif
