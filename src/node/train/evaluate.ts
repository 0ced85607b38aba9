// Single-scale evaluation during training: centre crop of the image rescaled to smallest side Q,
// the crops made by the input pipeline's workers one batch ahead of the GPU.
import type { BatchMaker } from '../data/batch_maker.js';
import { Prefetch } from '../../data/prefetch.js';
import type { InputNorm } from '../../data/transforms.js';
import { noGrad } from '../../autograd/tape.js';
import { Tensor, tidy } from '../../tensor.js';
import type { Vgg } from '../../vgg/model.js';
import { ErrorCounter, type ErrorRates } from '../../train/metrics.js';

/** Top-1/top-5 error of `model` on the `length` images of the pipeline's dataset `set`, centre crops at scale q. */
export async function evaluateCentreCrop(
  model: Vgg,
  pipeline: BatchMaker,
  set: number,
  length: number,
  q: number,
  norm: InputNorm,
  batch: number,
  onBatch?: (done: number) => void,
): Promise<ErrorRates> {
  const { inputSize: crop, classes, inChannels: C } = model.config;
  const counter = new ErrorCounter();
  const steps = Math.ceil(length / batch);
  const indices = (k: number) => Array.from({ length: Math.min(batch, length - k * batch) }, (_, j) => k * batch + j);
  const batches = new Prefetch((k) => pipeline.centre(indices(k), q, crop, norm, set), 0, steps, 1);
  model.setTraining(false);
  for (let start = 0; start < length; start += batch) {
    const { x, labels } = await batches.next();
    const n = labels.length;
    const logits = tidy(() => noGrad(() => model.forward(Tensor.from(x, [n, C, crop, crop]))));
    pipeline.recycle({ x, labels }); // uploaded: its memory serves a later batch
    counter.add(await logits.toArray(), classes, labels);
    logits.dispose();
    onBatch?.(start + n);
  }
  model.setTraining(true);
  return counter.rates();
}
