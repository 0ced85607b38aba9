// The convolution passes as implicit GEMMs (kernels/conv2d_forward.wgsl, conv2d_grad_input.wgsl,
// conv2d_grad_weight.wgsl: im2col indexing inside the loads, as hooks for a GEMM body).
import { engine } from '../engine.js';
import { OpError } from '../errors.js';
import { Tensor } from '../tensor.js';
import type { ConvForwardArgs, ConvGradInputArgs, ConvGradWeightArgs } from './conv2d_args.js';
import { chooseSplits, type GemmBody, launchGemm, maxKChunk } from './gemm.js';
import { forEachImageSlice, maxChunkElems } from './launch.js';
import { sumAxes, sumSplits } from './reduce.js';

/** Y = W·im2col(X) + b (ReLU): M = output channels, N = images × pixels, K = Cin·k·k. */
export function gemmConvForward({ x, w, b, y, relu, pad }: ConvForwardArgs, body: GemmBody): void {
  const rt = engine().rt;
  const [N, C, H, W] = x.shape;
  const [Cout, , KS] = w.shape;
  const [, , Ho, Wo] = y.shape;
  const K = C * KS * KS;
  // Output-channel ranges whose weights fit one binding (VGG's FC1 as a 7×7 conv is 411 MB).
  const coPer = Math.floor(maxChunkElems() / K);
  if (coPer < 1)
    throw new OpError('conv2d', `one output channel's weights (${K} floats) exceed a storage binding`, {
      weight: w.shape,
    });
  forEachImageSlice('conv2d', N, [C * H * W, Cout * Ho * Wo], (n0, n) => {
    const xr = rt.range(x.buffer, n0 * C * H * W, n * C * H * W);
    const yr = rt.range(y.buffer, n0 * Cout * Ho * Wo, n * Cout * Ho * Wo);
    for (let co0 = 0; co0 < Cout; co0 += coPer) {
      const co = Math.min(coPer, Cout - co0);
      const wr = rt.range(w.buffer, co0 * K, co * K);
      const br = b ? rt.range(b.buffer, co0, co) : rt.unused;
      launchGemm({
        kernel: 'conv2d_forward',
        body,
        label: `conv2d forward x ${x} w ${w}`,
        M: co,
        N: n * Ho * Wo,
        K,
        uniforms: {
          C,
          H,
          W,
          Ho,
          Wo,
          coOff: co0,
          CoTotal: Cout,
          xOff: xr.elemOffset,
          wOff: wr.elemOffset,
          bOff: br.elemOffset,
          yOff: yr.elemOffset,
        },
        buffers: [xr, wr, br, yr],
        constants: { KS, PAD: pad, HAS_BIAS: !!b, RELU: relu },
      });
    }
  });
}

/** dX = conv of dY with the flipped weights: M = Cin, N = images × pixels, K = Cout·k·k. */
export function gemmConvGradInput({ dy, w, dx, pad }: ConvGradInputArgs, body: GemmBody): void {
  const rt = engine().rt;
  const [N, C, H, W] = dx.shape;
  const [Cout, , KS] = w.shape;
  const [, , Ho, Wo] = dy.shape;
  forEachImageSlice('conv2d backward', N, [C * H * W, Cout * Ho * Wo], (n0, n) => {
    const dyr = rt.range(dy.buffer, n0 * Cout * Ho * Wo, n * Cout * Ho * Wo);
    const wr = rt.range(w.buffer, 0, w.size);
    const dxr = rt.range(dx.buffer, n0 * C * H * W, n * C * H * W);
    launchGemm({
      kernel: 'conv2d_grad_input',
      body,
      label: `conv2d input-gradient dy ${dy} w ${w}`,
      M: C,
      N: n * H * W,
      K: Cout * KS * KS,
      uniforms: { Cout, H, W, Ho, Wo, dyOff: dyr.elemOffset, wOff: wr.elemOffset, dxOff: dxr.elemOffset },
      buffers: [dyr, wr, dxr],
      constants: { KS, PAD: pad, ACCUMULATE: false },
    });
  });
}

/**
 * dW[co, ci, ky, kx] = Σ over images and pixels of dY·X(shifted): M = Cout, N = Cin·k·k, K = images ×
 * pixels, the reduction split across workgroups (partials, then one summing pass) so it
 * parallelises at any batch size; the bias gradient by a separate sum.
 */
export function gemmConvGradWeight({ dy, x, dw, db, pad }: ConvGradWeightArgs, body: GemmBody): void {
  const rt = engine().rt;
  const [N, C, H, W] = x.shape;
  const [Cout, , KS] = dw.shape;
  const [, , Ho, Wo] = dy.shape;
  const M = Cout;
  const Ncols = C * KS * KS;
  if (db) sumAxes(dy, N, Cout, Ho * Wo, 1, db);
  // As many splits as keep the adapter busy and each invocation's loop within its limit, their
  // partials within one binding: slices of fewer images where those cannot all hold.
  const fit = Math.max(1, Math.floor(maxChunkElems() / (M * Ncols)) - 1);
  const maxImages = Math.floor((fit * maxKChunk(body)) / (Ho * Wo));
  if (maxImages < 1)
    throw new OpError(
      'conv2d backward',
      `one image's ${Ho}×${Wo} pixels are a longer reduction than ${fit} split(s) of ${maxKChunk(body)} can hold on this adapter; use another variant or a smaller input`,
      { x: x.shape },
    );
  forEachImageSlice(
    'conv2d backward',
    N,
    [C * H * W, Cout * Ho * Wo],
    (n0, n) => {
      const K = n * Ho * Wo;
      const splits = Math.min(chooseSplits(M, Ncols, K, body), fit);
      const part = splits > 1 ? Tensor.empty([splits, M, Ncols], 'conv2d dW partials') : dw;
      const dyr = rt.range(dy.buffer, n0 * Cout * Ho * Wo, n * Cout * Ho * Wo);
      const xr = rt.range(x.buffer, n0 * C * H * W, n * C * H * W);
      const outr = rt.range(part.buffer, 0, part.size);
      const used = launchGemm({
        kernel: 'conv2d_grad_weight',
        body,
        label: `conv2d weight-gradient dy ${dy} x ${x}`,
        M,
        N: Ncols,
        K,
        splits,
        uniforms: { Cin: C, H, W, Ho, Wo, dyOff: dyr.elemOffset, xOff: xr.elemOffset, outOff: outr.elemOffset },
        buffers: [dyr, xr, outr],
        constants: { KS, PAD: pad, ACCUMULATE: splits === 1 && n0 > 0 },
      });
      if (part !== dw) {
        sumSplits(part, used, M * Ncols, dw, 0, n0 > 0, `conv2d weight-gradient split-K sum ${dw}`);
        part.dispose();
      }
    },
    maxImages,
  );
}
