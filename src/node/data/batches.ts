// The input pipeline's work: which images a training batch holds (a seeded shuffle per epoch) and
// their pixels — decoded, rescaled, cropped and normalised. Every image's randomness comes from
// (seed, epoch, index), so a batch is the same whichever worker makes which part of it
// (batch_maker.ts), and a resumed run sees the same data as an uninterrupted one.
import { Rng } from '../../rng.js';
import type { ImageDataset, RawImage } from '../../data/dataset.js';
import { Prefetch } from '../../data/prefetch.js';
import {
  type AugmentOptions,
  centreOffsets,
  centreSample,
  cropCorner,
  drawScale,
  finishTrainSample,
  type InputNorm,
  normalisedCrop,
  trainSampleAt,
} from '../../data/transforms.js';

/** One batch: images [B, C, H, W] and their labels. */
export interface Batch {
  /** [B, C, crop, crop]. */
  x: Float32Array;
  labels: Int32Array;
}

/** A batch's pixels, in an array of their own. */
const newPixels = (length: number) => new Float32Array(length);

/** Mixes integers into a 32-bit seed (splitmix-style). */
export function mixSeed(...parts: number[]): number {
  let h = 0x811c9dc5;
  for (const p of parts) {
    h = Math.imul(h ^ (p >>> 0), 0x01000193) >>> 0;
    h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) >>> 0;
    h = (h ^ (h >>> 12)) >>> 0;
  }
  return h >>> 0;
}

/** The order in which epoch `epoch` visits the training images. */
export function epochOrder(length: number, seed: number, epoch: number): Int32Array {
  const order = Int32Array.from({ length }, (_, i) => i);
  const rng = new Rng(mixSeed(seed, epoch, 0xe90c));
  for (let i = length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  return order;
}

/**
 * Builds one augmented batch; image i's randomness depends only on (seed, epoch, image index).
 * `decodeAhead` images are decoded (on libuv's threads) while this thread finishes the one before;
 * the pixels go to `out` (a new array by default).
 */
export async function makeBatch(
  ds: ImageDataset,
  indices: ArrayLike<number>,
  aug: AugmentOptions,
  seed: number,
  epoch: number,
  decodeAhead = 1,
  out = newPixels,
): Promise<Batch> {
  const per = ds.channels * aug.crop * aug.crop;
  const x = out(indices.length * per);
  const labels = new Int32Array(indices.length);
  const load = ds.load?.bind(ds);
  const images = new Prefetch(
    async (b) => {
      const i = indices[b];
      const rng = new Rng(mixSeed(seed, epoch, i));
      const s = drawScale(aug, rng);
      // The decoder rescales to S and computes only the crop, placed by the same draws.
      const window = (w: number, h: number) => {
        const [x0, y0] = cropCorner(w, h, aug.crop, rng);
        return { x0, y0, width: aug.crop, height: aug.crop };
      };
      return { crop: load ? await load(i, s, window) : null, rng, s };
    },
    0,
    indices.length,
    decodeAhead,
  );
  for (let b = 0; b < indices.length; b++) {
    const { crop, rng, s } = await images.next();
    if (crop) finishTrainSample(crop, aug.crop, aug.crop, 0, 0, aug, rng, x, b * per);
    else trainSampleAt(ds.image(indices[b]), s, aug, rng, x, b * per);
    labels[b] = ds.label(indices[b]);
  }
  return { x, labels };
}

/** Centre crops at test scale q (single-scale validation), normalised as `norm` says. */
export async function makeCentreBatch(
  ds: ImageDataset,
  indices: ArrayLike<number>,
  q: number,
  crop: number,
  norm: InputNorm,
  decodeAhead = 1,
  out = newPixels,
): Promise<Batch> {
  const per = ds.channels * crop * crop;
  const x = out(indices.length * per);
  const labels = new Int32Array(indices.length);
  const cropped = !!ds.load && (norm.sampling ?? 'vggpu') === 'vggpu';
  const window = (w: number, h: number) => {
    const [x0, y0] = centreOffsets(w, h, crop);
    return { x0, y0, width: crop, height: crop };
  };
  const images = new Prefetch(
    async (b) => (cropped ? ds.load!(indices[b], q, window) : evalImage(ds, indices[b], q, norm)),
    0,
    indices.length,
    decodeAhead,
  );
  for (let b = 0; b < indices.length; b++) {
    const img = await images.next();
    if (cropped) normalisedCrop(img, norm, x, b * per);
    else centreSample(img, q, crop, norm, x, b * per);
    labels[b] = ds.label(indices[b]);
  }
  return { x, labels };
}

/**
 * An evaluation image for test scale q: rescaled by the pipeline's decoder for our own sampling
 * (as training rescaled it); as stored for torchvision's (whose resampling transforms.ts does), for
 * in-memory datasets (rescaled while sampling), and where q is null.
 */
export function evalImage(
  ds: ImageDataset,
  i: number,
  q: number | null,
  norm: InputNorm,
): Promise<RawImage> | RawImage {
  if (!ds.load) return ds.image(i);
  return ds.load(i, q !== null && (norm.sampling ?? 'vggpu') === 'vggpu' ? q : undefined);
}

/**
 * What a worker is asked to make, of dataset `set` of the pipeline's: a training batch (with the
 * augmentation, which the dataset's statistics complete once they are known), a validation batch,
 * or evaluation images.
 */
export type Job =
  | { kind: 'train'; set: number; indices: number[]; epoch: number; aug: AugmentOptions }
  | { kind: 'centre'; set: number; indices: number[]; q: number; crop: number; norm: InputNorm }
  | { kind: 'images'; set: number; indices: number[]; q: number | null; norm: InputNorm };

export type JobResult = Batch | RawImage[];

/** Runs a job here (0 workers) or in a worker process, decoding `decodeAhead` images ahead; a batch's pixels go to `out`. */
export async function runJob(
  sets: ImageDataset[],
  seed: number,
  job: Job,
  decodeAhead: number,
  out = newPixels,
): Promise<JobResult> {
  const ds = sets[job.set];
  if (job.kind === 'train') return makeBatch(ds, job.indices, job.aug, seed, job.epoch, decodeAhead, out);
  if (job.kind === 'centre') return makeCentreBatch(ds, job.indices, job.q, job.crop, job.norm, decodeAhead, out);
  const images = new Prefetch(
    async (b) => evalImage(ds, job.indices[b], job.q, job.norm),
    0,
    job.indices.length,
    decodeAhead,
  );
  const decoded: RawImage[] = [];
  for (let b = 0; b < job.indices.length; b++) decoded.push(await images.next());
  return decoded;
}
