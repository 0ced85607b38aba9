// Convolution weight gradient, register-blocked over output rows:
//   dW[co, ci, ky, kx] = sum_{img,oy,ox} dY[img, co, oy, ox] * X[img, ci, oy+ky-PAD, ox+kx-PAD]
// Each invocation owns TM output channels x TC input channels x all KS*KS taps and walks
// segments of S pixels of one output row: per segment it loads dY for its channels and, per
// input channel, the KS X rows the segment touches (vec4 or vec2 loads when VEC), then does
// TM*TC*KS*KS*S FMAs. (Keeping a rolling window of rows between segments defeats unrolling.)
// Register arrays are indexed by the counters of loops as long as they are (d[j][s], acc[j][cc][ky][kx]):
// that is what makes shader compilers unroll every loop and keep them in registers.
// Work items are (split, channel block); each split covers a range of segments and writes its
// partial dW (out[split, co, ci, t]), which sum_splits.wgsl adds up (one split: out is dW, and
// ACCUMULATE adds to it). With HAS_BIAS, the items of input-channel block 0 also write the bias
// gradient's partial sums (bout[split, co]) from the dY values they hold anyway.
// Baked: KS, PAD, TM, TC, S, VEC and VW2 (S, Wo, W and offsets multiples of VW), HAS_BIAS, ACCUMULATE.
struct Params {
  Cout: u32, Cin: u32, H: u32, W: u32, Ho: u32, Wo: u32,
  segsX: u32, segs: u32, segChunk: u32, items: u32, splits: u32, ciBlocks: u32,
  dyOff: u32, xOff: u32, outOff: u32, bOutOff: u32,
}
@group(0) @binding(0) var<uniform> P: Params;
//#if VW2
alias V = vec2f;
const VW = 2u;
//#else
alias V = vec4f;
const VW = 4u;
//#endif
//#if VEC
@group(0) @binding(1) var<storage, read> dy: array<V>;
@group(0) @binding(2) var<storage, read> x: array<V>;
//#else
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
//#endif
@group(0) @binding(3) var<storage, read_write> outp: array<f32>;
@group(0) @binding(4) var<storage, read_write> bout: array<f32>;

//#if VEC
const LV = (PAD + VW - 1u) / VW;
const NV = LV + S / VW + (KS - 1u - PAD + VW - 1u) / VW;
const NR = VW * NV;        // X row floats held
const R0 = VW * LV - PAD;  // row index of (pixel 0, kx = 0)
//#else
const NR = S + KS - 1u;
const R0 = 0u;
//#endif

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let lin = (wg.y * nwg.x + wg.x) * 64u + lid.x;
  let wi = workItem(lin);
  let split = wi.split;
  let co0 = wi.co0;
  let ci0 = wi.ci0;
  let segBegin = split * P.segChunk;
  let segEnd = min(P.segs, segBegin + P.segChunk);
  let HoWo = P.Ho * P.Wo;
  var acc: GradTaps;
  var bacc: array<f32, TM>;
  var d: array<array<f32, S>, TM>;
  var row: array<f32, NR>;
  for (var sg = segBegin; sg < segEnd; sg++) {
    let ox0 = (sg % P.segsX) * S;
    let r = sg / P.segsX;
    let oy = r % P.Ho;
    let img = r / P.Ho;
    for (var j = 0u; j < TM; j++) {
      let dyRow = P.dyOff + (img * P.Cout + min(co0 + j, P.Cout - 1u)) * HoWo + oy * P.Wo;
//#if VEC
      for (var t = 0u; t < S / VW; t++) {
        let ok = ox0 + VW * t < P.Wo;
        let v = select(V(0.0), dy[(dyRow + select(0u, ox0 + VW * t, ok)) / VW], ok);
        for (var e = 0u; e < VW; e++) { d[j][VW * t + e] = v[e]; }
      }
//#else
      for (var s = 0u; s < S; s++) {
        let ok = ox0 + s < P.Wo;
        d[j][s] = select(0.0, dy[dyRow + select(0u, ox0 + s, ok)], ok);
      }
//#endif
      if (HAS_BIAS) {
        for (var s = 0u; s < S; s++) { bacc[j] += d[j][s]; }
      }
    }
    for (var cc = 0u; cc < TC; cc++) {
      let plane = img * P.Cin + min(ci0 + cc, P.Cin - 1u);
      for (var ky = 0u; ky < KS; ky++) {
        let iy = i32(oy + ky) - i32(PAD);
        let rowOk = iy >= 0 && iy < i32(P.H);
        let base = P.xOff + (plane * P.H + u32(select(0, iy, rowOk))) * P.W;
//#if VEC
        for (var t = 0u; t < NV; t++) {
          let vi = i32(ox0 / VW) - i32(LV) + i32(t);
          let ok = rowOk && vi >= 0 && vi < i32(P.W / VW);
          let v = select(V(0.0), x[base / VW + u32(select(0, vi, ok))], ok);
          for (var e = 0u; e < VW; e++) { row[VW * t + e] = v[e]; }
        }
//#else
        for (var t = 0u; t < NR; t++) {
          let ix = i32(ox0 + t) - i32(PAD);
          let ok = rowOk && ix >= 0 && ix < i32(P.W);
          row[t] = select(0.0, x[base + u32(select(0, ix, ok))], ok);
        }
//#endif
        for (var kx = 0u; kx < KS; kx++) {
          for (var j = 0u; j < TM; j++) {
            var sum = 0.0;
            for (var s = 0u; s < S; s++) { sum = fma(d[j][s], row[R0 + s + kx], sum); }
            acc[j][cc][ky][kx] += sum;
          }
        }
      }
    }
  }
  if (lin >= P.items * P.splits) { return; }
  storeGradWeight(split, co0, ci0, &acc, &bacc);
}

//#include conv2d_grad_weight_common.wgsl
