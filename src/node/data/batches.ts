// The input pipeline: which images a training batch holds (a seeded shuffle per epoch) and their
// pixels — decoded, rescaled, cropped and normalised in worker threads, each batch split across all
// of them, so N workers make a batch ~N× as fast and the GPU is not kept waiting. Every image's
// randomness comes from (seed, epoch, index), so a batch is the same whichever worker makes which
// part of it, and a resumed run sees the same data as an uninterrupted one. Validation batches and
// evaluation images come through the same workers.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { Rng } from '../../rng.js';
import type { DatasetSpec, ImageDataset, RawImage } from '../../data/dataset.js';
import { Prefetch } from '../../data/prefetch.js';
import { type AugmentOptions, centreOffsets, centreSample, cropCorner, drawScale, finishTrainSample, type InputNorm, normalisedCrop, trainSampleAt } from '../../data/transforms.js';

/** One batch: images [B, C, H, W] and their labels. */
export interface Batch {
  /** [B, C, crop, crop]. */
  x: Float32Array;
  labels: Int32Array;
}

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

/** Builds one augmented batch; image i's randomness depends only on (seed, epoch, image index). */
export async function makeBatch(ds: ImageDataset, indices: ArrayLike<number>, aug: AugmentOptions, seed: number, epoch: number): Promise<Batch> {
  const per = ds.channels * aug.crop * aug.crop;
  const x = new Float32Array(indices.length * per);
  const labels = new Int32Array(indices.length);
  const load = ds.load?.bind(ds);
  // The decoder works on image b+1 (on libuv's threads) while this thread finishes image b.
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
    1,
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
export async function makeCentreBatch(ds: ImageDataset, indices: ArrayLike<number>, q: number, crop: number, norm: InputNorm): Promise<Batch> {
  const per = ds.channels * crop * crop;
  const x = new Float32Array(indices.length * per);
  const labels = new Int32Array(indices.length);
  const cropped = !!ds.load && (norm.sampling ?? 'vggpu') === 'vggpu';
  const window = (w: number, h: number) => {
    const [x0, y0] = centreOffsets(w, h, crop);
    return { x0, y0, width: crop, height: crop };
  };
  const images = new Prefetch(async (b) => (cropped ? ds.load!(indices[b], q, window) : evalImage(ds, indices[b], q, norm)), 0, indices.length, 1);
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
export function evalImage(ds: ImageDataset, i: number, q: number | null, norm: InputNorm): Promise<RawImage> | RawImage {
  if (!ds.load) return ds.image(i);
  return ds.load(i, q !== null && (norm.sampling ?? 'vggpu') === 'vggpu' ? q : undefined);
}

/** What a worker is asked to make: a training batch, a validation batch, or evaluation images. */
export type Job =
  | { kind: 'train'; indices: number[]; epoch: number }
  | { kind: 'centre'; indices: number[]; q: number; crop: number; norm: InputNorm }
  | { kind: 'images'; indices: number[]; q: number | null; norm: InputNorm };

type JobResult = Batch | RawImage[];

/** Runs a job here (0 workers) or in a worker thread. */
export async function runJob(ds: ImageDataset, aug: AugmentOptions | null, seed: number, job: Job): Promise<JobResult> {
  if (job.kind === 'train') {
    if (!aug) throw new Error('input pipeline: training batches need augmentation options');
    return makeBatch(ds, job.indices, aug, seed, job.epoch);
  }
  if (job.kind === 'centre') return makeCentreBatch(ds, job.indices, job.q, job.crop, job.norm);
  return Promise.all(job.indices.map((i) => evalImage(ds, i, job.q, job.norm)));
}

/**
 * Starts the worker script beside this module: the .js file when compiled; from source (tsx), a
 * small bootstrap that registers tsx's loader first, since Node 20 resolves a worker's entry
 * before --import hooks apply.
 */
function startWorker(workerData: unknown): Worker {
  const js = new URL('./batch_worker.js', import.meta.url);
  if (existsSync(fileURLToPath(js))) return new Worker(js, { workerData });
  const ts = new URL('./batch_worker.ts', import.meta.url).href;
  const boot = `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(ts)}); })`;
  return new Worker(boot, { eval: true, workerData });
}

interface Pending {
  job: Job;
  resolve: (r: JobResult) => void;
  reject: (e: Error) => void;
}

/** Splits `indices` into at most `parts` contiguous runs of near-equal length. */
function shards(indices: ArrayLike<number>, parts: number): number[][] {
  const n = indices.length;
  const k = Math.max(1, Math.min(parts, n));
  return Array.from({ length: k }, (_, p) => Array.from(Array.prototype.slice.call(indices, Math.floor((p * n) / k), Math.floor(((p + 1) * n) / k)) as number[]));
}

/** Concatenates shard batches in order. */
function joinBatches(parts: Batch[]): Batch {
  if (parts.length === 1) return parts[0];
  const x = new Float32Array(parts.reduce((a, p) => a + p.x.length, 0));
  const labels = new Int32Array(parts.reduce((a, p) => a + p.labels.length, 0));
  let xo = 0;
  let lo = 0;
  for (const p of parts) {
    x.set(p.x, xo);
    labels.set(p.labels, lo);
    xo += p.x.length;
    lo += p.labels.length;
  }
  return { x, labels };
}

/**
 * Makes batches in `workers` threads (0: on the calling thread), each request split across all of
 * them. A worker that fails (an unreadable file: the error names it) fails the requests it was
 * part of; a worker that dies fails every pending and later request, never leaving one waiting.
 */
export class BatchMaker {
  private pool: Worker[] = [];
  private idle: Worker[] = [];
  private queue: Pending[] = [];
  private running = new Map<Worker, Pending>();
  private broken: Error | null = null;

  constructor(
    private ds: ImageDataset,
    /** Training augmentation (null for a pipeline that serves evaluation only). */
    private aug: AugmentOptions | null,
    private seed: number,
    workers: number,
  ) {
    for (let i = 0; i < workers; i++) {
      const w = startWorker({ spec: ds.spec as DatasetSpec, aug, seed });
      w.on('message', (msg: { result: JobResult } | { error: string }) => {
        const p = this.running.get(w);
        if (!p) return; // failed or closed meanwhile: the request was rejected already
        this.running.delete(w);
        if ('error' in msg) p.reject(new Error(msg.error));
        else p.resolve(msg.result);
        this.idle.push(w);
        this.pump();
      });
      const die = (e: unknown) => this.fail(new Error(`input pipeline: a worker thread stopped (${e instanceof Error ? e.message : String(e)})`));
      w.on('error', die);
      w.on('exit', (code) => code !== 0 && this.pool.length && die(new Error(`exit code ${code}`)));
      this.pool.push(w);
      this.idle.push(w);
    }
  }

  /** The training batch of these images (positions in the dataset) for `epoch`. */
  make(indices: ArrayLike<number>, epoch: number): Promise<Batch> {
    return this.split(indices, (part) => ({ kind: 'train', indices: part, epoch })).then((r) => joinBatches(r as Batch[]));
  }

  /** Centre crops of these images at test scale q (validation). */
  centre(indices: ArrayLike<number>, q: number, crop: number, norm: InputNorm): Promise<Batch> {
    return this.split(indices, (part) => ({ kind: 'centre', indices: part, q, crop, norm })).then((r) => joinBatches(r as Batch[]));
  }

  /** These images decoded and, for our own sampling, rescaled to q (the test protocols); as stored when q is null. */
  images(indices: ArrayLike<number>, q: number | null, norm: InputNorm = { mean: null }): Promise<RawImage[]> {
    return this.split(indices, (part) => ({ kind: 'images', indices: part, q, norm })).then((r) => (r as RawImage[][]).flat());
  }

  private split(indices: ArrayLike<number>, job: (part: number[]) => Job): Promise<JobResult[]> {
    if (this.pool.length === 0 && !this.broken) return runJob(this.ds, this.aug, this.seed, job(Array.from(indices))).then((r) => [r]);
    return Promise.all(shards(indices, this.pool.length).map((part) => this.submit(job(part))));
  }

  private submit(job: Job): Promise<JobResult> {
    if (this.broken) return Promise.reject(this.broken);
    return new Promise((resolve, reject) => {
      this.queue.push({ job, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.idle.length && this.queue.length) {
      const w = this.idle.pop()!;
      const p = this.queue.shift()!;
      this.running.set(w, p);
      w.postMessage(p.job);
    }
  }

  private fail(e: Error): void {
    this.broken ??= e;
    for (const p of [...this.queue, ...this.running.values()]) p.reject(this.broken);
    this.queue = [];
    this.running.clear();
  }

  /** Stops the worker threads; requests still pending fail. */
  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = [];
    this.idle = [];
    this.fail(new Error('input pipeline closed'));
    await Promise.all(pool.map((w) => w.terminate()));
  }
}
