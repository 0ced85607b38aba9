// SGD with momentum and L2 weight decay, PyTorch semantics, in one pass:
//   d = g + wd * p;  buf = momentum * buf + d;  p -= lr * buf
// VEC4 (n and offsets multiples of 4): four elements per invocation, in 16-byte loads.
// Baked: VEC4.
struct Params { n: u32, pOff: u32, gOff: u32, bufOff: u32, lr: f32, momentum: f32, wd: f32 }
@group(0) @binding(0) var<uniform> P: Params;
//#if VEC4
alias V = vec4f;
const W = 4u;
//#else
alias V = f32;
const W = 1u;
//#endif
@group(0) @binding(1) var<storage, read_write> param: array<V>;
@group(0) @binding(2) var<storage, read> grad: array<V>;
@group(0) @binding(3) var<storage, read_write> buf: array<V>;

//#include flat_index.wgsl

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = flatIndex(wg, nwg, lid);
  if (i >= P.n / W) { return; }
  let p = param[P.pOff / W + i];
  let d = grad[P.gOff / W + i] + P.wd * p;
  let b = P.momentum * buf[P.bufOff / W + i] + d;
  buf[P.bufOff / W + i] = b;
  param[P.pOff / W + i] = p - P.lr * b;
}
