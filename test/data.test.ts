import { mkdirSync, mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BatchMaker } from '../src/node/data/batch_maker.js';
import { type Batch, makeBatch, epochOrder, mixSeed } from '../src/node/data/batches.js';
import type { RawImage } from '../src/data/dataset.js';
import { decodeImage, readImage } from '../src/node/data/decode.js';
import { resizeAntialiased, resizeWindow } from '../src/data/resample.js';
import { CifarDataset } from '../src/node/data/cifar.js';
import { IdxDataset } from '../src/node/data/idx.js';
import { ImageFolderDataset } from '../src/node/data/image_folder.js';
import { openData } from '../src/node/data/open.js';
import {
  centreSample,
  channelStats,
  drawScale,
  fullSample,
  rescaledSize,
  sampleWindow,
  symmetricEigen,
  trainSample,
  type AugmentOptions,
} from '../src/data/transforms.js';
import { Rng } from '../src/rng.js';
import { writeCifarLike, writeFashionLike, writeImageFolder, idxBytes } from './fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'vggpu-data-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('dataset readers', () => {
  it('read Fashion-MNIST IDX files, gzipped or not, and say what is wrong with broken ones', () => {
    writeFashionLike(join(dir, 'fm'), 20, 7);
    writeFashionLike(join(dir, 'fm-raw'), 5, 3, 9, false);
    const ds = new IdxDataset(join(dir, 'fm'), 'train');
    expect(ds.length).toBe(20);
    expect(ds.image(3)).toMatchObject({ width: 28, height: 28, channels: 1 });
    expect(ds.label(3)).toBeGreaterThanOrEqual(0);
    expect(new IdxDataset(join(dir, 'fm-raw'), 'test').length).toBe(3);
    // Truncated image file: the error names the file and the mismatch.
    const bad = join(dir, 'fm-bad');
    writeFashionLike(bad, 5, 3, 1, false);
    const f = join(bad, 'train-images-idx3-ubyte');
    writeFileSync(f, readFileSync(f).subarray(0, 1000));
    expect(() => new IdxDataset(bad, 'train')).toThrowError(
      new RegExp(`${f}: not a valid IDX file: header promises 3920 values of \\[5,28,28\\] but the file holds 984`),
    );
    writeFileSync(f, Buffer.from([1, 2, 3, 4, 5, 6]));
    expect(() => new IdxDataset(bad, 'train')).toThrowError(/bad magic number/);
    writeFileSync(join(bad, 'train-images-idx3-ubyte'), idxBytes([4, 28, 28], new Uint8Array(4 * 784)));
    expect(() => new IdxDataset(bad, 'train')).toThrowError(/5 labels for 4 images/);
    expect(() => new IdxDataset(join(dir, 'nowhere'), 'train')).toThrowError(/missing .*npm run setup.*--data/);
  });

  it('read CIFAR-10 binary batches as RGB, and reject truncated files', () => {
    writeCifarLike(join(dir, 'cifar'), 4);
    const ds = new CifarDataset(join(dir, 'cifar'), 'train');
    expect(ds.length).toBe(20);
    const raw = readFileSync(join(dir, 'cifar', 'data_batch_1.bin'));
    const img = ds.image(1);
    // Planar R, G, B in the file → interleaved pixels.
    expect([img.data[0], img.data[1], img.data[2]]).toEqual([
      raw[3073 + 1],
      raw[3073 + 1 + 1024],
      raw[3073 + 1 + 2048],
    ]);
    expect(ds.label(1)).toBe(raw[3073]);
    writeFileSync(join(dir, 'cifar', 'test_batch.bin'), raw.subarray(0, 5000));
    expect(() => new CifarDataset(join(dir, 'cifar'), 'test')).toThrowError(
      /test_batch.bin: 5000 bytes is not a whole number of 3073-byte records/,
    );
  });

  it('read an image folder of PNG and JPEG files of any size, and name empty folders and broken images', () => {
    const root = join(dir, 'folder');
    writeImageFolder(join(root, 'train'), ['cat', 'dog', 'emu'], 3);
    writeImageFolder(join(root, 'val'), ['cat', 'dog', 'emu'], 2);
    const data = openData(`folder:${root}`, 0.1, 1);
    expect(data.train.length).toBe(9);
    expect(data.val.length).toBe(6);
    expect(data.train.classNames).toEqual(['cat', 'dog', 'emu']);
    const img = data.train.image(4);
    expect(img.channels).toBe(3);
    expect(img.width).toBeGreaterThanOrEqual(40);
    // Without a val folder, a seeded fraction is held out.
    const solo = join(dir, 'solo');
    writeImageFolder(solo, ['a', 'b'], 5);
    const held = openData(solo, 0.2, 1);
    expect([held.train.length, held.val.length]).toEqual([8, 2]);
    mkdirSync(join(solo, 'c'));
    expect(() => new ImageFolderDataset(solo, 'train')).toThrowError(/solo\/c: is an empty class folder/);
    rmSync(join(solo, 'c'), { recursive: true });
    writeFileSync(join(solo, 'a', 'broken.png'), Buffer.from('not a png'));
    const ds = new ImageFolderDataset(solo, 'train');
    const i = Array.from({ length: ds.length }, (_, k) => k).find((k) => ds.file(k).endsWith('broken.png'))!;
    expect(() => ds.image(i)).toThrowError(/broken.png: unreadable PNG image/);
    writeImageFolder(join(root, 'val2'), ['cat', 'dog', 'yak'], 1);
    expect(() => new ImageFolderDataset(join(root, 'val2'), 'val', ['cat', 'dog', 'emu'])).toThrowError(
      /class folders differ from the training set's \(missing: emu; extra: yak\)/,
    );
  });
});

