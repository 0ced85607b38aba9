// Sums over axes (bias gradients, mean loss, global average pooling) and split-K combination
// (kernels/sum.wgsl).
import { engine } from '../engine.js';
import { OpError } from '../errors.js';
import { Tensor } from '../tensor.js';
import { forEachImageSlice, grid2d, gridFor } from './launch.js';

const SERIAL_SUM_MAX = 4096;
/** Iterations of sum_axes' tree reduction over a 256-wide workgroup. */
const TREE_STEPS = 8;

/**
 * out[r] = scale · Σ_{o,i} x[o, r, i] for x viewed as [outer, R, inner]. Writes into `out`
 * (shape with R elements) if given, adding to it when `accumulate`; else returns a new [R] tensor.
 */
export function sumAxes(
  x: Tensor,
  outer: number,
  R: number,
  inner: number,
  scale = 1,
  out?: Tensor,
  accumulate = false,
): Tensor {
  if (outer * R * inner !== x.size)
    throw new OpError('sumAxes', `outer·R·inner = ${outer}·${R}·${inner} does not match the input`, { x: x.shape });
  const y = out ?? Tensor.empty([R], 'sum');
  if (y.size !== R) throw new OpError('sumAxes', `output must have ${R} elements`, { out: y.shape });
  const rt = engine().rt;
  // A workgroup's lanes each loop over every 256th of a slice's count·inner values.
  const maxImages = Math.floor((256 * (rt.loopLimit - TREE_STEPS)) / inner);
  if (maxImages < 1)
    throw new OpError(
      'sumAxes',
      `rows of ${inner} values are longer than one workgroup can sum within this adapter's loop limit`,
      { x: x.shape },
    );
  forEachImageSlice(
    'sumAxes',
    outer,
    [R * inner],
    (first, count) => {
      const xr = rt.range(x.buffer, first * R * inner, count * R * inner);
      const yr = rt.range(y.buffer, 0, R);
      // Short sums run one invocation each; long ones a workgroup each (tree reduction).
      const serial = count * inner <= SERIAL_SUM_MAX;
      rt.dispatch({
        kernel: 'sum',
        entry: serial ? 'sum_axes_serial' : 'sum_axes',
        constants: { ACCUMULATE: accumulate || first > 0 },
        uniforms: { R, inner, outer: count, xOff: xr.elemOffset, outOff: yr.elemOffset, scale },
        buffers: [xr, yr],
        workgroups: serial ? gridFor(R) : grid2d(R),
        loop: serial ? count * (inner + 1) : Math.ceil((count * inner) / 256) + TREE_STEPS,
        label: `sumAxes ${x} as [${outer}, ${R}, ${inner}]`,
      });
    },
    maxImages,
  );
  return y;
}

/** out[r] = scale · Σ_i x[r, i] for x viewed as [rows, inner], slicing rows to fit bindings. */
export function sumInner(x: Tensor, rows: number, inner: number, scale: number, shape: readonly number[]): Tensor {
  if (rows * inner !== x.size)
    throw new OpError('sumInner', `rows·inner = ${rows}·${inner} does not match the input`, { x: x.shape });
  const y = Tensor.empty(shape, 'sum');
  const rt = engine().rt;
  forEachImageSlice('sumInner', rows, [inner], (first, count) => {
    const xr = rt.range(x.buffer, first * inner, count * inner);
    const yr = rt.range(y.buffer, first, count);
    rt.dispatch({
      kernel: 'sum',
      entry: 'sum_axes',
      constants: { ACCUMULATE: false },
      uniforms: { R: count, inner, outer: 1, xOff: xr.elemOffset, outOff: yr.elemOffset, scale },
      buffers: [xr, yr],
      workgroups: grid2d(count),
      loop: Math.ceil(inner / 256) + TREE_STEPS,
      label: `sumInner ${x} as [${rows}, ${inner}]`,
    });
  });
  return y;
}

/** out[i] (+)= Σ_s part[s·R + i] for s < splits: the second pass of a split-K GEMM. */
export function sumSplits(
  part: Tensor,
  splits: number,
  R: number,
  out: Tensor,
  outOffset: number,
  accumulate: boolean,
  label: string,
): void {
  const rt = engine().rt;
  const pr = rt.range(part.buffer, 0, splits * R);
  const yr = rt.range(out.buffer, outOffset, R);
  rt.dispatch({
    kernel: 'sum',
    entry: 'sum_splits',
    constants: { ACCUMULATE: accumulate },
    uniforms: { R, inner: 1, outer: splits, xOff: pr.elemOffset, outOff: yr.elemOffset, scale: 1 },
    buffers: [pr, yr],
    workgroups: gridFor(R),
    loop: splits,
    label,
  });
}

/** out[i] = scale · x[floor(i / inner)]: spreads one value over `inner` outputs. */
export function broadcastInner(x: Tensor, inner: number, scale: number, shape: readonly number[]): Tensor {
  const y = Tensor.empty(shape, 'broadcast');
  if (y.size !== x.size * inner) throw new OpError('broadcast', 'sizes do not match', { x: x.shape, out: shape });
  const rt = engine().rt;
  forEachImageSlice('broadcast', x.size, [inner], (first, count) => {
    const xr = rt.range(x.buffer, first, count);
    const yr = rt.range(y.buffer, first * inner, count * inner);
    rt.dispatch({
      kernel: 'sum',
      entry: 'broadcast',
      constants: { ACCUMULATE: false },
      uniforms: { R: count, inner, outer: 1, xOff: xr.elemOffset, outOff: yr.elemOffset, scale },
      buffers: [xr, yr],
      workgroups: gridFor(count * inner),
      label: `broadcast ${x} ×${inner}`,
    });
  });
  return y;
}
