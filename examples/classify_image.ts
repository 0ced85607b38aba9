// Runs a saved VGG checkpoint on a PNG or JPEG and prints the top-5 classes. Our checkpoints carry
// their preprocessing; a torchvision file (vgg11/13/16/19 saved as safetensors) is recognised from
// its tensors and gets torchvision's ImageNet preprocessing.
//   npx tsx examples/classify_image.ts runs/<run>/best.safetensors photo.jpg
//   npx tsx examples/classify_image.ts vgg16.safetensors photo.jpg [--net D] [--classes 1000] [--mean R,G,B] [--std R,G,B]
import { parseArgs } from 'node:util';
import {
  centreSample,
  init,
  loadForEval,
  NET_NAMES,
  type NetName,
  noGrad,
  readImage,
  softmaxRows,
  Tensor,
  testScales,
  tidy,
} from 'vggpu';

const USAGE =
  'usage: classify_image.ts CHECKPOINT IMAGE [--net A|A-LRN|B|C|D|E] [--classes N] [--mean R,G,B] [--std R,G,B]';
function numbers(flag: string, v: string | undefined): number[] | undefined {
  const xs = v?.split(',').map(Number);
  if (xs?.some((x) => !Number.isFinite(x))) throw new Error(`--${flag} ${v}: give numbers, comma-separated`);
  return xs;
}

async function main(): Promise<void> {
  const { values: f, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      net: { type: 'string' },
      classes: { type: 'string' },
      mean: { type: 'string' },
      std: { type: 'string' },
    },
  });
  const [checkpoint, imagePath] = positionals;
  if (!checkpoint || !imagePath || positionals.length > 2) throw new Error(USAGE);
  if (f.net && !NET_NAMES.includes(f.net as NetName))
    throw new Error(`--net ${f.net}: choose one of ${NET_NAMES.join(', ')}`);
  await init();
  const { model, preprocess, notes } = loadForEval(checkpoint, {
    net: f.net as NetName | undefined,
    classes: numbers('classes', f.classes)?.[0],
    mean: numbers('mean', f.mean),
    std: numbers('std', f.std),
  });
  notes.forEach((n) => console.log(`note: ${n}`));
  const { inChannels, inputSize, classes } = model.config;

  // The paper's single-scale test: smallest side Q, centre crop of the training size. The image is
  // decoded and rescaled as the input pipeline does for training (torchvision's files: rescaled
  // by centreSample, as torchvision does), then matched to the net's channels (grayscale nets get
  // the mean of R, G and B).
  const q = testScales(preprocess.scale, false, inputSize)[0];
  const rgb = await readImage(imagePath, preprocess.sampling === 'torchvision' ? undefined : q);
  const image =
    inChannels === 3
      ? rgb
      : {
          ...rgb,
          channels: 1,
          data: Uint8Array.from({ length: rgb.width * rgb.height }, (_, p) =>
            Math.round((rgb.data[3 * p] + rgb.data[3 * p + 1] + rgb.data[3 * p + 2]) / 3),
          ),
        };
  const x = new Float32Array(inChannels * inputSize * inputSize);
  centreSample(image, q, inputSize, preprocess, x, 0);
  const logits = tidy(() => noGrad(() => model.forward(Tensor.from(x, [1, inChannels, inputSize, inputSize]))));
  const probs = softmaxRows(await logits.toArray(), classes);

  const names = preprocess.classNames ?? Array.from({ length: classes }, (_, i) => `class ${i}`);
  const top = Array.from(probs, (p, i) => [p, i] as const)
    .sort((a, b) => b[0] - a[0])
    .slice(0, 5);
  console.log(`VGG-${model.config.net} on ${imagePath}:`);
  for (const [p, i] of top) console.log(`  ${(p * 100).toFixed(1).padStart(5)}%  ${names[i]}`);
}

main().then(
  () => process.exit(0),
  (e: Error) => {
    // User mistakes (paths, flags, a checkpoint that does not fit) get one line, not a stack trace.
    console.error(`error: ${e.message}`);
    process.exit(e.message === USAGE ? 2 : 1);
  },
);