describe('augmentation and preprocessing', () => {
  const img = { width: 28, height: 28, channels: 1, data: Uint8Array.from({ length: 784 }, (_, i) => i % 256) };
  const stats = { mean: [0.5], eigenvalues: [0.3], eigenvectors: [[1]] };
  const aug: AugmentOptions = { crop: 32, scale: [32, 40], flip: true, colorShift: 0.1, subtractMean: true, stats };

  it('rescales isotropically so the smallest side is S', () => {
    expect(rescaledSize({ width: 28, height: 28 }, 36)).toEqual([36, 36]);
    expect(rescaledSize({ width: 500, height: 375 }, 256)).toEqual([341, 256]);
    expect(rescaledSize({ width: 300, height: 600 }, 256)).toEqual([256, 512]);
  });

  it('crops the training size with values in range, and a fixed seed fixes the result', () => {
    const out = (seed: number) => {
      const o = new Float32Array(32 * 32);
      trainSample(img, aug, new Rng(seed), o, 0);
      return o;
    };
    const a = out(5);
    expect(a.length).toBe(1024);
    // [0, 1] pixels minus the mean 0.5, plus a small brightness shift.
    expect(Math.min(...a)).toBeGreaterThanOrEqual(-0.5 - 0.2);
    expect(Math.max(...a)).toBeLessThanOrEqual(0.5 + 0.2);
    expect(Array.from(out(5))).toEqual(Array.from(a));
    expect(Array.from(out(6))).not.toEqual(Array.from(a));
  });

  it('flips horizontally and subtracts the mean exactly', () => {
    const ramp = { width: 4, height: 4, channels: 1, data: Uint8Array.from({ length: 16 }, (_, i) => (i % 4) * 50) };
    const plain = new Float32Array(16);
    const flipped = new Float32Array(16);
    sampleWindow(ramp, 4, 4, 0, 0, 4, 4, false, plain, 0);
    sampleWindow(ramp, 4, 4, 0, 0, 4, 4, true, flipped, 0);
    expect(Array.from(plain.slice(0, 4))).toEqual([0, 50, 100, 150].map((v) => Math.fround(v / 255)));
    expect(Array.from(flipped.slice(0, 4))).toEqual([150, 100, 50, 0].map((v) => Math.fround(v / 255)));
    const c = new Float32Array(16);
    centreSample(ramp, 4, 4, { mean: [0.25] }, c, 0);
    expect(c[1]).toBeCloseTo(50 / 255 - 0.25, 6);
    const full = fullSample({ width: 8, height: 4, channels: 1, data: new Uint8Array(32).fill(255) }, 6, { mean: [1] });
    expect([full.width, full.height]).toEqual([12, 6]);
    expect(Math.max(...full.data.map(Math.abs))).toBeLessThan(1e-6);
  });

  it('shifts colour along the principal components of the training set', () => {
    const rgb = { width: 2, height: 1, channels: 3, data: Uint8Array.from([10, 20, 30, 200, 210, 220]) };
    const o = {
      ...aug,
      crop: 1,
      scale: [1, 1] as [number, number],
      flip: false,
      subtractMean: false,
      stats: {
        mean: [0, 0, 0],
        eigenvalues: [1, 0, 0],
        eigenvectors: [
          [1, 1, 1],
          [1, -1, 0],
          [0, 0, 1],
        ],
      },
    };
    const out = new Float32Array(3);
    trainSample(rgb, o, new Rng(3), out, 0);
    // Only the first component has weight: the same shift on all three channels.
    const base = new Float32Array(3);
    trainSample(rgb, { ...o, colorShift: 0 }, new Rng(3), base, 0);
    const d = Array.from(out, (v, i) => v - base[i]);
    expect(d[0]).not.toBe(0);
    expect(d[1]).toBeCloseTo(d[0], 6);
    expect(d[2]).toBeCloseTo(d[0], 6);
  });

  it('computes channel statistics and eigen-decompositions', async () => {
    const { values, vectors } = symmetricEigen([
      [2, 1, 0],
      [1, 2, 0],
      [0, 0, 5],
    ]);
    expect([...values].sort((a, b) => a - b).map((v) => Number(v.toFixed(6)))).toEqual([1, 3, 5]);
    const i3 = values.findIndex((v) => Math.abs(v - 3) < 1e-6);
    expect(Math.abs(vectors[i3][0])).toBeCloseTo(Math.SQRT1_2, 6);
    writeFashionLike(join(dir, 'fm-stats'), 10, 2);
    const s = await channelStats(new IdxDataset(join(dir, 'fm-stats'), 'train'), 100, new Rng(1));
    expect(s.mean[0]).toBeGreaterThan(0);
    expect(s.mean[0]).toBeLessThan(1);
    expect(s.eigenvalues[0]).toBeGreaterThan(0);
  });

  it('makes the same batches in a worker process as on the main thread', async () => {
    writeFashionLike(join(dir, 'fm-w'), 40, 4);
    const ds = new IdxDataset(join(dir, 'fm-w'), 'train');
    const order = epochOrder(ds.length, 3, 1);
    expect([...order].sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => i));
    expect(Array.from(epochOrder(ds.length, 3, 1))).toEqual(Array.from(order));
    expect(Array.from(epochOrder(ds.length, 3, 2))).not.toEqual(Array.from(order));
    const local = await makeBatch(ds, order.subarray(0, 8), aug, 3, 1);
    const maker = new BatchMaker(ds, aug, 3, 1);
    const remote = await maker.make(order.subarray(0, 8), 1);
    await maker.close();
    expect(remote.x.length).toBe(8 * 32 * 32);
    expect(Array.from(remote.x)).toEqual(Array.from(local.x));
    expect(Array.from(remote.labels)).toEqual(Array.from(local.labels));
  });
});

