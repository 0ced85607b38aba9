// Reshape (e.g. flatten before the classifier): a view of the same storage; the gradient is
// reshaped back. PyTorch's flatten order c·H·W + h·W + w falls out of the NCHW layout.
import { record } from '../autograd/tape.js';
import type { Tensor } from '../tensor.js';
import { checkTensor } from './args.js';

/** The same values with another shape (a view; differentiable). */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  checkTensor('reshape', 'input', x);
  const y = x.view(shape);
  record('reshape', [x], y, [], (g) => [g.view(x.shape)]);
  return y;
}

/** [N, …] → [N, product of the rest]. */
export function flatten(x: Tensor): Tensor {
  checkTensor('flatten', 'input', x);
  return reshape(x, [x.shape[0], x.size / x.shape[0]]);
}
