// 2-D convolution, stride 1, square kernel, zero padding (default "same": (k−1)/2, i.e. VGG's
// 3×3/pad 1 and 1×1/pad 0; padding 0 gives the "valid" convolution of FC layers in dense form),
// bias and optional fused ReLU: the op and its backward rule. Each pass runs a row of its table
// (conv2d_variants.ts): register-blocked direct kernels (conv2d_direct.ts) or implicit GEMMs on a
// GEMM body (conv2d_gemm.ts), chosen per layer shape by timing (variants.ts, tune.ts).
import { record } from '../autograd/tape.js';
import { OpError } from '../errors.js';
import { Tensor } from '../tensor.js';
import {
  CONV_FORWARD,
  CONV_GRAD_INPUT,
  CONV_GRAD_WEIGHT,
  convKey,
  type ConvPass,
  type ConvVariant,
} from './conv2d_variants.js';
import { reluBackward } from './relu.js';
import { sumAxes } from './reduce.js';
import { applicable, chooseVariant, variantNamed } from './variants.js';
import { biasAndOptions, checkTensor } from './args.js';

export { type ConvPass, convVariants } from './conv2d_variants.js';

/** Options of conv2d. */
export interface Conv2dOptions {
  /** Apply ReLU to the output in the same pass (the backward then uses the saved output). */
  relu?: boolean;
  /** Zero padding on each side; default (k−1)/2 ("same", odd k only). */
  padding?: number;
}

/**
 * x [N, Cin, H, W], weight [Cout, Cin, k, k], optional bias [Cout] (none: null or left out, as
 * before a normalisation layer) → [N, Cout, H+2p−k+1, W+2p−k+1].
 */
export function conv2d(x: Tensor, weight: Tensor, bias?: Tensor | null, options?: Conv2dOptions): Tensor;
export function conv2d(x: Tensor, weight: Tensor, options?: Conv2dOptions): Tensor;
export function conv2d(
  x: Tensor,
  weight: Tensor,
  third?: Tensor | null | Conv2dOptions,
  fourth?: Conv2dOptions,
): Tensor {
  checkTensor('conv2d', 'input', x);
  checkTensor('conv2d', 'weight', weight);
  const [bias, options] = biasAndOptions<Conv2dOptions>('conv2d', third, fourth);
  const relu = options.relu ?? false;
  const pad = checkConv(x, weight, bias, options.padding);
  const [N, , H, W] = x.shape;
  const [Cout, , KS] = weight.shape;
  const y = Tensor.empty([N, Cout, H + 2 * pad - KS + 1, W + 2 * pad - KS + 1], 'conv2d');
  convForward(x, weight, bias, y, relu, pad);
  record('conv2d', bias ? [x, weight, bias] : [x, weight], y, relu ? [x, weight, y] : [x, weight], (g, needs) => {
    const gy = relu ? reluBackward(y, g) : g;
    const dx = needs[0] ? convGradInput(gy, weight, x.shape, pad) : null;
    const db = bias && needs[2] ? Tensor.empty([Cout], 'conv2d dB') : null;
    const dw = needs[1] ? convGradWeight(gy, x, weight.shape, pad, undefined, db) : null;
    if (db && !dw) sumAxes(gy, N, Cout, y.shape[2] * y.shape[3], 1, db);
    if (gy !== g) gy.dispose();
    return bias ? [dx, dw, db] : [dx, dw];
  });
  return y;
}

/** Validates the shapes and returns the padding. */
function checkConv(x: Tensor, w: Tensor, b: Tensor | null, padding: number | undefined): number {
  const shapes = { input: x.shape, weight: w.shape, ...(b ? { bias: b.shape } : {}) };
  if (x.shape.length !== 4) throw new OpError('conv2d', 'input must be [N, C, H, W]', shapes);
  if (w.shape.length !== 4) throw new OpError('conv2d', 'weight must be [Cout, Cin, k, k]', shapes);
  const [, C, H, W] = x.shape;
  const [Cout, Cin, kh, kw] = w.shape;
  if (Cin !== C) throw new OpError('conv2d', `input has ${C} channels but the weight expects ${Cin}`, shapes);
  if (kh !== kw) throw new OpError('conv2d', 'only square kernels are supported', shapes);
  if (padding === undefined && kh % 2 === 0)
    throw new OpError('conv2d', '"same" padding needs an odd kernel; pass padding explicitly', shapes);
  const pad = padding ?? (kh - 1) / 2;
  if (!Number.isInteger(pad) || pad < 0)
    throw new OpError('conv2d', `padding must be a non-negative integer, got ${pad}`, shapes);
  if (H + 2 * pad < kh || W + 2 * pad < kw)
    throw new OpError('conv2d', `a ${kh}×${kw} kernel with padding ${pad} does not fit the input`, shapes);
  if (b && (b.shape.length !== 1 || b.shape[0] !== Cout)) throw new OpError('conv2d', `bias must be [${Cout}]`, shapes);
  return pad;
}

/** The variant of `pass` to run on this layer: `name` (forced by a caller, e.g. the tuner), else the tuned or default one. */
function pick<A>(
  pass: ConvPass,
  table: ReadonlyArray<ConvVariant<A>>,
  x: readonly number[],
  w: readonly number[],
  pad: number,
  name?: string,
): ConvVariant<A> {
  if (name !== undefined) return variantNamed(pass, table, name);
  const problem = { x, w, pad };
  const key = convKey(x, w, pad); // the rows' rules read the layer, not the batch size
  return chooseVariant(pass, key, applicable(table, problem, key), { pass, conv: problem });
}

/** y = conv(x, w) + b (ReLU), into `y`; `variant` names one (else the tuned or default choice). */
export function convForward(
  x: Tensor,
  w: Tensor,
  b: Tensor | null,
  y: Tensor,
  relu: boolean,
  pad: number,
  variant?: string,
): void {
  pick('conv_forward', CONV_FORWARD, x.shape, w.shape, pad, variant).launch({ x, w, b, y, relu, pad });
}

/** dX = conv of dY with the flipped weights. */
export function convGradInput(dy: Tensor, w: Tensor, xShape: readonly number[], pad: number, variant?: string): Tensor {
  const dx = Tensor.empty(xShape, 'conv2d dX');
  pick('conv_grad_input', CONV_GRAD_INPUT, xShape, w.shape, pad, variant).launch({ dy, w, dx, pad });
  return dx;
}

/** dW = Σ over images and pixels of dY·X(shifted); fills `db` (the bias gradient, Σ dY per channel) when given. */
export function convGradWeight(
  dy: Tensor,
  x: Tensor,
  wShape: readonly number[],
  pad: number,
  variant?: string,
  db: Tensor | null = null,
): Tensor {
  const dw = Tensor.empty(wShape, 'conv2d dW');
  pick('conv_grad_weight', CONV_GRAD_WEIGHT, x.shape, wShape, pad, variant).launch({ dy, x, dw, db, pad });
  return dw;
}
