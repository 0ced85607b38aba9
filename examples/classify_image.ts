// Runs a saved VGG checkpoint on a PNG or JPEG and prints the top-5 classes.
//   npx tsx examples/classify_image.ts runs/<run>/best.safetensors photo.jpg
import { centreSample, decodeImage, init, loadForEval, noGrad, softmaxRows, Tensor, testScales, tidy } from 'vggpu';

const [checkpoint, imagePath] = process.argv.slice(2);
if (!checkpoint || !imagePath) {
  console.error('usage: classify_image.ts CHECKPOINT IMAGE');
  process.exit(2);
}
await init();
const { model, preprocess } = loadForEval(checkpoint);
const { inChannels, inputSize, classes } = model.config;

// Decode, then match the net's channels (grayscale nets get the mean of R, G and B).
const rgb = decodeImage(imagePath);
const image = inChannels === 3 ? rgb : { ...rgb, channels: 1, data: Uint8Array.from({ length: rgb.width * rgb.height }, (_, p) => Math.round((rgb.data[3 * p] + rgb.data[3 * p + 1] + rgb.data[3 * p + 2]) / 3)) };

// The paper's single-scale test: smallest side Q, centre crop of the training size.
const q = testScales(preprocess.scale, false, inputSize)[0];
const x = new Float32Array(inChannels * inputSize * inputSize);
centreSample(image, q, inputSize, preprocess.mean, x, 0);
const logits = tidy(() => noGrad(() => model.forward(Tensor.from(x, [1, inChannels, inputSize, inputSize]))));
const probs = softmaxRows(await logits.toArray(), classes);

const names = preprocess.classNames ?? Array.from({ length: classes }, (_, i) => `class ${i}`);
const top = Array.from(probs, (p, i) => [p, i] as const).sort((a, b) => b[0] - a[0]).slice(0, 5);
console.log(`VGG-${model.config.net} on ${imagePath}:`);
for (const [p, i] of top) console.log(`  ${(p * 100).toFixed(1).padStart(5)}%  ${names[i]}`);
process.exit(0);
