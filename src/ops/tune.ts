// Picks kernel variants by timing them on this adapter, once: for each layer shape and pass, every
// applicable variant runs on random data and the fastest is recorded (variants.ts keeps the
// choices on disk per adapter, so later runs start at once). tuneStep finds the shapes by a dry
// run of whatever code will run — a training step, an evaluation pass, a user's model.
import { engine } from '../engine.js';
import { host } from '../host.js';
import { Tensor } from '../tensor.js';
import { convForward, convGradInput, convGradWeight, type ConvPass, convVariants } from './conv2d.js';
import { maxChunkElems } from './launch.js';
import { matmulVariants, type Operand, type StridedMatmul, stridedMatmul } from './matmul.js';
import {
  type Choice,
  chooseVariantName,
  collectChoices,
  type ConvShape,
  type GemmShape,
  isDecided,
  type Pass,
  recordTuning,
  saveTunings,
  type Tuned,
  tuningFile,
} from './variants.js';

export type { ConvShape, GemmShape } from './variants.js';

export interface TuneResult extends Tuned {
  pass: Pass;
  shape: string;
}

/** False when VGGPU_TUNE=0: every shape then runs its default variant (tests, quick runs). */
export function tuningEnabled(): boolean {
  return host().setting('VGGPU_TUNE') !== '0';
}

/** Seconds tuneStep spends timing by default: VGGPU_TUNE_BUDGET (a number, or `inf`), else 120. */
export function defaultTuneBudget(): number {
  const raw = host().setting('VGGPU_TUNE_BUDGET');
  if (raw === undefined || raw === '') return 120;
  const v = raw === 'inf' ? Infinity : Number(raw);
  if (!(v >= 0)) throw new Error(`VGGPU_TUNE_BUDGET=${raw}: give seconds (e.g. 120) or inf`);
  return v;
}

/** Thrown out of the timing when its `shouldStop` says so (Ctrl-C before training starts); what was timed is saved. */
export class TuningStopped extends Error {
  constructor(readonly timed: number) {
    super(`kernel timing stopped after ${timed} layer passes (those are saved in ${tuningFile()})`);
    this.name = 'TuningStopped';
  }
}

/** How long tuneStep may time, and when to stop. */
export interface TuneOptions {
  /** Seconds of timing (default defaultTuneBudget()); passes not reached run their default variant until a later call times them. */
  budgetSec?: number;
  /** Checked before every timed run; true stops the timing with TuningStopped. */
  shouldStop?: () => boolean;
}

/**
 * Work per timed run on a CPU adapter, in floating-point operations: a convolution is timed on as
 * many of its images as stay within it (its variant is chosen per layer, whatever the batch), so
 * that each run, which blocks the process on the GLES backend, ends within a fraction of a second
 * and a signal is answered at once.
 */
const CPU_RUN_FLOPS = 5e8;

const random = (shape: readonly number[], seed: number) => {
  const n = shape.reduce((a, b) => a * b, 1);
  return Tensor.from(
    Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.7073 + seed)),
    shape,
  );
};

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/**
 * One call of `run`: its wall milliseconds waiting for the GPU, and its GPU milliseconds from
 * timestamp queries where the device has them (else the wall time: on GLES, where submit blocks
 * until the work is done, the same thing).
 */
async function once(run: () => void, shouldStop?: () => boolean): Promise<{ wall: number; gpu: number }> {
  if (shouldStop?.()) throw new TuningStopped(0);
  const rt = engine().rt;
  const t0 = performance.now();
  let gpu: number | null = null;
  if (rt.timesGpu) gpu = await rt.gpuMs(run);
  else {
    run();
    await rt.sync();
  }
  const wall = performance.now() - t0;
  // null from gpuMs: the call spanned more passes than the timer holds; its wall time stands.
  return { wall, gpu: gpu ?? wall };
}

