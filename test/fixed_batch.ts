// A few SGD steps on one fixed batch, returning each step's loss: the same check in Node
// (vgg.test.ts) and in a browser page (browser/checks.ts), so it imports only the engine core.
import { backward, type SGD, softmaxCrossEntropy, type Tensor, tidy, type Vgg } from '../src/index.js';

export async function lossesOnFixedBatch(
  model: Vgg,
  opt: SGD,
  x: Tensor,
  labels: number[],
  steps: number,
): Promise<number[]> {
  const losses: number[] = [];
  for (let i = 0; i < steps; i++) {
    const loss = tidy(() => softmaxCrossEntropy(model.forward(x), labels));
    backward(loss);
    opt.step();
    opt.zeroGrad();
    losses.push((await loss.toArray())[0]);
    loss.dispose();
  }
  return losses;
}
