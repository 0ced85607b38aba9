// The browser demo (`npm run demo`): VGG-A at a small width trained on Fashion-MNIST in the page
// with the paper's recipe, loss and validation-error curves, the adapter it runs on, a drawing pad
// to classify, and checkpoints downloaded and uploaded as safetensors. Bundled by tools/demo.ts.
import {
  backward,
  buildVgg,
  engine,
  ErrorCounter,
  FASHION_MNIST_CLASSES,
  init,
  installBrowserHost,
  noGrad,
  parseIdx,
  parseSafetensors,
  PlateauSchedule,
  type RawImage,
  Rng,
  serializeSafetensors,
  SGD,
  softmaxCrossEntropy,
  Tensor,
  tidy,
  trainSample,
  tuneStep,
  type AugmentOptions,
  type Vgg,
} from '../../src/browser/index.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const params = new URLSearchParams(location.search);

/** What a test (or a curious user) can read from the console: `demo.state`, `demo.stepMs`, … */
const demo = {
  state: 'loading' as 'loading' | 'ready' | 'training' | 'stopped' | 'error',
  adapter: '',
  featureLevel: '',
  steps: 0,
  losses: [] as Array<[number, number]>,
  valErrors: [] as Array<[number, number]>,
  stepMs: 0,
  error: '',
};
Object.assign(globalThis, { demo });

function showError(e: unknown): void {
  const message = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  demo.state = 'error';
  demo.error = message;
  const box = $('error');
  box.textContent = message;
  box.style.display = 'block';
}
addEventListener('error', (ev) => showError(ev.error ?? ev.message));
addEventListener('unhandledrejection', (ev) => showError(ev.reason));

interface Split {
  images: RawImage[];
  labels: Uint8Array;
}

/** One of Fashion-MNIST's splits, from the IDX files the demo server serves. */
async function loadSplit(prefix: 'train' | 't10k'): Promise<Split> {
  const get = async (name: string) => {
    const r = await fetch(`data/${name}`);
    if (!r.ok) throw new Error(`data/${name}: HTTP ${r.status} (${await r.text()})`);
    return parseIdx(new Uint8Array(await r.arrayBuffer()), name);
  };
  const images = await get(`${prefix}-images-idx3-ubyte`);
  const labels = await get(`${prefix}-labels-idx1-ubyte`);
  const [n, h, w] = images.dims;
  return {
    images: Array.from({ length: n }, (_, i) => ({
      width: w,
      height: h,
      channels: 1,
      data: images.data.subarray(i * h * w, (i + 1) * h * w),
    })),
    labels: labels.data,
  };
}

const CROP = 32;
let model: Vgg | null = null;
let opt: SGD | null = null;
let train: Split;
let test: Split;
let aug: AugmentOptions;
let stopRequested = false;

/** The mean and variance of Fashion-MNIST's pixels (the mean subtracted; the variance for the PCA colour shift of one channel). */
function channelStats(images: RawImage[]): AugmentOptions['stats'] {
  let sum = 0;
  let sq = 0;
  let n = 0;
  for (const img of images.slice(0, 5000)) {
    for (const v of img.data) {
      sum += v / 255;
      sq += (v / 255) ** 2;
      n++;
    }
  }
  const mean = sum / n;
  return { mean: [mean], eigenvalues: [sq / n - mean * mean], eigenvectors: [[1]] };
}

/** A batch of `indices`: training samples (augmented) or centre crops of 32 (28 padded by rescaling to 32). */
function batchOf(split: Split, indices: number[], rng: Rng | null): { x: Tensor; labels: number[] } {
  const per = CROP * CROP;
  const x = new Float32Array(indices.length * per);
  const fixed: AugmentOptions = { ...aug, scale: [CROP, CROP], flip: false, colorShift: 0 };
  indices.forEach((i, k) => trainSample(split.images[i], rng ? aug : fixed, rng ?? new Rng(0), x, k * per));
  return { x: Tensor.from(x, [indices.length, 1, CROP, CROP]), labels: indices.map((i) => split.labels[i]) };
}

function buildModel(): void {
  model?.dispose();
  opt?.dispose();
  const width = Number(($('width') as HTMLSelectElement).value);
  engine().rng.setState({ state: 7, spare: null });
  model = buildVgg({ net: 'A', width, inputSize: CROP, classes: 10, inChannels: 1, dropout: 0.5 });
  opt = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9, weightDecay: 5e-4 });
  demo.steps = 0;
  demo.losses = [];
  demo.valErrors = [];
}

async function validate(m: Vgg): Promise<number> {
  const errors = new ErrorCounter();
  for (let s = 0; s < 1000; s += 250) {
    const indices = Array.from({ length: 250 }, (_, k) => s + k);
    const { x, labels } = batchOf(test, indices, null);
    m.setTraining(false); // while the forward pass is recorded (see classify)
    const logits = tidy(() => noGrad(() => m.forward(x)));
    m.setTraining(true);
    errors.add(await logits.toArray(), 10, labels);
    logits.dispose();
    x.dispose();
  }
  return errors.rates().top1;
}

