// Fully-connected layer y = x·Wᵀ + b (optional fused ReLU), weight [out, in] as in PyTorch.
// A weight larger than one storage binding (VGG's FC1 is 411 MB; llvmpipe binds 128 MiB) is
// processed in row ranges, each its own binding of the same buffer.
import { record } from '../autograd/tape.js';
import { OpError } from '../errors.js';
import { Tensor } from '../tensor.js';
import { maxChunkElems } from './launch.js';
import { stridedMatmul, whole } from './matmul.js';
import { reluBackward } from './relu.js';
import { sumAxes } from './reduce.js';
import { biasAndOptions, checkTensor } from './args.js';

/** Options of linear. */
export interface LinearOptions {
  relu?: boolean;
}

/** x [B, in], weight [out, in], optional bias [out] (null or left out: none) → [B, out]. */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null, options?: LinearOptions): Tensor;
export function linear(x: Tensor, weight: Tensor, options?: LinearOptions): Tensor;
export function linear(
  x: Tensor,
  weight: Tensor,
  third?: Tensor | null | LinearOptions,
  fourth?: LinearOptions,
): Tensor {
  checkTensor('linear', 'input', x);
  checkTensor('linear', 'weight', weight);
  const [bias, options] = biasAndOptions<LinearOptions>('linear', third, fourth);
  const shapes = { input: x.shape, weight: weight.shape, ...(bias ? { bias: bias.shape } : {}) };
  if (x.shape.length !== 2 || weight.shape.length !== 2)
    throw new OpError('linear', 'needs input [B, in] and weight [out, in]', shapes);
  const [B, IN] = x.shape;
  const [OUT, wIn] = weight.shape;
  if (wIn !== IN) throw new OpError('linear', `input has ${IN} features but the weight expects ${wIn}`, shapes);
  if (bias && (bias.shape.length !== 1 || bias.shape[0] !== OUT))
    throw new OpError('linear', `bias must be [${OUT}]`, shapes);
  const relu = options.relu ?? false;
  const y = Tensor.empty([B, OUT], 'linear');
  forEachRowRange(OUT, IN, (o0, r) => {
    stridedMatmul({
      M: B,
      N: r,
      K: IN,
      a: whole(x),
      b: { t: weight, start: o0 * IN, count: r * IN, s0: 1, s1: IN },
      c: { t: y, start: o0, count: (B - 1) * OUT + r, s0: OUT, s1: 1 },
      bias: bias ? { t: bias, start: o0, count: r } : undefined,
      relu,
      label: `linear forward x ${x} w ${weight} rows ${o0}+${r}`,
    });
  });
  record('linear', bias ? [x, weight, bias] : [x, weight], y, relu ? [x, weight, y] : [x, weight], (g, needs) => {
    const gy = relu ? reluBackward(y, g) : g;
    const dx = needs[0] ? Tensor.empty(x.shape, 'linear dX') : null;
    const dw = needs[1] ? Tensor.empty(weight.shape, 'linear dW') : null;
    forEachRowRange(OUT, IN, (o0, r) => {
      const dyRows = { t: gy, start: o0, count: (B - 1) * OUT + r };
      if (dx) {
        stridedMatmul({
          M: B,
          N: IN,
          K: r,
          a: { ...dyRows, s0: OUT, s1: 1 },
          b: { t: weight, start: o0 * IN, count: r * IN, s0: IN, s1: 1 },
          c: whole(dx),
          accumulate: o0 > 0,
          label: `linear input-gradient dy ${gy} w ${weight} rows ${o0}+${r}`,
        });
      }
      if (dw) {
        stridedMatmul({
          M: r,
          N: IN,
          K: B,
          a: { ...dyRows, s0: 1, s1: OUT },
          b: whole(x),
          c: { t: dw, start: o0 * IN, count: r * IN, s0: IN, s1: 1 },
          label: `linear weight-gradient dy ${gy} x ${x} rows ${o0}+${r}`,
        });
      }
    });
    const db = bias && needs[2] ? sumAxes(gy, B, OUT, 1) : null;
    if (gy !== g) gy.dispose();
    return bias ? [dx, dw, db] : [dx, dw];
  });
  return y;
}

/** Calls fn(firstRow, rows) over row ranges of a [rows, cols] weight that each fit one binding. */
function forEachRowRange(rows: number, cols: number, fn: (first: number, count: number) => void): void {
  const per = Math.floor(maxChunkElems() / cols);
  if (per < 1)
    throw new OpError('linear', `one weight row of ${cols} floats exceeds the adapter's storage-binding limit`);
  for (let r = 0; r < rows; r += per) fn(r, Math.min(per, rows - r));
}
