// Loading trained nets for evaluation, with the preprocessing their training used: our own
// checkpoints carry it in their metadata; a foreign (torchvision) file is recognised by its tensor
// names and shapes and gets torchvision's ImageNet preprocessing, saying so.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { checkpointConfig, checkpointPreprocess, loadParameters, type Preprocess } from '../checkpoint/checkpoint.js';
import { CheckpointError, readSafetensors, type SafetensorsFile } from '../checkpoint/safetensors.js';
import type { ImageDataset } from '../../data/dataset.js';
import { NET_NAMES, type NetName, planLayers, resolveConfig, type VggConfig } from '../../vgg/config.js';
import { Vgg } from '../../vgg/model.js';
import { sameShape } from '../../errors.js';

/** A trained net ready for evaluation, with the preprocessing its training used. */
export interface LoadedNet {
  file: string;
  model: Vgg;
  preprocess: Preprocess;
  /** What was inferred or assumed about the file (for the user to see once). */
  notes: string[];
}

/** What the user says about a checkpoint; each must agree with the file where the file says it. */
export interface EvalOverrides {
  net?: NetName;
  classes?: number;
  mean?: number[];
  std?: number[];
}

/** torchvision's ImageNet normalisation (transforms.Normalize in its reference scripts), on [0, 1] pixels. */
export const IMAGENET_MEAN = [0.485, 0.456, 0.406];
export const IMAGENET_STD = [0.229, 0.224, 0.225];

/**
 * Preprocessing from the checkpoint's metadata; for checkpoints written before it was stored there,
 * from the run folder beside it (options.json and the training state's channel statistics).
 */
function ownPreprocess(file: string, meta: Preprocess | null, inputSize: number): Preprocess {
  if (meta) return meta;
  const dir = dirname(file);
  const opts = join(dir, 'options.json');
  const state = join(dir, 'last.train.safetensors');
  if (existsSync(opts) && existsSync(state)) {
    const o = JSON.parse(readFileSync(opts, 'utf8')) as { scale: [number, number]; subtractMean: boolean };
    const st = JSON.parse(readSafetensors(state).metadata['vggpu.train_state'] ?? '{}') as {
      stats?: { mean: number[] };
    };
    return { scale: o.scale, mean: o.subtractMean && st.stats ? st.stats.mean : null };
  }
  const s = inputSize === 224 ? 256 : inputSize;
  return { scale: [s, s], mean: null };
}

/** Parameter names and shapes a configuration has, in torchvision's layout. */
function expectedShapes(config: VggConfig): Map<string, number[]> {
  const m = new Map<string, number[]>();
  for (const l of planLayers(config)) {
    if (l.kind === 'conv') {
      m.set(`${l.name}.weight`, [l.outChannels, l.inChannels, l.kernel, l.kernel]);
      m.set(`${l.name}.bias`, [l.outChannels]);
    } else if (l.kind === 'fc') {
      m.set(`${l.name}.weight`, [l.outFeatures, l.inFeatures]);
      m.set(`${l.name}.bias`, [l.outFeatures]);
    }
  }
  return m;
}

/**
 * The sizes a torchvision-layout file implies: width and input channels from the first conv,
 * classes from the last FC layer, input size from FC1's input (the last conv's channels × side²).
 */
function impliedSizes(st: SafetensorsFile): Omit<VggConfig, 'net' | 'dropout' | 'lrnConvention'> | null {
  const first = st.tensors.get('features.0.weight')?.shape;
  const last = st.tensors.get('classifier.6.weight')?.shape;
  const fc1 = st.tensors.get('classifier.0.weight')?.shape;
  if (first?.length !== 4 || !last || last.length !== 2 || !fc1 || fc1.length !== 2) return null;
  const width = first[0] / 64;
  const side = Math.sqrt(fc1[1] / Math.max(1, Math.round(512 * width)));
  return { width, inChannels: first[1], classes: last[0], inputSize: 32 * side };
}

/** The VGG configurations whose parameters a foreign file holds exactly (names and shapes). */
function inferConfigs(st: SafetensorsFile): VggConfig[] {
  const sizes = impliedSizes(st);
  if (!sizes) return [];
  const found: VggConfig[] = [];
  for (const net of NET_NAMES) {
    let config: VggConfig;
    try {
      config = resolveConfig({ net, ...sizes });
    } catch {
      continue;
    }
    const want = expectedShapes(config);
    const same =
      want.size === st.tensors.size &&
      [...want].every(([name, shape]) => {
        const s = st.tensors.get(name)?.shape;
        return s !== undefined && sameShape(s, shape);
      });
    if (same) found.push(config);
  }
  return found;
}

const fmtList = (xs: number[]) => xs.map((v) => +v.toFixed(4)).join(', ');

/**
 * Reads a checkpoint into a new net, with the preprocessing it needs. A foreign (torchvision) file
 * is recognised from its tensor names and shapes (net, width, channels, classes, input size);
 * `overrides` can name the net and classes (checked against the file) and replace mean and std.
 */
