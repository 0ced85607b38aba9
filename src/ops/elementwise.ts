// fill, add, scale and in-place accumulation (kernels/elementwise.wgsl).
import { record } from '../autograd/tape.js';
import { OpError, type Shape } from '../errors.js';
import { Tensor } from '../tensor.js';
import { forEachChunk, gridFor } from './launch.js';

type Entry = 'fill' | 'axpy' | 'add' | 'scale';

/** Runs one elementwise entry over n elements on out's device; `inputs` are read, `out` written, chunk by chunk. */
function run(entry: Entry, n: number, inputs: Tensor[], out: Tensor, value: number, label: string): void {
  const rt = out.engine.rt; // in-place updates run where their target lives
  forEachChunk(n, (start, count) => {
    const ins = inputs.map((t) => rt.range(t.buffer, start, count));
    const y = rt.range(out.buffer, start, count);
    rt.dispatch({
      kernel: 'elementwise',
      entry,
      uniforms: [count, ins[0]?.elemOffset ?? 0, ins[1]?.elemOffset ?? 0, y.elemOffset, { f32: value }],
      buffers: [...ins, y],
      workgroups: gridFor(count),
      label,
    });
  });
}

/** A new tensor of `shape` filled with `value`. */
export function fill(shape: Shape, value: number): Tensor {
  const t = Tensor.empty(shape, 'fill');
  run('fill', t.size, [], t, value, `fill ${t}`);
  return t;
}

/** Sets every element of `t` to `value`, in place. */
export function fillInPlace(t: Tensor, value: number): void {
  run('fill', t.size, [], t, value, `fill ${t}`);
}

/** target += alpha * src, in place (not recorded on the tape). */
export function accumulateInto(target: Tensor, src: Tensor, alpha = 1): void {
  if (target.size !== src.size) throw new OpError('accumulate', 'sizes differ', { target: target.shape, src: src.shape });
  run('axpy', target.size, [src], target, alpha, `accumulate ${target}`);
}

function sameShape(op: string, a: Tensor, b: Tensor): void {
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
    throw new OpError(op, 'shapes must match', { a: a.shape, b: b.shape });
  }
}

/** a + alpha·b, elementwise, same shapes. */
export function add(a: Tensor, b: Tensor, alpha = 1): Tensor {
  sameShape('add', a, b);
  const y = Tensor.empty(a.shape, 'add');
  run('add', y.size, [a, b], y, alpha, `add ${a} + ${b}`);
  record('add', [a, b], y, [], (g, needs) => [needs[0] ? copy(g) : null, needs[1] ? scale(g, alpha) : null]);
  return y;
}

/** alpha·a, elementwise. */
export function scale(a: Tensor, alpha: number): Tensor {
  const y = Tensor.empty(a.shape, 'scale');
  run('scale', y.size, [a], y, alpha, `scale ${a}`);
  record('scale', [a], y, [], (g) => [scale(g, alpha)]);
  return y;
}

/** A copy of `a` (differentiable). */
export function copy(a: Tensor): Tensor {
  return scale(a, 1);
}
