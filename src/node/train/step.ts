// A training step over one device or several: each device's replica (model and optimiser), the
// micro-batches of its slice of the batch, the gradient exchange between devices, and dry runs of
// the step (and of the validation's forward passes) for timing kernel variants and precompiling.
import { appendFileSync } from 'node:fs';
import { backward, noGrad } from '../../autograd/tape.js';
import { type Batch, mixSeed } from '../data/batches.js';
import { type Engine, initDevices, onDevice, setCurrentDevice } from '../../engine.js';
import { accumulateInto, scale } from '../../ops/elementwise.js';
import { softmaxCrossEntropy } from '../../ops/softmax_cross_entropy.js';
import { tuneStep } from '../../ops/tune.js';
import { tuningFile } from '../../ops/variants.js';
import { SGD } from '../../optim/sgd.js';
import { Tensor, tidy } from '../../tensor.js';
import type { StepPlan } from '../../train/preflight.js';
import { broadcastReplica, GradientExchange, type Replica } from '../../train/data_parallel.js';
import { buildVgg, type Vgg } from '../../vgg/model.js';
import type { TrainEvent, TrainOptions } from './options.js';

export class StepRunner {
  /** Every device's model and optimiser, device 0's (the trainer's own) first; made by open(). */
  replicas: Array<Replica & { model: Vgg; opt: SGD }> = [];
  private exchange: GradientExchange | null = null;
  /** Milliseconds spent exchanging gradients since the trainer last reset it (an epoch). */
  exchangeMs = 0;
  private readonly devices: number;

  constructor(
    private model: Vgg,
    private opt: SGD,
    private o: TrainOptions,
    private plan: StepPlan,
    private channels: number,
    private valLength: number,
    private emit: (e: TrainEvent) => void,
  ) {
    this.devices = o.devices ?? 1;
  }

  /**
   * A training step of `r` on empty inputs, and with `validation` the validation's forward passes,
   * for dry runs (tuning, precompiling): nothing is read and nothing is kept.
   */
  dryStep(r: Replica & { model: Vgg; opt: SGD }, validation: boolean): void {
    const o = this.o;
    const C = this.channels;
    const input = (n: number) => Tensor.empty([n, C, o.inputSize, o.inputSize]);
    onDevice(r.engine, () => {
      const m = this.plan.microBatch;
      const loss = tidy(() => softmaxCrossEntropy(r.model.forward(input(m)), new Array<number>(m).fill(0)));
      backward(loss);
      loss.dispose();
      r.opt.zeroGrad();
      if (!validation) return;
      // evaluateCentreCrop's batches: full ones and the last, shorter one.
      const sizes = new Set([Math.min(o.evalBatch, this.valLength), this.valLength % o.evalBatch].filter((n) => n > 0));
      for (const n of sizes) {
        tidy(() => {
          noGrad(() => r.model.forward(input(n)));
        });
      }
    });
  }

  /**
   * Opens the other devices and gives each a replica equal to device 0's (parameters and momentum:
   * a new run's initialisation, or the checkpoint just loaded, whatever device count wrote it).
   */
  async open(): Promise<void> {
    if (this.replicas.length) return;
    const first = this.model.parameters()[0].engine;
    const engines = [first, ...(await initDevices(this.devices)).filter((e) => e !== first)].slice(0, this.devices);
    if (engines.length < this.devices)
      throw new Error(`--devices ${this.devices}: only ${engines.length} could be opened`);
    const sgd = { lr: this.opt.lr, momentum: this.opt.momentum, weightDecay: this.opt.weightDecay };
    this.replicas = engines.map((e, d) => {
      if (d === 0) return { engine: e, model: this.model, opt: this.opt, params: this.model.parameters() };
      const model = onDevice(e, () => buildVgg({ ...this.model.config, init: this.o.init }));
      return { engine: e, model, opt: new SGD(model.parameters(), sgd), params: model.parameters() };
    });
    if (this.devices > 1) {
      await broadcastReplica(this.replicas);
      this.exchange = new GradientExchange(this.replicas);
      this.emit({
        kind: 'message',
        message: `data parallel over ${this.devices} devices: each takes ${Math.floor(this.o.batch / this.devices)}${this.o.batch % this.devices ? `–${Math.ceil(this.o.batch / this.devices)}` : ''} images of a batch; gradients are summed through the host in ${this.exchange.buckets.length} bucket${this.exchange.buckets.length > 1 ? 's' : ''}`,
      });
    }
  }

