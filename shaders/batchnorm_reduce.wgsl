// Batch-norm partial sums per channel over a chunk of the N·H·W rows of an NHWC tensor seen as [rows, groups]
// of T (vec4f over 4 channels when C % 4 == 0, else f32). Invocation i takes channel group i % groups and rows
// [k·chunk, (k+1)·chunk) with k = i / groups, so the lanes of a subgroup read neighbouring addresses of one row
// and each lane walks its rows in order; the partials go to part[k][0|1][group] for batchnorm_finalize.
//   forward (default): sums of x − s and (x − s)² around s = x[row 0] (a sample of the channel, which keeps
//                      the variance from cancelling when |mean| ≫ std).
//   BWD:               sums of dy and dy·(x − mean) for the gradients of beta and gamma.
struct Params { rows: u32, groups: u32, chunk: u32, items: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<{{T}}>;
#if BWD
@group(0) @binding(2) var<storage, read> dy: array<{{T}}>;
@group(0) @binding(3) var<storage, read> saved: array<{{T}}>;
@group(0) @binding(4) var<storage, read_write> part: array<{{T}}>;
#else
@group(0) @binding(2) var<storage, read_write> part: array<{{T}}>;
#endif

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) local_id: vec3u) {
  let lid = local_id.x;
  let i = flat_workgroup(wid, nwg) * 256u + lid;
  if (i >= params.items) { return; }
  let groups = params.groups;
  let g = i % groups;
  let k = i / groups;
  let r0 = k * params.chunk;
  let r1 = min(r0 + params.chunk, params.rows);
#if BWD
  let s = saved[g];
#else
  let s = x[g];
#endif
  // Two independent accumulator pairs: shorter dependency chains for the CPU's pipelines.
  var a1 = {{T}}(0.0);
  var a2 = {{T}}(0.0);
  var b1 = {{T}}(0.0);
  var b2 = {{T}}(0.0);
  var r = r0;
  for (; r + 1u < r1; r += 2u) {
    let o = r * groups + g;
    let u = x[o] - s;
    let v = x[o + groups] - s;
#if BWD
    let du = dy[o];
    let dv = dy[o + groups];
    a1 += du; a2 += du * u;
    b1 += dv; b2 += dv * v;
#else
    a1 += u; a2 += u * u;
    b1 += v; b2 += v * v;
#endif
  }
  if (r < r1) {
    let o = r * groups + g;
    let u = x[o] - s;
#if BWD
    let du = dy[o];
    a1 += du; a2 += du * u;
#else
    a1 += u; a2 += u * u;
#endif
  }
  part[(2u * k) * groups + g] = a1 + b1;
  part[(2u * k + 1u) * groups + g] = a2 + b2;
}