async function trainLoop(): Promise<void> {
  if (!model || !opt) buildModel();
  const m = model!;
  const o = opt!;
  const batch = Number(($('batch') as HTMLSelectElement).value);
  const maxSteps = params.has('steps') ? Number(params.get('steps')) : Infinity;
  const schedule = new PlateauSchedule(o.lr, 2, 3);
  const rng = new Rng(1 + demo.steps);
  const evalEvery = 200;
  if (params.get('tune') === '1') {
    $('status').textContent = 'timing kernel variants for this adapter (once; kept in localStorage)…';
    await tuneStep(() => {
      const loss = tidy(() =>
        softmaxCrossEntropy(m.forward(Tensor.empty([batch, 1, CROP, CROP])), new Array<number>(batch).fill(0)),
      );
      backward(loss);
      loss.dispose();
      o.zeroGrad();
    });
  }
  demo.state = 'training';
  stopRequested = false;
  let t0 = performance.now();
  let timed = 0;
  while (!stopRequested && demo.steps < maxSteps && !schedule.state.done) {
    const indices = Array.from({ length: batch }, () => rng.int(train.images.length));
    const { x, labels } = batchOf(train, indices, rng);
    const loss = tidy(() => softmaxCrossEntropy(m.forward(x), labels));
    backward(loss);
    o.step();
    o.zeroGrad();
    x.dispose();
    demo.steps++;
    timed++;
    if (demo.steps % 5 === 0 || demo.steps === 1) {
      // Reading the loss waits for the GPU: every few steps, which also gives the page its turn.
      const value = (await loss.toArray())[0];
      if (!Number.isFinite(value))
        throw new Error(`the loss became ${value} at step ${demo.steps}; lower the learning rate`);
      demo.losses.push([demo.steps, value]);
      demo.stepMs = (performance.now() - t0) / timed;
      $('status').textContent =
        `step ${demo.steps}: loss ${value.toFixed(4)}  lr ${o.lr.toExponential(0)}  ${demo.stepMs.toFixed(0)} ms/step  ${((batch * 1000) / demo.stepMs).toFixed(1)} img/s`;
      drawChart();
      await new Promise((r) => setTimeout(r, 0));
      t0 = performance.now();
      timed = 0;
    }
    loss.dispose();
    if (demo.steps % evalEvery === 0) {
      const err = await validate(m);
      demo.valErrors.push([demo.steps, err]);
      schedule.step(err);
      o.lr = schedule.state.lr;
      drawChart();
      t0 = performance.now();
      timed = 0;
    }
  }
  demo.state = 'stopped';
}

function drawChart(): void {
  const c = $('chart') as HTMLCanvasElement;
  const g = c.getContext('2d')!;
  g.clearRect(0, 0, c.width, c.height);
  const last = Math.max(10, demo.steps);
  const maxLoss = Math.max(2.5, ...demo.losses.map(([, l]) => l));
  const xy = (step: number, v: number, top: number) =>
    [40 + ((c.width - 50) * step) / last, c.height - 20 - ((c.height - 30) * v) / top] as const;
  g.strokeStyle = '#999';
  g.strokeRect(40, 10, c.width - 50, c.height - 30);
  g.fillStyle = '#555';
  g.fillText(`${last} steps`, c.width - 60, c.height - 5);
  g.fillText(maxLoss.toFixed(1), 5, 15);
  for (const [series, color, top] of [
    [demo.losses, '#2563eb', maxLoss],
    [demo.valErrors, '#dc2626', 1],
  ] as const) {
    g.strokeStyle = color;
    g.beginPath();
    series.forEach(([s, v], i) => (i ? g.lineTo(...xy(s, v, top)) : g.moveTo(...xy(s, v, top))));
    g.stroke();
  }
}

// The drawing pad: 28×28 pixels, shown 6× larger; white strokes on black, as Fashion-MNIST.
const pad = $('pad') as HTMLCanvasElement;
const padCtx = pad.getContext('2d')!;
function clearPad(): void {
  padCtx.fillStyle = '#000';
  padCtx.fillRect(0, 0, pad.width, pad.height);
}
let drawing = false;
pad.addEventListener('pointerdown', () => (drawing = true));
addEventListener('pointerup', () => (drawing = false));
pad.addEventListener('pointermove', (ev) => {
  if (!drawing) return;
  padCtx.fillStyle = '#fff';
  padCtx.beginPath();
  padCtx.arc(ev.offsetX, ev.offsetY, 9, 0, 2 * Math.PI);
  padCtx.fill();
});

function padImage(): RawImage {
  const small = document.createElement('canvas');
  small.width = small.height = 28;
  const s = small.getContext('2d')!;
  s.drawImage(pad, 0, 0, 28, 28);
  const rgba = s.getImageData(0, 0, 28, 28).data;
  return { width: 28, height: 28, channels: 1, data: Uint8Array.from({ length: 784 }, (_, i) => rgba[i * 4]) };
}

