// Stride-1 convolution of small planes (H*W <= 16, a multiple of 4: VGG's 4x4 and 2x2 layers):
// each invocation computes TM output channels of the whole output plane of BI images. The plane
// size is baked, so after unrolling the compiler drops every tap that falls on padding (at 2x2,
// 5 of 9 taps per pixel), and each input plane arrives in H*W/4 vec4 loads.
//   Y[img, m, oy, ox] = bias[m] + sum_{c,ky,kx} WT[c, ky, kx, m] * X[img, c, oy+ky-PAD, ox+kx-PAD]
// WT is laid out by conv2d_weight_layout.wgsl, as for conv2d_direct.wgsl (forward or flipped).
// Baked: KS, PAD, H, W, TM (multiple of 4), BI, HAS_BIAS, RELU.
struct Params {
  M: u32, C: u32, N: u32, blocks: u32, mBlocks: u32, Mp4: u32,
  xOff4: u32, wOff4: u32, bOff: u32, yOff: u32, yChannels: u32, yChannelOff: u32,
}
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4f>;
@group(0) @binding(2) var<storage, read> wt: array<vec4f>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

const TM4 = TM / 4u;
const HW4 = H * W / 4u;
const HO = H + 2u * PAD - KS + 1u;
const WO = W + 2u * PAD - KS + 1u;

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let lin = (wg.y * nwg.x + wg.x) * 64u + lid.x;
  // Work items: (channel block, image block), all 64 lanes of a workgroup busy.
  let item = min(lin, P.blocks * P.mBlocks - 1u);
  let mb = item / P.blocks;
  let img0 = (item % P.blocks) * BI;
  // Register arrays indexed by loop counters (acc[b][oy][ox][j], w[ky][kx][j]): compilers then
  // unroll every loop and keep them in registers.
  var acc: array<array<array<array<vec4f, TM4>, WO>, HO>, BI>;
  var pl: array<array<f32, H * W>, BI>;
  var w: array<array<array<vec4f, TM4>, KS>, KS>;
  for (var c = 0u; c < P.C; c++) {
    for (var b = 0u; b < BI; b++) {
      let base = P.xOff4 + (min(img0 + b, P.N - 1u) * P.C + c) * HW4;
      for (var q = 0u; q < HW4; q++) {
        let v = x[base + q];
        pl[b][4u * q] = v.x;
        pl[b][4u * q + 1u] = v.y;
        pl[b][4u * q + 2u] = v.z;
        pl[b][4u * q + 3u] = v.w;
      }
    }
    for (var ky = 0u; ky < KS; ky++) {
      for (var kx = 0u; kx < KS; kx++) {
        let wb = P.wOff4 + ((c * KS + ky) * KS + kx) * P.Mp4 + mb * TM4;
        for (var j = 0u; j < TM4; j++) { w[ky][kx][j] = wt[wb + j]; }
      }
    }
    for (var ky = 0u; ky < KS; ky++) {
      for (var kx = 0u; kx < KS; kx++) {
        for (var oy = 0u; oy < HO; oy++) {
          for (var ox = 0u; ox < WO; ox++) {
            // Constant after unrolling: padding taps vanish.
            let iy = oy + ky - PAD;  // wraps to a huge value above the top edge
            let ix = ox + kx - PAD;
            if (oy + ky >= PAD && iy < H && ox + kx >= PAD && ix < W) {
              for (var b = 0u; b < BI; b++) {
                let s = vec4f(pl[b][iy * W + ix]);
                for (var j = 0u; j < TM4; j++) { acc[b][oy][ox][j] = fma(s, w[ky][kx][j], acc[b][oy][ox][j]); }
              }
            }
          }
        }
      }
    }
  }
  if (lin >= P.blocks * P.mBlocks) { return; }
  for (var b = 0u; b < BI; b++) {
    let img = img0 + b;
    if (img >= P.N) { break; }
    for (var j = 0u; j < TM4; j++) {
      for (var e = 0u; e < 4u; e++) {
        let m = mb * TM + 4u * j + e;
        if (m >= P.M) { break; }
        var bv = 0.0;
        if (HAS_BIAS) { bv = bias[P.bOff + m]; }
        let base = P.yOff + (img * P.yChannels + P.yChannelOff + m) * HO * WO;
        for (var oy = 0u; oy < HO; oy++) {
          for (var ox = 0u; ox < WO; ox++) {
            var v = acc[b][oy][ox][j][e] + bv;
            if (RELU) { v = max(v, 0.0); }
            y[base + oy * WO + ox] = v;
          }
        }
      }
    }
  }
}
