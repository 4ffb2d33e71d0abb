enable subgroups;
// Weight gradient sharing input texels across a subgroup (see conv2d_wgrad_common.wgsl). A workgroup is
// one subgroup and owns SG row texels (4·SG rows) × SG column texels of one group and one split. Per
// output pixel, lane l loads the input texel of row texel l and the output-gradient texel of its own
// column; the input texels reach every lane through subgroupBroadcast, so a lane does 4·SG vec4 FMAs for
// 2 loads. Lane l accumulates every row of the tile for columns 4(tn·SG + l) … +3. Output pixels go 4 at a
// time so that each (spilled) accumulator is loaded and stored once per chain of 4 FMAs.
const SG = {{SG}}u;

@compute @workgroup_size(SG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(subgroup_invocation_id) lane: u32) {
  // The tile comes from the workgroup id, so every branch below is uniform across the subgroup.
  let t = flat_workgroup(wid, nwg);
  if (t >= params.total) { return; }
  let tc = tile_coords(t);
  let g = tc.z;
  let s = tc.w;
  let mq0 = tc.y * SG;
  let q = tc.x * SG + lane;
  let aoff = row_offset(mq0 + lane, g);
  let bx = g * params.cqo + min(q, params.cqo - 1u);
  let astep = params.sw * params.gcq;

  var acc: array<vec4f, 4u * SG>;
  let rows = split_rows(s);
  for (var row = rows.x; row < rows.y; row++) {
    let n = row / params.ho;
    let oh = row % params.ho;
    let ay = aoff.y + oh * params.sh;
    var ax = aoff.x;
    var by = bx;
    var ow = 0u;
    // Four output pixels per step: each accumulator takes a chain of 4 FMAs per load and store.
    for (; ow + 4u <= params.wo; ow += 4u) {
      let a0 = load_a(ax, ay, n);
      let a1 = load_a(ax + astep, ay, n);
      let a2 = load_a(ax + 2u * astep, ay, n);
      let a3 = load_a(ax + 3u * astep, ay, n);
      let b0 = load_b(by, oh, n);
      let b1 = load_b(by + params.gcqo, oh, n);
      let b2 = load_b(by + 2u * params.gcqo, oh, n);
      let b3 = load_b(by + 3u * params.gcqo, oh, n);
      ax += 4u * astep;
      by += 4u * params.gcqo;
{{BROADCASTS4}}
    }
    for (; ow < params.wo; ow++) {
      let a = load_a(ax, ay, n);
      let b = load_b(by, oh, n);
      ax += astep;
      by += params.gcqo;
{{BROADCASTS}}
    }
  }

  for (var j = 0u; j < SG; j++) {
    store_block(s, g, mq0 + j, q, acc[4u * j], acc[4u * j + 1u], acc[4u * j + 2u], acc[4u * j + 3u]);
  }
}
