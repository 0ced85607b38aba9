// Convolution weight gradient as a GEMM whose reduction runs over every output pixel of the batch:
//   dW[co, (ci,ky,kx)] = sum_{img,o} dY[img, co, o] * X[img, ci, o + (ky-PAD, kx-PAD)]
//   M = Cout, N = Cin*KS*KS, K = images*Ho*Wo, split over workgroup_id.z into partial sums
//   (out[split, co, n]) that sum_splits.wgsl adds up; with one split it writes dW directly.
// Hooks for a GEMM body (loads, stores; the body is composed in at //#body by the launcher).
// Baked: KS, PAD, TM, TN, WG_X, WG_Y, ACCUMULATE.
struct Params {
  M: u32, N: u32, K: u32, kChunk: u32,
  Cin: u32, H: u32, W: u32, Ho: u32, Wo: u32,
  dyOff: u32, xOff: u32, outOff: u32,
}
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> outp: array<f32>;

const KK = KS * KS;
var<private> colOff: array<i32, TN>;
var<private> colDy: array<i32, TN>;
var<private> colDx: array<i32, TN>;
var<private> pY: i32;
var<private> pX: i32;
var<private> pX0: u32;   // X index of (img, ci=0, oy, ox)
var<private> pDy: u32;   // dY index of (img, co=0, oy, ox)

fn initTile(m0: u32, n0: u32) {
  for (var c = 0u; c < TN; c++) {
    let n = n0 + c;
    let ci = n / KK;
    let r = n % KK;
    colDy[c] = select(-100000, i32(r / KS) - i32(PAD), n < P.N);
    colDx[c] = i32(r % KS) - i32(PAD);
    colOff[c] = i32(ci * P.H * P.W) + colDy[c] * i32(P.W) + colDx[c];
  }
}

fn beginK(k: u32) {
  let HoWo = P.Ho * P.Wo;
  let img = k / HoWo;
  let q = k % HoWo;
  let oy = q / P.Wo;
  let ox = q % P.Wo;
  pY = i32(oy);
  pX = i32(ox);
  pX0 = P.xOff + img * P.Cin * P.H * P.W + oy * P.W + ox;
  pDy = P.dyOff + img * P.M * HoWo + q;
}

fn loadA(m: u32, k: u32) -> f32 {
  return dy[pDy + m * P.Ho * P.Wo];
}

fn loadB4(k: u32, j: u32) -> vec4f {
  var v: vec4f;
  for (var c = 0u; c < 4u; c++) {
    let col = 4u * j + c;
    let iy = pY + colDy[col];
    let ix = pX + colDx[col];
    let ok = iy >= 0 && iy < i32(P.H) && ix >= 0 && ix < i32(P.W);
    v[c] = select(0.0, x[u32(select(0, i32(pX0) + colOff[col], ok))], ok);
  }
  return v;
}

fn elemA(m: u32, k: u32) -> f32 {
  let HoWo = P.Ho * P.Wo;
  return dy[P.dyOff + ((k / HoWo) * P.M + m) * HoWo + k % HoWo];
}
fn elemB(k: u32, n: u32) -> f32 {
  let HoWo = P.Ho * P.Wo;
  let q = k % HoWo;
  let r = n % KK;
  let iy = i32(q / P.Wo + r / KS) - i32(PAD);
  let ix = i32(q % P.Wo + r % KS) - i32(PAD);
  let ok = iy >= 0 && iy < i32(P.H) && ix >= 0 && ix < i32(P.W);
  let idx = P.xOff + ((k / HoWo) * P.Cin + n / KK) * P.H * P.W + u32(select(0, iy * i32(P.W) + ix, ok));
  return select(0.0, x[idx], ok);
}

fn storeC(m: u32, n: u32, split: u32, v: f32) {
  let idx = P.outOff + split * P.M * P.N + m * P.N + n;
  if (ACCUMULATE) { outp[idx] += v; } else { outp[idx] = v; }
}

// The GEMM body the variant names (ops/gemm.ts GEMM_BODIES) goes here, below these hooks.
//#body
