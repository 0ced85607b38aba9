// A training run's options (the CLI's flags), the events a Trainer reports, an epoch's record, and
// the errors that end a run early: the trainer's vocabulary, apart from the loop itself.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LrnConvention } from '../../ops/lrn.js';
import type { NetName } from '../../vgg/config.js';
import type { InitScheme } from '../../vgg/init.js';
import type { TuneProgress } from '../../ops/tune.js';

/** Everything a training run needs (the CLI's flags). */
export interface TrainOptions {
  net: NetName;
  data: string;
  out: string;
  epochs: number;
  batch: number;
  lr: number;
  momentum: number;
  weightDecay: number;
  dropout: number;
  patience: number;
  maxDecays: number;
  width: number;
  /** Training crop = the net's input size. */
  inputSize: number;
  /** Output classes and input channels if given; they must match the data (null: the data's). */
  classes?: number | null;
  inChannels?: number | null;
  /** Smallest side S before cropping: fixed [S, S] or jittered [Smin, Smax]. */
  scale: [number, number];
  flip: boolean;
  colorShift: number;
  subtractMean: boolean;
  /** Per-channel divisor after the mean (null or absent: none, the paper's recipe). */
  std?: number[] | null;
  init: InitScheme;
  initFrom: string | null;
  lrnConvention: LrnConvention;
  seed: number;
  workers: number;
  valFraction: number;
  evalBatch: number;
  resume: boolean;
  /** With resume: replace the saved learning rate (a cut by hand, as the paper's authors did). */
  resumeLr?: number | null;
  /** Stop (with a checkpoint) after this many steps in total; for tests and time-boxed runs. */
  maxSteps: number | null;
  /**
   * Devices to train on (data parallel: each takes a contiguous slice of every batch, the gradients
   * are summed across them); absent: 1. A resumed run may use another number.
   */
  devices?: number;
  /** Micro-batches per SGD step on each device (gradient accumulation); null or absent: 1, or what the preflight needs. */
  accumulate?: number | null;
  /** The GPU's memory, if known: the preflight picks `accumulate` so a step fits in it. */
  gpuMemoryBytes?: number | null;
  /** Resumable checkpoints within an epoch, after this much training time or this many steps. */
  checkpointEvery?: { seconds: number | null; steps: number | null };
}

/** Progress events a Trainer reports. */
export type TrainEvent =
  | { kind: 'start'; message: string }
  | {
      kind: 'step';
      epoch: number;
      step: number;
      steps: number;
      loss: number | null;
      imagesPerSec: number;
      etaSec: number;
      dataWait: number;
    }
  | { kind: 'eval'; epoch: number; done: number; total: number }
  | ({ kind: 'tune' } & TuneProgress)
  | { kind: 'epoch'; record: EpochRecord }
  | { kind: 'checkpoint'; step: number; seconds: number }
  | { kind: 'message'; message: string };

/** One epoch's metrics (a line of metrics.jsonl). */
export interface EpochRecord {
  epoch: number;
  step: number;
  trainLoss: number;
  valTop1: number;
  valTop5: number;
  lr: number;
  seconds: number;
  imagesPerSec: number;
  /** Share of the epoch's training time spent waiting for the input pipeline. */
  dataWait: number;
  /** Images per SGD step, and the micro-batches each step was split into. */
  batch: number;
  accumulate: number;
  /** Devices the batch was split across, and the share of training time spent summing gradients across them. */
  devices?: number;
  exchange?: number;
  schedule: string;
}

/** Reads a run's saved options (for --resume without repeating every flag). */
export function savedOptions(out: string): Partial<TrainOptions> | null {
  const f = join(out, 'options.json');
  return existsSync(f) ? (JSON.parse(readFileSync(f, 'utf8')) as Partial<TrainOptions>) : null;
}

/** A stop request (Ctrl-C, SIGTERM) before the first step: nothing to checkpoint. */
export class StoppedBeforeStart extends Error {
  constructor(when: string) {
    super(`stopped ${when}; no step had run, so there is no checkpoint`);
    this.name = 'StoppedBeforeStart';
  }
}

/** Training stopped because the loss became NaN or infinite. */
export class DivergedError extends Error {
  constructor(step: number, lastGood: string | null) {
    const kept = lastGood
      ? `The last good checkpoint is ${lastGood} (kept, not overwritten; --resume continues from it)`
      : 'No checkpoint was written before it';
    super(
      `the loss became NaN or infinite by step ${step}; training stopped. ${kept}. Try a lower --lr or another --init.`,
    );
    this.name = 'DivergedError';
  }
}
