// Softmax cross-entropy over logits [B, C] with integer labels (stored as exact f32 values).
// Forward: one 256-wide workgroup per row computes m = max and ls = log(sum exp(x - m)) (stable for
// large logits), kept apart because m + ls rounds badly in f32 when m is large, and the row loss
// (m - x[label]) + ls; the mean over rows is a separate reduction.
// Backward (fused softmax + CE): dx[r, c] = (exp((x[r,c] - m) - ls) - [c == label[r]]) * dloss / B.
struct Params { B: u32, C: u32, xOff: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<f32>;

//#include flat_index.wgsl

@group(0) @binding(3) var<storage, read_write> rowLoss: array<f32>;
@group(0) @binding(4) var<storage, read_write> rowLse: array<f32>;
var<workgroup> red: array<f32, 256>;

@compute @workgroup_size(256)
fn forward(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let r = wg.y * nwg.x + wg.x;
  let row = P.xOff + min(r, P.B - 1u) * P.C;
  var m = -3.4e38;
  for (var c = lid.x; c < P.C; c += 256u) { m = max(m, logits[row + c]); }
  red[lid.x] = m;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (lid.x < s) { red[lid.x] = max(red[lid.x], red[lid.x + s]); }
    workgroupBarrier();
  }
  let rowMax = red[0];
  workgroupBarrier();
  var acc = 0.0;
  for (var c = lid.x; c < P.C; c += 256u) { acc += exp(logits[row + c] - rowMax); }
  red[lid.x] = acc;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (lid.x < s) { red[lid.x] += red[lid.x + s]; }
    workgroupBarrier();
  }
  if (lid.x == 0u && r < P.B) {
    let ls = log(red[0]);
    rowLse[2u * r] = rowMax;
    rowLse[2u * r + 1u] = ls;
    rowLoss[r] = (rowMax - logits[row + u32(labels[r])]) + ls;
  }
}

@group(0) @binding(3) var<storage, read> lse: array<f32>;
@group(0) @binding(4) var<storage, read> dloss: array<f32>;
@group(0) @binding(5) var<storage, read_write> dlogits: array<f32>;
@compute @workgroup_size(256)
fn backward(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = flatIndex(wg, nwg, lid);
  if (i >= P.B * P.C) { return; }
  let r = i / P.C;
  let c = i % P.C;
  let p = exp((logits[P.xOff + i] - lse[2u * r]) - lse[2u * r + 1u]);
  let onehot = select(0.0, 1.0, u32(labels[r]) == c);
  dlogits[i] = (p - onehot) * dloss[0] / f32(P.B);
}
