// Single-scale evaluation during training: centre crop of the image rescaled to smallest side Q.
import type { ImageDataset } from '../data/dataset.js';
import { centreSample, type InputNorm } from '../data/transforms.js';
import { noGrad } from '../autograd/tape.js';
import { Tensor, tidy } from '../tensor.js';
import type { Vgg } from '../vgg/model.js';
import { ErrorCounter, type ErrorRates } from './metrics.js';

export async function evaluateCentreCrop(model: Vgg, ds: ImageDataset, q: number, norm: InputNorm, batch: number, onBatch?: (done: number) => void): Promise<ErrorRates> {
  const { inputSize: crop, classes } = model.config;
  const C = ds.channels;
  const per = C * crop * crop;
  const counter = new ErrorCounter();
  model.setTraining(false);
  for (let start = 0; start < ds.length; start += batch) {
    const n = Math.min(batch, ds.length - start);
    const x = new Float32Array(n * per);
    const labels = new Int32Array(n);
    for (let b = 0; b < n; b++) {
      centreSample(ds.image(start + b), q, crop, norm, x, b * per);
      labels[b] = ds.label(start + b);
    }
    const logits = tidy(() => noGrad(() => model.forward(Tensor.from(x, [n, C, crop, crop]))));
    counter.add(await logits.toArray(), classes, labels);
    logits.dispose();
    onBatch?.(start + n);
  }
  model.setTraining(true);
  return counter.rates();
}
