// Convolution input gradient as implicit GEMM (a convolution of dY with the flipped weights):
//   dX[img, ci, i] = sum_{co,ky,kx} W[co, ci, ky, kx] * dY[img, co, i - (ky-PAD, kx-PAD)]
//   M = Cin, N = images*H*W (input pixels), K = Cout*KS*KS; dY is Ho x Wo.
// Hooks for a GEMM body (loads, stores; the body is composed in at //#body by the launcher).
// Baked: KS, PAD, TM, TN, WG_X, WG_Y, ACCUMULATE.
struct Params {
  M: u32, N: u32, K: u32, kChunk: u32,
  Cout: u32, H: u32, W: u32, Ho: u32, Wo: u32,
  dyOff: u32, wOff: u32, dxOff: u32,
}
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

const KK = KS * KS;
var<private> colBase: array<i32, TN>;  // dY index of (img, co=0, iy, ix)
var<private> colY: array<i32, TN>;
var<private> colX: array<i32, TN>;
var<private> kOff: i32;
var<private> kDy: i32;
var<private> kDx: i32;
var<private> kW: u32;  // W index of (co, ci=0, ky, kx)

fn initTile(m0: u32, n0: u32) {
  let HW = P.H * P.W;
  for (var c = 0u; c < TN; c++) {
    let n = n0 + c;
    let img = n / HW;
    let q = n % HW;
    colY[c] = select(-100000, i32(q / P.W), n < P.N);
    colX[c] = i32(q % P.W);
    colBase[c] = i32(P.dyOff + img * P.Cout * P.Ho * P.Wo) + colY[c] * i32(P.Wo) + colX[c];
  }
}

fn beginK(k: u32) {
  let co = k / KK;
  let r = k % KK;
  kDy = i32(PAD) - i32(r / KS);
  kDx = i32(PAD) - i32(r % KS);
  kOff = i32(co * P.Ho * P.Wo) + kDy * i32(P.Wo) + kDx;
  kW = P.wOff + co * P.M * KK + r;
}

fn loadA(m: u32, k: u32) -> f32 {
  return w[kW + m * KK];
}

fn loadB4(k: u32, j: u32) -> vec4f {
  var v: vec4f;
  for (var c = 0u; c < 4u; c++) {
    let col = 4u * j + c;
    let oy = colY[col] + kDy;
    let ox = colX[col] + kDx;
    let ok = oy >= 0 && oy < i32(P.Ho) && ox >= 0 && ox < i32(P.Wo);
    v[c] = select(0.0, dy[u32(select(0, colBase[col] + kOff, ok))], ok);
  }
  return v;
}

fn elemA(m: u32, k: u32) -> f32 { return w[P.wOff + ((k / KK) * P.M + m) * KK + k % KK]; }
fn elemB(k: u32, n: u32) -> f32 {
  let HW = P.H * P.W;
  let q = n % HW;
  let r = k % KK;
  let oy = i32(q / P.W) + i32(PAD) - i32(r / KS);
  let ox = i32(q % P.W) + i32(PAD) - i32(r % KS);
  let ok = oy >= 0 && oy < i32(P.Ho) && ox >= 0 && ox < i32(P.Wo);
  let idx = P.dyOff + ((n / HW) * P.Cout + k / KK) * P.Ho * P.Wo + u32(select(0, oy * i32(P.Wo) + ox, ok));
  return select(0.0, dy[idx], ok);
}

fn storeC(m: u32, n: u32, split: u32, v: f32) {
  let HW = P.H * P.W;
  let idx = P.dxOff + (n / HW) * P.M * HW + m * HW + n % HW;
  if (ACCUMULATE) { dx[idx] += v; } else { dx[idx] = v; }
}

// The GEMM body the variant names (ops/gemm.ts GEMM_BODIES) goes here, below these hooks.
//#body
