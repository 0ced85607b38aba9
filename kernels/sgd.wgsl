// SGD with momentum and L2 weight decay, PyTorch semantics, in one pass:
//   d = g + wd * p;  buf = momentum * buf + d;  p -= lr * buf
struct Params { n: u32, pOff: u32, gOff: u32, bufOff: u32, lr: f32, momentum: f32, wd: f32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> buf: array<f32>;

//#include flat_index.wgsl

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = flatIndex(wg, nwg, lid);
  if (i >= P.n) { return; }
  let p = param[P.pOff + i];
  let d = grad[P.gOff + i] + P.wd * p;
  let b = P.momentum * buf[P.bufOff + i] + d;
  buf[P.bufOff + i] = b;
  param[P.pOff + i] = p - P.lr * b;
}
