// Spatial mean [N, C, H, W] → [N, C]: the sum-pooling of the class score map in dense evaluation.
import { record } from '../autograd/tape.js';
import { OpError } from '../errors.js';
import type { Tensor } from '../tensor.js';
import { broadcastInner, sumInner } from './reduce.js';
import { checkTensor } from './args.js';

/** Mean over H×W: [N, C, H, W] → [N, C]. */
export function globalAvgPool(x: Tensor): Tensor {
  checkTensor('globalAvgPool', 'input', x);
  if (x.shape.length !== 4) throw new OpError('globalAvgPool', 'input must be [N, C, H, W]', { input: x.shape });
  const [N, C, H, W] = x.shape;
  const HW = H * W;
  const y = sumInner(x, N * C, HW, 1 / HW, [N, C]);
  record('globalAvgPool', [x], y, [], (g) => [broadcastInner(g, HW, 1 / HW, x.shape)]);
  return y;
}
