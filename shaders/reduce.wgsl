// Reductions of [B, R, K] to [B, K] (src/kernels/reduce.ts plans the passes). Two entry points:
//  rows: K = 1. An item is a row, or a segment of one: `group` invocations fold it, (256 / group) items per
//        workgroup. SUBGROUP=1: group = the subgroup size, folded with subgroup ops (no barrier); else a
//        workgroup-memory tree inside each group.
//  cols: one invocation per (b, chunk, k), walking a chunk of R with stride K, so neighbouring invocations
//        read neighbouring addresses.
// MODE_SUM adds f32. Otherwise values become ordered u32 keys and the largest key wins: NaN maps to the top
// key so it propagates, ±0 map to one key; NEG negates on load and store (min = −max(−x)); ARG also keeps
// the lowest index holding the winning key (first maximum). IDX_IN reads the indices of a previous pass.
#if SUBGROUP
enable subgroups;
#endif

struct Params {
  items: u32,   // outputs of this pass: rows: rows·segs; cols: B·segs·K
  n: u32,       // length of the reduced axis (R)
  seg_len: u32, // elements of the reduced axis per item
  segs: u32,    // items per row (rows) or chunks of R (cols)
  group: u32,   // rows: invocations per item (a power of two dividing 256); cols: K
  scale: f32,   // multiplies sums on output (mean)
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;
#if ARG
@group(0) @binding(3) var<storage, read_write> dst_idx: array<i32>;
#endif
#if IDX_IN
@group(0) @binding(4) var<storage, read> src_idx: array<i32>;
#endif

const WG = 256u;

// Order-preserving map from f32 to u32 (NaN on top, both zeros equal); 0 is below every value.
fn to_key(x: f32) -> u32 {
  let b = bitcast<u32>(x);
  let mag = b & 0x7fffffffu;
  if (mag > 0x7f800000u) { return 0xffffffffu; }
  if (mag == 0u) { return 0x80000000u; }
  return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}

// Inverse of to_key; the NaN key decodes to the quiet NaN 0x7fffffff.
fn from_key(k: u32) -> f32 {
  return bitcast<f32>(select(~k, k & 0x7fffffffu, (k & 0x80000000u) != 0u));
}

struct Acc { s: f32, k: u32, i: u32 }

fn fresh() -> Acc { return Acc(0.0, 0u, 0xffffffffu); }

// Folds in one element; each invocation sees its elements in increasing index order, so `>` keeps the first.
fn take(a: Acc, v: f32, i: u32) -> Acc {
#if MODE_SUM
  return Acc(a.s + v, 0u, 0u);
#else
#if NEG
  let k = to_key(-v);
#else
  let k = to_key(v);
#endif
  if (k > a.k) { return Acc(0.0, k, i); }
  return a;
#endif
}

fn merge(a: Acc, b: Acc) -> Acc {
#if MODE_SUM
  return Acc(a.s + b.s, 0u, 0u);
#else
  if (b.k > a.k || (b.k == a.k && b.i < a.i)) { return b; }
  return a;
#endif
}

// The index an element stands for: its position along the reduced axis, or the one a previous pass found.
fn index_of(flat: u32, pos: u32) -> u32 {
#if IDX_IN
  return u32(src_idx[flat]);
#else
  return pos;
#endif
}

fn emit(o: u32, a: Acc) {
#if MODE_SUM
  dst[o] = a.s * params.scale;
#else
#if NEG
  dst[o] = -from_key(a.k);
#else
  dst[o] = from_key(a.k);
#endif
#if ARG
  dst_idx[o] = i32(a.i);
#endif
#endif
}

#if SUBGROUP
#else
var<workgroup> sh_s: array<f32, WG>;
var<workgroup> sh_k: array<u32, WG>;
var<workgroup> sh_i: array<u32, WG>;

fn sh_put(l: u32, a: Acc) {
#if MODE_SUM
  sh_s[l] = a.s;
#else
  sh_k[l] = a.k;
  sh_i[l] = a.i;
#endif
}

fn sh_get(l: u32) -> Acc {
#if MODE_SUM
  return Acc(sh_s[l], 0u, 0u);
#else
  return Acc(0.0, sh_k[l], sh_i[l]);
#endif
}
#endif

@compute @workgroup_size(256)
fn rows(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) local_id: vec3u) {
  let lid = local_id.x;
  let g = params.group;
  let item = flat_workgroup(wid, nwg) * (WG / g) + lid / g;
  let lane = lid % g;
  let live = item < params.items;
  let begin = (item % params.segs) * params.seg_len;
  var len = 0u;
  if (live) { len = min(params.seg_len, params.n - begin); }
  let base = (item / params.segs) * params.n + begin;
  // Strided by the group so that a group's loads are contiguous.
  var a = fresh();
  for (var i = lane; i < len; i += g) { a = take(a, src[base + i], index_of(base + i, begin + i)); }
#if SUBGROUP
  // Every invocation reaches these (no early return): subgroup ops need uniform control flow. The host sets
  // group = the device's fixed subgroup size, and subgroups are consecutive local invocation indices.
#if MODE_SUM
  a.s = subgroupAdd(a.s);
#else
  let top = subgroupMax(a.k);
  a.i = subgroupMin(select(0xffffffffu, a.i, a.k == top));
  a.k = top;
#endif
#else
  sh_put(lid, a);
  for (var s = g / 2u; s > 0u; s = s / 2u) {
    workgroupBarrier();
    if (lane < s) { sh_put(lid, merge(sh_get(lid), sh_get(lid + s))); }
  }
  a = sh_get(lid);
#endif
  if (live && lane == 0u) { emit(item, a); }
}

@compute @workgroup_size(256)
fn cols(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) local_id: vec3u) {
  let lid = local_id.x;
  let t = flat_workgroup(wid, nwg) * WG + lid;
  if (t >= params.items) { return; }
  let k = params.group;
  let col = t % k;
  let chunk = (t / k) % params.segs;
  let r0 = chunk * params.seg_len;
  let r1 = min(params.n, r0 + params.seg_len);
  let base = (t / (k * params.segs)) * params.n * k + col;
  var a = fresh();
  for (var r = r0; r < r1; r++) {
    let f = base + r * k;
    a = take(a, src[f], index_of(f, r));
  }
  emit(t, a);
}
