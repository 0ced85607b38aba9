// Winograd convolution F(MT×MT, 3×3), stride 1, padding 1 (Lavin & Gray 2015), in three passes
// around a batched GEMM (winograd_gemm.wgsl):
//   weights: U[m, ξ, c] = (G g Gᵀ)[ξ]   for g = W[m, c] (FLIP: W[c, m] turned 180°, for the input gradient)
//   inputs:  V[ξ, c, p] = (Bᵀ d Bᵀᵀ)[ξ] for d the ALPHA×ALPHA input patch of tile p (zero outside)
//   (GEMM)   Mt[ξ, m, p] = Σ_c U[m, ξ, c] · V[ξ, c, p]
//   outputs: Y[img, m, tile p] = (Aᵀ Mt[·, m, p] A) (+ bias) (ReLU)
// ALPHA = MT + 2 (4 for F(2×2), 6 for F(4×4)); tiles p run over images × tilesY × tilesX, P of
// them, in rows of V and Mt PS long (P rounded up to 4, for vec4 products).
// The transforms are written out (no multiplications by 0 or 1). F(4×4)'s points 0, ±1, ±2 give
// coefficients up to 8 and 1/24: its error grows about tenfold over F(2×2)'s (stated in docs/speed.md).
// Baked: F4 (F(4×4) over F(2×2)), FLIP, HAS_BIAS, RELU.
struct Params {
  M: u32, C: u32, H: u32, W: u32, tilesX: u32, tilesY: u32, P: u32, PS: u32,
  wOff: u32, uOff: u32, xOff: u32, vOff: u32, mOff: u32, yOff: u32, bOff: u32,
}
@group(0) @binding(0) var<uniform> P: Params;

//#include flat_index.wgsl

//#if F4
const MT = 4u;
const ALPHA = 6u;
// Bᵀ d for one column d of a patch.
fn tIn(d: array<f32, 6>) -> array<f32, 6> {
  return array<f32, 6>(
    4.0 * d[0] - 5.0 * d[2] + d[4],
    -4.0 * (d[1] + d[2]) + d[3] + d[4],
    4.0 * (d[1] - d[2]) - d[3] + d[4],
    2.0 * (d[3] - d[1]) - d[2] + d[4],
    2.0 * (d[1] - d[3]) - d[2] + d[4],
    4.0 * d[1] - 5.0 * d[3] + d[5],
  );
}
// G g for one column g of a filter.
fn tW(g: array<f32, 3>) -> array<f32, 6> {
  let even = g[0] + g[2];
  return array<f32, 6>(
    0.25 * g[0],
    -(even + g[1]) / 6.0,
    -(even - g[1]) / 6.0,
    g[0] / 24.0 + g[1] / 12.0 + g[2] / 6.0,
    g[0] / 24.0 - g[1] / 12.0 + g[2] / 6.0,
    g[2],
  );
}
// Aᵀ m for one column m of a transformed tile.
fn tOut(m: array<f32, 6>) -> array<f32, 4> {
  let s12 = m[1] + m[2];
  let d12 = m[1] - m[2];
  let s34 = m[3] + m[4];
  let d34 = m[3] - m[4];
  return array<f32, 4>(m[0] + s12 + s34, d12 + 2.0 * d34, s12 + 4.0 * s34, d12 + 8.0 * d34 + m[5]);
}
//#else
const MT = 2u;
const ALPHA = 4u;
fn tIn(d: array<f32, 4>) -> array<f32, 4> {
  return array<f32, 4>(d[0] - d[2], d[1] + d[2], d[2] - d[1], d[1] - d[3]);
}
fn tW(g: array<f32, 3>) -> array<f32, 4> {
  return array<f32, 4>(g[0], 0.5 * (g[0] + g[1] + g[2]), 0.5 * (g[0] - g[1] + g[2]), g[2]);
}
fn tOut(m: array<f32, 4>) -> array<f32, 2> {
  return array<f32, 2>(m[0] + m[1] + m[2], m[1] - m[2] - m[3]);
}
//#endif
const A2 = ALPHA * ALPHA;

// Tile p's image and the output coordinates of its top-left pixel (row, column).
fn tileOrigin(p: u32) -> vec3u {
  let perImage = P.tilesX * P.tilesY;
  let t = p % perImage;
  return vec3u(p / perImage, (t / P.tilesX) * MT, (t % P.tilesX) * MT);
}

