// `npm run bench` group "data": the input pipeline's images/s on a folder of JPEGs the bench makes
// itself (seeded, ImageNet-like sizes and file sizes): the paper's training augmentation at 224
// (S ∈ [256, 512], crop, flip, PCA colour shift, mean) with 1 worker, 2 and every core, through
// the trainer's own look-ahead loop and saturated; validation centre crops; decoding alone. The
// detail column gives each rate against 1 worker's, and the trainer loop's share of the saturated rate.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { BatchMaker } from '../src/node/data/batch_maker.js';
import { epochOrder } from '../src/node/data/batches.js';
import { Prefetch } from '../src/data/prefetch.js';
import { decodeImage, readImage } from '../src/node/data/decode.js';
import { ImageFolderDataset } from '../src/node/data/image_folder.js';
import type { AugmentOptions } from '../src/data/transforms.js';
import { IMAGENET_MEAN } from '../src/node/eval/load.js';
import { Rng } from '../src/rng.js';
import { LOOKAHEAD } from '../src/node/train/trainer.js';

export interface DataResult {
  group: string;
  name: string;
  ms: number;
  imagesPerSec: number;
  compileMs: number;
}

/** ImageNet's RGB statistics: torchvision's mean, AlexNet's PCA eigenvalues and eigenvectors. */
const IMAGENET_STATS = {
  mean: IMAGENET_MEAN,
  eigenvalues: [0.2175, 0.0188, 0.0045],
  eigenvectors: [
    [-0.5675, -0.5808, -0.5836],
    [0.7192, -0.0045, -0.6948],
    [0.4009, -0.814, 0.4203],
  ],
};

/**
 * A folder of `n` JPEGs in 8 classes, made once per version in the temp folder: photo-like sizes
 * (500×375, 500×333, 375×500, 500×500 …), smooth colour fields plus grain, quality 90 (~70–110 KB).
 */
async function jpegFolder(n: number): Promise<string> {
  const root = join(tmpdir(), `vggpu-bench-jpegs-v1-${n}`);
  if (existsSync(join(root, 'done'))) return root;
  const rng = new Rng(2024);
  const sizes: Array<[number, number]> = [
    [500, 375],
    [500, 333],
    [375, 500],
    [500, 500],
    [480, 360],
    [333, 500],
  ];
  for (let i = 0; i < n; i++) {
    const [w, h] = sizes[rng.int(sizes.length)];
    const small = Buffer.from(Array.from({ length: 12 * 9 * 3 }, () => rng.int(256)));
    const base = await sharp(small, { raw: { width: 12, height: 9, channels: 3 } })
      .resize(w, h, { kernel: 'cubic' })
      .raw()
      .toBuffer();
    for (let k = 0; k < base.length; k++) base[k] = Math.max(0, Math.min(255, base[k] + rng.int(25) - 12));
    const dir = join(root, `class${i % 8}`);
    mkdirSync(dir, { recursive: true });
    await sharp(base, { raw: { width: w, height: h, channels: 3 } })
      .jpeg({ quality: 90 })
      .toFile(join(dir, `${i}.jpg`));
  }
  writeFileSync(join(root, 'done'), '');
  return root;
}

/** Batches requested ahead for the pipeline's own rate (the trainer asks for LOOKAHEAD). */
const SATURATED = 4;

/** How much of the bench runs: everything, a quick subset, or one small case per group (smoke). */
export type BenchSize = 'full' | 'quick' | 'smoke';

