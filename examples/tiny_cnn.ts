// A tiny CNN trained on Fashion-MNIST with the library API.
//   npx tsx examples/tiny_cnn.ts [steps]          (FASHION_MNIST=dir to use another copy)
import {
  backward,
  Conv2d,
  ErrorCounter,
  FASHION_MNIST_DIR,
  Flatten,
  IdxDataset,
  init,
  initLayer,
  Linear,
  MaxPool2d,
  noGrad,
  Rng,
  Sequential,
  SGD,
  softmaxCrossEntropy,
  Tensor,
  tidy,
  tuneStep,
} from 'vggpu';

const steps = Number(process.argv[2] ?? 300);
const engine = await init();
const rng = new Rng(7); // seeded: the same run every time
console.log(`adapter: ${engine.rt.describe()}`);
const dir = process.env.FASHION_MNIST ?? FASHION_MNIST_DIR;
const train = new IdxDataset(dir, 'train');
const test = new IdxDataset(dir, 'test');

const conv1 = new Conv2d(1, 8, 3, { relu: true });
const conv2 = new Conv2d(8, 16, 3, { relu: true });
const fc = new Linear(16 * 7 * 7, 10);
for (const layer of [conv1, conv2, fc]) initLayer(layer.weight, layer.bias, 'kaiming');
const net = new Sequential([
  ['conv1', conv1],
  ['pool1', new MaxPool2d()],
  ['conv2', conv2],
  ['pool2', new MaxPool2d()],
  ['flat', new Flatten()],
  ['fc', fc],
]);
const opt = new SGD(
  net.parameters().map(([, t]) => t),
  { lr: 0.05, momentum: 0.9, weightDecay: 5e-4 },
);

/** Images [n, 1, 28, 28] scaled to [0, 1] minus Fashion-MNIST's mean, and their labels. */
function batch(ds: IdxDataset, indices: number[]): { x: Tensor; labels: number[] } {
  const x = new Float32Array(indices.length * 784);
  indices.forEach((i, b) => ds.image(i).data.forEach((v, p) => (x[b * 784 + p] = v / 255 - 0.286)));
  return { x: Tensor.from(x, [indices.length, 1, 28, 28]), labels: indices.map((i) => ds.label(i)) };
}

// Time the kernel variants of what will run (a training step at 64, evaluation at 250) on this
// adapter, once: a dry run finds the layer shapes; the choices are kept on disk.
const variants = await tuneStep(() => {
  const loss = tidy(() =>
    softmaxCrossEntropy(net.forward(Tensor.empty([64, 1, 28, 28])), new Array<number>(64).fill(0)),
  );
  backward(loss);
  loss.dispose();
  opt.zeroGrad();
  tidy(() => {
    noGrad(() => net.forward(Tensor.empty([250, 1, 28, 28])));
  });
});
for (const v of variants) console.log(`kernel ${v.pass} ${v.shape}: ${v.variant}${v.timedNow ? ' (timed now)' : ''}`);

for (let step = 1; step <= steps; step++) {
  const loss = tidy(() => {
    const { x, labels } = batch(
      train,
      Array.from({ length: 64 }, () => rng.int(train.length)),
    );
    return softmaxCrossEntropy(net.forward(x), labels);
  });
  backward(loss);
  opt.step();
  opt.zeroGrad();
  if (step % 50 === 0 || step === steps) console.log(`step ${step}: loss ${(await loss.toArray())[0].toFixed(4)}`);
  loss.dispose();
}

const errors = new ErrorCounter();
for (let s = 0; s < 1000; s += 250) {
  const indices = Array.from({ length: 250 }, (_, k) => s + k);
  const logits = tidy(() => noGrad(() => net.forward(batch(test, indices).x)));
  errors.add(
    await logits.toArray(),
    10,
    indices.map((i) => test.label(i)),
  );
  logits.dispose();
}
console.log(`test accuracy on 1000 images: ${((1 - errors.rates().top1) * 100).toFixed(1)}%`);
process.exit(0);
