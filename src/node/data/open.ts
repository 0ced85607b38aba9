// Opens the dataset a user names with --data: Fashion-MNIST (default), CIFAR-10, or an image folder.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CifarDataset } from './cifar.js';
import { DatasetError, type DatasetSpec, type ImageDataset, Subset } from '../../data/dataset.js';
import { FASHION_MNIST_DIR, IdxDataset } from './idx.js';
import { ImageFolderDataset } from './image_folder.js';
import { Rng } from '../../rng.js';

/** Training and validation sets opened from a --data argument. */
export interface DataChoice {
  train: ImageDataset;
  val: ImageDataset;
  /** How the validation set was formed, for the logs. */
  valSource: string;
}

/**
 * `--data` forms: `fashion-mnist[:DIR]` (default DIR /usr/share/datasets/fashion-mnist),
 * `cifar10:DIR`, `folder:DIR`, or a bare DIR (recognised by its contents).
 * Datasets without a test split hold out `valFraction` of the training images.
 */
export function openData(arg: string, valFraction: number, seed: number): DataChoice {
  const [kind, ...rest] = arg.split(':');
  const path = rest.join(':');
  if (kind === 'fashion-mnist' || kind === 'mnist') {
    const dir = path || FASHION_MNIST_DIR;
    return { train: new IdxDataset(dir, 'train'), val: new IdxDataset(dir, 'test'), valSource: 'the test set' };
  }
  if (kind === 'cifar10')
    return { train: new CifarDataset(path, 'train'), val: new CifarDataset(path, 'test'), valSource: 'the test set' };
  if (kind === 'folder') return openFolder(path, valFraction, seed);
  if (rest.length === 0 && existsSync(arg)) {
    if (existsSync(join(arg, 'data_batch_1.bin'))) return openData(`cifar10:${arg}`, valFraction, seed);
    if (existsSync(join(arg, 'train-images-idx3-ubyte')) || existsSync(join(arg, 'train-images-idx3-ubyte.gz')))
      return openData(`fashion-mnist:${arg}`, valFraction, seed);
    return openFolder(arg, valFraction, seed);
  }
  throw new DatasetError(
    `--data ${arg}`,
    'is neither a folder nor one of fashion-mnist[:DIR], cifar10:DIR, folder:DIR',
  );
}

function openFolder(root: string, valFraction: number, seed: number): DataChoice {
  if (existsSync(join(root, 'train'))) {
    const train = new ImageFolderDataset(join(root, 'train'), 'train');
    if (existsSync(join(root, 'val')))
      return {
        train,
        val: new ImageFolderDataset(join(root, 'val'), 'val', train.classNames),
        valSource: `${join(root, 'val')}`,
      };
    return holdOut(train, valFraction, seed);
  }
  return holdOut(new ImageFolderDataset(root, 'train'), valFraction, seed);
}

/** Splits off a seeded random fraction of the images as the validation set. */
export function holdOut(all: ImageDataset, fraction: number, seed: number): DataChoice {
  if (!(fraction > 0 && fraction < 1))
    throw new DatasetError(all.name, `has no validation split and --val-fraction ${fraction} is not in (0, 1)`);
  const order = Array.from({ length: all.length }, (_, i) => i);
  const rng = new Rng(seed ^ 0x5eed);
  for (let i = order.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  const nVal = Math.max(1, Math.round(all.length * fraction));
  if (nVal >= all.length)
    throw new DatasetError(all.name, `has only ${all.length} images, too few to hold out a validation set`);
  const val = order.slice(0, nVal).sort((a, b) => a - b);
  const train = order.slice(nVal).sort((a, b) => a - b);
  return {
    train: new Subset(all, train, `${all.name} (train part)`),
    val: new Subset(all, val, `${all.name} (held out)`),
    valSource: `${(fraction * 100).toFixed(0)}% held out of the training images`,
  };
}

/** Re-opens a dataset from its spec (in the input pipeline's worker processes). */
export function openSpec(spec: DatasetSpec): ImageDataset {
  switch (spec.kind) {
    case 'fashion-mnist':
      return new IdxDataset(spec.dir, spec.split);
    case 'cifar10':
      return new CifarDataset(spec.dir, spec.split);
    case 'image-folder':
      return new ImageFolderDataset(spec.dir, spec.split, spec.classNames);
    case 'subset':
      return new Subset(openSpec(spec.of), spec.indices, 'subset');
  }
}
