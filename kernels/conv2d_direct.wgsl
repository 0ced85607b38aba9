// Direct stride-1 convolution, register-blocked: each invocation computes TM output channels
// for BX consecutive pixels of BY consecutive output rows:
//   Y[img, m, oy, ox] = bias[m] + sum_{c,ky,kx} WT[c, ky, kx, m] * X[img, c, oy+ky-PAD, ox+kx-PAD]
// Per input channel it loads the BY+KS-1 input rows of BX+KS-1 pixels the block needs once (vec4
// or vec2 loads when VEC_X) and the KS*KS weight vectors (vec4 along m), then does
// BY*KS*KS*TM*BX FMAs: ~50 FMAs per load for 3x3 at TM = BX = 8, BY = 4, which is what keeps a
// CPU adapter (where every load is a gather) busy.
// Register arrays are indexed by loop counters only (acc[by][px][j], w[ky][kx][j], rows[ry]), so
// compilers unroll every loop and keep them in registers.
// Serves the forward pass (X = input, WT = weights rearranged by conv2d_weight_layout.wgsl) and the input
// gradient (X = dY, WT = flipped weights with in/out channels swapped, PAD = KS-1-pad).
// Baked: KS, PAD, TM (multiple of 4), BX, BY, VEC_X and VW2 (BX, W and xOff multiples of VW),
//        HAS_BIAS, RELU.
struct Params {
  M: u32, C: u32, H: u32, W: u32, Ho: u32, Wo: u32,
  blocksX: u32, rowBlocks: u32, blocks: u32, mBlocks: u32, Mp4: u32,
  xOff: u32, wOff4: u32, bOff: u32, yOff: u32, yChannels: u32, yChannelOff: u32,
}
@group(0) @binding(0) var<uniform> P: Params;
// Input rows are loaded VW floats at a time (VEC_X; VW2 picks 2 over 4) or one by one.
//#if VW2
alias V = vec2f;
const VW = 2u;
//#else
alias V = vec4f;
const VW = 4u;
//#endif
//#if VEC_X
@group(0) @binding(1) var<storage, read> x: array<V>;
//#else
@group(0) @binding(1) var<storage, read> x: array<f32>;
//#endif
@group(0) @binding(2) var<storage, read> wt: array<vec4f>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

const TM4 = TM / 4u;
const LV = (PAD + VW - 1u) / VW;                   // vectors left of the block (VEC_X)
const RV = (KS - 1u - PAD + VW - 1u) / VW;         // vectors right of the block (VEC_X)
const NV = LV + BX / VW + RV;
//#if VEC_X
const NP = VW * NV;                                // floats of a row held
const P0 = VW * LV - PAD;                          // index of (pixel 0, kx = 0) in them
//#else
const NP = BX + KS - 1u;
const P0 = 0u;
//#endif

// x row `iy` of channel plane `plane`, pixels ox0-PAD .. (zero outside the image).
fn loadRow(plane: u32, iy: i32, ox0: u32, rowv: ptr<function, array<f32, NP>>) {
  let rowOk = iy >= 0 && iy < i32(P.H);
  let row = plane * P.H + u32(select(0, iy, rowOk));
//#if VEC_X
  let WV = i32(P.W / VW);
  let base = (P.xOff + row * P.W) / VW;
  for (var t = 0u; t < NV; t++) {
    let v = i32(ox0 / VW) - i32(LV) + i32(t);
    let ok = rowOk && v >= 0 && v < WV;
    let val = select(V(0.0), x[base + u32(select(0, v, ok))], ok);
    for (var e = 0u; e < VW; e++) { (*rowv)[VW * t + e] = val[e]; }
  }
//#else
  let base = P.xOff + row * P.W;
  for (var t = 0u; t < NP; t++) {
    let ix = i32(ox0) - i32(PAD) + i32(t);
    let ok = rowOk && ix >= 0 && ix < i32(P.W);
    (*rowv)[t] = select(0.0, x[base + u32(select(0, ix, ok))], ok);
  }
//#endif
}

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  // Work items: (channel block, pixel block), so all 64 lanes of a workgroup are busy. Lanes past
  // the last item redo it and store nothing (no early return: keeps the lanes in step).
  let lin = (wg.y * nwg.x + wg.x) * 64u + lid.x;
  let item = min(lin, P.blocks * P.mBlocks - 1u);
  let mb = item / P.blocks;
  let block = item % P.blocks;
  let ox0 = (block % P.blocksX) * BX;
  let r = block / P.blocksX;
  let oy0 = (r % P.rowBlocks) * BY;
  let img = r / P.rowBlocks;
  let m0 = mb * TM;
  var acc: array<array<array<vec4f, TM4>, BX>, BY>;
  var rows: array<array<f32, NP>, BY + KS - 1u>;
  var w: array<array<array<vec4f, TM4>, KS>, KS>;
  for (var c = 0u; c < P.C; c++) {
    let plane = img * P.C + c;
    for (var ry = 0u; ry < BY + KS - 1u; ry++) { loadRow(plane, i32(oy0 + ry) - i32(PAD), ox0, &rows[ry]); }
    for (var ky = 0u; ky < KS; ky++) {
      for (var kx = 0u; kx < KS; kx++) {
        let wb = P.wOff4 + ((c * KS + ky) * KS + kx) * P.Mp4 + mb * TM4;
        for (var j = 0u; j < TM4; j++) { w[ky][kx][j] = wt[wb + j]; }
      }
    }
    for (var by = 0u; by < BY; by++) {
      for (var ky = 0u; ky < KS; ky++) {
        for (var kx = 0u; kx < KS; kx++) {
          for (var px = 0u; px < BX; px++) {
            let s = vec4f(rows[by + ky][P0 + px + kx]);
            for (var j = 0u; j < TM4; j++) { acc[by][px][j] = fma(s, w[ky][kx][j], acc[by][px][j]); }
          }
        }
      }
    }
  }
  if (lin >= P.blocks * P.mBlocks) { return; }
  for (var by = 0u; by < BY; by++) {
    let oy = oy0 + by;
    if (oy >= P.Ho) { break; }
    for (var j = 0u; j < TM4; j++) {
      for (var e = 0u; e < 4u; e++) {
        let m = m0 + 4u * j + e;
        if (m >= P.M) { break; }
        let base = P.yOff + ((img * P.yChannels + P.yChannelOff + m) * P.Ho + oy) * P.Wo;
        var b = 0.0;
        if (HAS_BIAS) { b = bias[P.bOff + m]; }
        for (var px = 0u; px < BX; px++) {
          if (ox0 + px < P.Wo) {
            var v = acc[by][px][j][e] + b;
            if (RELU) { v = max(v, 0.0); }
            y[base + ox0 + px] = v;
          }
        }
      }
    }
  }
}
