// Datasets: images with integer labels, read from the formats users have on disk.
// Images come back as 8-bit interleaved (H×W×C) pixels; transforms turn them into float tensors.

export interface RawImage {
  width: number;
  height: number;
  channels: number;
  /** Interleaved rows: data[(y·width + x)·channels + c]. */
  data: Uint8Array;
}

export interface ImageDataset {
  /** e.g. "fashion-mnist train". */
  readonly name: string;
  readonly length: number;
  readonly channels: number;
  readonly classNames: readonly string[];
  image(i: number): RawImage;
  label(i: number): number;
  /** Where the dataset can be reopened (in a worker thread): the spec it was opened from. */
  readonly spec: DatasetSpec;
}

export type DatasetSpec =
  | { kind: 'fashion-mnist'; dir: string; split: 'train' | 'test' }
  | { kind: 'cifar10'; dir: string; split: 'train' | 'test' }
  | { kind: 'image-folder'; dir: string; split: 'train' | 'val'; classNames?: readonly string[] }
  | { kind: 'subset'; of: DatasetSpec; indices: number[] };

export class DatasetError extends Error {
  constructor(what: string, problem: string) {
    super(`${what}: ${problem}`);
    this.name = 'DatasetError';
  }
}

/** A view of some of another dataset's images (a held-out validation split). */
export class Subset implements ImageDataset {
  readonly spec: DatasetSpec;
  constructor(
    readonly base: ImageDataset,
    readonly indices: number[],
    readonly name: string,
  ) {
    this.spec = { kind: 'subset', of: base.spec, indices };
  }
  get length() {
    return this.indices.length;
  }
  get channels() {
    return this.base.channels;
  }
  get classNames() {
    return this.base.classNames;
  }
  image(i: number) {
    return this.base.image(this.indices[i]);
  }
  label(i: number) {
    return this.base.label(this.indices[i]);
  }
}
