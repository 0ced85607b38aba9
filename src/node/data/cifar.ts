// CIFAR-10 binary batches: data_batch_1..5.bin (train) and test_batch.bin, each record one label
// byte and 3072 bytes of 32×32 RGB in planar (R, G, B) order.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatasetError, type ImageDataset, type RawImage } from '../../data/dataset.js';

/** CIFAR-10's class names in label order. */
export const CIFAR10_CLASSES = [
  'airplane',
  'automobile',
  'bird',
  'cat',
  'deer',
  'dog',
  'frog',
  'horse',
  'ship',
  'truck',
];
const RECORD = 1 + 3 * 32 * 32;

/** CIFAR-10 from its binary batch files. */
export class CifarDataset implements ImageDataset {
  readonly channels = 3;
  readonly classNames = CIFAR10_CLASSES;
  readonly name: string;
  private readonly records: Uint8Array;

  constructor(
    readonly dir: string,
    readonly split: 'train' | 'test',
  ) {
    const names = split === 'train' ? [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`) : ['test_batch.bin'];
    const parts: Uint8Array[] = [];
    for (const n of names) {
      const file = join(dir, n);
      if (!existsSync(file))
        throw new DatasetError(
          file,
          'missing; a CIFAR-10 binary folder holds data_batch_1.bin … data_batch_5.bin and test_batch.bin',
        );
      const bytes = readFileSync(file);
      if (bytes.length === 0 || bytes.length % RECORD !== 0) {
        throw new DatasetError(
          file,
          `${bytes.length} bytes is not a whole number of ${RECORD}-byte records (truncated or not CIFAR-10 binary)`,
        );
      }
      for (let r = 0; r < bytes.length; r += RECORD) {
        if (bytes[r] >= 10) throw new DatasetError(file, `record ${r / RECORD} has label ${bytes[r]}, outside 0–9`);
      }
      parts.push(bytes);
    }
    this.records = parts.length === 1 ? parts[0] : Buffer.concat(parts);
    this.name = `cifar10 ${split}`;
  }

  get spec() {
    return { kind: 'cifar10' as const, dir: this.dir, split: this.split };
  }

  get length(): number {
    return this.records.length / RECORD;
  }

  /** Image i as interleaved RGB. */
  image(i: number): RawImage {
    const src = this.records.subarray(i * RECORD + 1, (i + 1) * RECORD);
    const data = new Uint8Array(3 * 1024);
    for (let p = 0; p < 1024; p++) for (let c = 0; c < 3; c++) data[p * 3 + c] = src[c * 1024 + p];
    return { width: 32, height: 32, channels: 3, data };
  }

  /** Label of image i. */
  label(i: number): number {
    return this.records[i * RECORD];
  }
}
