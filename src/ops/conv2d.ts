// 2-D convolution, stride 1, square kernel, zero padding (default "same": (k−1)/2, i.e. VGG's
// 3×3/pad 1 and 1×1/pad 0; padding 0 gives the "valid" convolution of FC layers in dense form),
// bias and optional fused ReLU. Each pass has variants (variants.ts): register-blocked direct
// kernels (conv2d_direct.ts: row and whole-plane tiles, vec4 loads, for CPU-like adapters) and
// implicit GEMMs (kernels/conv2d_*.wgsl) on the register-tiled (`gemm`) or workgroup-memory
// (`gemm-shared`, GPUs) GEMM body; the bias gradient is a sum over images and pixels.
import { record } from '../autograd/tape.js';
import { engine } from '../engine.js';
import { OpError } from '../errors.js';
import { Tensor } from '../tensor.js';
import { launchDirectConv, launchGradWeight } from './conv2d_direct.js';
import { type ConvPass, convVariants, directTile, gradWeightTile } from './conv2d_variants.js';
import { chooseSplits, chooseTile, type GemmTile, launchGemm, SHARED_TILE } from './gemm.js';
import { forEachImageSlice, maxChunkElems } from './launch.js';
import { reluBackward } from './relu.js';
import { sumAxes, sumSplits } from './reduce.js';
import { chooseVariant } from './variants.js';

export { type ConvPass, convVariants } from './conv2d_variants.js';

/** Options of conv2d. */
export interface Conv2dOptions {
  /** Apply ReLU to the output in the same pass (the backward then uses the saved output). */
  relu?: boolean;
  /** Zero padding on each side; default (k−1)/2 ("same", odd k only). */
  padding?: number;
}

/** x [N, Cin, H, W], weight [Cout, Cin, k, k], bias [Cout] → [N, Cout, H+2p−k+1, W+2p−k+1]. */
export function conv2d(x: Tensor, weight: Tensor, bias: Tensor, options: Conv2dOptions = {}): Tensor {
  const relu = options.relu ?? false;
  const pad = checkConv(x, weight, bias, options.padding);
  const [N, , H, W] = x.shape;
  const [Cout, , KS] = weight.shape;
  const y = Tensor.empty([N, Cout, H + 2 * pad - KS + 1, W + 2 * pad - KS + 1], 'conv2d');
  convForward(x, weight, bias, y, relu, pad);
  record('conv2d', [x, weight, bias], y, relu ? [x, weight, y] : [x, weight], (g, needs) => {
    const gy = relu ? reluBackward(y, g) : g;
    const dx = needs[0] ? convGradInput(gy, weight, x.shape, pad) : null;
    const db = needs[2] ? Tensor.empty([Cout], 'conv2d dB') : null;
    const dw = needs[1] ? convGradWeight(gy, x, weight.shape, pad, undefined, db) : null;
    if (db && !dw) sumAxes(gy, N, Cout, y.shape[2] * y.shape[3], 1, db);
    if (gy !== g) gy.dispose();
    return [dx, dw, db];
  });
  return y;
}

/** Validates the shapes and returns the padding. */
function checkConv(x: Tensor, w: Tensor, b: Tensor, padding: number | undefined): number {
  const shapes = { input: x.shape, weight: w.shape, bias: b.shape };
  if (x.shape.length !== 4) throw new OpError('conv2d', 'input must be [N, C, H, W]', shapes);
  if (w.shape.length !== 4) throw new OpError('conv2d', 'weight must be [Cout, Cin, k, k]', shapes);
  const [, C, H, W] = x.shape;
  const [Cout, Cin, kh, kw] = w.shape;
  if (Cin !== C) throw new OpError('conv2d', `input has ${C} channels but the weight expects ${Cin}`, shapes);
  if (kh !== kw) throw new OpError('conv2d', 'only square kernels are supported', shapes);
  if (padding === undefined && kh % 2 === 0) throw new OpError('conv2d', '"same" padding needs an odd kernel; pass padding explicitly', shapes);
  const pad = padding ?? (kh - 1) / 2;
  if (!Number.isInteger(pad) || pad < 0) throw new OpError('conv2d', `padding must be a non-negative integer, got ${pad}`, shapes);
  if (H + 2 * pad < kh || W + 2 * pad < kw) throw new OpError('conv2d', `a ${kh}×${kw} kernel with padding ${pad} does not fit the input`, shapes);
  if (b.shape.length !== 1 || b.shape[0] !== Cout) throw new OpError('conv2d', `bias must be [${Cout}]`, shapes);
  return pad;
}

