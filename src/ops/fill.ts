// The elementwise kernels that are never recorded on the tape (kernels/elementwise.wgsl): fill
// and in-place accumulation, which the tape itself uses, and the launcher that add and scale share.
import { checkShape, OpError, type Shape } from '../errors.js';
import { Tensor } from '../tensor.js';
import { forEachChunk, gridFor } from './launch.js';
import { checkNumber, checkTensor } from './args.js';

type Entry = 'fill' | 'axpy' | 'add' | 'scale';

/** Runs one elementwise entry over n elements on out's device; `inputs` are read, `out` written, chunk by chunk. */
export function runElementwise(
  entry: Entry,
  n: number,
  inputs: Tensor[],
  out: Tensor,
  value: number,
  label: string,
): void {
  const rt = out.engine.rt; // in-place updates run where their target lives
  forEachChunk(n, (start, count) => {
    const ins = inputs.map((t) => rt.range(t.buffer, start, count));
    const y = rt.range(out.buffer, start, count);
    rt.dispatch({
      kernel: 'elementwise',
      entry,
      uniforms: { n: count, aOff: ins[0]?.elemOffset ?? 0, bOff: ins[1]?.elemOffset ?? 0, yOff: y.elemOffset, value },
      buffers: [...ins, y],
      workgroups: gridFor(count),
      label,
    });
  });
}

/** A new tensor of `shape` filled with `value`. */
export function fill(shape: Shape, value: number): Tensor {
  checkShape('fill', 'shape', shape);
  checkNumber('fill', 'value', value);
  const t = Tensor.empty(shape, 'fill');
  runElementwise('fill', t.size, [], t, value, `fill ${t}`);
  return t;
}

/** Sets every element of `t` to `value`, in place. */
export function fillInPlace(t: Tensor, value: number): void {
  checkTensor('fillInPlace', 'target', t);
  checkNumber('fillInPlace', 'value', value);
  runElementwise('fill', t.size, [], t, value, `fill ${t}`);
}

/** target += alpha * src, in place (not recorded on the tape). */
export function accumulateInto(target: Tensor, src: Tensor, alpha = 1): void {
  checkTensor('accumulateInto', 'target', target);
  checkTensor('accumulateInto', 'src', src);
  checkNumber('accumulateInto', 'alpha', alpha);
  if (target.size !== src.size)
    throw new OpError('accumulate', 'sizes differ', { target: target.shape, src: src.shape });
  runElementwise('axpy', target.size, [src], target, alpha, `accumulate ${target}`);
}
