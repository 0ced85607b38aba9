// Reductions.
struct Params { R: u32, inner: u32, outer: u32, xOff: u32, outOff: u32, scale: f32 }
@group(0) @binding(0) var<uniform> P: Params;

//#include flat_index.wgsl

// sum_axes: x viewed as [outer, R, inner];  out[r] (+)= scale * sum_{o,i} x[o, r, i].
// One 256-wide workgroup per r (2-D grid), tree reduction in workgroup memory.
@group(0) @binding(1) var<storage, read> sx: array<f32>;
@group(0) @binding(2) var<storage, read_write> sout: array<f32>;
var<workgroup> partial: array<f32, 256>;
@compute @workgroup_size(256)
fn sum_axes(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let r = wg.y * nwg.x + wg.x;
  let L = P.outer * P.inner;
  var s = 0.0;
  if (r < P.R) {
    for (var l = lid.x; l < L; l += 256u) {
      let o = l / P.inner;
      s += sx[P.xOff + (o * P.R + r) * P.inner + l % P.inner];
    }
  }
  partial[lid.x] = s;
  workgroupBarrier();
  for (var stride = 128u; stride > 0u; stride >>= 1u) {
    if (lid.x < stride) { partial[lid.x] += partial[lid.x + stride]; }
    workgroupBarrier();
  }
  if (lid.x == 0u && r < P.R) {
    let v = P.scale * partial[0];
    if (ACCUMULATE) { sout[P.outOff + r] += v; } else { sout[P.outOff + r] = v; }
  }
}

// sum_splits: out[i] (+)= sum_s part[s * R + i]   (the second pass of a split-K GEMM; outer = splits)
@group(0) @binding(1) var<storage, read> part: array<f32>;
@group(0) @binding(2) var<storage, read_write> total: array<f32>;
@compute @workgroup_size(256)
fn sum_splits(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = flatIndex(wg, nwg, lid);
  if (i >= P.R) { return; }
  var s = 0.0;
  for (var k = 0u; k < P.outer; k++) { s += part[P.xOff + k * P.R + i]; }
  if (ACCUMULATE) { total[P.outOff + i] += s; } else { total[P.outOff + i] = s; }
}

// sum_axes_serial: as sum_axes, one invocation per r looping over its outer*inner values: for
// short reductions (FC bias gradients), where a workgroup and barriers per r cost more than the sum.
@group(0) @binding(1) var<storage, read> qx: array<f32>;
@group(0) @binding(2) var<storage, read_write> qout: array<f32>;
@compute @workgroup_size(256)
fn sum_axes_serial(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let r = flatIndex(wg, nwg, lid);
  if (r >= P.R) { return; }
  var s = 0.0;
  for (var o = 0u; o < P.outer; o++) {
    let base = P.xOff + (o * P.R + r) * P.inner;
    for (var i = 0u; i < P.inner; i++) { s += qx[base + i]; }
  }
  let v = P.scale * s;
  if (ACCUMULATE) { qout[P.outOff + r] += v; } else { qout[P.outOff + r] = v; }
}

// broadcast: out[i] = scale * x[i / inner]   (backward of a mean over the inner axis)
@group(0) @binding(1) var<storage, read> bx: array<f32>;
@group(0) @binding(2) var<storage, read_write> bout: array<f32>;
@compute @workgroup_size(256)
fn broadcast(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = flatIndex(wg, nwg, lid);
  if (i >= P.R * P.inner) { return; }
  bout[P.outOff + i] = P.scale * bx[P.xOff + i / P.inner];
}
