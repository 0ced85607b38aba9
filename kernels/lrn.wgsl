// Local response normalisation across channels (AlexNet / VGG's A-LRN):
//   s_c = K + alpha * sum_{j in win(c)} x_j^2,   y_c = x_c * s_c^-beta,
//   win(c) = [c - SIZE/2, c + (SIZE-1)/2] ∩ [0, C)   (PyTorch's window; symmetric for odd SIZE).
// `alpha` arrives already divided by SIZE when the Caffe/PyTorch convention is used.
// Backward:  dx_c = dy_c s_c^-beta - 2 alpha beta x_c sum_{j : c in win(j)} dy_j x_j s_j^(-beta-1).
// One invocation per (image, pixel) walks the channels with the window in registers (shift
// registers of SIZE values), so each input is loaded once instead of SIZE (or SIZE^2) times.
// Baked: SIZE.
struct Params { n: u32, C: u32, HW: u32, xOff: u32, yOff: u32, dyOff: u32, dxOff: u32, K: f32, alpha: f32, beta: f32 }
@group(0) @binding(0) var<uniform> P: Params;

//#include flat_index.wgsl

@group(0) @binding(1) var<storage, read> x: array<f32>;

const LO = SIZE / 2u;         // channels before c in the window
const HI = (SIZE - 1u) / 2u;  // channels after c

// x at channel c (0 outside [0, C)) of the plane column starting at `col`.
fn xAt(col: u32, c: i32) -> f32 {
  let ok = c >= 0 && c < i32(P.C);
  return select(0.0, x[col + u32(select(0, c, ok)) * P.HW], ok);
}

// Shifts `win` down by one and appends v (win[k] = value k-SIZE+1 steps ago).
fn push(win: ptr<function, array<f32, SIZE>>, v: f32) {
  for (var k = 0u; k + 1u < SIZE; k++) { (*win)[k] = (*win)[k + 1u]; }
  (*win)[SIZE - 1u] = v;
}

fn sumSquares(win: ptr<function, array<f32, SIZE>>) -> f32 {
  var s = 0.0;
  for (var k = 0u; k < SIZE; k++) { s += (*win)[k] * (*win)[k]; }
  return s;
}

// n = images * HW (one invocation per pixel column).
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(256)
fn forward(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = flatIndex(wg, nwg, lid);
  if (i >= P.n) { return; }
  let rel = (i / P.HW) * P.C * P.HW + i % P.HW;
  let col = P.xOff + rel;
  var win: array<f32, SIZE>;  // x of channels c-LO .. c+HI
  for (var k = 0u; k < SIZE; k++) { win[k] = xAt(col, i32(k) - i32(LO)); }
  for (var c = 0u; c < P.C; c++) {
    y[P.yOff + rel + c * P.HW] = win[LO] * pow(P.K + P.alpha * sumSquares(&win), -P.beta);
    push(&win, xAt(col, i32(c + HI + 1u)));
  }
}

@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;
@compute @workgroup_size(256)
fn backward(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = flatIndex(wg, nwg, lid);
  if (i >= P.n) { return; }
  let rel = (i / P.HW) * P.C * P.HW + i % P.HW;
  let col = P.xOff + rel;
  var xw: array<f32, SIZE>;   // x of channels j-LO .. j+HI, for s_j
  var tw: array<f32, SIZE>;   // t_i = dy_i x_i s_i^(-beta-1) for i = j-SIZE+1 .. j
  var gw: array<f32, SIZE>;   // dy_i s_i^-beta, same channels
  var xv: array<f32, SIZE>;   // x_i, same channels
  for (var k = 0u; k < SIZE; k++) { xw[k] = xAt(col, i32(k) - i32(LO)); }
  // Step j computes s_j and t_j, then finishes channel c = j - LO, whose window of t ends at j.
  for (var j = 0u; j < P.C + LO; j++) {
    var t = 0.0;
    var g = 0.0;
    if (j < P.C) {
      let s = P.K + P.alpha * sumSquares(&xw);
      let sb = pow(s, -P.beta);
      let d = dy[P.dyOff + rel + j * P.HW];
      t = d * xw[LO] * sb / s;
      g = d * sb;
    }
    push(&tw, t);
    push(&gw, g);
    push(&xv, xw[LO]);
    push(&xw, xAt(col, i32(j + HI + 1u)));
    if (j >= LO) {
      var cross = 0.0;
      for (var k = 0u; k < SIZE; k++) { cross += tw[k]; }
      // channel c = j - LO sits LO steps back in gw / xv.
      dx[P.dxOff + rel + (j - LO) * P.HW] = gw[SIZE - 1u - LO] - 2.0 * P.alpha * P.beta * xv[SIZE - 1u - LO] * cross;
    }
  }
}
