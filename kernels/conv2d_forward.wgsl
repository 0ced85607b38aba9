// Stride-1 convolution forward as implicit GEMM (im2col indexing inside the B loads):
//   Y[img, co, o] = bias[co] + sum_{ci,ky,kx} W[co, ci, ky, kx] * X[img, ci, o + (ky-PAD, kx-PAD)]
//   M = Cout (this launch's channel range), N = images*Ho*Wo, K = Cin*KS*KS.
// Bias (with HAS_BIAS) and ReLU are fused into the store. A weight too big for one binding is launched in
// output-channel ranges: coOff is the range's first channel, CoTotal the layer's channel count.
// Hooks for a GEMM body (loads, stores; the body is composed in at //#body by the launcher).
// Baked: KS, PAD, TM, TN, WG_X, WG_Y, HAS_BIAS, RELU.
struct Params {
  M: u32, N: u32, K: u32, kChunk: u32,
  C: u32, H: u32, W: u32, Ho: u32, Wo: u32, coOff: u32, CoTotal: u32,
  xOff: u32, wOff: u32, bOff: u32, yOff: u32,
}
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

const KK = KS * KS;
var<private> colBase: array<i32, TN>;  // X index of (img, ci=0, oy, ox)
var<private> colY: array<i32, TN>;
var<private> colX: array<i32, TN>;
var<private> kOff: i32;
var<private> kDy: i32;
var<private> kDx: i32;

fn initTile(m0: u32, n0: u32) {
  let HoWo = P.Ho * P.Wo;
  for (var c = 0u; c < TN; c++) {
    let n = n0 + c;
    let img = n / HoWo;
    let q = n % HoWo;
    let oy = q / P.Wo;
    let ox = q % P.Wo;
    colY[c] = select(-100000, i32(oy), n < P.N);  // far outside: every tap invalid
    colX[c] = i32(ox);
    colBase[c] = i32(P.xOff + img * P.C * P.H * P.W + oy * P.W + ox);
  }
}

fn beginK(k: u32) {
  let ci = k / KK;
  let r = k % KK;
  kDy = i32(r / KS) - i32(PAD);
  kDx = i32(r % KS) - i32(PAD);
  kOff = i32(ci * P.H * P.W) + kDy * i32(P.W) + kDx;
}

fn loadA(m: u32, k: u32) -> f32 {
  return w[P.wOff + m * P.K + k];
}

fn loadB4(k: u32, j: u32) -> vec4f {
  var v: vec4f;
  for (var c = 0u; c < 4u; c++) {
    let col = 4u * j + c;
    let iy = colY[col] + kDy;
    let ix = colX[col] + kDx;
    let ok = iy >= 0 && iy < i32(P.H) && ix >= 0 && ix < i32(P.W);
    v[c] = select(0.0, x[u32(select(0, colBase[col] + kOff, ok))], ok);
  }
  return v;
}

fn elemA(m: u32, k: u32) -> f32 { return w[P.wOff + m * P.K + k]; }
fn elemB(k: u32, n: u32) -> f32 {
  let HoWo = P.Ho * P.Wo;
  let q = n % HoWo;
  let r = k % KK;
  let iy = i32(q / P.Wo + r / KS) - i32(PAD);
  let ix = i32(q % P.Wo + r % KS) - i32(PAD);
  let ok = iy >= 0 && iy < i32(P.H) && ix >= 0 && ix < i32(P.W);
  let idx = P.xOff + ((n / HoWo) * P.C + k / KK) * P.H * P.W + u32(select(0, iy * i32(P.W) + ix, ok));
  return select(0.0, x[idx], ok);
}

fn storeC(m: u32, n: u32, split: u32, v: f32) {
  let HoWo = P.Ho * P.Wo;
  var r = v;
  if (HAS_BIAS) { r += bias[P.bOff + m]; }
  if (RELU) { r = max(r, 0.0); }
  y[P.yOff + (n / HoWo) * P.CoTotal * HoWo + (P.coOff + m) * HoWo + n % HoWo] = r;
}

// The GEMM body the variant names (ops/gemm.ts GEMM_BODIES) goes here, below these hooks.
//#body
