// The batched product of Winograd convolution (conv2d_winograd.wgsl), as one GEMM split along K:
//   Mt[ξ, m, p] = Σ_c U[m, ξ·C + c] · V[ξ·C + c, p]
// U is [M, ALPHA²·C] and V [ALPHA²·C, P], both row-major; the launcher splits K = ALPHA²·C into
// ALPHA² chunks of C, so workgroup_id.z is ξ and each split's "partial sum" is the product for
// one transformed position — stored apart, never summed.
// Hooks for a GEMM body (loads, stores; the body is composed in at //#body by the launcher).
// Baked: TM, TN, WG_X, WG_Y.
struct Params {
  M: u32, N: u32, K: u32, kChunk: u32,
  uOff: u32, vOff: u32, mOff: u32,
}
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> U: array<f32>;
@group(0) @binding(2) var<storage, read> V: array<f32>;
@group(0) @binding(3) var<storage, read_write> Mt: array<f32>;

var<private> col0: u32;

fn initTile(m0: u32, n0: u32) { col0 = n0; }

fn beginK(k: u32) {}

fn loadA(m: u32, k: u32) -> f32 { return U[P.uOff + m * P.K + k]; }

fn loadB4(k: u32, j: u32) -> vec4f {
  var v: vec4f;
  let row = P.vOff + k * P.N;
  for (var c = 0u; c < 4u; c++) {
    let n = col0 + 4u * j + c;
    v[c] = select(0.0, V[row + min(n, P.N - 1u)], n < P.N);
  }
  return v;
}

fn elemA(m: u32, k: u32) -> f32 { return U[P.uOff + m * P.K + k]; }
fn elemB(k: u32, n: u32) -> f32 { return V[P.vOff + k * P.N + n]; }

fn storeC(m: u32, n: u32, split: u32, v: f32) { Mt[P.mOff + (split * P.M + m) * P.N + n] = v; }

// The GEMM body the variant names (ops/gemm.ts GEMM_BODIES) goes here, below these hooks.
//#body