export async function benchData(
  selected: (group: string, name: string) => boolean,
  size: BenchSize,
): Promise<DataResult[]> {
  if (!['train', 'validation', 'decode'].some((k) => selected('data', k))) return [];
  const quick = size !== 'full';
  const n = size === 'smoke' ? 64 : quick ? 96 : 256;
  const ds = new ImageFolderDataset(await jpegFolder(n), 'train');
  const aug: AugmentOptions = {
    crop: 224,
    scale: [256, 512],
    flip: true,
    colorShift: 0.1,
    subtractMean: true,
    stats: IMAGENET_STATS,
  };
  const batch = 32;
  // Several epochs of the folder, so that filling the pipeline (the first batch) weighs little.
  const perEpoch = Math.floor(ds.length / batch);
  const steps = perEpoch * (quick ? 1 : 3);
  const results: DataResult[] = [];
  /** Records a case; `detail` says what its rate means beside the others'. */
  const record = (
    name: string,
    images: number,
    ms: number,
    detail: (rate: number) => string | undefined = () => undefined,
  ) => {
    const imagesPerSec = (images * 1000) / ms;
    const r = { group: 'data', name, ms: ms / images, imagesPerSec, compileMs: 0, detail: detail(imagesPerSec) };
    results.push(r);
    process.stderr.write(
      `  data           ${name.padEnd(56)} ${imagesPerSec.toFixed(1).padStart(8)} img/s${r.detail ? `  (${r.detail})` : ''}\n`,
    );
    return imagesPerSec;
  };
  // What more workers give, against one (the pipeline's scaling), and what the trainer's loop
  // gets of the pipeline's rate (its look-ahead's bubbles).
  const oneWorker: Record<string, number> = {};
  const scaling = (kind: string, workers: number, rate: number) => {
    if (workers === 1) oneWorker[kind] = rate;
    return workers > 1 && oneWorker[kind] ? `×${(rate / oneWorker[kind]).toFixed(2)} of 1 worker` : undefined;
  };
  const cores = availableParallelism();
  for (const workers of size === 'smoke' ? [2] : [...new Set([1, 2, cores].filter((w) => w <= Math.max(2, cores)))]) {
    // Each epoch's order as first asked for (the warm-up may ask past the timed epochs).
    const orders = new Map<number, Int32Array>();
    const order = (e: number) => orders.get(e) ?? orders.set(e, epochOrder(ds.length, 1, e)).get(e)!;
    const maker = new BatchMaker(ds, aug, 1, workers);
    const epoch = (k: number) => Math.floor(k / perEpoch);
    const part = (k: number) => order(epoch(k)).subarray((k % perEpoch) * batch, ((k % perEpoch) + 1) * batch);
    // Workers started, and each through a few parts (their JIT warm), before anything is timed.
    await Promise.all([0, 1, 2, 3].map((k) => maker.make(part(k), 0)));
    // Always more work queued than the workers can take: the pipeline's own rate.
    const saturated = `train 224 S∈[256,512] b${batch}, ${workers} worker${workers > 1 ? 's' : ''}, ${SATURATED} batches ahead`;
    let pipelineRate: number | null = null;
    if (selected('data', saturated)) {
      const batches = new Prefetch((k) => maker.make(part(k), epoch(k)), 0, steps, SATURATED);
      const t0 = performance.now();
      for (let k = 0; k < steps; k++) maker.recycle(await batches.next());
      pipelineRate = record(saturated, steps * batch, performance.now() - t0, (rate) =>
        scaling('saturated', workers, rate),
      );
    }
    const loop = `train 224 S∈[256,512] b${batch}, ${workers} worker${workers > 1 ? 's' : ''}, trainer loop`;
    if (selected('data', loop)) {
      // The trainer's loop with an instant consumer: what a fast GPU would get.
      const batches = new Prefetch((k) => maker.make(part(k), epoch(k)), 0, steps, LOOKAHEAD);
      const t0 = performance.now();
      for (let k = 0; k < steps; k++) maker.recycle(await batches.next()); // as the trainer does
      const share = (rate: number) =>
        pipelineRate ? `${((100 * rate) / pipelineRate).toFixed(0)}% of ${SATURATED} ahead` : undefined;
      record(
        loop,
        steps * batch,
        performance.now() - t0,
        (rate) => [scaling('loop', workers, rate), share(rate)].filter(Boolean).join('; ') || undefined,
      );
    }
    const val = `validation centre 224 at Q=384, ${workers} worker${workers > 1 ? 's' : ''}`;
    if (selected('data', val)) {
      // As the trainer's validation asks for them (evaluate.ts): batches of 64, one ahead.
      const valSteps = (steps * batch) / 64;
      const crops = (k: number) => Array.from({ length: 64 }, (_, j) => (k * 64 + j) % ds.length);
      const batches = new Prefetch(
        (k) => maker.centre(crops(k), 384, 224, { mean: IMAGENET_STATS.mean }),
        0,
        valSteps,
        1,
      );
      const t0 = performance.now();
      for (let k = 0; k < valSteps; k++) maker.recycle(await batches.next());
      record(val, valSteps * 64, performance.now() - t0, (rate) => scaling('val', workers, rate));
    }
    await maker.close();
  }
  const files = Array.from({ length: ds.length }, (_, i) => ds.file(i));
  if (selected('data', 'decode')) {
    let t0 = performance.now();
    for (const f of files) await readImage(f);
    record('decode only, libvips (sharp), 1 thread', files.length, performance.now() - t0);
    t0 = performance.now();
    const some = files.slice(0, size === 'smoke' ? 4 : 48);
    for (const f of some) decodeImage(f);
    record('decode only, jpeg-js (the fallback), 1 thread', some.length, performance.now() - t0);
  }
  return results;
}
