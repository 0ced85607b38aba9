// The paper's test protocols (section 3.2), producing class posteriors per image:
// - centre:     rescale to smallest side Q, centre crop of the training size, softmax;
// - dense:      the fully-convolutional net on the whole rescaled image, its score map averaged
//               over space, softmax; the same for the mirrored image; the two posteriors averaged;
// - multi-crop: a 5×5 grid of training-size crops × 2 flips (50 per scale), posteriors averaged;
// - dense+multi-crop: the average of the two.
// Several scales (multi-scale) and several nets (fusion) average their posteriors too.
import { noGrad } from '../../autograd/tape.js';
import type { BatchMaker } from '../data/batch_maker.js';
import { evalImage } from '../data/batches.js';
import { Prefetch } from '../../data/prefetch.js';
import type { ImageDataset, RawImage } from '../../data/dataset.js';
import { centreOffsets, type InputNorm, rescaledSize, viewSample } from '../../data/transforms.js';
import { type StepVariant, type TuneProgress, tuneStep } from '../../ops/tune.js';
import { Tensor, tidy } from '../../tensor.js';
import type { Vgg } from '../../vgg/model.js';

/**
 * Kernel tuning during evaluation: before each view size a net meets, its forward passes are
 * timed where this adapter has no choice yet (ops/tune.ts tuneStep); these hear about it.
 */
export interface EvalTuning {
  onProgress?: (p: TuneProgress) => void;
  /** When the timing budget of the whole evaluation runs out (a performance.now() time); absent: each view size gets tuneStep's own. */
  deadlineMs?: number;
  /** The variants each new view size runs, timed now or from the cache. */
  onVariants?: (v: StepVariant[]) => void;
}

/** The evaluation methods of section 3.2. */
export const METHODS = ['centre', 'dense', 'multi-crop', 'dense+multi-crop'] as const;
/** One of METHODS. */
export type Method = (typeof METHODS)[number];

/** Row-wise softmax of scores [n, classes], in float64. */
export function softmaxRows(scores: ArrayLike<number>, classes: number): Float64Array {
  const out = new Float64Array(scores.length);
  for (let r = 0; r < scores.length / classes; r++) {
    let m = -Infinity;
    for (let c = 0; c < classes; c++) m = Math.max(m, scores[r * classes + c]);
    let s = 0;
    for (let c = 0; c < classes; c++) s += out[r * classes + c] = Math.exp(scores[r * classes + c] - m);
    for (let c = 0; c < classes; c++) out[r * classes + c] /= s;
  }
  return out;
}

/** Top-left corners of the 5×5 grid of `crop`-sized windows over a w×h image: corners and centre included. */
export function gridPositions(w: number, h: number, crop: number, n = 5): Array<[number, number]> {
  const at = (size: number, i: number) => Math.round(((size - crop) * i) / (n - 1));
  const out: Array<[number, number]> = [];
  for (let j = 0; j < n; j++) for (let i = 0; i < n; i++) out.push([at(w, i), at(h, j)]);
  return out;
}

/** One network input made from an image: a training-size crop, or the whole image (dense). */
export interface View {
  image: number;
  whole: boolean;
  x0: number;
  y0: number;
  flip: boolean;
}

/** The views `method` takes of an image at test scale q (rescaled to w×h). */
export function viewsOf(
  method: Method,
  w: number,
  h: number,
  crop: number,
  image: number,
  sampling: InputNorm['sampling'] = 'vggpu',
): View[] {
  const views: View[] = [];
  if (method === 'centre') {
    const [x0, y0] = centreOffsets(w, h, crop, sampling);
    views.push({ image, whole: false, x0, y0, flip: false });
  }
  if (method === 'multi-crop' || method === 'dense+multi-crop') {
    for (const [x0, y0] of gridPositions(w, h, crop))
      for (const flip of [false, true]) views.push({ image, whole: false, x0, y0, flip });
  }
  if (method === 'dense' || method === 'dense+multi-crop')
    for (const flip of [false, true]) views.push({ image, whole: true, x0: 0, y0: 0, flip });
  return views;
}

// View shapes whose kernels each net has had tuned, so the dry run is not repeated per chunk.
const tunedViews = new WeakMap<Vgg, Set<string>>();

/**
 * Times the variants the net runs on batches of `counts` views of `view` [C, H, W] (whole images
 * through the dense form, or crops), the first time this net meets them.
 */
async function tuneViews(
  model: Vgg,
  counts: number[],
  view: number[],
  whole: boolean,
  tuning: EvalTuning,
): Promise<void> {
  const seen = tunedViews.get(model) ?? new Set<string>();
  tunedViews.set(model, seen);
  const key = (n: number) => `${whole ? 'dense' : 'crops'} ${[n, ...view]}`;
  const fresh = [...new Set(counts)].filter((n) => n > 0 && !seen.has(key(n)));
  if (!fresh.length) return;
  for (const n of fresh) seen.add(key(n));
  const forward = (t: Tensor) => (whole ? model.denseForward(t) : model.forward(t));
  const variants = await tuneStep(
    () => {
      for (const n of fresh) {
        tidy(() => {
          noGrad(() => forward(Tensor.empty([n, ...view])));
        });
      }
    },
    tuning.onProgress,
    tuning.deadlineMs === undefined ? {} : { budgetSec: Math.max(0, (tuning.deadlineMs - performance.now()) / 1000) },
  );
  tuning.onVariants?.(variants);
}

/**
 * Runs a batch of views of the same size through the net (crops through the FC net, whole images
 * through the dense form) and returns their posteriors, `batch` views per forward pass.
 */