// One invocation per (m, c): the filter's ALPHA×ALPHA transform, stored along c (contiguous across invocations).
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> u: array<f32>;
@compute @workgroup_size(256)
fn weights(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = flatIndex(wg, nwg, lid);
  if (i >= P.M * P.C) { return; }
  let m = i / P.C;
  let c = i % P.C;
  var g: array<array<f32, 3>, 3>;  // [ky][kx]
  for (var ky = 0u; ky < 3u; ky++) {
    for (var kx = 0u; kx < 3u; kx++) {
      if (FLIP) {
        g[ky][kx] = w[P.wOff + ((c * P.M + m) * 3u + 2u - ky) * 3u + 2u - kx];
      } else {
        g[ky][kx] = w[P.wOff + ((m * P.C + c) * 3u + ky) * 3u + kx];
      }
    }
  }
  var cols: array<array<f32, ALPHA>, 3>;  // [kx][row]: G applied down each column
  for (var kx = 0u; kx < 3u; kx++) { cols[kx] = tW(array<f32, 3>(g[0][kx], g[1][kx], g[2][kx])); }
  for (var r = 0u; r < ALPHA; r++) {
    let t = tW(array<f32, 3>(cols[0][r], cols[1][r], cols[2][r]));
    for (var s = 0u; s < ALPHA; s++) { u[P.uOff + (m * A2 + r * ALPHA + s) * P.C + c] = t[s]; }
  }
}

// One invocation per (c, tile): the input patch's transform, stored along tiles.
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> v: array<f32>;
@compute @workgroup_size(256)
fn inputs(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = flatIndex(wg, nwg, lid);
  if (i >= P.C * P.P) { return; }
  let c = i / P.P;
  let p = i % P.P;
  let tile = tileOrigin(p);
  let y0 = i32(tile.y) - 1;  // padding 1: the patch starts a pixel above and left of the tile
  let x0 = i32(tile.z) - 1;
  let plane = P.xOff + (tile.x * P.C + c) * P.H * P.W;
  var cols: array<array<f32, ALPHA>, ALPHA>;  // [column][row]: Bᵀ applied down each column
  for (var s = 0u; s < ALPHA; s++) {
    let ix = x0 + i32(s);
    var d: array<f32, ALPHA>;
    for (var r = 0u; r < ALPHA; r++) {
      let iy = y0 + i32(r);
      let ok = iy >= 0 && iy < i32(P.H) && ix >= 0 && ix < i32(P.W);
      d[r] = select(0.0, x[plane + u32(select(0, iy * i32(P.W) + ix, ok))], ok);
    }
    cols[s] = tIn(d);
  }
  for (var r = 0u; r < ALPHA; r++) {
    var row: array<f32, ALPHA>;
    for (var s = 0u; s < ALPHA; s++) { row[s] = cols[s][r]; }
    let o = tIn(row);
    for (var s = 0u; s < ALPHA; s++) { v[P.vOff + ((r * ALPHA + s) * P.C + c) * P.PS + p] = o[s]; }
  }
}

// One invocation per (m, tile): the product's inverse transform, bias and ReLU, into Y.
@group(0) @binding(1) var<storage, read> mt: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(256)
fn outputs(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = flatIndex(wg, nwg, lid);
  if (i >= P.M * P.P) { return; }
  let m = i / P.P;
  let p = i % P.P;
  let tile = tileOrigin(p);
  let img = tile.x;
  let oy0 = tile.y;
  let ox0 = tile.z;
  var cols: array<array<f32, MT>, ALPHA>;  // [column][output row]: Aᵀ applied down each column
  for (var s = 0u; s < ALPHA; s++) {
    var col: array<f32, ALPHA>;
    for (var r = 0u; r < ALPHA; r++) { col[r] = mt[P.mOff + ((r * ALPHA + s) * P.M + m) * P.PS + p]; }
    cols[s] = tOut(col);
  }
  var b = 0.0;
  if (HAS_BIAS) { b = bias[P.bOff + m]; }
  let plane = P.yOff + (img * P.M + m) * P.H * P.W;
  for (var r = 0u; r < MT; r++) {
    if (oy0 + r >= P.H) { break; }
    var row: array<f32, ALPHA>;
    for (var s = 0u; s < ALPHA; s++) { row[s] = cols[s][r]; }
    let o = tOut(row);
    for (var s = 0u; s < MT; s++) {
      if (ox0 + s < P.W) {
        var val = o[s] + b;
        if (RELU) { val = max(val, 0.0); }
        y[plane + (oy0 + r) * P.W + ox0 + s] = val;
      }
    }
  }
}