  /**
   * One SGD step on a batch. Each device takes a contiguous slice of it, and runs its slice's
   * micro-batches (the preflight's split) forward and backward in turn, each loss weighted by its
   * share of the whole batch, so the gradients summed over micro-batches and devices are the whole
   * batch's. Then the same update on every device. Every micro-batch draws the step's dropout seeds
   * and places its masks by its first image, so masks, like augmentation, depend on (seed, step,
   * image) alone, whichever device runs it. Each device adds its losses to its `lossSums` entry.
   */
  async step(batch: Batch, lossSums: Tensor[], stepIndex: number): Promise<void> {
    const o = this.o;
    const B = batch.labels.length;
    const C = this.channels;
    const per = C * o.inputSize ** 2;
    const N = this.replicas.length;
    this.replicas.forEach((r, d) => {
      const s0 = Math.floor((d * B) / N);
      const s1 = Math.floor(((d + 1) * B) / N);
      const parts = Math.min(this.plan.accumulate, s1 - s0);
      onDevice(r.engine, () => {
        for (let m = 0; m < parts; m++) {
          const j0 = s0 + Math.floor((m * (s1 - s0)) / parts);
          const j1 = s0 + Math.floor(((m + 1) * (s1 - s0)) / parts);
          r.engine.rng.setState({ state: mixSeed(o.seed, stepIndex, 0xd40), spare: null });
          const loss = tidy(() => {
            const x = Tensor.from(batch.x.subarray(j0 * per, j1 * per), [j1 - j0, C, o.inputSize, o.inputSize]);
            const l = softmaxCrossEntropy(r.model.forward(x, j0), batch.labels.subarray(j0, j1));
            return j1 - j0 === B ? l : scale(l, (j1 - j0) / B);
          });
          // The last micro-batch's backward starts sending finished gradients to the other devices.
          backward(
            loss,
            undefined,
            this.exchange && m === parts - 1 ? { onGradReady: this.exchange.onGradReady(d) } : {},
          );
          accumulateInto(lossSums[d], loss);
          loss.dispose();
        }
      });
    });
    if (this.exchange) {
      await this.exchange.allReduce();
      this.exchangeMs += this.exchange.lastMs;
    }
    for (const r of this.replicas) {
      r.opt.lr = this.opt.lr;
      r.opt.step();
      r.opt.zeroGrad();
    }
  }

  /**
   * Times the kernel variants of what a step and the validation run, once per adapter and layer
   * shape (the choices are read back from disk on later runs). The detail goes to `logFile`; the
   * CLI shows one progress line.
   */
  async tune(logFile: string, shouldStop: () => boolean): Promise<void> {
    const t0 = performance.now();
    let timed = 0;
    let deferred = 0;
    for (const r of onePerAdapter(this.replicas)) {
      const was = setCurrentDevice(r.engine);
      try {
        const passes = await tuneStep(
          () => this.dryStep(r, true),
          (p) => {
            appendFileSync(logFile, `${new Date().toISOString()} ${p.line}\n`);
            this.emit({ kind: 'tune', ...p });
          },
          { shouldStop },
        );
        timed += passes.filter((p) => p.timedNow).length;
        deferred += passes.filter((p) => p.deferred).length;
      } finally {
        setCurrentDevice(was);
      }
    }
    const later = deferred
      ? `; ${deferred} more run their default variant until a later run times them (the timing budget, --tune-budget, was spent)`
      : '';
    if (timed || deferred)
      this.emit({
        kind: 'message',
        message: `timed kernel variants for ${timed} layer passes in ${((performance.now() - t0) / 1000).toFixed(1)} s (once per adapter; saved in ${tuningFile()}, details in ${logFile})${later}`,
      });
  }

  /** Compiles a step's kernels now, in parallel where the backend allows, rather than during step 1. */
  async precompile(): Promise<void> {
    for (const r of this.replicas) await r.engine.rt.precompile(() => this.dryStep(r, false));
  }

  dispose(): void {
    this.exchange?.dispose();
  }
}

/** The first replica of each adapter among `replicas` (devices of one adapter share its kernel timings). */
function onePerAdapter<T extends { engine: Engine }>(replicas: T[]): T[] {
  const seen = new Set<string>();
  return replicas.filter(({ engine: e }) => {
    const key = `${e.rt.adapter.backend} ${e.rt.adapter.description}`;
    return !seen.has(key) && !!seen.add(key);
  });
}

/** Each device's running loss sum (f32), read back. */
export async function readSums(sums: Tensor[]): Promise<number[]> {
  return Promise.all(sums.map(async (t) => (await t.toArray())[0]));
}

/** The running loss sums as a checkpoint keeps them: one number, or one per device. */
export async function pendingLoss(sums: Tensor[]): Promise<number | number[]> {
  const v = await readSums(sums);
  return v.length === 1 ? v[0] : v;
}
