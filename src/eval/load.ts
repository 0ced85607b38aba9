// Loading trained nets for evaluation, with the preprocessing their training used.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { checkpointConfig, checkpointPreprocess, loadParameters, type Preprocess } from '../checkpoint/checkpoint.js';
import { CheckpointError, readSafetensors } from '../checkpoint/safetensors.js';
import type { ImageDataset } from '../data/dataset.js';
import type { NetName } from '../vgg/config.js';
import { Vgg } from '../vgg/model.js';

/** A trained net ready for evaluation, with the preprocessing its training used. */
export interface LoadedNet {
  file: string;
  model: Vgg;
  preprocess: Preprocess;
}

/**
 * Preprocessing from the checkpoint's metadata; for checkpoints written before it was stored there,
 * from the run folder beside it (options.json and the training state's channel statistics).
 */
function findPreprocess(file: string, meta: ReturnType<typeof checkpointPreprocess>, inputSize: number): Preprocess {
  if (meta) return meta;
  const dir = dirname(file);
  const opts = join(dir, 'options.json');
  const state = join(dir, 'last.train.safetensors');
  if (existsSync(opts) && existsSync(state)) {
    const o = JSON.parse(readFileSync(opts, 'utf8')) as { scale: [number, number]; subtractMean: boolean };
    const st = JSON.parse(readSafetensors(state).metadata['vggpu.train_state'] ?? '{}') as { stats?: { mean: number[] } };
    return { scale: o.scale, mean: o.subtractMean && st.stats ? st.stats.mean : null };
  }
  const s = inputSize === 224 ? 256 : inputSize;
  return { scale: [s, s], mean: null };
}

/** Reads a checkpoint into a new net. Foreign (torchvision) checkpoints need `net`; they get 224px, 1000 classes, RGB. */
export function loadForEval(file: string, net?: NetName): LoadedNet {
  const st = readSafetensors(file);
  const config = checkpointConfig(st, file) ?? (net ? { net, inputSize: 224, classes: 1000, inChannels: 3 } : null);
  if (!config) throw new CheckpointError(file, 'has no vggpu configuration (not trained here); pass --net to say which VGG it is');
  const model = new Vgg({ ...config, dropout: 0 });
  loadParameters(model, st, file);
  model.setTraining(false);
  return { file, model, preprocess: findPreprocess(file, checkpointPreprocess(st), model.config.inputSize) };
}

/** Throws, before any work, when a net cannot evaluate this dataset. */
export function checkFits(n: LoadedNet, ds: ImageDataset): void {
  const c = n.model.config;
  if (c.classes !== ds.classNames.length) {
    throw new CheckpointError(n.file, `is a ${c.classes}-class VGG-${c.net} but ${ds.name} has ${ds.classNames.length} classes; evaluate it on the data it was trained for (--data)`);
  }
  if (c.inChannels !== ds.channels) {
    throw new CheckpointError(n.file, `takes ${c.inChannels}-channel images but ${ds.name} has ${ds.channels}-channel images; evaluate it on the data it was trained for (--data)`);
  }
}

/** The paper's test scales: Q = S (fixed S) or the middle of [Smin, Smax]; multi-scale adds ±S/8 (±32 at 256) or the range ends. */
export function testScales(scale: [number, number], multi: boolean, crop: number): number[] {
  const [lo, hi] = scale;
  const mid = Math.round((lo + hi) / 2);
  if (!multi) return [lo === hi ? lo : mid];
  const qs = lo === hi ? [lo - Math.max(1, Math.round(lo / 8)), lo, lo + Math.max(1, Math.round(lo / 8))] : [lo, mid, hi];
  return [...new Set(qs.map((q) => Math.max(q, crop)))];
}
