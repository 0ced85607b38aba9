// 2-D "same" convolution (stride 1, odd square kernel, padding (k-1)/2: VGG's 3×3/pad 1 and
// 1×1/pad 0), bias and optional fused ReLU. Forward, input gradient and weight gradient are
// implicit GEMMs over kernels/conv2d_*.wgsl; the bias gradient is a sum over images and pixels.
import { record } from '../autograd/tape.js';
import { engine } from '../engine.js';
import { OpError } from '../errors.js';
import { Tensor } from '../tensor.js';
import { chooseSplits, chooseTile, launchGemm } from './gemm.js';
import { forEachImageSlice } from './launch.js';
import { reluBackward } from './relu.js';
import { sumAxes, sumSplits } from './reduce.js';

export interface Conv2dOptions {
  /** Apply ReLU to the output in the same pass (the backward then uses the saved output). */
  relu?: boolean;
}

/** x [N, Cin, H, W], weight [Cout, Cin, k, k] (k odd), bias [Cout] → [N, Cout, H, W]. */
export function conv2d(x: Tensor, weight: Tensor, bias: Tensor, options: Conv2dOptions = {}): Tensor {
  const relu = options.relu ?? false;
  const [N, C, H, W] = checkConv(x, weight, bias);
  const Cout = weight.shape[0];
  const y = Tensor.empty([N, Cout, H, W], 'conv2d');
  convForward(x, weight, bias, y, relu);
  record('conv2d', [x, weight, bias], y, relu ? [x, weight, y] : [x, weight], (g, needs) => {
    const gy = relu ? reluBackward(y, g) : g;
    const dx = needs[0] ? convGradInput(gy, weight, x.shape) : null;
    const dw = needs[1] ? convGradWeight(gy, x, weight.shape) : null;
    const db = needs[2] ? sumAxes(gy, N, Cout, H * W) : null;
    if (gy !== g) gy.dispose();
    return [dx, dw, db];
  });
  return y;
}

function checkConv(x: Tensor, w: Tensor, b: Tensor): [number, number, number, number] {
  const shapes = { input: x.shape, weight: w.shape, bias: b.shape };
  if (x.shape.length !== 4) throw new OpError('conv2d', 'input must be [N, C, H, W]', shapes);
  if (w.shape.length !== 4) throw new OpError('conv2d', 'weight must be [Cout, Cin, k, k]', shapes);
  const [, C] = x.shape;
  const [Cout, Cin, kh, kw] = w.shape;
  if (Cin !== C) throw new OpError('conv2d', `input has ${C} channels but the weight expects ${Cin}`, shapes);
  if (kh !== kw || kh % 2 === 0) throw new OpError('conv2d', 'only square, odd kernels (same padding) are supported', shapes);
  if (b.shape.length !== 1 || b.shape[0] !== Cout) throw new OpError('conv2d', `bias must be [${Cout}]`, shapes);
  return x.shape as [number, number, number, number];
}

function kernelConsts(KS: number) {
  return { KS, PAD: (KS - 1) / 2 };
}

function convForward(x: Tensor, w: Tensor, b: Tensor, y: Tensor, relu: boolean): void {
  const rt = engine().rt;
  const [N, C, H, W] = x.shape;
  const [Cout, , KS] = w.shape;
  const HW = H * W;
  forEachImageSlice('conv2d', N, [C * HW, Cout * HW], (n0, n) => {
    const xr = rt.range(x.buffer, n0 * C * HW, n * C * HW);
    const wr = rt.range(w.buffer, 0, w.size);
    const br = rt.range(b.buffer, 0, b.size);
    const yr = rt.range(y.buffer, n0 * Cout * HW, n * Cout * HW);
    launchGemm({
      kernel: 'conv2d_forward',
      label: `conv2d forward x ${x} w ${w}`,
      M: Cout,
      N: n * HW,
      K: C * KS * KS,
      uniforms: [C, H, W, xr.elemOffset, wr.elemOffset, br.elemOffset, yr.elemOffset],
      buffers: [xr, wr, br, yr],
      constants: { ...kernelConsts(KS), RELU: relu },
    });
  });
}

/** dX = conv of dY with the flipped weights (a GEMM over Cout·k·k). */
export function convGradInput(dy: Tensor, w: Tensor, xShape: readonly number[]): Tensor {
  const rt = engine().rt;
  const [N, C, H, W] = xShape;
  const [Cout, , KS] = w.shape;
  const HW = H * W;
  const dx = Tensor.empty(xShape, 'conv2d dX');
  forEachImageSlice('conv2d backward', N, [C * HW, Cout * HW], (n0, n) => {
    const dyr = rt.range(dy.buffer, n0 * Cout * HW, n * Cout * HW);
    const wr = rt.range(w.buffer, 0, w.size);
    const dxr = rt.range(dx.buffer, n0 * C * HW, n * C * HW);
    launchGemm({
      kernel: 'conv2d_grad_input',
      label: `conv2d input-gradient dy ${dy} w ${w}`,
      M: C,
      N: n * HW,
      K: Cout * KS * KS,
      uniforms: [Cout, H, W, dyr.elemOffset, wr.elemOffset, dxr.elemOffset],
      buffers: [dyr, wr, dxr],
      constants: { ...kernelConsts(KS), ACCUMULATE: false },
    });
  });
  return dx;
}

/**
 * dW[co, ci, ky, kx] = Σ over images and pixels of dY·X(shifted): a GEMM whose reduction is split
 * across workgroups (partials, then one summing pass) so it parallelises at any batch size.
 */
export function convGradWeight(dy: Tensor, x: Tensor, wShape: readonly number[]): Tensor {
  const rt = engine().rt;
  const [N, C, H, W] = x.shape;
  const [Cout, , KS] = wShape;
  const HW = H * W;
  const M = Cout;
  const Ncols = C * KS * KS;
  const dw = Tensor.empty(wShape, 'conv2d dW');
  forEachImageSlice('conv2d backward', N, [C * HW, Cout * HW], (n0, n) => {
    const K = n * HW;
    const tile = chooseTile(M, Ncols);
    const splits = Math.min(chooseSplits(M, Ncols, K, tile), Math.max(1, Math.floor(rt.maxBindingElems / (M * Ncols)) - 1));
    const part = splits > 1 ? Tensor.empty([splits, M, Ncols], 'conv2d dW partials') : dw;
    const dyr = rt.range(dy.buffer, n0 * Cout * HW, n * Cout * HW);
    const xr = rt.range(x.buffer, n0 * C * HW, n * C * HW);
    const outr = rt.range(part.buffer, 0, part.size);
    const used = launchGemm({
      kernel: 'conv2d_grad_weight',
      label: `conv2d weight-gradient dy ${dy} x ${x}`,
      M,
      N: Ncols,
      K,
      splits,
      tile,
      uniforms: [C, H, W, dyr.elemOffset, xr.elemOffset, outr.elemOffset],
      buffers: [dyr, xr, outr],
      constants: { ...kernelConsts(KS), ACCUMULATE: splits === 1 && n0 > 0 },
    });
    if (part !== dw) {
      sumSplits(part, used, M * Ncols, dw, 0, n0 > 0, `conv2d weight-gradient split-K sum ${dw}`);
      part.dispose();
    }
  });
  return dw;
}