function pick(pass: ConvPass, xShape: readonly number[], wShape: readonly number[], pad: number): string {
  const { shape, candidates } = convVariants(pass, xShape, wShape, pad);
  return chooseVariant(pass, shape, candidates, { pass, conv: { x: xShape, w: wShape, pad } });
}

/** The GEMM tile of the implicit-GEMM variants, or null for the direct ones. */
function gemmTile(variant: string): GemmTile | undefined | null {
  return variant === 'gemm' ? undefined : variant === 'gemm-shared' ? SHARED_TILE : null;
}

export function convForward(x: Tensor, w: Tensor, b: Tensor, y: Tensor, relu: boolean, pad: number, variant = pick('conv_forward', x.shape, w.shape, pad)): void {
  const tile = gemmTile(variant);
  if (tile === null) {
    launchDirectConv({ label: `conv2d forward x ${x} w ${w}`, x, weight: w, flip: false, pad, y, bias: b, relu, tile: directTile(variant) });
    return;
  }
  const rt = engine().rt;
  const [N, C, H, W] = x.shape;
  const [Cout, , KS] = w.shape;
  const [, , Ho, Wo] = y.shape;
  const K = C * KS * KS;
  // Output-channel ranges whose weights fit one binding (VGG's FC1 as a 7×7 conv is 411 MB).
  const coPer = Math.floor(maxChunkElems() / K);
  if (coPer < 1) throw new OpError('conv2d', `one output channel's weights (${K} floats) exceed a storage binding`, { weight: w.shape });
  forEachImageSlice('conv2d', N, [C * H * W, Cout * Ho * Wo], (n0, n) => {
    const xr = rt.range(x.buffer, n0 * C * H * W, n * C * H * W);
    const yr = rt.range(y.buffer, n0 * Cout * Ho * Wo, n * Cout * Ho * Wo);
    for (let co0 = 0; co0 < Cout; co0 += coPer) {
      const co = Math.min(coPer, Cout - co0);
      const wr = rt.range(w.buffer, co0 * K, co * K);
      const br = rt.range(b.buffer, co0, co);
      launchGemm({
        kernel: 'conv2d_forward',
        label: `conv2d forward x ${x} w ${w}`,
        M: co,
        N: n * Ho * Wo,
        K,
        uniforms: { C, H, W, Ho, Wo, coOff: co0, CoTotal: Cout, xOff: xr.elemOffset, wOff: wr.elemOffset, bOff: br.elemOffset, yOff: yr.elemOffset },
        buffers: [xr, wr, br, yr],
        constants: { KS, PAD: pad, RELU: relu },
        tile,
      });
    }
  });
}