describe('input pipeline on image files', () => {
  const root = join(dir, 'pipe');
  const stats = {
    mean: [0.4, 0.5, 0.6],
    eigenvalues: [0.2, 0.05, 0.01],
    eigenvectors: [
      [0.58, 0.58, 0.58],
      [0.7, 0, -0.7],
      [0.4, -0.8, 0.4],
    ],
  };
  const aug: AugmentOptions = { crop: 32, scale: [36, 48], flip: true, colorShift: 0.1, subtractMean: true, stats };

  it('makes the same bytes with 0, 1, 2 and 3 workers: training batches, validation crops, evaluation images', async () => {
    writeImageFolder(root, ['ant', 'bee', 'cow'], 5);
    const ds = new ImageFolderDataset(root, 'train');
    const order = epochOrder(ds.length, 9, 2);
    const norm = { mean: [0.5, 0.5, 0.5], std: [0.2, 0.3, 0.4] };
    const results: Array<{ train: Batch; centre: Batch; images: RawImage[] }> = [];
    for (const workers of [0, 1, 2, 3]) {
      const maker = new BatchMaker(ds, aug, 9, workers);
      const train = await maker.make(order.subarray(0, 11), 2);
      const centre = await maker.centre([0, 4, 7, 14], 40, 32, norm);
      const images = await maker.images([1, 2, 3], 44, norm);
      await maker.close();
      results.push({ train, centre, images });
    }
    const bytes = (r: (typeof results)[number]) => [
      Buffer.from(r.train.x.buffer),
      Buffer.from(r.train.labels.buffer),
      Buffer.from(r.centre.x.buffer),
      ...r.images.map((i) => Buffer.from(i.data)),
    ];
    for (const r of results.slice(1)) expect(bytes(r).every((b, k) => b.equals(bytes(results[0])[k]))).toBe(true);
    expect(results[0].train.x.length).toBe(11 * 3 * 32 * 32);
    expect(results[0].images.map((i) => Math.min(i.width, i.height))).toEqual([44, 44, 44]);
  });

  it('a training crop is an exact window of the image as libvips rescaled it', async () => {
    const ds = new ImageFolderDataset(root, 'train');
    const plain: AugmentOptions = { ...aug, flip: false, colorShift: 0, subtractMean: false };
    const i = 5;
    const { x } = await makeBatch(ds, [i], plain, 4, 0);
    // Replay the image's random draws: S first, then the crop's corner.
    const rng = new Rng(mixSeed(4, 0, i));
    const s = drawScale(plain, rng);
    const img = await readImage(ds.file(i), s);
    expect(Math.min(img.width, img.height)).toBe(s);
    const x0 = rng.int(img.width - 32 + 1);
    const y0 = rng.int(img.height - 32 + 1);
    for (const [c, y, xx] of [
      [0, 0, 0],
      [1, 17, 9],
      [2, 31, 31],
    ])
      expect(x[c * 1024 + y * 32 + xx]).toBe(Math.fround(img.data[((y0 + y) * img.width + x0 + xx) * 3 + c] / 255));
  });

  it('a truncated or corrupt image fails its batch with the file named; the workers keep serving', async () => {
    const bad = join(dir, 'pipe-bad');
    writeImageFolder(bad, ['a', 'b'], 4);
    const jpg = join(bad, 'a', 'img1.jpg');
    writeFileSync(jpg, readFileSync(jpg).subarray(0, 300));
    await expect(readImage(jpg)).rejects.toThrowError(/img1\.jpg: unreadable image/);
    const ds = new ImageFolderDataset(bad, 'train');
    const badIndex = Array.from({ length: ds.length }, (_, k) => k).find((k) => ds.file(k) === jpg)!;
    const maker = new BatchMaker(ds, aug, 1, 2);
    await expect(
      maker.make(
        Array.from({ length: ds.length }, (_, k) => k),
        0,
      ),
    ).rejects.toThrowError(/a\/img1\.jpg: unreadable image .*remove or replace it/);
    const good = Array.from({ length: ds.length }, (_, k) => k).filter((k) => k !== badIndex);
    expect((await maker.make(good, 0)).labels.length).toBe(good.length);
    await maker.close();
    await expect(maker.make(good, 0)).rejects.toThrowError(/input pipeline closed/);
  });
});

