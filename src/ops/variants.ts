// Kernel variants. GEMM and the three convolution passes each have a small family of
// implementations (tile shapes, vec4 or scalar loads, implicit GEMM or direct); which one runs for
// a shape is decided, in order, by
//   1. a forced choice: setVariant(), or VGGPU_VARIANTS="conv_forward=direct-c8p8r1,gemm=vec4-m8n8";
//   2. a timing on this adapter (tune.ts), kept on disk per adapter and version of the kernels, so
//      it is made once;
//   3. the family's default for the shape (the first candidate its op file lists).
import { engine } from '../engine.js';
import { host } from '../host.js';
import { OpError } from '../errors.js';
import { kernelsFingerprint } from '../gpu/kernels.js';

/** The passes whose kernels come in variants. */
export const PASSES = ['gemm', 'conv_forward', 'conv_grad_input', 'conv_grad_weight'] as const;
/** A GPU pass whose kernel comes in variants. */
export type Pass = (typeof PASSES)[number];

/** One convolution layer: input [N, C, H, W], weight [Cout, C, k, k], zero padding. */
export interface ConvShape {
  x: readonly number[];
  w: readonly number[];
  pad: number;
}

/** One matrix product C[M, N] = A[M, K]·B[K, N]; A rows (aAlongK) or columns contiguous, likewise B. */
export interface GemmShape {
  M: number;
  N: number;
  K: number;
  aAlongK: boolean;
  bAlongN: boolean;
}

/** What the tuner needs to time a pass on a shape with random data. */
export type TuneJob = { pass: Exclude<Pass, 'gemm'>; conv: ConvShape } | { pass: 'gemm'; gemm: GemmShape };

/** A choice made while `collectChoices` listened: the pass, its shape key, candidates, and how to time it. */
export interface Choice {
  pass: Pass;
  shape: string;
  candidates: readonly string[];
  job: TuneJob;
}

let listening: Map<string, Choice> | null = null;

/**
 * Runs `fn` and returns every (pass, shape) whose variant it asked for, once each: what a step,
 * an evaluation pass or any user code really runs, for the tuner (ops/tune.ts tuneStep).
 */
export function collectChoices(fn: () => void): Choice[] {
  const outer = listening;
  const heard = new Map<string, Choice>();
  listening = heard;
  try {
    fn();
  } finally {
    listening = outer;
  }
  if (outer) for (const [k, c] of heard) if (!outer.has(k)) outer.set(k, c);
  return [...heard.values()];
}

/** One timed choice: the winner, every candidate's milliseconds per call and first-call overhead (compiling). */
export interface Tuned {
  variant: string;
  ms: Record<string, number>;
  compileMs: Record<string, number>;
}

const forced = new Map<Pass, string>();
// Per adapter (devices of one adapter share its timings), read from disk on first use.
const tunings = new Map<string, Record<string, Tuned>>();

/** Forces `pass` to use `variant` wherever it applies (null: back to tuned/default choices). */
export function setVariant(pass: Pass, variant: string | null): void {
  if (!PASSES.includes(pass)) throw new OpError('variants', `unknown pass "${pass}"; passes: ${PASSES.join(', ')}`);
  if (variant === null) forced.delete(pass);
  else forced.set(pass, variant);
}

/**
 * Parses "pass=variant,pass=variant" (VGGPU_VARIANTS, or a CLI flag) into forced choices; with
 * `keep`, passes already forced keep their choice.
 */
export function forceVariants(spec: string, keep = false): void {
  for (const part of spec.split(',').filter(Boolean)) {
    const [pass, variant] = part.split('=');
    if (!variant) throw new OpError('variants', `"${part}" should be pass=variant, e.g. conv_forward=direct-c8p8r1`);
    if (!(keep && forced.has(pass as Pass))) setVariant(pass as Pass, variant);
  }
}

// VGGPU_VARIANTS is read from the host's settings on first use (there is no host at import);
// a choice forced in code or by a flag before then wins.
let settingRead = false;
function readSetting(): void {
  if (settingRead) return;
  settingRead = true;
  const spec = host().setting('VGGPU_VARIANTS');
  if (spec) forceVariants(spec, true);
}

/**
 * The variant to run for `pass` on a shape; `candidates` lists those that apply, default first.
 * `job` says how the tuner can time this shape (see collectChoices).
 *
 * Key policy (the `shape` string each op builds): convolutions are keyed by the layer without the
 * batch size — (C, H, W, k, pad, Cout) — since their kernels tile pixels and channels, which
 * every batch has; matrix products by M×N×K and the operands' layouts, exactly, since FC layers
 * put the batch in M (forward, input gradient) or K (weight gradient) and the tile choice turns on it.
 */
export function chooseVariantName(pass: Pass, shape: string, candidates: readonly string[], job?: TuneJob): string {
  if (listening && job && !listening.has(`${pass} ${shape}`))
    listening.set(`${pass} ${shape}`, { pass, shape, candidates, job });
  readSetting();
  if (candidates.length === 0)
    throw new OpError(
      pass,
      `no kernel variant runs ${shape} within this adapter's limits (${engine().rt.describe()}); use a smaller layer`,
    );
  const f = forced.get(pass);
  if (f !== undefined) {
    if (!candidates.includes(f))
      throw new OpError(
        pass,
        `forced variant "${f}" does not apply to ${shape}; variants that do: ${candidates.join(', ')}`,
      );
    return f;
  }
  const t = loadTunings()[`${pass} ${shape}`];
  if (t && candidates.includes(t.variant)) return t.variant;
  return candidates[0];
}

