// Strided matmul C = A·B (+ bias[n]) (ReLU) (+= C when ACCUMULATE) with 16-byte loads: every
// load brings four values, so a TM x TN register block does TM*TN*4 FMAs per (TM + TN) loads
// (16x16: 1024 FMAs per 32 loads). Gathers dominate on CPU adapters; this is what makes them fast.
// Each operand is read as vec4 along its contiguous dimension:
//   A_ALONG_K: A[m, k..k+3] (rows contiguous)      else A[m..m+3, k] (columns contiguous)
//   B_ALONG_N: B[k, n..n+3] (rows contiguous)      else B[k..k+3, n] (columns contiguous)
// The launcher guarantees: K, the vector dimensions, strides and offsets are multiples of 4;
// kChunk (split-K over workgroup z, partial sums at cOff + split*cSplit) is a multiple of 4.
// Baked: TM, TN (multiples of 4), WG_X, WG_Y, A_ALONG_K, B_ALONG_N, HAS_BIAS, RELU, ACCUMULATE.
struct Params {
  M: u32, N: u32, K: u32, kChunk: u32,
  aOff: u32, aSm: u32, aSk: u32,
  bOff: u32, bSk: u32, bSn: u32,
  cOff: u32, cSm: u32, cSplit: u32,
  biasOff: u32,
}
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> A: array<vec4f>;
@group(0) @binding(2) var<storage, read> B: array<vec4f>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> C: array<f32>;

const TN4 = TN / 4u;
const TM4 = TM / 4u;

@compute @workgroup_size(WG_X, WG_Y, 1)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let n0 = (wg.x * WG_X + lid.x) * TN;
  let m0 = (wg.y * WG_Y + lid.y) * TM;
  // No early return: lanes past the edge load clamped addresses and store nothing.
  let kBegin = wg.z * P.kChunk;
  let kEnd = min(P.K, kBegin + P.kChunk);

  // Row / column starts in vec4 units, clamped inside the operand (edge lanes load valid
  // memory; their results are never stored).
  var aRow: array<u32, TM>;   // A_ALONG_K: start of row m0+i
  var aCol: array<u32, TM4>;  // else: start of rows m0+4i..+3 at k = 0
  if (A_ALONG_K) {
    for (var i = 0u; i < TM; i++) { aRow[i] = (P.aOff + min(m0 + i, P.M - 1u) * P.aSm) / 4u; }
  } else {
    for (var i = 0u; i < TM4; i++) { aCol[i] = (P.aOff + min(m0 + 4u * i, P.M - 4u)) / 4u; }
  }
  var bCol: array<u32, TN>;   // !B_ALONG_N: start of column n0+c
  var bRow: array<u32, TN4>;  // B_ALONG_N: start of columns n0+4j..+3 at k = 0
  if (B_ALONG_N) {
    for (var j = 0u; j < TN4; j++) { bRow[j] = (P.bOff + min(n0 + 4u * j, P.N - 4u)) / 4u; }
  } else {
    for (var c = 0u; c < TN; c++) { bCol[c] = (P.bOff + min(n0 + c, P.N - 1u) * P.bSn) / 4u; }
  }
  let aSk4 = P.aSk / 4u;
  let bSk4 = P.bSk / 4u;

  var acc: array<vec4f, TM * TN4>;
  var a: array<vec4f, TM>;        // a[i][kk] = A[m0+i, k+kk]
  var b: array<vec4f, 4u * TN4>;  // b[kk*TN4 + j] = B[k+kk, n0+4j..+3]
  for (var k = kBegin; k < kEnd; k += 4u) {
    let k4 = k / 4u;
    if (A_ALONG_K) {
      for (var i = 0u; i < TM; i++) { a[i] = A[aRow[i] + k4]; }
    } else {
      for (var kk = 0u; kk < 4u; kk++) {
        for (var i = 0u; i < TM4; i++) {
          let v = A[aCol[i] + (k + kk) * aSk4];
          a[4u * i][kk] = v.x;
          a[4u * i + 1u][kk] = v.y;
          a[4u * i + 2u][kk] = v.z;
          a[4u * i + 3u][kk] = v.w;
        }
      }
    }
    if (B_ALONG_N) {
      for (var kk = 0u; kk < 4u; kk++) {
        for (var j = 0u; j < TN4; j++) { b[kk * TN4 + j] = B[bRow[j] + (k + kk) * bSk4]; }
      }
    } else {
      for (var c = 0u; c < TN; c++) {
        let v = B[bCol[c] + k4];
        b[c / 4u][c % 4u] = v.x;
        b[TN4 + c / 4u][c % 4u] = v.y;
        b[2u * TN4 + c / 4u][c % 4u] = v.z;
        b[3u * TN4 + c / 4u][c % 4u] = v.w;
      }
    }
    for (var kk = 0u; kk < 4u; kk++) {
      for (var i = 0u; i < TM; i++) {
        let s = vec4f(a[i][kk]);
        for (var j = 0u; j < TN4; j++) {
          acc[i * TN4 + j] = fma(s, b[kk * TN4 + j], acc[i * TN4 + j]);
        }
      }
    }
  }

  let cBase = P.cOff + wg.z * P.cSplit;
  for (var i = 0u; i < TM; i++) {
    let m = m0 + i;
    if (m >= P.M) { break; }
    for (var j = 0u; j < TN4; j++) {
      for (var c = 0u; c < 4u; c++) {
        let n = n0 + 4u * j + c;
        if (n < P.N) {
          var r = acc[i * TN4 + j][c];
          if (HAS_BIAS) { r += bias[P.biasOff + n]; }
          if (RELU) { r = max(r, 0.0); }
          let idx = cBase + m * P.cSm + n;
          if (ACCUMULATE) { r += C[idx]; }
          C[idx] = r;
        }
      }
    }
  }
}
