// Flags i32 labels outside [0, classes) (device/gpu-checks.ts): the first bad row (atomicMin) and the count of bad
// rows go to the slot at word `slot` of the checks buffer, which the next read copies back.
struct Params { n: u32, classes: u32, slot: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> labels: array<i32>;
@group(0) @binding(2) var<storage, read_write> checks: array<atomic<u32>>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) local_id: vec3u) {
  let i = flat_workgroup(wid, nwg) * 256u + local_id.x;
  if (i >= params.n) { return; }
  let y = labels[i];
  if (y < 0 || u32(y) >= params.classes) {
    atomicMin(&checks[params.slot], i);
    atomicAdd(&checks[params.slot + 1u], 1u);
  }
}
