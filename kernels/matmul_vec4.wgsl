// Strided matmul C = (C when ACCUMULATE) + A·B (+ bias[n]) (ReLU) with 16-byte loads: every
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

//#include gemm_grid.wgsl

@compute @workgroup_size(WG_X, WG_Y, 1)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let tile = gemmTile(wg, nwg, (P.M + WG_Y * TM - 1u) / (WG_Y * TM));
  let n0 = (tile.x * WG_X + lid.x) * TN;
  let m0 = (tile.y * WG_Y + lid.y) * TM;
  // No early return: lanes past the edge load clamped addresses and store nothing.
  let kBegin = wg.z * P.kChunk;
  let kEnd = min(P.K, kBegin + P.kChunk);

  // Row / column starts in vec4 units, clamped inside the operand (edge lanes load valid
  // memory; their results are never stored). Every register array is indexed by the counters of
  // loops as long as it is: that makes compilers unroll them all and keep the arrays in registers.
  var aRow: array<array<u32, 4>, TM4>;  // A_ALONG_K: start of row m0+4i+e
  var aCol: array<u32, TM4>;            // else: start of rows m0+4i..+3 at k = 0
  for (var i = 0u; i < TM4; i++) {
    if (A_ALONG_K) {
      for (var e = 0u; e < 4u; e++) { aRow[i][e] = (P.aOff + min(m0 + 4u * i + e, P.M - 1u) * P.aSm) / 4u; }
    } else {
      aCol[i] = (P.aOff + min(m0 + 4u * i, P.M - 4u)) / 4u;
    }
  }
  var bCol: array<array<u32, 4>, TN4>;  // !B_ALONG_N: start of column n0+4j+e
  var bRow: array<u32, TN4>;            // B_ALONG_N: start of columns n0+4j..+3 at k = 0
  for (var j = 0u; j < TN4; j++) {
    if (B_ALONG_N) {
      bRow[j] = (P.bOff + min(n0 + 4u * j, P.N - 4u)) / 4u;
    } else {
      for (var e = 0u; e < 4u; e++) { bCol[j][e] = (P.bOff + min(n0 + 4u * j + e, P.N - 1u) * P.bSn) / 4u; }
    }
  }
  let aSk4 = P.aSk / 4u;
  let bSk4 = P.bSk / 4u;

  var acc: array<array<array<vec4f, TN4>, 4>, TM4>;  // acc[i][e][j] = C[m0+4i+e, n0+4j..+3]
  var a: array<array<vec4f, 4>, TM4>;                 // a[i][e][kk] = A[m0+4i+e, k+kk]
  var b: array<array<vec4f, TN4>, 4>;                 // b[kk][j] = B[k+kk, n0+4j..+3]
  for (var k = kBegin; k < kEnd; k += 4u) {
    let k4 = k / 4u;
    for (var i = 0u; i < TM4; i++) {
      if (A_ALONG_K) {
        for (var e = 0u; e < 4u; e++) { a[i][e] = A[aRow[i][e] + k4]; }
      } else {
        for (var kk = 0u; kk < 4u; kk++) {
          let v = A[aCol[i] + (k + kk) * aSk4];
          a[i][0][kk] = v.x;
          a[i][1][kk] = v.y;
          a[i][2][kk] = v.z;
          a[i][3][kk] = v.w;
        }
      }
    }
    for (var j = 0u; j < TN4; j++) {
      if (B_ALONG_N) {
        for (var kk = 0u; kk < 4u; kk++) { b[kk][j] = B[bRow[j] + (k + kk) * bSk4]; }
      } else {
        for (var e = 0u; e < 4u; e++) {
          let v = B[bCol[j][e] + k4];
          b[0][j][e] = v.x;
          b[1][j][e] = v.y;
          b[2][j][e] = v.z;
          b[3][j][e] = v.w;
        }
      }
    }
    for (var kk = 0u; kk < 4u; kk++) {
      for (var i = 0u; i < TM4; i++) {
        for (var e = 0u; e < 4u; e++) {
          let s = vec4f(a[i][e][kk]);
          for (var j = 0u; j < TN4; j++) { acc[i][e][j] = fma(s, b[kk][j], acc[i][e][j]); }
        }
      }
    }
  }

  let cBase = P.cOff + wg.z * P.cSplit;
  for (var i = 0u; i < TM4; i++) {
    for (var e = 0u; e < 4u; e++) {
      let m = m0 + 4u * i + e;
      if (m >= P.M) { break; }
      for (var j = 0u; j < TN4; j++) {
        for (var c = 0u; c < 4u; c++) {
          let n = n0 + 4u * j + c;
          if (n < P.N) {
            let idx = cBase + m * P.cSm + n;
            var r = acc[i][e][j][c];
            if (ACCUMULATE) { r += C[idx]; }
            if (HAS_BIAS) { r += bias[P.biasOff + n]; }
            if (RELU) { r = max(r, 0.0); }
            C[idx] = r;
          }
        }
      }
    }
  }
}
