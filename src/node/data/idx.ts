// Fashion-MNIST (and MNIST) in the IDX format, optionally gzipped as Debian's
// dataset-fashion-mnist package ships them under /usr/share/datasets/fashion-mnist.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { DatasetError, type ImageDataset, type RawImage } from '../../data/dataset.js';
import { FASHION_MNIST_CLASSES, parseIdx } from '../../data/idx_format.js';

export { FASHION_MNIST_CLASSES, parseIdx } from '../../data/idx_format.js';

/** Where Debian's dataset-fashion-mnist package installs the IDX files. */
export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

function readMaybeGz(dir: string, base: string): { bytes: Uint8Array; file: string } {
  for (const name of [base, `${base}.gz`]) {
    const file = join(dir, name);
    if (!existsSync(file)) continue;
    const raw = readFileSync(file);
    if (!name.endsWith('.gz')) return { bytes: raw, file };
    try {
      return { bytes: gunzipSync(raw), file };
    } catch (e) {
      throw new DatasetError(file, `corrupt gzip data (${(e as Error).message}); re-download or reinstall the dataset`);
    }
  }
  throw new DatasetError(
    join(dir, base),
    `missing (also looked for ${base}.gz). Install Debian's dataset-fashion-mnist package (\`npm run setup\`) or pass --data with a folder holding the four IDX files`,
  );
}

/** Fashion-MNIST (or MNIST) from its four IDX files, gzipped or not. */
export class IdxDataset implements ImageDataset {
  readonly channels = 1;
  readonly classNames = FASHION_MNIST_CLASSES;
  readonly name: string;
  readonly length: number;
  private readonly images: Uint8Array;
  private readonly labels: Uint8Array;
  private readonly h: number;
  private readonly w: number;

  constructor(
    readonly dir: string,
    readonly split: 'train' | 'test',
  ) {
    const prefix = split === 'train' ? 'train' : 't10k';
    const img = readMaybeGz(dir, `${prefix}-images-idx3-ubyte`);
    const lab = readMaybeGz(dir, `${prefix}-labels-idx1-ubyte`);
    const images = parseIdx(img.bytes, img.file);
    const labels = parseIdx(lab.bytes, lab.file);
    if (images.dims.length !== 3) throw new DatasetError(img.file, `expected [N, H, W] images, found [${images.dims}]`);
    if (labels.dims.length !== 1) throw new DatasetError(lab.file, `expected [N] labels, found [${labels.dims}]`);
    if (images.dims[0] !== labels.dims[0])
      throw new DatasetError(lab.file, `${labels.dims[0]} labels for ${images.dims[0]} images in ${img.file}`);
    const bad = labels.data.findIndex((l) => l >= 10);
    if (bad >= 0) throw new DatasetError(lab.file, `label ${bad} is ${labels.data[bad]}, outside 0–9`);
    [this.length, this.h, this.w] = images.dims;
    this.images = images.data;
    this.labels = labels.data;
    this.name = `fashion-mnist ${split}`;
  }

  get spec() {
    return { kind: 'fashion-mnist' as const, dir: this.dir, split: this.split };
  }

  /** Image i (28×28 grayscale). */
  image(i: number): RawImage {
    const n = this.h * this.w;
    return { width: this.w, height: this.h, channels: 1, data: this.images.subarray(i * n, (i + 1) * n) };
  }

  /** Label of image i. */
  label(i: number): number {
    return this.labels[i];
  }
}
