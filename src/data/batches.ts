// Training batches: which images (a seeded shuffle per epoch) and their augmented pixels, prepared
// in worker threads so decoding and augmentation overlap the GPU's work. Every image's randomness
// comes from (seed, epoch, index), so a batch is the same whichever worker makes it, and a resumed
// run sees the same data as an uninterrupted one.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { Rng } from '../rng.js';
import type { DatasetSpec, ImageDataset } from './dataset.js';
import { type AugmentOptions, trainSample } from './transforms.js';

/** One training batch: augmented images and their labels. */
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
export function makeBatch(ds: ImageDataset, indices: ArrayLike<number>, aug: AugmentOptions, seed: number, epoch: number): Batch {
  const C = ds.channels;
  const per = C * aug.crop * aug.crop;
  const x = new Float32Array(indices.length * per);
  const labels = new Int32Array(indices.length);
  for (let b = 0; b < indices.length; b++) {
    const i = indices[b];
    trainSample(ds.image(i), aug, new Rng(mixSeed(seed, epoch, i)), x, b * per);
    labels[b] = ds.label(i);
  }
  return { x, labels };
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

interface Job {
  indices: number[];
  epoch: number;
  resolve: (b: Batch) => void;
  reject: (e: Error) => void;
}

/** Makes batches in `workers` threads (0: on the calling thread, when asked). */
export class BatchMaker {
  private pool: Worker[] = [];
  private idle: Worker[] = [];
  private queue: Job[] = [];
  private running = new Map<Worker, Job>();

  constructor(
    private ds: ImageDataset,
    private aug: AugmentOptions,
    private seed: number,
    workers: number,
  ) {
    for (let i = 0; i < workers; i++) {
      const w = startWorker({ spec: ds.spec as DatasetSpec, aug, seed });
      w.on('message', (msg: { x: Float32Array; labels: Int32Array } | { error: string }) => {
        const job = this.running.get(w)!;
        this.running.delete(w);
        if ('error' in msg) job.reject(new Error(msg.error));
        else job.resolve({ x: msg.x, labels: msg.labels });
        this.idle.push(w);
        this.pump();
      });
      w.on('error', (e) => {
        const job = this.running.get(w);
        this.running.delete(w);
        job?.reject(e);
      });
      this.pool.push(w);
      this.idle.push(w);
    }
  }

  /** Makes the batch of these images (positions in the dataset) for `epoch`. */
  make(indices: ArrayLike<number>, epoch: number): Promise<Batch> {
    if (this.pool.length === 0) {
      try {
        return Promise.resolve(makeBatch(this.ds, indices, this.aug, this.seed, epoch));
      } catch (e) {
        return Promise.reject(e);
      }
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ indices: Array.from(indices), epoch, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.idle.length && this.queue.length) {
      const w = this.idle.pop()!;
      const job = this.queue.shift()!;
      this.running.set(w, job);
      w.postMessage({ indices: job.indices, epoch: job.epoch });
    }
  }

  /** Stops the worker threads. */
  async close(): Promise<void> {
    await Promise.all(this.pool.map((w) => w.terminate()));
    this.pool = [];
    this.idle = [];
  }
}