/**
 * Times each candidate: a first (compiling) call, then rounds in which every candidate runs once
 * in turn, so a burst of load on a shared machine hits all of them alike; keeps each one's median
 * (what a run will see; the best time rewards a lucky moment, and a small kernel's time depends on
 * whether both of a CPU's cores happened to be free). Short kernels get more rounds (until 300 ms
 * are spent, at most 15). Candidates more than 3× slower than the leader drop out of later rounds.
 */
async function pickFastest(
  pass: Pass,
  shape: string,
  candidates: string[],
  run: (variant: string) => void,
  shouldStop?: () => boolean,
): Promise<TuneResult> {
  const samples: Record<string, number[]> = {};
  const ms: Record<string, number> = {};
  const compileMs: Record<string, number> = {};
  for (const v of candidates) {
    // The first call compiles: its wall time less the next call's is the compile time.
    const first = await once(() => run(v), shouldStop);
    const second = await once(() => run(v), shouldStop);
    samples[v] = [second.gpu];
    ms[v] = second.gpu;
    compileMs[v] = Math.max(0, first.wall - second.wall);
  }
  let alive = candidates;
  for (let round = 0, spent = 0; round < 15 && (round < 2 || spent < 300); round++) {
    const best = Math.min(...alive.map((v) => ms[v]));
    alive = alive.filter((v) => ms[v] <= 3 * best);
    if (alive.length < 2) break;
    for (const v of alive) {
      const t = await once(() => run(v), shouldStop);
      spent += t.wall;
      samples[v].push(t.gpu);
      ms[v] = median(samples[v]);
    }
  }
  const variant = candidates.reduce((a, b) => (ms[b] < ms[a] ? b : a));
  const tuned = { variant, ms, compileMs };
  recordTuning(pass, shape, tuned);
  return { pass, shape, ...tuned };
}

/** The passes of a convolution shape with no timing yet on this adapter, and their candidates. */
export function untunedConvPasses(
  s: ConvShape,
  passes: ConvPass[],
): Array<{ pass: ConvPass; shape: string; candidates: string[] }> {
  return passes
    .map((pass) => ({ pass, ...convVariants(pass, s.x, s.w, s.pad) }))
    .filter((t) => !isDecided(t.pass, t.shape, t.candidates));
}

/** True when a matrix product shape has no timing yet on this adapter and can be timed. */
export function gemmUntuned(g: GemmShape): boolean {
  const { shape, candidates } = gemmVariants(g);
  // Operands beyond one binding run in row ranges of other shapes (linear.ts): those use defaults.
  const tooBig = Math.max(g.M * g.K, g.K * g.N, g.M * g.N) > maxChunkElems();
  return !tooBig && !isDecided('gemm', shape, candidates);
}

/**
 * Times the variants of the given passes of each convolution shape not timed before on this
 * adapter, records the fastest and saves the choices. `log` hears about each shape tuned.
 */
export async function tuneConv(
  shapes: ConvShape[],
  passes: ConvPass[] = ['conv_forward', 'conv_grad_input', 'conv_grad_weight'],
  log: (line: string) => void = () => {},
  shouldStop?: () => boolean,
): Promise<TuneResult[]> {
  const results: TuneResult[] = [];
  for (const s of shapes) {
    const todo = untunedConvPasses(s, passes);
    if (!todo.length) continue;
    const [, C, H, W] = s.x;
    const [Cout, , KS] = s.w;
    const [Ho, Wo] = [H + 2 * s.pad - KS + 1, W + 2 * s.pad - KS + 1];
    const perImage = 2 * Cout * C * KS * KS * Ho * Wo;
    const N = timedImages(s.x[0], perImage);
    const xShape = [N, C, H, W];
    const yShape = [N, Cout, Ho, Wo];
    const x = random(xShape, 1);
    const w = random(s.w, 2);
    const b = random([Cout], 3);
    const dy = random(yShape, 4);
    const y = Tensor.empty(yShape);
    try {
      for (const t of todo) {
        const r = await pickFastest(
          t.pass,
          t.shape,
          t.candidates,
          (v) => {
            if (t.pass === 'conv_forward') convForward(x, w, b, y, true, s.pad, v);
            else if (t.pass === 'conv_grad_input') convGradInput(dy, w, xShape, s.pad, v).dispose();
            else convGradWeight(dy, x, s.w, s.pad, v).dispose();
          },
          shouldStop,
        );
        log(`${t.pass} ${t.shape}: ${r.variant} (${fmtTimes(r.ms)})`);
        results.push(r);
      }
    } finally {
      [x, w, b, dy, y].forEach((t) => t.dispose());
    }
  }
  if (results.length) saveTunings();
  return results;
}

