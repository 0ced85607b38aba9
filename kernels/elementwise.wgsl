// Small elementwise kernels over ranges of up to one binding (launchers split larger tensors).
struct Params { n: u32, aOff: u32, bOff: u32, yOff: u32, value: f32 }
@group(0) @binding(0) var<uniform> P: Params;

//#include flat_index.wgsl

// fill: y = value
@group(0) @binding(1) var<storage, read_write> fillY: array<f32>;
@compute @workgroup_size(256)
fn fill(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = flatIndex(wg, nwg, lid);
  if (i < P.n) { fillY[P.yOff + i] = P.value; }
}

// axpy: y += value * a   (gradient accumulation)
@group(0) @binding(1) var<storage, read> axpyA: array<f32>;
@group(0) @binding(2) var<storage, read_write> axpyY: array<f32>;
@compute @workgroup_size(256)
fn axpy(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = flatIndex(wg, nwg, lid);
  if (i < P.n) { axpyY[P.yOff + i] += P.value * axpyA[P.aOff + i]; }
}

// add: y = a + value * b
@group(0) @binding(1) var<storage, read> addA: array<f32>;
@group(0) @binding(2) var<storage, read> addB: array<f32>;
@group(0) @binding(3) var<storage, read_write> addY: array<f32>;
@compute @workgroup_size(256)
fn add(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = flatIndex(wg, nwg, lid);
  if (i < P.n) { addY[P.yOff + i] = addA[P.aOff + i] + P.value * addB[P.bOff + i]; }
}

// scale: y = value * a
@group(0) @binding(1) var<storage, read> scaleA: array<f32>;
@group(0) @binding(2) var<storage, read_write> scaleY: array<f32>;
@compute @workgroup_size(256)
fn scale(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = flatIndex(wg, nwg, lid);
  if (i < P.n) { scaleY[P.yOff + i] = P.value * scaleA[P.aOff + i]; }
}
