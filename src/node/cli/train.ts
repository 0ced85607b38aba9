#!/usr/bin/env node
// `npm run train -- --net E [flags]`: the paper's training recipe on a real dataset.
import '../host.js'; // the Node host: Dawn's adapters, the cache folder, the environment
import { initDevices } from '../../engine.js';
import { formatSummary, resolveConfig, type VggConfig } from '../../vgg/config.js';
import { estimateMemory, fitAccumulation, microBatch } from '../../train/preflight.js';
import { fmtBytes } from '../../gpu/runtime.js';
import { DivergedError, StoppedBeforeStart, Trainer } from '../train/trainer.js';
import { fmtDuration, Progress } from './progress.js';
import { applyTuneBudget, applyVariants, helpText, parseFlags, UsageError } from './args.js';
import { openData } from '../data/open.js';
import { buildOptions, TRAIN_FLAGS } from './train_options.js';
import { verbose } from '../gpu/native_stderr.js';

async function main(): Promise<number> {
  const f = parseFlags(process.argv.slice(2), TRAIN_FLAGS);
  if (f.help) {
    process.stdout.write(
      helpText('npm run train -- [flags]   Train a VGG network with the paper’s recipe.', TRAIN_FLAGS),
    );
    return 0;
  }
  const o = buildOptions(f);
  applyVariants(f.variants);
  applyTuneBudget(f['tune-budget']);
  if (f.verbose) process.env.VGGPU_VERBOSE = '1';
  if (f.summary) {
    // --classes and --in-channels describe the net without data (e.g. the paper's ImageNet nets).
    const data = o.classes != null && o.inChannels != null ? null : openData(o.data, o.valFraction, o.seed).train;
    const cfg = resolveConfig({
      net: o.net,
      width: o.width,
      inputSize: o.inputSize,
      classes: o.classes ?? data!.classNames.length,
      inChannels: o.inChannels ?? data!.channels,
      dropout: o.dropout,
      lrnConvention: o.lrnConvention,
    });
    process.stdout.write(
      `${formatSummary(cfg)}\n${stepMemory(cfg, o.batch, o.accumulate ?? null, o.gpuMemoryBytes ?? null)}\n`,
    );
    return 0;
  }
  const engines = await initDevices(o.devices ?? 1);
  const e = engines[0];
  for (const d of engines) console.log(`${engines.length > 1 ? `device ${d.index}` : 'adapter'}: ${d.rt.describe()}`);
  if (e.rt.adapter.isCpu)
    console.log(
      'note: the CPU fallback is about 100× slower than a GPU; --width 0.25 and --input-size 32 make CPU-sized nets. Running what you asked.',
    );
  const progress = new Progress();
  let started = false; // a step has run: a stop then finishes it and checkpoints
  const trainer = new Trainer(o, (ev) => {
    if (ev.kind === 'tune') {
      if (verbose()) {
        progress.done();
        console.log(`  kernel variant for ${ev.line}`);
      }
      const budget = Number.isFinite(ev.budgetSec) ? ` (budget ${fmtDuration(ev.budgetSec)})` : '';
      progress.update(
        'timing kernels for this adapter (once, largest layers first)',
        ev.done,
        ev.total,
        `passes, ~${fmtDuration(ev.etaSec)} left${budget}`,
      );
    } else if (ev.kind === 'step') {
      started = true;
      const { accumulate: k, microBatch: m } = trainer.plan;
      const n = trainer.devices;
      const batch = `batch ${o.batch}${n > 1 || k > 1 ? ` = ${n > 1 ? `${n} devices × ` : ''}${k > 1 ? `${k}×${m}` : m}` : ''}`;
      progress.update(
        `epoch ${ev.epoch}`,
        ev.step,
        ev.steps,
        `loss ${ev.loss === null ? '…' : ev.loss.toFixed(4)}  ${batch}  ${ev.imagesPerSec.toFixed(1)} img/s  waiting for data ${(ev.dataWait * 100).toFixed(0)}%  ETA ${fmtDuration(ev.etaSec)}`,
      );
    } else if (ev.kind === 'eval') progress.update(`  validating`, ev.done, ev.total, '');
    else if (ev.kind === 'epoch') {
      progress.done();
      const r = ev.record;
      console.log(
        `epoch ${r.epoch}: train loss ${r.trainLoss.toFixed(4)}  val top-1 err ${(r.valTop1 * 100).toFixed(2)}%  top-5 err ${(r.valTop5 * 100).toFixed(2)}%  lr ${r.lr.toExponential(1)}  ${fmtDuration(r.seconds)} (${r.imagesPerSec.toFixed(1)} img/s, ${(r.dataWait * 100).toFixed(0)}% waiting for data)  [${r.schedule}]`,
      );
    } else if (ev.kind === 'checkpoint') {
      progress.done();
      console.log(
        `checkpoint at step ${ev.step} (training paused ${ev.seconds.toFixed(1)} s; the files are written meanwhile)`,
      );
    } else {
      progress.done();
      console.log(ev.message);
    }
  });
  console.log(
    `VGG-${o.net} ×${o.width} on ${trainer.train.name} (${trainer.train.length} images) → ${o.out}; validating on ${trainer.val.name} (${trainer.val.length})`,
  );
  let interrupts = 0;
  let firstInterrupt = 0;
  // Ctrl-C (SIGINT) or a polite kill (SIGTERM, e.g. from a job scheduler or a background shell,
  // where SIGINT is ignored) both finish the step and write a checkpoint.
  const onSignal = (signal: string) => {
    // npm and tsx forward the terminal's Ctrl-C to us as well: copies within a second are one press.
    if (interrupts > 0 && Date.now() - firstInterrupt < 1000) return;
    if (++interrupts > 1) process.exit(130);
    firstInterrupt = Date.now();
    progress.done();
    console.log(
      started
        ? `\n${signal}: finishing this step and writing a checkpoint (Ctrl-C again to quit at once)…`
        : `\n${signal}: stopping (no step has run yet, so there is nothing to checkpoint; Ctrl-C again to quit at once)…`,
    );
    trainer.requestStop();
  };
  process.on('SIGINT', () => onSignal('interrupt'));
  process.on('SIGTERM', () => onSignal('terminate'));
  const t0 = Date.now();
  try {
    const { stoppedEarly, history } = await trainer.run();
    progress.done();
    if (stoppedEarly) {
      console.log(`stopped with a checkpoint in ${o.out}; continue with: npm run train -- --out ${o.out} --resume`);
      return interrupts ? 130 : 0;
    }
    const best = history.reduce((b, r) => (r.valTop1 < b.valTop1 ? r : b), history[0]);
    if (best)
      console.log(
        `done in ${fmtDuration((Date.now() - t0) / 1000)}: best val top-1 error ${(best.valTop1 * 100).toFixed(2)}% (accuracy ${((1 - best.valTop1) * 100).toFixed(2)}%) at epoch ${best.epoch}; ${o.out}/best.safetensors`,
      );
    return 0;
  } catch (err) {
    progress.done();
    if (err instanceof StoppedBeforeStart) {
      console.log(err.message);
      return 130;
    }
    if (err instanceof DivergedError) {
      console.error(`error: ${err.message}`);
      return 3;
    }
    throw err;
  }
}

