// The training CLI's flags and how they become TrainOptions (kept apart from the CLI so the
// checks can be tested without starting a process).
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { INIT_SCHEMES } from '../../vgg/init.js';
import { NET_NAMES } from '../../vgg/config.js';
import { savedOptions, type TrainOptions } from '../train/options.js';
import {
  type FlagSpec,
  num,
  numList,
  oneOf,
  type parseFlags,
  scaleRange,
  TUNE_BUDGET_FLAG,
  UsageError,
  VARIANTS_FLAG,
} from './args.js';

export const TRAIN_FLAGS: Record<string, FlagSpec> = {
  net: { type: 'string', help: `network: ${NET_NAMES.join(', ')}`, default: 'A' },
  data: { type: 'string', help: 'fashion-mnist[:DIR], cifar10:DIR, folder:DIR, or a folder', default: 'fashion-mnist' },
  out: { type: 'string', help: 'run folder for checkpoints, metrics and charts', default: 'runs/<net>-<data>-<time>' },
  epochs: { type: 'string', help: 'maximum epochs (the schedule may stop earlier)', default: '74' },
  batch: { type: 'string', help: 'mini-batch size', default: '256' },
  lr: { type: 'string', help: 'initial learning rate; with --resume, the rate to continue at', default: '0.01' },
  momentum: { type: 'string', help: 'SGD momentum', default: '0.9' },
  'weight-decay': { type: 'string', help: 'L2 weight decay', default: '0.0005' },
  dropout: { type: 'string', help: 'dropout after FC1 and FC2', default: '0.5' },
  patience: { type: 'string', help: 'epochs without validation improvement before lr ÷ 10', default: '2' },
  'max-decays': { type: 'string', help: 'lr cuts before training stops at the next plateau', default: '3' },
  width: { type: 'string', help: 'channel/FC width multiplier (0.25 for CPU-sized nets)', default: '1' },
  'input-size': {
    type: 'string',
    help: 'training crop (= net input) size',
    default: '224, or 32 for Fashion-MNIST/CIFAR',
  },
  classes: {
    type: 'string',
    help: 'output classes (checked against the data; with --summary, no data needed)',
    default: 'the data’s',
  },
  'in-channels': {
    type: 'string',
    help: 'input channels, 3 for RGB, 1 for grayscale (as --classes)',
    default: 'the data’s',
  },
  scale: {
    type: 'string',
    help: 'smallest side S before cropping: S or Smin:Smax (jittered)',
    default: '256, or 32:40 at input 32',
  },
  'no-flip': { type: 'boolean', help: 'turn off random horizontal flips' },
  'color-shift': { type: 'string', help: 'PCA colour shift std (AlexNet); 0 turns it off', default: '0.1' },
  'no-mean': { type: 'boolean', help: 'do not subtract the training set mean' },
  std: {
    type: 'string',
    help: 'divide inputs by this per-channel std after the mean, e.g. 0.229,0.224,0.225',
    default: 'none (the paper’s)',
  },
  init: { type: 'string', help: `weight init: ${INIT_SCHEMES.join(', ')}`, default: 'kaiming' },
  'init-from': { type: 'string', help: 'trained net A checkpoint for the paper’s deeper-net init' },
  'lrn-convention': {
    type: 'string',
    help: "A-LRN's α: caffe (α/n, PyTorch) or alexnet (α, TensorFlow)",
    default: 'caffe',
  },
  seed: { type: 'string', help: 'seed for init, data order, augmentation and dropout', default: '1' },
  workers: {
    type: 'string',
    help: 'input-pipeline processes: decoding and augmentation (0: on the main thread)',
    default: 'cores − 1',
  },
  'val-fraction': { type: 'string', help: 'held-out share when the data has no test split', default: '0.1' },
  'eval-batch': { type: 'string', help: 'validation batch size', default: '256' },
  devices: {
    type: 'string',
    help: 'train on N devices (data parallel, as the paper’s 4 GPUs): each takes 1/N of every batch; one GPU each, or N devices sharing the CPU fallback',
    default: '1',
  },
  accumulate: {
    type: 'string',
    help: 'split each batch into K micro-batches and sum their gradients: one SGD step, the memory of batch/K',
    default: 'what fits (1 unless the preflight says otherwise)',
  },
  'gpu-memory': {
    type: 'string',
    help: 'GPU memory in GiB to fit a step into (WebGPU cannot tell); picks --accumulate',
  },
  'checkpoint-every': {
    type: 'string',
    help: 'a resumable checkpoint within epochs: a duration (90s, 10m, 2h) or a step count (500); 0: only at epoch ends',
    default: '10m',
  },
  'max-steps': { type: 'string', help: 'stop with a checkpoint after this many steps' },
  variants: VARIANTS_FLAG,
  'tune-budget': TUNE_BUDGET_FLAG,
  resume: { type: 'boolean', help: 'continue the run in --out from its last checkpoint' },
  summary: { type: 'boolean', help: 'print the network summary and exit' },
  verbose: { type: 'boolean', help: 'show engine-internal detail: Dawn’s messages, each kernel timing' },
  help: { type: 'boolean', help: 'show this help' },
};

