// Convolution weight gradient for small planes (H*W and Ho*Wo at most 16 and multiples of 4:
// VGG's 4x4 and 2x2 layers): per image, each invocation loads the dY planes of its TM output
// channels and the X planes of its TC input channels in vec4s and accumulates every tap. The plane
// size is baked, so after unrolling the taps that fall on padding vanish.
//   dW[co, ci, ky, kx] = sum_{img,oy,ox} dY[img, co, oy, ox] * X[img, ci, oy+ky-PAD, ox+kx-PAD]
// Work items, splits (over images), partial sums and the fused bias gradient are as in
// conv2d_grad_weight_rows.wgsl.
// Baked: KS, PAD, H, W, TM, TC, HAS_BIAS, ACCUMULATE.
struct Params {
  Cout: u32, Cin: u32, N: u32, imgChunk: u32, items: u32, splits: u32, ciBlocks: u32,
  dyOff4: u32, xOff4: u32, outOff: u32, bOutOff: u32,
}
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> dy: array<vec4f>;
@group(0) @binding(2) var<storage, read> x: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> outp: array<f32>;
@group(0) @binding(4) var<storage, read_write> bout: array<f32>;

const HO = H + 2u * PAD - KS + 1u;
const WO = W + 2u * PAD - KS + 1u;
const X4 = H * W / 4u;
const D4 = HO * WO / 4u;

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let lin = (wg.y * nwg.x + wg.x) * 64u + lid.x;
  let wi = workItem(lin);
  let split = wi.split;
  let co0 = wi.co0;
  let ci0 = wi.ci0;
  let imgEnd = min(P.N, (split + 1u) * P.imgChunk);
  var acc: GradTaps;
  var bacc: array<f32, TM>;
  var d: array<array<f32, HO * WO>, TM>;
  var xp: array<f32, H * W>;
  for (var img = split * P.imgChunk; img < imgEnd; img++) {
    for (var j = 0u; j < TM; j++) {
      let base = P.dyOff4 + (img * P.Cout + min(co0 + j, P.Cout - 1u)) * D4;
      for (var q = 0u; q < D4; q++) {
        let v = dy[base + q];
        d[j][4u * q] = v.x;
        d[j][4u * q + 1u] = v.y;
        d[j][4u * q + 2u] = v.z;
        d[j][4u * q + 3u] = v.w;
        if (HAS_BIAS) { bacc[j] += v.x + v.y + v.z + v.w; }
      }
    }
    for (var cc = 0u; cc < TC; cc++) {
      let base = P.xOff4 + (img * P.Cin + min(ci0 + cc, P.Cin - 1u)) * X4;
      for (var q = 0u; q < X4; q++) {
        let v = x[base + q];
        xp[4u * q] = v.x;
        xp[4u * q + 1u] = v.y;
        xp[4u * q + 2u] = v.z;
        xp[4u * q + 3u] = v.w;
      }
      for (var ky = 0u; ky < KS; ky++) {
        for (var kx = 0u; kx < KS; kx++) {
          for (var j = 0u; j < TM; j++) {
            var s = 0.0;
            for (var oy = 0u; oy < HO; oy++) {
              for (var ox = 0u; ox < WO; ox++) {
                // Constant after unrolling: padding taps vanish.
                let iy = oy + ky - PAD;
                let ix = ox + kx - PAD;
                if (oy + ky >= PAD && iy < H && ox + kx >= PAD && ix < W) {
                  s = fma(d[j][oy * WO + ox], xp[iy * W + ix], s);
                }
              }
            }
            acc[j][cc][ky][kx] += s;
          }
        }
      }
    }
  }
  if (lin >= P.items * P.splits) { return; }
  storeGradWeight(split, co0, ci0, &acc, &bacc);
}

//#include conv2d_grad_weight_common.wgsl
