// ReLU forward, and backward from the saved output: dx = dy where y > 0.
struct Params { n: u32, aOff: u32, bOff: u32, yOff: u32 }
@group(0) @binding(0) var<uniform> P: Params;

//#include flat_index.wgsl

@group(0) @binding(1) var<storage, read> fx: array<f32>;
@group(0) @binding(2) var<storage, read_write> fy: array<f32>;
@compute @workgroup_size(256)
fn forward(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = flatIndex(wg, nwg, lid);
  if (i < P.n) { fy[P.yOff + i] = max(fx[P.aOff + i], 0.0); }
}

@group(0) @binding(1) var<storage, read> by: array<f32>;
@group(0) @binding(2) var<storage, read> bdy: array<f32>;
@group(0) @binding(3) var<storage, read_write> bdx: array<f32>;
@compute @workgroup_size(256)
fn backward(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = flatIndex(wg, nwg, lid);
  if (i < P.n) { bdx[P.yOff + i] = select(0.0, bdy[P.bOff + i], by[P.aOff + i] > 0.0); }
}