/** The strided product a GemmShape describes, over the given buffers (or none, for its key alone). */
function gemmProblem(g: GemmShape, a?: Tensor, b?: Tensor, c?: Tensor): StridedMatmul {
  const op = (t: Tensor | undefined, rows: number, cols: number, rowsContiguous: boolean): Operand => {
    const base = { t: t as Tensor, start: 0, count: rows * cols };
    return rowsContiguous ? { ...base, s0: cols, s1: 1 } : { ...base, s0: 1, s1: rows };
  };
  return {
    M: g.M,
    N: g.N,
    K: g.K,
    a: op(a, g.M, g.K, g.aAlongK),
    b: op(b, g.K, g.N, g.bAlongN),
    c: op(c, g.M, g.N, true),
    label: 'tune gemm',
  };
}

/** A matrix product's shape key and applicable variants (the default first). */
export function gemmVariants(g: GemmShape): { shape: string; candidates: string[] } {
  return matmulVariants(gemmProblem(g));
}

/** Like tuneConv, for matrix products (the fully-connected layers' three passes). */
export async function tuneGemm(
  shapes: GemmShape[],
  log: (line: string) => void = () => {},
  shouldStop?: () => boolean,
): Promise<TuneResult[]> {
  const results: TuneResult[] = [];
  for (const g of shapes) {
    if (!gemmUntuned(g)) continue;
    const { shape, candidates } = gemmVariants(g);
    const a = random([g.M * g.K], 1);
    const b = random([g.K * g.N], 2);
    const c = Tensor.empty([g.M * g.N]);
    try {
      const p = gemmProblem(g, a, b, c);
      const r = await pickFastest('gemm', shape, candidates, (v) => stridedMatmul(p, v), shouldStop);
      log(`gemm ${shape}: ${r.variant} (${fmtTimes(r.ms)})`);
      results.push(r);
    } finally {
      [a, b, c].forEach((t) => t.dispose());
    }
  }
  if (results.length) saveTunings();
  return results;
}

function fmtTimes(ms: Record<string, number>): string {
  return Object.entries(ms)
    .map(([v, t]) => `${v} ${t.toFixed(1)} ms`)
    .join(', ');
}

/** Where a tuning run stands, after each timed pass (for a progress line). */
export interface TuneProgress {
  done: number;
  total: number;
  /** Estimated seconds left, from the average time per pass so far, at most what the budget leaves. */
  etaSec: number;
  /** The seconds the timing may take in all (Infinity: no limit). */
  budgetSec: number;
  /** What was just decided, e.g. "conv_forward 32x16x16 k3 p1 -> 32: direct-c8p8r4 (…)". */
  line: string;
}

/** A pass and shape `fn` runs, the variant it gets, and whether it was timed by this call. */
export interface StepVariant {
  pass: Pass;
  shape: string;
  variant: string;
  timedNow: boolean;
  /** Never timed: the budget ran out before it, so it runs its default variant until a later call times it. */
  deferred: boolean;
}

/** Floating-point operations of one run of a tuning job: the largest are timed first. */
function jobFlops(c: Choice): number {
  if (c.job.pass === 'gemm') return 2 * c.job.gemm.M * c.job.gemm.N * c.job.gemm.K;
  const { x, w } = c.job.conv;
  return 2 * x[0] * w[0] * w[1] * w[2] * w[3] * x[2] * x[3];
}

