// Softmax cross-entropy with integer labels, mean over the batch (kernels/softmax_ce.wgsl).
// Stable for large logits (log-sum-exp with the row maximum); the backward is the fused
// (softmax − one-hot)/B, from the saved row maximum and log-sum.
import { record } from '../autograd/tape.js';
import { engine } from '../engine.js';
import { OpError } from '../errors.js';
import { Tensor } from '../tensor.js';
import { grid2d, gridFor } from './launch.js';
import { sumAxes } from './reduce.js';
import { checkTensor } from './args.js';

/** logits [B, C], labels B integers in [0, C) → mean loss, shape [1]. */
export function softmaxCrossEntropy(logits: Tensor, labels: ArrayLike<number>): Tensor {
  checkTensor('softmaxCrossEntropy', 'logits', logits);
  if (labels === null || typeof labels !== 'object' || typeof labels.length !== 'number')
    throw new OpError(
      'softmaxCrossEntropy',
      `labels must be an array of class indices, got ${labels === null ? 'null' : typeof labels}`,
    );
  if (logits.shape.length !== 2)
    throw new OpError('softmaxCrossEntropy', 'logits must be [B, classes]', { logits: logits.shape });
  const [B, C] = logits.shape;
  if (labels.length !== B)
    throw new OpError('softmaxCrossEntropy', `${labels.length} labels for a batch of ${B}`, { logits: logits.shape });
  for (let i = 0; i < B; i++) {
    const l = labels[i];
    if (!Number.isInteger(l) || l < 0 || l >= C) {
      throw new OpError('softmaxCrossEntropy', `label ${i} is ${l}; labels must be integers in [0, ${C})`, {
        logits: logits.shape,
      });
    }
  }
  if (logits.size > engine().rt.maxBindingElems)
    throw new OpError('softmaxCrossEntropy', 'logits exceed one storage binding', { logits: logits.shape });
  const rt = engine().rt;
  const labelT = Tensor.from(Float32Array.from(labels), [B]);
  const rowLoss = Tensor.empty([B], 'ce row loss');
  const lse = Tensor.empty([B, 2], 'ce row max and log-sum');
  const lr = rt.range(logits.buffer, 0, logits.size);
  const whole = (t: Tensor) => rt.range(t.buffer, 0, t.size);
  rt.dispatch({
    kernel: 'softmax_ce',
    entry: 'forward',
    uniforms: { B, C, xOff: lr.elemOffset },
    buffers: [lr, whole(labelT), whole(rowLoss), whole(lse)],
    workgroups: grid2d(B),
    loop: 2 * (Math.ceil(C / 256) + 8), // two passes over a row's classes, each with a tree reduction
    label: `softmaxCrossEntropy ${logits}`,
  });
  const loss = sumAxes(rowLoss, 1, 1, B, 1 / B);
  rowLoss.dispose();
  record('softmaxCrossEntropy', [logits], loss, [logits, labelT, lse], (g) => {
    const dx = Tensor.empty(logits.shape, 'ce dLogits');
    rt.dispatch({
      kernel: 'softmax_ce',
      entry: 'backward',
      uniforms: { B, C, xOff: lr.elemOffset },
      buffers: [rt.range(logits.buffer, 0, logits.size), whole(labelT), whole(lse), whole(g), whole(dx)],
      workgroups: gridFor(B * C),
      label: `softmaxCrossEntropy backward ${logits}`,
    });
    return [dx];
  });
  labelT.dispose();
  lse.dispose();
  return loss;
}
