// Shared by conv2d_grad_weight_rows/plane.wgsl: which work item an invocation has, and how it
// writes its sums.

// An invocation's sums, acc[j][cc][ky][kx] for output channel co0+j, input channel ci0+cc. Nested
// arrays indexed by loop counters: compilers then unroll the loops and keep them in registers.
alias GradTaps = array<array<array<array<f32, KS>, KS>, TC>, TM>;

// Work item of linear invocation `lin`: (split, output-channel block, input-channel block), input
// blocks fastest. Lanes past the last item redo it (the caller stores nothing for them).
struct WorkItem { split: u32, co0: u32, ci0: u32 }
fn workItem(lin: u32) -> WorkItem {
  let work = min(lin, P.items * P.splits - 1u);
  let item = work % P.items;
  return WorkItem(work / P.items, (item / P.ciBlocks) * TM, (item % P.ciBlocks) * TC);
}

// Writes one invocation's sums:
// acc[j][cc][ky][kx] to out[split, co0+j, ci0+cc, ky, kx] and, from input-channel block 0, the
// bias sums bacc[j] to bout[split, co0+j]; adding to what is there when ACCUMULATE.
fn storeGradWeight(split: u32, co0: u32, ci0: u32, acc: ptr<function, GradTaps>, bacc: ptr<function, array<f32, TM>>) {
  let outBase = P.outOff + split * P.Cout * P.Cin * KS * KS;
  for (var j = 0u; j < TM; j++) {
    let co = co0 + j;
    if (co >= P.Cout) { break; }
    if (HAS_BIAS && ci0 == 0u) {
      let idx = P.bOutOff + split * P.Cout + co;
      if (ACCUMULATE) { bout[idx] += (*bacc)[j]; } else { bout[idx] = (*bacc)[j]; }
    }
    for (var cc = 0u; cc < TC; cc++) {
      let ci = ci0 + cc;
      if (ci >= P.Cin) { break; }
      for (var ky = 0u; ky < KS; ky++) {
        for (var kx = 0u; kx < KS; kx++) {
          let idx = outBase + ((co * P.Cin + ci) * KS + ky) * KS + kx;
          let v = (*acc)[j][cc][ky][kx];
          if (ACCUMULATE) { outp[idx] += v; } else { outp[idx] = v; }
        }
      }
    }
  }
}
