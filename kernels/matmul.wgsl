// Strided matmul C = (C when ACCUMULATE) + A·B (+ bias[n]) (ReLU): serves the fully-connected
// layer's forward (X·Wᵀ), input gradient (dY·W) and weight gradient (dYᵀ·X) through strides,
// and a weight larger than one binding through row-range launches.
// Hooks for a GEMM body (loads, stores; the body is composed in at //#body by the launcher).
// Baked: TM, TN, WG_X, WG_Y, HAS_BIAS, RELU, ACCUMULATE.
struct Params {
  M: u32, N: u32, K: u32, kChunk: u32,
  aOff: u32, aSm: u32, aSk: u32,
  bOff: u32, bSk: u32, bSn: u32,
  cOff: u32, cSm: u32,
  biasOff: u32,
}
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> C: array<f32>;

var<private> colBase: array<u32, TN>;
var<private> colOk: array<bool, TN>;

fn initTile(m0: u32, n0: u32) {
  for (var c = 0u; c < TN; c++) {
    let n = n0 + c;
    colOk[c] = n < P.N;
    colBase[c] = P.bOff + min(n, P.N - 1u) * P.bSn;
  }
}

fn beginK(k: u32) {}

fn loadA(m: u32, k: u32) -> f32 {
  return A[P.aOff + m * P.aSm + k * P.aSk];
}

fn loadB4(k: u32, j: u32) -> vec4f {
  var v: vec4f;
  let kk = k * P.bSk;
  for (var c = 0u; c < 4u; c++) {
    let col = 4u * j + c;
    v[c] = select(0.0, B[colBase[col] + kk], colOk[col]);
  }
  return v;
}

fn elemA(m: u32, k: u32) -> f32 { return A[P.aOff + m * P.aSm + k * P.aSk]; }
fn elemB(k: u32, n: u32) -> f32 { return B[P.bOff + k * P.bSk + n * P.bSn]; }

fn storeC(m: u32, n: u32, split: u32, v: f32) {
  // Accumulate, then bias and ReLU: a product run in K chunks (ops/matmul.ts) adds its last
  // chunk with the bias and ReLU of the whole.
  let idx = P.cOff + m * P.cSm + n;
  var r = v;
  if (ACCUMULATE) { r += C[idx]; }
  if (HAS_BIAS) { r += bias[P.biasOff + n]; }
  if (RELU) { r = max(r, 0.0); }
  C[idx] = r;
}

// The GEMM body the variant names (ops/gemm.ts GEMM_BODIES) goes here, below these hooks.
//#body