/** The summary's memory line: a training step at this batch, and the split that fits --gpu-memory. */
function stepMemory(cfg: VggConfig, batch: number, accumulate: number | null, memoryBytes: number | null): string {
  const m = accumulate ? microBatch(batch, accumulate) : batch;
  const e = estimateMemory(cfg, m);
  const at = accumulate && accumulate > 1 ? `batch ${batch} as ${accumulate} micro-batches of ${m}` : `batch ${batch}`;
  let line = `a training step at ${at} holds about ${fmtBytes(e.totalBytes)} on the GPU (${fmtBytes(e.paramBytes)} weights, gradients and momentum; ${fmtBytes(e.activationBytes)} activations; ${fmtBytes(e.workspaceBytes)} convolution workspace)`;
  if (memoryBytes !== null) {
    // The adapter's buffer limits are checked when training starts; here only the memory budget.
    const k = fitAccumulation(cfg, batch, Infinity, memoryBytes);
    line +=
      k === null
        ? `; not even one image fits --gpu-memory ${fmtBytes(memoryBytes)}`
        : k === 1
          ? `; fits --gpu-memory ${fmtBytes(memoryBytes)}`
          : `; to fit --gpu-memory ${fmtBytes(memoryBytes)}: --accumulate ${k} (micro-batches of ${microBatch(batch, k)}, ${fmtBytes(estimateMemory(cfg, microBatch(batch, k)).totalBytes)})`;
  }
  return line;
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    console.error(`error: ${err.message}`);
    process.exit(err instanceof UsageError ? 2 : 1);
  },
);