/** "90s", "10m", "2h" → seconds; "500" → steps; "0" → never (epoch ends only). */
export function checkpointEvery(raw: string): { seconds: number | null; steps: number | null } {
  const m = /^(\d+(?:\.\d+)?)(s|m|h)?$/.exec(raw.trim());
  if (!m) throw new UsageError(`--checkpoint-every ${raw}: give a duration (90s, 10m, 2h) or a number of steps (500)`);
  const v = Number(m[1]);
  if (v === 0) return { seconds: null, steps: null };
  if (!m[2]) return { seconds: null, steps: num('checkpoint-every', m[1], { int: true, min: 1 }) };
  return { seconds: v * { s: 1, m: 60, h: 3600 }[m[2] as 's' | 'm' | 'h'], steps: null };
}

/** One input-pipeline worker per core but the one the main thread (the GPU's feeder) uses. */
export function defaultWorkers(): number {
  return Math.max(1, availableParallelism() - 1);
}

export function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** Builds the options from flags (and, with --resume, the run's saved options). */
export function buildOptions(f: ReturnType<typeof parseFlags>): TrainOptions {
  const saved = f.resume && str(f.out) ? savedOptions(str(f.out)!) : null;
  if (f.resume && !str(f.out)) throw new UsageError('--resume needs --out with the run folder to continue');
  const get = (k: string) => str(f[k]);
  const net = oneOf('net', get('net') ?? saved?.net ?? 'A', NET_NAMES);
  const data = get('data') ?? saved?.data ?? 'fashion-mnist';
  const small = /^(fashion-mnist|mnist|cifar10)/.test(data) || /fashion|cifar|mnist/i.test(data);
  const inputSize = get('input-size')
    ? num('input-size', get('input-size')!, { int: true, min: 32 })
    : (saved?.inputSize ?? (small ? 32 : 224));
  const scale = get('scale')
    ? scaleRange('scale', get('scale')!)
    : (saved?.scale ?? (inputSize === 224 ? [256, 256] : [inputSize, Math.round(inputSize * 1.25)]));
  if (scale[0] < inputSize)
    throw new UsageError(
      `--scale ${get('scale') ?? scale.join(':')}: the smallest side S must be at least the crop size ${inputSize}`,
    );
  const pick = <T>(flag: string, parse: (raw: string) => T, fromSaved: T | undefined, dflt: T): T =>
    get(flag) !== undefined ? parse(get(flag)!) : (fromSaved ?? dflt);
  const o: TrainOptions = {
    net,
    data,
    out:
      get('out') ??
      join('runs', `${net}-${data.replace(/[^a-z0-9]+/gi, '_')}-${new Date().toISOString().replace(/[:.]/g, '-')}`),
    epochs: pick('epochs', (r) => num('epochs', r, { int: true, min: 1 }), saved?.epochs, 74),
    batch: pick('batch', (r) => num('batch', r, { int: true, min: 1 }), saved?.batch, 256),
    lr: pick('lr', (r) => num('lr', r, { gt: 0 }), saved?.lr, 0.01),
    momentum: pick('momentum', (r) => num('momentum', r, { min: 0, max: 0.999 }), saved?.momentum, 0.9),
    weightDecay: pick('weight-decay', (r) => num('weight-decay', r, { min: 0 }), saved?.weightDecay, 5e-4),
    dropout: pick('dropout', (r) => num('dropout', r, { min: 0, max: 0.99 }), saved?.dropout, 0.5),
    patience: pick('patience', (r) => num('patience', r, { int: true, min: 1 }), saved?.patience, 2),
    maxDecays: pick('max-decays', (r) => num('max-decays', r, { int: true, min: 0 }), saved?.maxDecays, 3),
    width: pick('width', (r) => num('width', r, { gt: 0, max: 4 }), saved?.width, 1),
    inputSize,
    classes: get('classes') ? num('classes', get('classes')!, { int: true, min: 2 }) : (saved?.classes ?? null),
    inChannels: get('in-channels')
      ? num('in-channels', get('in-channels')!, { int: true, min: 1 })
      : (saved?.inChannels ?? null),
    scale,
    flip: f['no-flip'] ? false : (saved?.flip ?? true),
    colorShift: pick('color-shift', (r) => num('color-shift', r, { min: 0 }), saved?.colorShift, 0.1),
    subtractMean: f['no-mean'] ? false : (saved?.subtractMean ?? true),
    std: get('std') ? numList('std', get('std')!, { gt: 0 }) : (saved?.std ?? null),
    init: pick('init', (r) => oneOf('init', r, INIT_SCHEMES), saved?.init, 'kaiming'),
    initFrom: get('init-from') ?? saved?.initFrom ?? null,
    lrnConvention: pick(
      'lrn-convention',
      (r) => oneOf('lrn-convention', r, ['caffe', 'alexnet'] as const),
      saved?.lrnConvention,
      'caffe',
    ),
    seed: pick('seed', (r) => num('seed', r, { int: true, min: 0 }), saved?.seed, 1),
    workers: pick('workers', (r) => num('workers', r, { int: true, min: 0, max: 64 }), undefined, defaultWorkers()),
    valFraction: pick('val-fraction', (r) => num('val-fraction', r, { gt: 0, max: 0.9 }), saved?.valFraction, 0.1),
    evalBatch: pick('eval-batch', (r) => num('eval-batch', r, { int: true, min: 1 }), undefined, 256),
    resume: f.resume === true,
    resumeLr: f.resume === true && get('lr') !== undefined ? num('lr', get('lr')!, { gt: 0 }) : null,
    maxSteps: get('max-steps') ? num('max-steps', get('max-steps')!, { int: true, min: 1 }) : null,
    devices: pick('devices', (r) => num('devices', r, { int: true, min: 1, max: 64 }), saved?.devices, 1),
    accumulate: get('accumulate')
      ? num('accumulate', get('accumulate')!, { int: true, min: 1 })
      : (saved?.accumulate ?? null),
    gpuMemoryBytes: get('gpu-memory')
      ? num('gpu-memory', get('gpu-memory')!, { gt: 0 }) * 2 ** 30
      : (saved?.gpuMemoryBytes ?? null),
    checkpointEvery: get('checkpoint-every')
      ? checkpointEvery(get('checkpoint-every')!)
      : (saved?.checkpointEvery ?? { seconds: 600, steps: null }),
  };
  if (o.devices! > o.batch)
    throw new UsageError(
      `--devices ${o.devices}: more devices than the ${o.batch} images of a batch; use a batch of at least ${o.devices}`,
    );
  if (o.accumulate != null && o.accumulate > o.batch)
    throw new UsageError(
      `--accumulate ${o.accumulate}: more micro-batches than the ${o.batch} images of a batch; use at most ${o.batch}`,
    );
  if (saved && o.net !== saved.net)
    throw new UsageError(`--resume: the run in ${o.out} trains VGG-${saved.net}, not VGG-${o.net}`);
  return o;
}
