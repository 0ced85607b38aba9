// The paper's training procedure (section 3.1) over any dataset: mini-batch SGD with momentum and
// weight decay, dropout, the plateau learning-rate schedule, scale-jittered crops, flips and colour
// shift; validation each epoch; atomic checkpoints, `best`, metrics and charts; exact resume.
import { existsSync, mkdirSync, writeFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { BatchMaker } from '../data/batch_maker.js';
import { epochOrder, mixSeed } from '../data/batches.js';
import { Prefetch } from '../../data/prefetch.js';
import type { ImageDataset } from '../../data/dataset.js';
import { openData } from '../data/open.js';
import { channelStats } from '../../data/transforms.js';
import { engine, onDevice } from '../../engine.js';
import { fill, fillInPlace } from '../../ops/elementwise.js';
import { TuningStopped, tuningEnabled } from '../../ops/tune.js';
import { SGD } from '../../optim/sgd.js';
import { Rng } from '../../rng.js';
import { keep } from '../../tensor.js';
import {
  checkpointConfig,
  initFromNetA,
  loadTrainingCheckpoint,
  type Preprocess,
  saveModel,
  trainStatePath,
} from '../checkpoint/checkpoint.js';
import { readSafetensors } from '../checkpoint/safetensors.js';
import { resolveConfig } from '../../vgg/config.js';
import { fmtBytes, GpuError } from '../../gpu/runtime.js';
import { preflight, type StepPlan } from '../../train/preflight.js';
import { buildVgg, type Vgg } from '../../vgg/model.js';
import { evaluateCentreCrop } from './evaluate.js';
import { pendingLoss, readSums, StepRunner } from './step.js';
import { RunCheckpoints, type RunState } from './run_checkpoints.js';
import { PlateauSchedule } from '../../train/schedule.js';
import { DivergedError, type EpochRecord, StoppedBeforeStart, type TrainEvent, type TrainOptions } from './options.js';

export {
  DivergedError,
  savedOptions,
  StoppedBeforeStart,
  type EpochRecord,
  type TrainEvent,
  type TrainOptions,
} from './options.js';
import { writeFilterGrid, writeTrainingChart } from './charts.js';

/**
 * Training batches requested beyond the one in use (each split across all workers): enough to keep
 * every worker busy while the GPU works, few enough that memory stays flat.
 */
export const LOOKAHEAD = 2;

/** The run's datasets, as its input pipeline numbers them. */
const TRAIN_SET = 0;
const VAL_SET = 1;

/** Trains a VGG with the paper's recipe: see TrainOptions. */
export class Trainer {
  readonly model: Vgg;
  readonly opt: SGD;
  readonly train: ImageDataset;
  readonly val: ImageDataset;
  /** The preflight's plan, per device: memory, and the micro-batches its slice of a step is split into. */
  readonly plan: StepPlan;
  /** Devices the batch is split across (the model and optimiser above are device 0's replica). */
  readonly devices: number;
  /** Every device's replica and the step over them; opened by run(). */
  private steps: StepRunner;
  private schedule: PlateauSchedule;
  private state: RunState;
  private stopRequested = false;
  private checkpoints: RunCheckpoints;

  constructor(
    readonly o: TrainOptions,
    private emit: (e: TrainEvent) => void = () => {},
  ) {
    const data = openData(o.data, o.valFraction, o.seed);
    this.train = data.train;
    this.val = data.val;
    mkdirSync(o.out, { recursive: true });
    const classes = this.train.classNames.length;
    if (o.classes != null && o.classes !== classes)
      throw new Error(
        `--classes ${o.classes}: ${this.train.name} has ${classes} classes; drop --classes or train on data with ${o.classes}`,
      );
    if (o.std && o.std.length !== this.train.channels)
      throw new Error(
        `--std: ${this.train.name} has ${this.train.channels}-channel images but ${o.std.length} values were given`,
      );
    if (o.inChannels != null && o.inChannels !== this.train.channels)
      throw new Error(
        `--in-channels ${o.inChannels}: ${this.train.name} has ${this.train.channels}-channel images; drop --in-channels or use matching data`,
      );
    const modelFile = join(o.out, 'last.safetensors');
    const resumeFile = trainStatePath(modelFile);
    if (o.resume && !existsSync(resumeFile))
      throw new Error(
        `--resume: no checkpoint at ${resumeFile}; start without --resume or point --out at the run's folder`,
      );
    if (o.resume) {
      const cfg = checkpointConfig(readSafetensors(resumeFile), resumeFile);
      if (
        cfg &&
        (cfg.net !== o.net ||
          cfg.width !== o.width ||
          cfg.inputSize !== o.inputSize ||
          cfg.classes !== classes ||
          cfg.inChannels !== this.train.channels)
      ) {
        throw new Error(
          `--resume: ${resumeFile} holds VGG-${cfg.net} width ${cfg.width}, ${cfg.inputSize}px, ${cfg.classes} classes, ${cfg.inChannels} channels; run with the same --net, --width and --input-size (or another --out)`,
        );
      }
    }
    engine().rng.setState({ state: mixSeed(o.seed, 0x1417), spare: null });
    const config = resolveConfig({
      net: o.net,
      width: o.width,
      inputSize: o.inputSize,
      classes,
      inChannels: this.train.channels,
      dropout: o.dropout,
      lrnConvention: o.lrnConvention,
    });
    this.devices = o.devices ?? 1;
    if (this.devices > o.batch)
      throw new Error(
        `--devices ${this.devices}: more devices than the ${o.batch} images of a batch; use a batch of at least ${this.devices}`,
      );
    // Each device holds its slice of the batch (slices differ by at most one image).
    this.plan = preflight(config, Math.ceil(o.batch / this.devices), engine().rt, {
      accumulate: o.accumulate,
      memoryBytes: o.gpuMemoryBytes,
    });
    const mem = this.plan;
    const split = mem.accumulate > 1 ? ` at ${mem.accumulate} micro-batches of ${mem.microBatch}` : '';
    const where =
      this.devices > 1
        ? `each of ${this.devices} devices holds its ${Math.ceil(o.batch / this.devices)} images of a training step${split}: about`
        : `a training step${split} holds about`;
    emit({
      kind: 'message',
      message: `${(mem.parameters / 1e6).toFixed(2)} M parameters; ${where} ${fmtBytes(mem.totalBytes)} on the GPU (${fmtBytes(mem.paramBytes)} weights, gradients and momentum)`,
    });
    if (mem.reason) emit({ kind: 'message', message: mem.reason });
    this.model = buildVgg({ ...config, init: o.init });
    this.opt = new SGD(this.model.parameters(), { lr: o.lr, momentum: o.momentum, weightDecay: o.weightDecay });
    this.schedule = new PlateauSchedule(o.lr, o.patience, o.maxDecays);
    this.checkpoints = new RunCheckpoints(o.out, this.model, this.opt, o.checkpointEvery);
    this.steps = new StepRunner(this.model, this.opt, o, this.plan, this.train.channels, this.val.length, emit);
    if (o.resume) {
      this.state = loadTrainingCheckpoint(modelFile, this.model, this.opt) as RunState;
      this.schedule.state = this.state.schedule;
      if (o.resumeLr) this.schedule.state.lr = o.resumeLr;
      this.opt.lr = this.state.schedule.lr;
      // metrics.jsonl as the checkpoint knows it: a crash between an epoch's line and its
      // checkpoint would otherwise leave that epoch in the file twice after the resume.
      writeFileSync(join(o.out, 'metrics.jsonl'), this.state.history.map((r) => `${JSON.stringify(r)}\n`).join(''));
      emit({
        kind: 'message',
        message: `resumed from ${resumeFile} at epoch ${this.state.epoch + 1}, step ${this.state.step}, lr ${this.opt.lr}`,
      });
    } else {
      if (o.initFrom) {
        const copied = initFromNetA(this.model, o.initFrom);
        emit({ kind: 'message', message: `initialised ${copied.length} tensors from net A (${o.initFrom})` });
      }
      // The channel statistics are computed at the start of run(), by the input pipeline.
      this.state = {
        step: 0,
        epoch: 0,
        stepInEpoch: 0,
        lossSum: 0,
        lossCount: 0,
        schedule: this.schedule.state,
        history: [],
        stats: null,
      };
      writeFileSync(join(o.out, 'options.json'), JSON.stringify(o, null, 2));
    }
  }

  /** Asks the loop to stop after the current step and write a checkpoint (Ctrl-C). */
  requestStop(): void {
    this.stopRequested = true;
  }

  get evalScale(): number {
    return Math.round((this.o.scale[0] + this.o.scale[1]) / 2);
  }

  /** Trains until the epochs run out, the schedule finishes, maxSteps, or a stop request. */
  async run(): Promise<{ stoppedEarly: boolean; history: EpochRecord[] }> {
    // The input pipeline's workers serve the training set (TRAIN_SET) and the validation set (VAL_SET).
    const pipeline = new BatchMaker([this.train, this.val], null, this.o.seed, this.o.workers);
    try {
      return await this.runWith(pipeline);
    } finally {
      await pipeline.close();
    }
  }

  private async runWith(pipeline: BatchMaker): Promise<{ stoppedEarly: boolean; history: EpochRecord[] }> {
    const o = this.o;
    const st = this.state;
    // Before the first step nothing is at stake: a stop request ends the run at the next chance.
    const stopBeforeStart = () => {
      if (this.stopRequested) throw new StoppedBeforeStart('before the first step');
    };
    st.stats ??= await channelStats(this.train, 10_000, new Rng(mixSeed(o.seed, 0x57a7)), (indices) => {
      stopBeforeStart();
      return pipeline.images(indices, null, undefined, TRAIN_SET);
    });
    const aug = {
      crop: o.inputSize,
      scale: o.scale,
      flip: o.flip,
      colorShift: o.colorShift,
      subtractMean: o.subtractMean,
      stats: st.stats,
      std: o.std ?? null,
    };
    pipeline.augment = aug;
    const stepsPerEpoch = Math.ceil(this.train.length / o.batch);
    await this.steps.open();
    const pending = st.lossPending ?? 0;
    // Each device's f32 running loss sum; a checkpoint of another device count resumes on device 0.
    const lossSums = this.steps.replicas.map((r, d) => {
      const start = Array.isArray(pending)
        ? pending.length === this.devices
          ? pending[d]
          : d === 0
            ? pending.reduce((a, b) => a + b, 0)
            : 0
        : d === 0
          ? pending
          : 0;
      return onDevice(r.engine, () => keep(fill([1], start)));
    });
    if (tuningEnabled()) {
      try {
        await this.steps.tune(join(o.out, 'tuning.log'), () => this.stopRequested);
      } catch (e) {
        if (e instanceof TuningStopped) throw new StoppedBeforeStart(`while timing kernels; ${e.message}`);
        throw e;
      }
    }
    // Compile a step's kernels now, in parallel where the backend allows, rather than during step 1.
    await this.steps.precompile();
    stopBeforeStart();
    this.checkpoints.countFrom(st.step); // --checkpoint-every counts from here
    try {
      while (st.epoch < o.epochs && !this.schedule.state.done) {
        const order = epochOrder(this.train.length, o.seed, st.epoch);
        const batches = new Prefetch(
          (k) =>
            pipeline.make(order.subarray(k * o.batch, Math.min((k + 1) * o.batch, order.length)), st.epoch, TRAIN_SET),
          st.stepInEpoch,
          stepsPerEpoch,
          LOOKAHEAD,
        );
        const t0 = performance.now();
        this.steps.exchangeMs = 0;
        let images = 0;
        let shown: number | null = null;
        for (let k = st.stepInEpoch; k < stepsPerEpoch; k++) {
          const batch = await batches.next();
          const B = batch.labels.length;
          await this.steps.step(batch, lossSums, st.step);
          pipeline.recycle(batch); // uploaded: its memory serves a later batch
          st.step++;
          st.stepInEpoch = k + 1;
          st.lossCount++;
          images += B;
          const flush = k % 10 === 9 || k + 1 === stepsPerEpoch;
          if (flush || shown === null) {
            // Reading the running sums syncs with the GPU only every few steps.
            const pending = (await readSums(lossSums)).reduce((a, b) => a + b, 0);
            shown = (st.lossSum + pending) / st.lossCount;
            if (!Number.isFinite(pending)) throw new DivergedError(st.step, this.checkpoints.last());
            if (flush) {
              st.lossSum += pending;
              for (const t of lossSums) fillInPlace(t, 0);
            }
          }
          const elapsed = (performance.now() - t0) / 1000;
          const rate = images / Math.max(elapsed, 1e-9);
          const dataWait = batches.waitMs / 1000 / Math.max(elapsed, 1e-9);
          this.emit({
            kind: 'step',
            epoch: st.epoch + 1,
            step: k + 1,
            steps: stepsPerEpoch,
            loss: shown,
            imagesPerSec: rate,
            etaSec: ((stepsPerEpoch - k - 1) * o.batch) / Math.max(rate, 1e-9),
            dataWait,
          });
          if (this.stopRequested || (o.maxSteps !== null && st.step >= o.maxSteps)) {
            await pipeline.close(); // its look-ahead batches are not needed
            st.lossPending = await pendingLoss(lossSums);
            await this.checkpoints.write(this.stateToSave(), this.preprocess);
            return { stoppedEarly: true, history: st.history };
          }
          if (k + 1 < stepsPerEpoch && this.checkpoints.due(st.step)) {
            // Within the epoch (its end writes one anyway): the f32 loss sum as it stands goes along.
            st.lossPending = await pendingLoss(lossSums);
            this.emit({
              kind: 'checkpoint',
              step: st.step,
              seconds: await this.checkpoints.writeInBackground(this.stateToSave(), this.preprocess),
            });
          }
        }
        const trainLoss = st.lossSum / Math.max(1, st.lossCount); // flushed at the epoch's last step
        const seconds = (performance.now() - t0) / 1000;
        const rates = await evaluateCentreCrop(
          this.model,
          pipeline,
          VAL_SET,
          this.val.length,
          this.evalScale,
          this.preprocess,
          o.evalBatch,
          (done) => this.emit({ kind: 'eval', epoch: st.epoch + 1, done, total: this.val.length }),
        );
        const lr = this.opt.lr;
        const outcome = this.schedule.step(rates.top1);
        this.opt.lr = this.schedule.state.lr;
        const record: EpochRecord = {
          epoch: st.epoch + 1,
          step: st.step,
          trainLoss,
          valTop1: rates.top1,
          valTop5: rates.top5,
          lr,
          seconds,
          imagesPerSec: images / seconds,
          dataWait: batches.waitMs / 1000 / seconds,
          batch: o.batch,
          accumulate: this.plan.accumulate,
          ...(this.devices > 1 ? { devices: this.devices, exchange: this.steps.exchangeMs / 1000 / seconds } : {}),
          schedule: outcome,
        };
        st.history.push(record);
        st.epoch++;
        st.stepInEpoch = 0;
        st.lossSum = 0;
        st.lossPending = 0;
        st.lossCount = 0;
        appendFileSync(join(o.out, 'metrics.jsonl'), `${JSON.stringify(record)}\n`);
        await this.checkpoints.write(this.stateToSave(), this.preprocess);
        if (outcome === 'improved')
          await saveModel(join(o.out, 'best.safetensors'), this.model, st.step, this.preprocess);
        await writeTrainingChart(join(o.out, 'chart.png'), st.history);
        await writeFilterGrid(join(o.out, 'filters.png'), this.model);
        this.emit({ kind: 'epoch', record });
      }
    } catch (e) {
      if (e instanceof GpuError && /device lost/.test(e.message)) {
        const last = this.checkpoints.last();
        throw new GpuError(
          `${e.message}. ${last ? `The last checkpoint is ${last}; --resume continues from it` : 'No checkpoint was written yet'}.`,
        );
      }
      throw e;
    } finally {
      await this.checkpoints.flush();
      for (const t of lossSums) t.dispose();
      this.steps.dispose();
    }
    return { stoppedEarly: false, history: st.history };
  }

  /** The resumable checkpoint on disk, or null before the first one. */
  lastCheckpoint(): string | null {
    return this.checkpoints.last();
  }

  /** The run's state as a checkpoint keeps it (the schedule's, and the micro-batches, for the record: a resume may use another K). */
  private stateToSave(): RunState {
    this.state.schedule = this.schedule.state;
    this.state.accumulate = this.plan.accumulate;
    return this.state;
  }

  /** Stored with every checkpoint so evaluation prepares images as training did. */
  get preprocess(): Preprocess {
    const p: Preprocess = {
      mean: this.o.subtractMean && this.state.stats ? this.state.stats.mean : null,
      scale: this.o.scale,
      classNames: [...this.train.classNames],
    };
    if (this.o.std) p.std = this.o.std;
    return p;
  }
}