export function loadForEval(file: string, overrides: EvalOverrides | NetName = {}): LoadedNet {
  const o: EvalOverrides = typeof overrides === 'string' ? { net: overrides } : overrides;
  const notes: string[] = [];
  const st = readSafetensors(file);
  const names = [...st.tensors.keys()];
  if (names.length > 0 && names.every((n) => n.startsWith('module.'))) {
    st.tensors = new Map([...st.tensors].map(([n, t]) => [n.slice('module.'.length), t]));
    notes.push(`${file}: stripped the 'module.' prefix from its tensor names (a DataParallel/DDP state dict)`);
  }
  const own = checkpointConfig(st, file);
  let config: VggConfig;
  let preprocess: Preprocess;
  if (own) {
    if (o.net && o.net !== own.net)
      throw new CheckpointError(
        file,
        `is a VGG-${own.net} checkpoint (its metadata says so), not VGG-${o.net}; drop --net`,
      );
    if (o.classes !== undefined && o.classes !== own.classes)
      throw new CheckpointError(
        file,
        `is a ${own.classes}-class net (its metadata says so), not ${o.classes}; drop --classes`,
      );
    config = own;
    preprocess = ownPreprocess(file, checkpointPreprocess(st), own.inputSize);
  } else {
    const inferred = inferConfigs(st).filter((c) => !o.net || c.net === o.net);
    if (inferred.length === 0) {
      if (o.net) {
        // Let loadParameters name the first tensor that does not fit the net the user named.
        const sizes = impliedSizes(st);
        let guess: VggConfig;
        try {
          guess = resolveConfig({ net: o.net, ...sizes });
        } catch {
          guess = resolveConfig({ net: o.net });
        }
        config = o.classes ? { ...guess, classes: o.classes } : guess;
      } else {
        throw new CheckpointError(
          file,
          'has no vggpu metadata, and its tensor names and shapes are not those of a torchvision VGG (vgg11/13/16/19 without batch norm); pass --net to say which VGG it is',
        );
      }
    } else {
      config = inferred[0];
      notes.push(
        `${file}: no vggpu metadata; its tensors are torchvision's layout of VGG-${config.net} (${config.inChannels} channels, ${config.inputSize}px, width ×${config.width}), with ${config.classes} classes (inferred from classifier.6.weight)`,
      );
    }
    if (o.classes !== undefined && o.classes !== config.classes) {
      throw new CheckpointError(
        file,
        `classifier.6.weight has ${config.classes} rows: it is a ${config.classes}-class net, not ${o.classes}; drop --classes`,
      );
    }
    const s = Math.round((config.inputSize * 256) / 224);
    preprocess =
      config.inChannels === 3
        ? { mean: IMAGENET_MEAN, std: IMAGENET_STD, scale: [s, s], sampling: 'torchvision' }
        : { mean: null, scale: [s, s], sampling: 'torchvision' };
    notes.push(
      `${file}: preprocessing as torchvision's reference for such weights: Resize(${s}) (antialiased bilinear), CenterCrop(${config.inputSize}), ToTensor` +
        (preprocess.std ? `, Normalize(mean=[${fmtList(IMAGENET_MEAN)}], std=[${fmtList(IMAGENET_STD)}])` : '') +
        '; --mean and --std change the normalisation',
    );
  }
  if (o.mean || o.std) {
    for (const [flag, v] of [
      ['--mean', o.mean],
      ['--std', o.std],
    ] as const) {
      if (v && v.length !== config.inChannels)
        throw new CheckpointError(
          file,
          `takes ${config.inChannels}-channel images, but ${flag} gives ${v.length} values`,
        );
    }
    preprocess = { ...preprocess, ...(o.mean ? { mean: o.mean } : {}), ...(o.std ? { std: o.std } : {}) };
    notes.push(
      `${file}: normalising with mean [${fmtList(preprocess.mean ?? [0])}], std [${fmtList(preprocess.std ?? [1])}] as given`,
    );
  }
  const model = new Vgg({ ...config, dropout: 0 });
  loadParameters(model, st, file);
  model.setTraining(false);
  return { file, model, preprocess, notes };
}

/** Throws, before any work, when a net cannot evaluate this dataset. */
export function checkFits(n: LoadedNet, ds: ImageDataset): void {
  const c = n.model.config;
  if (c.classes !== ds.classNames.length) {
    throw new CheckpointError(
      n.file,
      `is a ${c.classes}-class VGG-${c.net} but ${ds.name} has ${ds.classNames.length} classes; evaluate it on the data it was trained for (--data)`,
    );
  }
  if (c.inChannels !== ds.channels) {
    throw new CheckpointError(
      n.file,
      `takes ${c.inChannels}-channel images but ${ds.name} has ${ds.channels}-channel images; evaluate it on the data it was trained for (--data)`,
    );
  }
}

/** The paper's test scales: Q = S (fixed S) or the middle of [Smin, Smax]; multi-scale adds ±S/8 (±32 at 256) or the range ends. */
export function testScales(scale: [number, number], multi: boolean, crop: number): number[] {
  const [lo, hi] = scale;
  const mid = Math.round((lo + hi) / 2);
  if (!multi) return [lo === hi ? lo : mid];
  const qs =
    lo === hi ? [lo - Math.max(1, Math.round(lo / 8)), lo, lo + Math.max(1, Math.round(lo / 8))] : [lo, mid, hi];
  return [...new Set(qs.map((q) => Math.max(q, crop)))];
}
