// Register-tiled GEMM body shared by matmul and the convolution passes (implicit GEMM):
//   C[m, n] = sum_k A[m, k] * B[k, n]
// Each invocation owns a TM x TN block of C (TN a multiple of 4, accumulated as vec4 along n);
// a workgroup of WG_X x WG_Y invocations owns (WG_Y*TM) x (WG_X*TN). workgroup_id.z splits K
// into chunks of P.kChunk so long reductions spread over more workgroups (split-K); x and y may
// come folded (gemm_grid.wgsl).
// The including file provides: struct Params (first fields M, N, K, kChunk), binding P, and
//   fn initTile(m0: u32, n0: u32)        per-invocation setup (e.g. pixel coordinates)
//   fn beginK(k: u32)                    per-k setup shared by the loads below
//   fn loadA(m: u32, k: u32) -> f32      m < M, k < K guaranteed
//   fn loadB4(k: u32, j: u32) -> vec4f   columns n0+4j .. n0+4j+3; 0 for columns >= N
//   fn storeC(m: u32, n: u32, split: u32, v: f32)   called only for m < M, n < N
const TN4 = TN / 4u;

//#include gemm_grid.wgsl

@compute @workgroup_size(WG_X, WG_Y, 1)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let tile = gemmTile(wg, nwg, (P.M + WG_Y * TM - 1u) / (WG_Y * TM));
  let n0 = (tile.x * WG_X + lid.x) * TN;
  let m0 = (tile.y * WG_Y + lid.y) * TM;
  if (m0 >= P.M || n0 >= P.N) { return; }
  let kBegin = wg.z * P.kChunk;
  let kEnd = min(P.K, kBegin + P.kChunk);
  initTile(m0, n0);
  var rows: array<u32, TM>;
  for (var i = 0u; i < TM; i++) { rows[i] = min(m0 + i, P.M - 1u); }
  var acc: array<array<vec4f, TN4>, TM>;  // indexed by loop counters only: kept in registers
  var a: array<f32, TM>;
  var b: array<vec4f, TN4>;
  for (var k = kBegin; k < kEnd; k++) {
    beginK(k);
    for (var i = 0u; i < TM; i++) { a[i] = loadA(rows[i], k); }
    for (var j = 0u; j < TN4; j++) { b[j] = loadB4(k, j); }
    for (var i = 0u; i < TM; i++) {
      for (var j = 0u; j < TN4; j++) {
        acc[i][j] = fma(vec4f(a[i]), b[j], acc[i][j]);
      }
    }
  }
  for (var i = 0u; i < TM; i++) {
    let m = m0 + i;
    if (m >= P.M) { break; }
    for (var j = 0u; j < TN4; j++) {
      for (var c = 0u; c < 4u; c++) {
        let n = n0 + 4u * j + c;
        if (n < P.N) { storeC(m, n, wg.z, acc[i][j][c]); }
      }
    }
  }
}