async function classify(img: RawImage): Promise<void> {
  if (!model) return;
  const { x } = batchOf({ images: [img], labels: new Uint8Array(1) }, [0], null);
  // Dropout off only while the forward pass is recorded (synchronously): a training loop running
  // between this function's awaits keeps its dropout.
  model.setTraining(false);
  const logits = tidy(() => noGrad(() => model!.forward(x)));
  model.setTraining(true);
  const z = await logits.toArray();
  logits.dispose();
  x.dispose();
  const max = Math.max(...z);
  const e = Array.from(z, (v) => Math.exp(v - max));
  const sum = e.reduce((a, b) => a + b, 0);
  const top = e
    .map((v, c) => [c, v / sum] as const)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 3);
  $('prediction').innerHTML = top
    .map(([c, p]) => `<div>${(p * 100).toFixed(1).padStart(5)}%  ${FASHION_MNIST_CLASSES[c]}</div>`)
    .join('');
}

/** The model's parameters and the step as a safetensors file (momentum starts afresh on resume). */
async function checkpointBytes(): Promise<Uint8Array> {
  const tensors = await Promise.all(
    model!
      .namedParameters()
      .map(
        async ([name, t]) =>
          [name, { shape: [...t.shape], data: await t.toArray() }] as [string, { shape: number[]; data: Float32Array }],
      ),
  );
  return serializeSafetensors(tensors, {
    'vggpu.step': String(demo.steps),
    'vggpu.width': ($('width') as HTMLSelectElement).value,
  });
}

async function resumeFrom(file: File): Promise<void> {
  const ck = parseSafetensors(new Uint8Array(await file.arrayBuffer()), file.name);
  ($('width') as HTMLSelectElement).value = ck.metadata['vggpu.width'] ?? ($('width') as HTMLSelectElement).value;
  buildModel();
  for (const [name, t] of model!.namedParameters()) {
    const s = ck.tensors.get(name);
    if (!s || s.data.length !== t.size)
      throw new Error(
        `${file.name}: no tensor '${name}' of ${t.size} values; is it a checkpoint of this demo at this width?`,
      );
    t.write(s.data);
  }
  demo.steps = Number(ck.metadata['vggpu.step'] ?? 0);
  $('status').textContent = `resumed from ${file.name} at step ${demo.steps}`;
}

async function main(): Promise<void> {
  const level = params.get('featureLevel');
  installBrowserHost({
    settings: { VGGPU_TUNE: params.get('tune') === '1' ? '1' : '0' },
    featureLevel: level === 'core' || level === 'compatibility' ? level : undefined,
  });
  const e = await init();
  demo.adapter = e.rt.describe();
  demo.featureLevel = e.rt.adapter.featureLevel;
  $('adapter').textContent = `adapter: ${demo.adapter}`;
  [train, test] = await Promise.all([loadSplit('train'), loadSplit('t10k')]);
  aug = {
    crop: CROP,
    scale: [32, 40],
    flip: true,
    colorShift: 0.1,
    subtractMean: true,
    stats: channelStats(train.images),
  };
  $('status').textContent =
    `Fashion-MNIST: ${train.images.length} training and ${test.images.length} test images. Press Train.`;
  clearPad();
  const buttons = ['train', 'stop', 'save', 'load', 'classify', 'sample'].map((id) => $(id) as HTMLButtonElement);
  for (const b of buttons) b.disabled = false;
  $('train').onclick = () => void trainLoop().catch(showError);
  $('stop').onclick = () => (stopRequested = true);
  $('clear').onclick = clearPad;
  $('classify').onclick = () => void classify(padImage()).catch(showError);
  $('sample').onclick = () => {
    const i = Math.floor(Math.random() * test.images.length);
    const img = test.images[i];
    const data = padCtx.createImageData(28, 28);
    img.data.forEach((v, p) => data.data.set([v, v, v, 255], p * 4));
    const tmp = document.createElement('canvas');
    tmp.width = tmp.height = 28;
    tmp.getContext('2d')!.putImageData(data, 0, 0);
    padCtx.drawImage(tmp, 0, 0, pad.width, pad.height);
    void classify(img).catch(showError);
  };
  $('save').onclick = () =>
    void checkpointBytes()
      .then((bytes) => {
        const a = document.createElement('a');
        a.href = URL.createObjectURL(new Blob([bytes as BlobPart]));
        a.download = `vgg-a-step${demo.steps}.safetensors`;
        a.click();
      })
      .catch(showError);
  ($('load') as HTMLInputElement).onchange = (ev) => {
    const f = (ev.target as HTMLInputElement).files?.[0];
    if (f) void resumeFrom(f).catch(showError);
  };
  demo.state = 'ready';
  if (params.get('autostart') === '1') $('train').click();
}

Object.assign(demo, {
  checkpointBytes,
  resumeFrom: (bytes: Uint8Array) => resumeFrom(new File([bytes as BlobPart], 'uploaded.safetensors')),
});
void main().catch(showError);
