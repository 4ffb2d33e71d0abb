// dst[dst_base + Σ c·dst_strides] = src[src_base + Σ c·src_strides] for every coordinate c of `shape`
// (rank ≤ 8, already simplified by the host). 32-bit words, so any dtype copies bit-exactly.
// permute, slice and concat all reduce to this. Two entry points:
//  rows:     a workgroup copies a chunk of one long innermost row, or several short ones; each row's offsets
//            are worked out once per workgroup (uniform, so cheap), then each invocation steps along the row
//            by 64. For rows ≥ 32. (lavapipe pays microseconds per workgroup, hence several rows each.)
//  elements: one invocation per element, decomposing its own index (short innermost rows).
struct Params {
  n: u32, rank: u32, src_base: u32, dst_base: u32,
  chunks: u32, rows_per_wg: u32, _pad0: u32, _pad1: u32,
  shape: array<vec4u, 2>,
  src_strides: array<vec4u, 2>,
  dst_strides: array<vec4u, 2>,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<u32>;
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;

const ROW_WG = 64u;
const CHUNK = 1024u; // elements of a row per workgroup: 16 per invocation

fn extent(a: u32) -> u32 { return params.shape[a / 4u][a % 4u]; }
fn src_stride(a: u32) -> u32 { return params.src_strides[a / 4u][a % 4u]; }
fn dst_stride(a: u32) -> u32 { return params.dst_strides[a / 4u][a % 4u]; }

@compute @workgroup_size(64)
fn rows(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) local_id: vec3u) {
  let lid = local_id.x;
  let w = flat_workgroup(wid, nwg);
  let last = params.rank - 1u;
  let width = extent(last);
  let nrows = params.n / width;
  // chunks > 1: this workgroup copies one chunk of a long row; else `rows_per_wg` whole short rows.
  let first = select(w * params.rows_per_wg, w / params.chunks, params.chunks > 1u);
  let count = min(params.rows_per_wg, nrows - min(first, nrows));
  let j0 = (w % params.chunks) * CHUNK;
  let j1 = min(width, j0 + CHUNK);
  let ss = src_stride(last);
  let ds = dst_stride(last);
  // The first row's offsets, then an odometer from row to row: no division per row (lavapipe runs integer
  // division lane by lane, even on uniform values).
  var coord: array<u32, 8>;
  var rest = first;
  var s = params.src_base;
  var d = params.dst_base;
  for (var a = i32(last) - 1; a >= 0; a--) {
    let e = extent(u32(a));
    coord[a] = rest % e;
    rest = rest / e;
    s += coord[a] * src_stride(u32(a));
    d += coord[a] * dst_stride(u32(a));
  }
  for (var r = 0u; r < count; r++) {
    for (var j = j0 + lid; j < j1; j += ROW_WG) { dst[d + j * ds] = src[s + j * ss]; }
    for (var a = i32(last) - 1; a >= 0; a--) {
      coord[a] += 1u;
      s += src_stride(u32(a));
      d += dst_stride(u32(a));
      if (coord[a] < extent(u32(a))) { break; }
      coord[a] = 0u;
      s -= extent(u32(a)) * src_stride(u32(a));
      d -= extent(u32(a)) * dst_stride(u32(a));
    }
  }
}

@compute @workgroup_size(256)
fn elements(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) local_id: vec3u) {
  let lid = local_id.x;
  let i = flat_workgroup(wid, nwg) * 256u + lid;
  if (i >= params.n) { return; }
  var rest = i;
  var s = params.src_base;
  var d = params.dst_base;
  for (var a = i32(params.rank) - 1; a >= 0; a--) {
    let e = extent(u32(a));
    let c = rest % e;
    rest = rest / e;
    s += c * src_stride(u32(a));
    d += c * dst_stride(u32(a));
  }
  dst[d] = src[s];
}
