// Datasets: images with integer labels, read from the formats users have on disk.
// Images come back as 8-bit interleaved (H×W×C) pixels; transforms turn them into float tensors.

/** An 8-bit image with interleaved channels. */
export interface RawImage {
  width: number;
  height: number;
  channels: number;
  /** Interleaved rows: data[(y·width + x)·channels + c]. */
  data: Uint8Array;
}

/** A rectangle of an image: top-left corner and size. */
export interface Window {
  x0: number;
  y0: number;
  width: number;
  height: number;
}

/** A labelled image dataset. */
export interface ImageDataset {
  /** e.g. "fashion-mnist train". */
  readonly name: string;
  readonly length: number;
  readonly channels: number;
  readonly classNames: readonly string[];
  /** Image i (decoded on demand for image folders). */
  image(i: number): RawImage;
  /**
   * Image i from a file, decoded (and rescaled to `smallestSide`, and cut to `window`) by the
   * input pipeline's decoder: see readImage. Absent for in-memory datasets.
   */
  load?(i: number, smallestSide?: number, window?: (w: number, h: number) => Window): Promise<RawImage>;
  /** Label of image i, in [0, classNames.length). */
  label(i: number): number;
  /** The file image i is read from (datasets of image files), for messages. */
  file?(i: number): string;
  /** Where the dataset can be reopened (in a worker process): the spec it was opened from. */
  readonly spec: DatasetSpec;
}

/** How to reopen a dataset (in a worker process). */
export type DatasetSpec =
  | { kind: 'fashion-mnist'; dir: string; split: 'train' | 'test' }
  | { kind: 'cifar10'; dir: string; split: 'train' | 'test' }
  | { kind: 'image-folder'; dir: string; split: 'train' | 'val'; classNames?: readonly string[] }
  | { kind: 'subset'; of: DatasetSpec; indices: number[] };

/** A dataset that cannot be read; the message names the file and says what to do. */
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
  /** Image i of the subset. */
  image(i: number) {
    return this.base.image(this.indices[i]);
  }
  get load() {
    const load = this.base.load?.bind(this.base);
    return (
      load &&
      ((i: number, smallestSide?: number, window?: (w: number, h: number) => Window) =>
        load(this.indices[i], smallestSide, window))
    );
  }
  /** Label of image i of the subset. */
  label(i: number) {
    return this.base.label(this.indices[i]);
  }
  get file() {
    const file = this.base.file?.bind(this.base);
    return file && ((i: number) => file(this.indices[i]));
  }
}
