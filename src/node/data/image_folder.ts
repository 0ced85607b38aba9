// An image folder with one sub-folder per class (ImageNet style): ROOT/train/<class>/*.{png,jpg}
// and optionally ROOT/val/<class>/…; or ROOT/<class>/… directly. PNG and JPEG of any size; every
// image is delivered as RGB (grayscale and RGBA are converted).
import { readdirSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { DatasetError, type ImageDataset, type RawImage, type Window } from '../../data/dataset.js';
import { decodeImage, readImage } from './decode.js';

const IMAGE_EXT = new Set(['.png', '.jpg', '.jpeg']);

/** The sub-folders of `dir`, sorted: the class names of an image folder. */
export function listClassFolders(dir: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    throw new DatasetError(dir, 'cannot read the image folder; check the --data path');
  }
  return entries.filter((e) => statSync(join(dir, e)).isDirectory()).sort();
}

/** Images in one folder per class (PNG or JPEG, any size), delivered as RGB. */
export class ImageFolderDataset implements ImageDataset {
  readonly channels = 3;
  readonly classNames: readonly string[];
  readonly name: string;
  private readonly files: string[] = [];
  private readonly labels: number[] = [];

  /** `root` holds one folder per class. `classNames` (from the training split) fixes the label order. */
  constructor(
    readonly root: string,
    readonly split: 'train' | 'val',
    classNames?: readonly string[],
  ) {
    const found = listClassFolders(root);
    if (found.length < 2)
      throw new DatasetError(
        root,
        `has ${found.length} class folder(s); an image folder needs one sub-folder per class, at least two`,
      );
    if (classNames && found.join('\n') !== classNames.join('\n')) {
      const missing = classNames.filter((c) => !found.includes(c));
      const extra = found.filter((c) => !classNames.includes(c));
      throw new DatasetError(
        root,
        `its class folders differ from the training set's (missing: ${missing.join(', ') || 'none'}; extra: ${extra.join(', ') || 'none'}); make both splits hold the same classes`,
      );
    }
    this.classNames = found;
    found.forEach((cls, label) => {
      const dir = join(root, cls);
      const images = readdirSync(dir)
        .filter((f) => IMAGE_EXT.has(extname(f).toLowerCase()))
        .sort();
      if (images.length === 0)
        throw new DatasetError(
          dir,
          'is an empty class folder (no .png/.jpg/.jpeg files); add images or remove the folder',
        );
      for (const f of images) {
        this.files.push(join(dir, f));
        this.labels.push(label);
      }
    });
    this.name = `image folder ${root}`;
  }

  get spec() {
    return { kind: 'image-folder' as const, dir: this.root, split: this.split, classNames: this.classNames };
  }
  get length(): number {
    return this.files.length;
  }
  /** Image i, decoded from its file (pure JS, synchronous; the pipeline uses load()). */
  image(i: number): RawImage {
    return decodeImage(this.files[i]);
  }
  /** Image i decoded by libvips, rescaled to smallest side `smallestSide` and cut to `window` if given (see readImage). */
  load(i: number, smallestSide?: number, window?: (w: number, h: number) => Window): Promise<RawImage> {
    return readImage(this.files[i], smallestSide, window);
  }
  /** Label of image i. */
  label(i: number): number {
    return this.labels[i];
  }
  /** The file image i comes from. */
  file(i: number): string {
    return this.files[i];
  }
}
