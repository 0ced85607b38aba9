// Small generated datasets on disk, in the real formats.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { PNG } from 'pngjs';
import jpeg from 'jpeg-js';
import { Rng } from '../src/rng.js';

export function idxBytes(dims: number[], data: Uint8Array): Uint8Array {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head[2] = 0x08;
  head[3] = dims.length;
  dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([head, data]);
}

/** A Fashion-MNIST-format folder: `train` and `test` images whose class shows in their brightness. */
export function writeFashionLike(dir: string, nTrain: number, nTest: number, seed = 1, gz = true): void {
  mkdirSync(dir, { recursive: true });
  const rng = new Rng(seed);
  for (const [prefix, n] of [
    ['train', nTrain],
    ['t10k', nTest],
  ] as const) {
    const labels = Uint8Array.from({ length: n }, () => rng.int(10));
    const images = new Uint8Array(n * 28 * 28);
    for (let i = 0; i < n; i++)
      for (let p = 0; p < 784; p++)
        images[i * 784 + p] = Math.min(255, labels[i] * 20 + rng.int(40) + (p % 28 > 14 ? 30 : 0));
    const write = (name: string, bytes: Uint8Array) =>
      writeFileSync(join(dir, gz ? `${name}.gz` : name), gz ? gzipSync(bytes) : bytes);
    write(`${prefix}-images-idx3-ubyte`, idxBytes([n, 28, 28], images));
    write(`${prefix}-labels-idx1-ubyte`, idxBytes([n], labels));
  }
}

/** A CIFAR-10 binary folder with `perBatch` records in each of the six batch files. */
export function writeCifarLike(dir: string, perBatch: number, seed = 2): void {
  mkdirSync(dir, { recursive: true });
  const rng = new Rng(seed);
  const names = [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`).concat('test_batch.bin');
  for (const name of names) {
    const bytes = new Uint8Array(perBatch * 3073);
    for (let r = 0; r < perBatch; r++) {
      bytes[r * 3073] = rng.int(10);
      for (let k = 1; k < 3073; k++) bytes[r * 3073 + k] = rng.int(256);
    }
    writeFileSync(join(dir, name), bytes);
  }
}

/** ROOT/<split>/<class>/*.png|jpg of assorted sizes. */
export function writeImageFolder(root: string, classes: string[], perClass: number, seed = 3): void {
  const rng = new Rng(seed);
  classes.forEach((cls, c) => {
    const dir = join(root, cls);
    mkdirSync(dir, { recursive: true });
    for (let i = 0; i < perClass; i++) {
      const w = 40 + rng.int(30);
      const h = 36 + rng.int(30);
      const rgba = Buffer.alloc(w * h * 4);
      for (let p = 0; p < w * h; p++) rgba.set([c * 80, 255 - c * 60, rng.int(256), 255], p * 4);
      if (i % 2 === 0) {
        const png = new PNG({ width: w, height: h });
        rgba.copy(png.data);
        writeFileSync(join(dir, `img${i}.png`), PNG.sync.write(png));
      } else {
        writeFileSync(join(dir, `img${i}.jpg`), jpeg.encode({ data: rgba, width: w, height: h }, 90).data);
      }
    }
  });
}