async function runViews(
  model: Vgg,
  images: RawImage[],
  views: View[],
  q: number,
  norm: InputNorm,
  batch: number,
  tuning: EvalTuning,
): Promise<Float64Array> {
  const { inputSize: crop, classes } = model.config;
  const out = new Float64Array(views.length * classes);
  const whole = views[0].whole;
  const C = images[views[0].image].channels;
  const [w, h] = whole ? rescaledSize(images[views[0].image], q, norm.sampling) : [crop, crop];
  const forward = (t: Tensor) => (whole ? model.denseForward(t) : model.forward(t));
  // Full batches and the last, shorter one.
  await tuneViews(model, [Math.min(batch, views.length), views.length % batch], [C, h, w], whole, tuning);
  for (let s = 0; s < views.length; s += batch) {
    const part = views.slice(s, s + batch);
    const per = C * w * h;
    const x = new Float32Array(part.length * per);
    part.forEach((v, k) => viewSample(images[v.image], q, v.x0, v.y0, w, h, v.flip, norm, x, k * per));
    const scores = tidy(() => noGrad(() => forward(Tensor.from(x, [part.length, C, h, w]))));
    out.set(softmaxRows(await scores.toArray(), classes), s * classes);
    scores.dispose();
  }
  return out;
}

/** Posteriors [images, classes] of `images` under `method` at test scale q. */
export async function imagesPosteriors(
  model: Vgg,
  images: RawImage[],
  method: Method,
  q: number,
  norm: InputNorm,
  batch = 128,
  tuning: EvalTuning = {},
): Promise<Float64Array> {
  const { inputSize: crop, classes } = model.config;
  const views = images.flatMap((img, i) => {
    const [w, h] = rescaledSize(img, q, norm.sampling);
    return viewsOf(method, w, h, crop, i, norm.sampling);
  });
  // Crops share one size; whole images are grouped by their rescaled size.
  const groups = new Map<string, View[]>();
  for (const v of views) {
    const [w, h] = rescaledSize(images[v.image], q, norm.sampling);
    const key = v.whole ? `${w}x${h}` : 'crop';
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key)!.push(v);
  }
  // Per image: the mean posterior of its crops and of its dense views; the two averaged.
  const sums = new Float64Array(images.length * classes * 2);
  const counts = new Float64Array(images.length * 2);
  for (const group of groups.values()) {
    const probs = await runViews(model, images, group, q, norm, batch, tuning);
    group.forEach((v, k) => {
      const slot = v.image * 2 + (v.whole ? 1 : 0);
      counts[slot]++;
      for (let c = 0; c < classes; c++) sums[slot * classes + c] += probs[k * classes + c];
    });
  }
  const out = new Float64Array(images.length * classes);
  for (let i = 0; i < images.length; i++) {
    const kinds = [0, 1].filter((k) => counts[i * 2 + k] > 0);
    for (const k of kinds)
      for (let c = 0; c < classes; c++)
        out[i * classes + c] += sums[(i * 2 + k) * classes + c] / counts[i * 2 + k] / kinds.length;
  }
  return out;
}

/**
 * Averaged posteriors [images, classes] over every net in `models` (fusion) and every test scale
 * (multi-scale), images taken `chunk` at a time. With a `pipeline`, its workers decode (and rescale)
 * the images of the next chunk and scale while the GPU runs the current one.
 */
export async function posteriors(
  models: Array<{ model: Vgg; norm: InputNorm; scales: number[] }>,
  ds: ImageDataset,
  method: Method,
  options: {
    batch?: number;
    chunk?: number;
    onProgress?: (done: number) => void;
    pipeline?: BatchMaker;
    tuning?: EvalTuning;
  } = {},
): Promise<Float64Array> {
  const classes = models[0].model.config.classes;
  const chunk = options.chunk ?? 64;
  const out = new Float64Array(ds.length * classes);
  const weight = 1 / models.reduce((a, m) => a + m.scales.length, 0);
  for (const m of models) m.model.setTraining(false);
  // Work items: a chunk of images at one scale and sampling, with the nets that view it so.
  const items: Array<{ start: number; indices: number[]; q: number; nets: Array<{ model: Vgg; norm: InputNorm }> }> =
    [];
  for (let s = 0; s < ds.length; s += chunk) {
    const indices = Array.from({ length: Math.min(chunk, ds.length - s) }, (_, k) => s + k);
    const groups = new Map<string, (typeof items)[number]>();
    for (const m of models) {
      for (const q of m.scales) {
        const key = `${q} ${m.norm.sampling ?? 'vggpu'}`;
        if (!groups.has(key)) groups.set(key, { start: s, indices, q, nets: [] });
        groups.get(key)!.nets.push({ model: m.model, norm: m.norm });
      }
    }
    items.push(...groups.values());
  }
  const load = ({ indices, q, nets }: (typeof items)[number]): Promise<RawImage[]> =>
    options.pipeline
      ? options.pipeline.images(indices, q, nets[0].norm)
      : Promise.all(indices.map((i) => evalImage(ds, i, q, nets[0].norm)));
  const loaded = new Prefetch((k) => load(items[k]), 0, items.length, 1);
  for (let k = 0; k < items.length; k++) {
    const item = items[k];
    const images = await loaded.next();
    for (const { model, norm } of item.nets) {
      const p = await imagesPosteriors(model, images, method, item.q, norm, options.batch, options.tuning);
      for (let i = 0; i < p.length; i++) out[item.start * classes + i] += p[i] * weight;
    }
    if (k + 1 === items.length || items[k + 1].start !== item.start)
      options.onProgress?.(item.start + item.indices.length);
  }
  return out;
}
