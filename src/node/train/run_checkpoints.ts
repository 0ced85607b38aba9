// A run's checkpoints: what they hold (RunState), written now (epoch ends, stops) or in the
// background (within epochs, --checkpoint-every), atomically either way, and when one is due.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ChannelStats } from '../../data/transforms.js';
import type { SGD } from '../../optim/sgd.js';
import type { PlateauState } from '../../train/schedule.js';
import type { Vgg } from '../../vgg/model.js';
import {
  type Preprocess,
  saveTrainingCheckpoint,
  snapshotTrainingCheckpoint,
  trainStatePath,
} from '../checkpoint/checkpoint.js';
import type { EpochRecord } from './options.js';

/** What a resumable checkpoint keeps of a run beside the parameters and momentum. */
export interface RunState {
  [key: string]: unknown;
  step: number;
  epoch: number;
  stepInEpoch: number;
  /**
   * The epoch's training loss so far: the GPU adds each step's loss to an f32 running sum, which is
   * moved into `lossSum` (f64) every 10 steps, at the same steps in every run; a checkpoint between
   * those keeps the f32 sum as it stands (`lossPending`), and a resumed run continues from it, so
   * resumed runs report bit-identical losses.
   */
  lossSum: number;
  /** One value per device when training on several (each keeps its own f32 running sum). */
  lossPending?: number | number[];
  lossCount: number;
  schedule: PlateauState;
  history: EpochRecord[];
  /** Null until run() has measured them (a new run). */
  stats: ChannelStats | null;
}

export class RunCheckpoints {
  private lastSaved: { step: number; time: number } | null = null;
  private pendingWrite: Promise<void> | null = null;
  private readonly file: string;

  constructor(
    out: string,
    private model: Vgg,
    private opt: SGD,
    private every: { seconds: number | null; steps: number | null } = { seconds: 600, steps: null },
  ) {
    this.file = join(out, 'last.safetensors');
  }

  /** The resumable checkpoint on disk, or null before the first one. */
  last(): string | null {
    const f = trainStatePath(this.file);
    return existsSync(f) ? f : null;
  }

  /** --checkpoint-every counts from `step`, now. */
  countFrom(step: number): void {
    this.lastSaved = { step, time: performance.now() };
  }

  /** Writes a checkpoint now (after any still being written in the background). */
  async write(state: RunState, preprocess: Preprocess): Promise<void> {
    await this.flush();
    await saveTrainingCheckpoint(this.file, this.model, this.opt, state, preprocess);
    this.countFrom(state.step);
  }

  /**
   * A checkpoint within an epoch: training waits only while the parameters and momentum are read
   * off the GPU; the files are written while it goes on (atomically, as always: a crash meanwhile
   * leaves the previous checkpoint). Returns the seconds training waited.
   */
  async writeInBackground(state: RunState, preprocess: Preprocess): Promise<number> {
    await this.flush();
    const t0 = performance.now();
    const write = await snapshotTrainingCheckpoint(this.file, this.model, this.opt, state, preprocess);
    this.pendingWrite = write();
    this.pendingWrite.catch(() => {}); // surfaced by flush
    this.countFrom(state.step);
    return (performance.now() - t0) / 1000;
  }

  /** Waits for a checkpoint being written in the background; its failure is thrown here. */
  async flush(): Promise<void> {
    const p = this.pendingWrite;
    this.pendingWrite = null;
    await p;
  }

  /** True when --checkpoint-every's steps or training time have passed since the last checkpoint at `step`. */
  due(step: number): boolean {
    if (!this.lastSaved) return false;
    const { steps, seconds } = this.every;
    return (
      (steps !== null && step - this.lastSaved.step >= steps) ||
      (seconds !== null && performance.now() - this.lastSaved.time >= seconds * 1000)
    );
  }
}