describe('the pure-JS fallback resampler', () => {
  // Rounded half to even and clamped, as a Uint8ClampedArray store does.
  const toByte = (v: number) => {
    const f = Math.floor(v);
    const r = v - f > 0.5 || (v - f === 0.5 && f % 2 !== 0) ? f + 1 : f;
    return Math.min(255, Math.max(0, r));
  };
  it('computes a window exactly as the whole rescale cropped, and close to libvips when shrinking', async () => {
    const file = join(dir, 'pipe', 'ant', 'img1.jpg');
    const img = decodeImage(file);
    const [w, h] = rescaledSize(img, 40);
    const whole = resizeAntialiased(img, w, h);
    const win = { x0: 3, y0: 2, width: 32, height: 30 };
    const crop = resizeWindow(img, w, h, win);
    for (let y = 0; y < win.height; y++) {
      for (let x = 0; x < win.width; x++) {
        for (let c = 0; c < 3; c++)
          expect(crop.data[(y * win.width + x) * 3 + c]).toBe(toByte(whole[((win.y0 + y) * w + win.x0 + x) * 3 + c]));
      }
    }
    // The same decoded pixels shrunk by libvips (the native path) and by this filter agree within
    // rounding. (JPEG decoders themselves differ slightly, so both start from libvips' decode.)
    const decoded = await readImage(file);
    const native = await readImage(file, 30);
    const js = resizeWindow(decoded, native.width, native.height, {
      x0: 0,
      y0: 0,
      width: native.width,
      height: native.height,
    });
    // Measured on this pixel-noise image: mean 0.30, max 6 levels (the two filters' taps differ a
    // little; noise is the worst case, a photo-like image stays within 1 level everywhere).
    const diff = Array.from(native.data, (v, i) => Math.abs(v - js.data[i]));
    expect(diff.reduce((a, b) => a + b, 0) / diff.length).toBeLessThanOrEqual(0.5);
    expect(Math.max(...diff)).toBeLessThanOrEqual(8);
  });
});