/** dX = conv of dY with the flipped weights (a GEMM over Cout·k·k). */
export function convGradInput(dy: Tensor, w: Tensor, xShape: readonly number[], pad: number, variant = pick('conv_grad_input', xShape, w.shape, pad)): Tensor {
  const rt = engine().rt;
  const [N, C, H, W] = xShape;
  const [Cout, , KS] = w.shape;
  const [, , Ho, Wo] = dy.shape;
  const dx = Tensor.empty(xShape, 'conv2d dX');
  const tile = gemmTile(variant);
  if (tile === null) {
    launchDirectConv({ label: `conv2d input-gradient dy ${dy} w ${w}`, x: dy, weight: w, flip: true, pad: KS - 1 - pad, y: dx, tile: directTile(variant) });
    return dx;
  }
  forEachImageSlice('conv2d backward', N, [C * H * W, Cout * Ho * Wo], (n0, n) => {
    const dyr = rt.range(dy.buffer, n0 * Cout * Ho * Wo, n * Cout * Ho * Wo);
    const wr = rt.range(w.buffer, 0, w.size);
    const dxr = rt.range(dx.buffer, n0 * C * H * W, n * C * H * W);
    launchGemm({
      kernel: 'conv2d_grad_input',
      label: `conv2d input-gradient dy ${dy} w ${w}`,
      M: C,
      N: n * H * W,
      K: Cout * KS * KS,
      uniforms: { Cout, H, W, Ho, Wo, dyOff: dyr.elemOffset, wOff: wr.elemOffset, dxOff: dxr.elemOffset },
      buffers: [dyr, wr, dxr],
      constants: { KS, PAD: pad, ACCUMULATE: false },
      tile,
    });
  });
  return dx;
}

/**
 * dW[co, ci, ky, kx] = Σ over images and pixels of dY·X(shifted), with the reduction split across
 * workgroups (partials, then one summing pass) so it parallelises at any batch size. Fills `db`
 * (the bias gradient, Σ dY per channel) when given.
 */
export function convGradWeight(dy: Tensor, x: Tensor, wShape: readonly number[], pad: number, variant = pick('conv_grad_weight', x.shape, wShape, pad), db: Tensor | null = null): Tensor {
  const rt = engine().rt;
  const [N, C, H, W] = x.shape;
  const [Cout, , KS] = wShape;
  const [, , Ho, Wo] = dy.shape;
  const M = Cout;
  const Ncols = C * KS * KS;
  const dw = Tensor.empty(wShape, 'conv2d dW');
  const gtile = gemmTile(variant);
  if (gtile === null) {
    // The direct kernels sum the bias gradient from the dY values they load anyway.
    launchGradWeight(`conv2d weight-gradient dy ${dy} x ${x}`, dy, x, dw, db, pad, gradWeightTile(variant));
    return dw;
  }
  if (db) sumAxes(dy, N, Cout, Ho * Wo, 1, db);
  forEachImageSlice('conv2d backward', N, [C * H * W, Cout * Ho * Wo], (n0, n) => {
    const K = n * Ho * Wo;
    const tile = gtile ?? chooseTile(M, Ncols);
    const splits = Math.min(chooseSplits(M, Ncols, K, tile), Math.max(1, Math.floor(rt.maxBindingElems / (M * Ncols)) - 1));
    const part = splits > 1 ? Tensor.empty([splits, M, Ncols], 'conv2d dW partials') : dw;
    const dyr = rt.range(dy.buffer, n0 * Cout * Ho * Wo, n * Cout * Ho * Wo);
    const xr = rt.range(x.buffer, n0 * C * H * W, n * C * H * W);
    const outr = rt.range(part.buffer, 0, part.size);
    const used = launchGemm({
      kernel: 'conv2d_grad_weight',
      label: `conv2d weight-gradient dy ${dy} x ${x}`,
      M,
      N: Ncols,
      K,
      splits,
      tile,
      uniforms: { Cin: C, H, W, Ho, Wo, dyOff: dyr.elemOffset, xOff: xr.elemOffset, outOff: outr.elemOffset },
      buffers: [dyr, xr, outr],
      constants: { KS, PAD: pad, ACCUMULATE: splits === 1 && n0 > 0 },
    });
    if (part !== dw) {
      sumSplits(part, used, M * Ncols, dw, 0, n0 > 0, `conv2d weight-gradient split-K sum ${dw}`);
      part.dispose();
    }
  });
  return dw;
}
