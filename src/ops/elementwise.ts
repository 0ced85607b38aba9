// add and scale (kernels/elementwise.wgsl), recorded on the tape; fill and in-place accumulation
// live in fill.ts (the tape uses them) and are re-exported here.
import { record } from '../autograd/tape.js';
import { OpError } from '../errors.js';
import { Tensor } from '../tensor.js';
import { runElementwise } from './fill.js';
import { checkNumber, checkTensor } from './args.js';

export { accumulateInto, fill, fillInPlace } from './fill.js';

function sameShape(op: string, a: Tensor, b: Tensor): void {
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
    throw new OpError(op, 'shapes must match', { a: a.shape, b: b.shape });
  }
}

/** a + alpha·b, elementwise, same shapes. */
export function add(a: Tensor, b: Tensor, alpha = 1): Tensor {
  checkTensor('add', 'a', a);
  checkTensor('add', 'b', b);
  checkNumber('add', 'alpha', alpha);
  sameShape('add', a, b);
  const y = Tensor.empty(a.shape, 'add');
  runElementwise('add', y.size, [a, b], y, alpha, `add ${a} + ${b}`);
  record('add', [a, b], y, [], (g, needs) => [needs[0] ? copy(g) : null, needs[1] ? scale(g, alpha) : null]);
  return y;
}

/** alpha·a, elementwise. */
export function scale(a: Tensor, alpha: number): Tensor {
  checkTensor('scale', 'a', a);
  checkNumber('scale', 'alpha', alpha);
  const y = Tensor.empty(a.shape, 'scale');
  runElementwise('scale', y.size, [a], y, alpha, `scale ${a}`);
  record('scale', [a], y, [], (g) => [scale(g, alpha)]);
  return y;
}

/** A copy of `a` (differentiable). */
export function copy(a: Tensor): Tensor {
  checkTensor('copy', 'a', a);
  return scale(a, 1);
}