/** The images a convolution of `batch` is timed on: on a CPU adapter, as many as stay within CPU_RUN_FLOPS a run. */
function timedImages(batch: number, flopsPerImage: number): number {
  return engine().rt.adapter.isCpu ? Math.max(1, Math.min(batch, Math.floor(CPU_RUN_FLOPS / flopsPerImage))) : batch;
}

/** Floating-point operations of one timed run of a job (what its timing costs, at the rate seen so far). */
function timedFlops(c: Choice): number {
  const all = jobFlops(c);
  if (c.job.pass === 'gemm') return all;
  const n = c.job.conv.x[0];
  return (all / n) * timedImages(n, all / n);
}

/**
 * Tunes what `fn` runs: a dry run of `fn` on the current device (nothing executes; `fn` must not
 * read results) lists every (pass, shape) it asks a variant for; those never timed on this
 * adapter are timed now (the same timing as tuneConv/tuneGemm, kept on disk), the largest first,
 * within `budgetSec` (a pass starts only if it ends within it at the rate of the passes so far) (default 120 s, VGGPU_TUNE_BUDGET): passes the budget does not reach run
 * their default variant (`deferred`) and are timed by a later call. Returns every pass with the
 * variant it now gets. `fn` is e.g. one training step on `Tensor.empty` inputs, or a forward pass
 * at the sizes an evaluation will meet. With VGGPU_TUNE=0 nothing is timed. `shouldStop` ends the
 * timing with TuningStopped (what was timed is saved).
 */
export async function tuneStep(
  fn: () => void,
  onProgress: (p: TuneProgress) => void = () => {},
  options: TuneOptions = {},
): Promise<StepVariant[]> {
  const budgetSec = options.budgetSec ?? defaultTuneBudget();
  const choices = engine().rt.dryRun(() => collectChoices(fn)).value;
  const todo = tuningEnabled() ? choices.filter(needsTiming).sort((a, b) => jobFlops(b) - jobFlops(a)) : [];
  const t0 = performance.now();
  const elapsed = () => (performance.now() - t0) / 1000;
  let done = 0;
  const log = (line: string) => {
    done++;
    const eta = Math.min((elapsed() / done) * (todo.length - done), Math.max(0, budgetSec - elapsed()));
    onProgress({ done, total: todo.length, etaSec: eta, budgetSec, line });
  };
  const timed = new Set<string>();
  const deferred = new Set<string>();
  // Seconds of timing per FLOP of a run, from the passes so far: a pass is started only if, at
  // that rate, it ends within the budget (an FC product timed at full size costs many conv passes).
  let flopsSoFar = 0;
  try {
    for (const c of todo) {
      const estimate = flopsSoFar ? (elapsed() / flopsSoFar) * timedFlops(c) : 0;
      if (budgetSec <= 0 || elapsed() + estimate > budgetSec) {
        deferred.add(`${c.pass} ${c.shape}`);
        continue;
      }
      flopsSoFar += timedFlops(c);
      const results =
        c.job.pass === 'gemm'
          ? await tuneGemm([c.job.gemm], log, options.shouldStop)
          : await tuneConv([c.job.conv], [c.job.pass], log, options.shouldStop);
      for (const r of results) timed.add(`${r.pass} ${r.shape}`);
    }
  } catch (e) {
    if (!(e instanceof TuningStopped)) throw e;
    saveTunings();
    throw new TuningStopped(timed.size);
  }
  return choices.map((c) => {
    const key = `${c.pass} ${c.shape}`;
    return {
      pass: c.pass,
      shape: c.shape,
      variant: chooseVariantName(c.pass, c.shape, c.candidates),
      timedNow: timed.has(key),
      deferred: deferred.has(key),
    };
  });
}

function needsTiming(c: Choice): boolean {
  return c.job.pass === 'gemm' ? gemmUntuned(c.job.gemm) : !isDecided(c.pass, c.shape, c.candidates);
}
