// Local response normalisation across channels (AlexNet / VGG's A-LRN):
//   s_c = K + alpha * sum_{j in win(c)} x_j^2,   y_c = x_c * s_c^-beta,
//   win(c) = [c - SIZE/2, c + (SIZE-1)/2] ∩ [0, C)   (PyTorch's window; symmetric for odd SIZE).
// `alpha` arrives already divided by SIZE when the Caffe/PyTorch convention is used.
// Backward:  dx_c = dy_c s_c^-beta - 2 alpha beta x_c sum_{j : c in win(j)} dy_j x_j s_j^(-beta-1).
// Baked: SIZE.
struct Params { n: u32, C: u32, HW: u32, xOff: u32, yOff: u32, dyOff: u32, dxOff: u32, K: f32, alpha: f32, beta: f32 }
@group(0) @binding(0) var<uniform> P: Params;

//#include flat_index.wgsl

@group(0) @binding(1) var<storage, read> x: array<f32>;

const LO = SIZE / 2u;         // channels before c in the window
const HI = (SIZE - 1u) / 2u;  // channels after c

// s_c for the element at (image plane start `img0`, channel c, pixel p).
fn scaleAt(img0: u32, c: u32, p: u32) -> f32 {
  let lo = select(0u, c - LO, c >= LO);
  let hi = min(P.C - 1u, c + HI);
  var s = 0.0;
  for (var j = lo; j <= hi; j++) {
    let v = x[img0 + j * P.HW + p];
    s += v * v;
  }
  return P.K + P.alpha * s;
}

@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(256)
fn forward(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = flatIndex(wg, nwg, lid);
  if (i >= P.n) { return; }
  let img0 = P.xOff + (i / (P.C * P.HW)) * P.C * P.HW;
  let c = (i / P.HW) % P.C;
  let p = i % P.HW;
  y[P.yOff + i] = x[P.xOff + i] * pow(scaleAt(img0, c, p), -P.beta);
}

@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;
@compute @workgroup_size(256)
fn backward(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = flatIndex(wg, nwg, lid);
  if (i >= P.n) { return; }
  let imgIdx = i / (P.C * P.HW);
  let img0 = P.xOff + imgIdx * P.C * P.HW;
  let dy0 = P.dyOff + imgIdx * P.C * P.HW;
  let c = (i / P.HW) % P.C;
  let p = i % P.HW;
  // j ranges over channels whose window contains c: c - HI <= j <= c + LO.
  let lo = select(0u, c - HI, c >= HI);
  let hi = min(P.C - 1u, c + LO);
  var cross = 0.0;
  for (var j = lo; j <= hi; j++) {
    let sj = scaleAt(img0, j, p);
    cross += dy[dy0 + j * P.HW + p] * x[img0 + j * P.HW + p] * pow(sj, -P.beta - 1.0);
  }
  let xc = x[P.xOff + i];
  dx[P.dxOff + i] = dy[P.dyOff + i] * pow(scaleAt(img0, c, p), -P.beta) - 2.0 * P.alpha * P.beta * xc * cross;
}
