// Workgroup-memory tiled GEMM body for GPUs, shared by matmul and the convolution passes:
//   C[m, n] = sum_k A[m, k] * B[k, n]
// A 16x16 workgroup owns a 64x64 tile of C, 4x4 per invocation. Per step of 16 along k, the 256
// invocations stage A[64 x 16] and B[16 x 64] in workgroup memory (4 values each, consecutive
// invocations on consecutive m / n), then accumulate from there. workgroup_id.z splits K as in
// gemm_body.wgsl; x and y may come folded (gemm_grid.wgsl). The including file provides Params (M, N, K, kChunk first), binding P and
//   fn elemA(m: u32, k: u32) -> f32       any m < M, k < K
//   fn elemB(k: u32, n: u32) -> f32       any k < K, n < N
//   fn storeC(m: u32, n: u32, split: u32, v: f32)   called only for m < M, n < N
const SB = 64u;   // tile side
const SK = 16u;   // k per step
var<workgroup> tileA: array<f32, SK * SB>;  // [k][m]
var<workgroup> tileB: array<f32, SK * SB>;  // [k][n]

//#include gemm_grid.wgsl

@compute @workgroup_size(16, 16, 1)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(local_invocation_index) li: u32) {
  let tile = gemmTile(wg, nwg, (P.M + SB - 1u) / SB);
  let m0 = tile.y * SB;
  let n0 = tile.x * SB;
  if (n0 >= P.N) { return; }  // a tile of the fold's rounding (uniform across the workgroup)
  let kBegin = wg.z * P.kChunk;
  let kEnd = min(P.K, kBegin + P.kChunk);
  var acc: array<array<f32, 4>, 4>;
  for (var k0 = kBegin; k0 < kEnd; k0 += SK) {
    for (var r = 0u; r < 4u; r++) {
      let e = li + r * 256u;
      let kk = e / SB;
      let k = k0 + kk;
      let m = m0 + e % SB;
      let n = n0 + e % SB;
      let kOk = k < kEnd;
      let kc = min(k, P.K - 1u);
      tileA[e] = select(0.0, elemA(min(m, P.M - 1u), kc), kOk && m < P.M);
      tileB[e] = select(0.0, elemB(kc, min(n, P.N - 1u)), kOk && n < P.N);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < SK; kk++) {
      var a: array<f32, 4>;
      var b: array<f32, 4>;
      // Rows lid.y + 16i and columns lid.x + 16j: neighbouring invocations read neighbouring words.
      for (var i = 0u; i < 4u; i++) { a[i] = tileA[kk * SB + lid.y + 16u * i]; }
      for (var j = 0u; j < 4u; j++) { b[j] = tileB[kk * SB + lid.x + 16u * j]; }
      for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) { acc[i][j] = fma(a[i], b[j], acc[i][j]); }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let m = m0 + lid.y + 16u * i;
    for (var j = 0u; j < 4u; j++) {
      let n = n0 + lid.x + 16u * j;
      if (m < P.M && n < P.N) { storeC(m, n, wg.z, acc[i][j]); }
    }
  }
}
