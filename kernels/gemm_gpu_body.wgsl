// GPU GEMM body shared by matmul and the convolution passes:  C[m, n] = sum_k A[m, k] * B[k, n]
// A WG_X × WG_Y workgroup owns a BM × BN tile of C (BM = 8·WG_Y, BN = 8·WG_X: 128×128 at 16×16,
// 64×64 at 8×8), each invocation 8×8 of it: rows 4·ty .. 4·ty+3 and BM/2 + the same, columns
// likewise, so its operands are two vec4 reads of A and two of B per k from workgroup memory.
// Per K-tile of BK, A is staged transposed ([k][m]) and B as [k][n], both as vec4 rows, in two
// buffers: the next tile's global loads go to registers while the current one is multiplied,
// then into the other buffer — one barrier per tile. Loads are spread so that neighbouring
// invocations read neighbouring k of A (rows of a row-major weight) and neighbouring n of B
// (pixels); tiles wholly inside the matrices skip the bounds checks.
// workgroup_id.z splits K as in gemm_body.wgsl; x and y may come folded (gemm_grid.wgsl).
// The including file provides Params (M, N, K, kChunk first), binding P and
//   fn elemA(m: u32, k: u32) -> f32       any m < M, k < K
//   fn elemB(k: u32, n: u32) -> f32       any k < K, n < N
//   fn storeC(m: u32, n: u32, split: u32, v: f32)   called only for m < M, n < N
// Baked: WG_X, WG_Y (TM, TN = 8).
const BK = 8u;
const BM = 8u * WG_Y;
const BN = 8u * WG_X;
const NT = WG_X * WG_Y;
const BM4 = BM / 4u;
const BN4 = BN / 4u;
const LA = BM * BK / NT;   // A elements each invocation stages per tile
const LB = BN * BK / NT;
var<workgroup> tileA: array<vec4f, 2u * BK * BM4>;  // [buffer][k][m / 4]
var<workgroup> tileB: array<vec4f, 2u * BK * BN4>;  // [buffer][k][n / 4]

//#include gemm_grid.wgsl

var<private> stageA: array<f32, LA>;
var<private> stageB: array<f32, LB>;

// Global loads of the K-tile at k0 into registers (zero past the matrix's edges or kEnd).
fn loadTile(m0: u32, n0: u32, k0: u32, kEnd: u32, li: u32) {
  if (m0 + BM <= P.M && n0 + BN <= P.N && k0 + BK <= kEnd) {
    for (var r = 0u; r < LA; r++) {
      let e = li + r * NT;
      stageA[r] = elemA(m0 + e / BK, k0 + e % BK);
    }
    for (var r = 0u; r < LB; r++) {
      let e = li + r * NT;
      stageB[r] = elemB(k0 + e / BN, n0 + e % BN);
    }
    return;
  }
  for (var r = 0u; r < LA; r++) {
    let e = li + r * NT;
    let m = m0 + e / BK;
    let k = k0 + e % BK;
    stageA[r] = select(0.0, elemA(min(m, P.M - 1u), min(k, P.K - 1u)), m < P.M && k < kEnd);
  }
  for (var r = 0u; r < LB; r++) {
    let e = li + r * NT;
    let k = k0 + e / BN;
    let n = n0 + e % BN;
    stageB[r] = select(0.0, elemB(min(k, P.K - 1u), min(n, P.N - 1u)), n < P.N && k < kEnd);
  }
}

fn storeTile(buf: u32, li: u32) {
  for (var r = 0u; r < LA; r++) {
    let e = li + r * NT;
    let mm = e / BK;
    tileA[(buf * BK + e % BK) * BM4 + mm / 4u][mm % 4u] = stageA[r];
  }
  for (var r = 0u; r < LB; r++) {
    let e = li + r * NT;
    let nn = e % BN;
    tileB[(buf * BK + e / BN) * BN4 + nn / 4u][nn % 4u] = stageB[r];
  }
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(local_invocation_index) li: u32) {
  let tile = gemmTile(wg, nwg, (P.M + BM - 1u) / BM);
  let m0 = tile.y * BM;
  let n0 = tile.x * BN;
  if (n0 >= P.N) { return; }  // a tile of the fold's rounding (uniform across the workgroup)
  let kBegin = wg.z * P.kChunk;
  let kEnd = min(P.K, kBegin + P.kChunk);
  var acc: array<array<vec4f, 2>, 8>;  // [row][column half]
  loadTile(m0, n0, kBegin, kEnd, li);
  storeTile(0u, li);
  workgroupBarrier();
  var buf = 0u;
  for (var k0 = kBegin; k0 < kEnd; k0 += BK) {
    let more = k0 + BK < kEnd;
    if (more) { loadTile(m0, n0, k0 + BK, kEnd, li); }
    for (var kk = 0u; kk < BK; kk++) {
      let ra = (buf * BK + kk) * BM4 + lid.y;
      let rb = (buf * BK + kk) * BN4 + lid.x;
      let a = array<vec4f, 2>(tileA[ra], tileA[ra + BM4 / 2u]);
      let b = array<vec4f, 2>(tileB[rb], tileB[rb + BN4 / 2u]);
      for (var h = 0u; h < 2u; h++) {
        for (var i = 0u; i < 4u; i++) {
          let av = vec4f(a[h][i]);
          acc[4u * h + i][0] = fma(av, b[0], acc[4u * h + i][0]);
          acc[4u * h + i][1] = fma(av, b[1], acc[4u * h + i][1]);
        }
      }
    }
    if (more) { storeTile(1u - buf, li); }
    workgroupBarrier();
    buf = 1u - buf;
  }
  for (var i = 0u; i < 8u; i++) {
    let m = m0 + (i / 4u) * (BM / 2u) + 4u * lid.y + i % 4u;
    if (m >= P.M) { continue; }
    for (var h = 0u; h < 2u; h++) {
      for (var c = 0u; c < 4u; c++) {
        let n = n0 + h * (BN / 2u) + 4u * lid.x + c;
        if (n < P.N) { storeC(m, n, wg.z, acc[i][h][c]); }
      }
    }
  }
}
