// An image folder with one sub-folder per class (ImageNet style): ROOT/train/<class>/*.{png,jpg}
// and optionally ROOT/val/<class>/…; or ROOT/<class>/… directly. PNG and JPEG of any size; every
// image is delivered as RGB (grayscale and RGBA are converted).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { DatasetError, type ImageDataset, type RawImage } from './dataset.js';

const IMAGE_EXT = new Set(['.png', '.jpg', '.jpeg']);

/** Decodes a PNG or JPEG file to RGB, with an error naming the file when it cannot. */
export function decodeImage(file: string): RawImage {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw new DatasetError(file, `cannot read (${(e as Error).message})`);
  }
  const ext = extname(file).toLowerCase();
  try {
    if (ext === '.png') {
      const png = PNG.sync.read(bytes);
      const rgb = new Uint8Array(png.width * png.height * 3);
      for (let p = 0; p < png.width * png.height; p++) for (let c = 0; c < 3; c++) rgb[p * 3 + c] = png.data[p * 4 + c];
      return { width: png.width, height: png.height, channels: 3, data: rgb };
    }
    const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false, maxResolutionInMP: 200, maxMemoryUsageInMB: 1024 });
    return { width: img.width, height: img.height, channels: 3, data: img.data };
  } catch (e) {
    throw new DatasetError(file, `unreadable ${ext === '.png' ? 'PNG' : 'JPEG'} image (${(e as Error).message}); remove or replace it`);
  }
}

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
    if (found.length < 2) throw new DatasetError(root, `has ${found.length} class folder(s); an image folder needs one sub-folder per class, at least two`);
    if (classNames && found.join('\n') !== classNames.join('\n')) {
      const missing = classNames.filter((c) => !found.includes(c));
      const extra = found.filter((c) => !classNames.includes(c));
      throw new DatasetError(root, `its class folders differ from the training set's (missing: ${missing.join(', ') || 'none'}; extra: ${extra.join(', ') || 'none'}); make both splits hold the same classes`);
    }
    this.classNames = found;
    found.forEach((cls, label) => {
      const dir = join(root, cls);
      const images = readdirSync(dir).filter((f) => IMAGE_EXT.has(extname(f).toLowerCase())).sort();
      if (images.length === 0) throw new DatasetError(dir, 'is an empty class folder (no .png/.jpg/.jpeg files); add images or remove the folder');
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
  /** Image i, decoded from its file. */
  image(i: number): RawImage {
    return decodeImage(this.files[i]);
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
