// ReLU forward, and backward from the saved output: dx = dy where y > 0.
// VEC4 (n and offsets multiples of 4): four elements per invocation, in 16-byte loads.
// Baked: VEC4.
struct Params { n: u32, aOff: u32, bOff: u32, yOff: u32 }
//#if VEC4
alias V = vec4f;
const L = 4u;
//#else
alias V = f32;
const L = 1u;
//#endif
@group(0) @binding(0) var<uniform> P: Params;

//#include flat_index.wgsl

@group(0) @binding(1) var<storage, read> fx: array<V>;
@group(0) @binding(2) var<storage, read_write> fy: array<V>;
@compute @workgroup_size(256)
fn forward(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = flatIndex(wg, nwg, lid);
  if (i < P.n / L) { fy[P.yOff / L + i] = max(fx[P.aOff / L + i], V(0.0)); }
}

@group(0) @binding(1) var<storage, read> by: array<V>;
@group(0) @binding(2) var<storage, read> bdy: array<V>;
@group(0) @binding(3) var<storage, read_write> bdx: array<V>;
@compute @workgroup_size(256)
fn backward(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = flatIndex(wg, nwg, lid);
  if (i < P.n / L) { bdx[P.yOff / L + i] = select(V(0.0), bdy[P.bOff / L + i], by[P.aOff / L + i] > V(0.0)); }
}