/** As chooseVariantName, over table entries (see Variant): returns the entry. */
export function chooseVariant<V extends { readonly name: string }>(
  pass: Pass,
  shape: string,
  entries: readonly V[],
  job?: TuneJob,
): V {
  const name = chooseVariantName(
    pass,
    shape,
    entries.map((e) => e.name),
    job,
  );
  return entries.find((e) => e.name === name)!;
}

/**
 * One implementation of a pass, a row of that pass's table: when it applies to a problem (shape and
 * adapter), where it comes in the default order, and how it launches.
 */
export interface Variant<P, A> {
  /** Says what one invocation tiles, e.g. `direct-c8p8r4` (see conv2d_variants.ts, matmul.ts). */
  readonly name: string;
  applies(p: P): boolean;
  /** Lower first; the default for a problem is the lowest-ranked entry that applies. */
  rank(p: P): number;
  /**
   * Floats one invocation keeps live (accumulators and the operands it holds at once): GPU
   * adapters get only entries within GPU_LIVE_FLOATS, so none spills past a GPU's registers.
   */
  liveFloats(p: P): number;
  launch(a: A): void;
}

/**
 * Most live floats per invocation of a variant offered on a GPU adapter (core feature level, not a
 * CPU): NVIDIA allots at most 255 registers per thread, AMD 256 VGPRs at full occupancy only below
 * ~100; 128 leaves room for addresses and keeps occupancy. CPU adapters get every row (their compilers spill to cache cheaply).
 */
export const GPU_LIVE_FLOATS = 128;

const applicableMemo = new WeakMap<object, Map<string, unknown[]>>();

/**
 * The entries of `table` that apply to `p`, the default first. With `memoKey` — a string naming
 * everything the rows' rules read from `p` — the answer is kept per adapter, binding and loop limit (an
 * op asks on every call; the rules cost tens of µs).
 */
export function applicable<P, A>(table: readonly Variant<P, A>[], p: P, memoKey?: string): Array<Variant<P, A>> {
  const cpu = engine().rt.adapter.isCpu;
  const list = () =>
    table
      .filter((v) => v.applies(p) && (cpu || v.liveFloats(p) <= GPU_LIVE_FLOATS))
      .map((v) => ({ v, r: v.rank(p) }))
      .sort((a, b) => a.r - b.r)
      .map(({ v }) => v);
  if (memoKey === undefined) return list();
  let memo = applicableMemo.get(table);
  if (!memo) {
    memo = new Map();
    applicableMemo.set(table, memo);
  }
  const rt = engine().rt;
  const key = `${adapterKey()}|${rt.maxBindingBytes}|${rt.loopLimit}|${rt.maxWorkgroupsPerDim}|${memoKey}`;
  let hit = memo.get(key) as Array<Variant<P, A>> | undefined;
  if (!hit) {
    hit = list();
    memo.set(key, hit);
  }
  return hit;
}

/** The entry of `table` called `name`, for forcing or timing one; throws naming the table's entries. */
export function variantNamed<P, A>(pass: Pass, table: readonly Variant<P, A>[], name: string): Variant<P, A> {
  const v = table.find((e) => e.name === name);
  if (!v) throw new OpError(pass, `unknown variant "${name}"; variants: ${table.map((e) => e.name).join(', ')}`);
  return v;
}

/** True when every candidate has been timed (or a choice is forced), so tune() can skip the shape. */
export function isDecided(pass: Pass, shape: string, candidates: readonly string[]): boolean {
  readSetting();
  if (forced.has(pass) || candidates.length < 2) return true;
  const t = loadTunings()[`${pass} ${shape}`];
  return !!t && candidates.every((c) => c in t.ms);
}

/** Records a timing for this adapter (saved to disk by saveTunings). */
export function recordTuning(pass: Pass, shape: string, tuned: Tuned): void {
  loadTunings()[`${pass} ${shape}`] = tuned;
}

/** Every timing made on this adapter, keyed "pass shape". */
export function tuningsForAdapter(): Readonly<Record<string, Tuned>> {
  return loadTunings();
}

const TUNING_FILE = 'kernel-tuning.json';

/** Where timings are kept (the Node host: $VGGPU_CACHE_DIR, else ~/.cache/vggpu). */
export function tuningFile(): string {
  return host().cachePath(TUNING_FILE);
}

function adapterKey(): string {
  const a = engine().rt.adapter;
  return `${a.backend} ${a.featureLevel} ${a.description}`;
}

/** The file: per adapter, the kernel sources' fingerprint and the timings made with them. */
type TuningFile = Record<string, { kernels: string; timings: Record<string, Tuned> }>;

function readFile(): TuningFile {
  try {
    const data = JSON.parse(host().readCache(TUNING_FILE) ?? '{}');
    return data && typeof data === 'object' ? data : {};
  } catch {
    return {}; // unreadable: tune again
  }
}

function loadTunings(): Record<string, Tuned> {
  const key = adapterKey();
  let t = tunings.get(key);
  if (!t) {
    // Timings of other kernel sources (an older version) are stale: start again.
    const entry = readFile()[key];
    t =
      entry?.kernels === kernelsFingerprint() && entry.timings && typeof entry.timings === 'object'
        ? entry.timings
        : {};
    tunings.set(key, t);
  }
  return t;
}

/** Writes this adapter's timings (atomically; other adapters' entries are kept). */
export function saveTunings(): void {
  const all = readFile();
  all[adapterKey()] = { kernels: kernelsFingerprint(), timings: loadTunings() };
  try {
    host().writeCache(TUNING_FILE, JSON.stringify(all, null, 1));
  } catch (e) {
    host().warn(
      `could not save kernel timings to ${tuningFile()}: ${(e as Error).message}; they will be measured again next time`,
    );
  }
}

/** Forgets timings in memory (tests; the file is re-read on next use). */
export function resetTunings(): void {
  tunings.clear();
}
