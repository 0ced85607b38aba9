// One forward/backward/SGD step of a full-size VGG (224×224, 1000 classes) at batch 1: proves the
// engine handles 144 M parameters and FC1's 411 MB weight within the adapter's binding limits.
//   npx tsx tools/full_step.ts [--net E]
import { backward, init, SGD, softmaxCrossEntropy, Tensor, tidy } from '../src/node/index.js';
import { NET_NAMES, type NetName } from '../src/vgg/config.js';
import { buildVgg } from '../src/vgg/model.js';

const argIdx = process.argv.indexOf('--net');
const net = (argIdx > 0 ? process.argv[argIdx + 1] : 'E') as NetName;
if (!NET_NAMES.includes(net)) throw new Error(`unknown net '${net}'; choose one of ${NET_NAMES.join(', ')}`);
const e = await init();
console.log(`adapter: ${e.rt.describe()}`);
let t = performance.now();
const model = buildVgg({ net });
const params = model.parameters().reduce((a, p) => a + p.size, 0);
console.log(
  `VGG-${net}: ${params.toLocaleString('en-US')} parameters, built and initialised in ${((performance.now() - t) / 1000).toFixed(1)} s`,
);
const opt = new SGD(model.parameters(), { lr: 0.01 });
const x = Tensor.from(
  Float32Array.from({ length: 3 * 224 * 224 }, (_, i) => Math.sin(i)),
  [1, 3, 224, 224],
);
for (let step = 0; step < 2; step++) {
  t = performance.now();
  const loss = tidy(() => softmaxCrossEntropy(model.forward(x), [7]));
  backward(loss);
  opt.step();
  opt.zeroGrad();
  const value = (await loss.toArray())[0];
  loss.dispose();
  const s = e.rt.pool.stats();
  console.log(
    `step ${step + 1}: loss ${value.toFixed(4)}, ${((performance.now() - t) / 1000).toFixed(1)} s, GPU memory ${(s.allocatedBytes / 2 ** 30).toFixed(2)} GiB in ${s.liveBuffers} live buffers`,
  );
  if (!Number.isFinite(value)) throw new Error('loss is not finite');
}
process.exit(0);
