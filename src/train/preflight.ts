// Checks, before any training work, that a net and batch fit the adapter's limits, and estimates
// the GPU memory a training step holds — so a size problem is reported with numbers and a fix
// instead of surfacing as a failure mid-step.
import type { Runtime } from '../gpu/runtime.js';
import { fmtBytes } from '../gpu/runtime.js';
import { type LayerPlan, planLayers, type VggConfig } from '../vgg/config.js';
import { winogradWorkspaceBytes } from '../ops/conv2d_winograd.js';

/** GPU memory a training step holds. */
export interface MemoryEstimate {
  parameters: number;
  /** Parameters, gradients and momentum. */
  paramBytes: number;
  /** Activations kept for the backward pass, plus their gradients, for one batch. */
  activationBytes: number;
  /**
   * The largest scratch one convolution pass may hold while it runs: Winograd's transformed
   * inputs and products (F(2×2), the larger, in image slices of at most WINOGRAD_WORKSPACE_BYTES).
   */
  workspaceBytes: number;
  totalBytes: number;
}

/** Estimates the GPU memory of training `config` at `batch`. */
export function estimateMemory(config: VggConfig, batch: number): MemoryEstimate {
  let params = 0;
  let act = config.inChannels * config.inputSize ** 2;
  let workspaceBytes = 0;
  for (const l of planLayers(config)) {
    if (l.kind === 'conv') {
      params += l.outChannels * l.inChannels * l.kernel ** 2 + l.outChannels;
      act += l.outChannels * l.size ** 2;
      if (l.kernel === 3)
        workspaceBytes = Math.max(
          workspaceBytes,
          winogradWorkspaceBytes(2, l.inChannels, l.outChannels, l.size, l.size, batch),
        );
    } else if (l.kind === 'fc') {
      params += l.inFeatures * l.outFeatures + l.outFeatures;
      act += l.outFeatures * (l.dropoutAfter ? 2 : 1);
    } else act += l.channels * l.size ** 2;
  }
  const paramBytes = params * 4 * 3;
  const activationBytes = act * batch * 4 * 2;
  return {
    parameters: params,
    paramBytes,
    activationBytes,
    workspaceBytes,
    totalBytes: paramBytes + activationBytes + workspaceBytes,
  };
}

/** Bytes of one image's output of a layer (one buffer holds a batch of them). */
function outputBytes(l: LayerPlan): number {
  return (
    (l.kind === 'conv' ? l.outChannels * l.size ** 2 : l.kind === 'fc' ? l.outFeatures : l.channels * l.size ** 2) * 4
  );
}

/** The largest activation one image needs in a single buffer, and its layer. */
function largestActivation(config: VggConfig): { bytes: number; layer: string } {
  let best = { bytes: 0, layer: '' };
  for (const l of planLayers(config)) if (outputBytes(l) > best.bytes) best = { bytes: outputBytes(l), layer: l.name };
  return best;
}

/** Images per micro-batch when a batch is split into k. */
export const microBatch = (batch: number, k: number) => Math.ceil(batch / k);

/**
 * The fewest micro-batches k (gradient accumulation) for which a training step of `batch` images
 * keeps every activation buffer within `maxBuffer` and, when `memoryBytes` is known, the whole
 * step within it; null when not even one image at a time fits.
 */
export function fitAccumulation(
  config: VggConfig,
  batch: number,
  maxBuffer: number,
  memoryBytes: number | null,
): number | null {
  const act = largestActivation(config).bytes;
  for (let size = batch; size >= 1; size--) {
    const k = Math.ceil(batch / size); // the fewest micro-batches of at most `size` images
    const m = microBatch(batch, k);
    if (act * m <= maxBuffer && (memoryBytes === null || estimateMemory(config, m).totalBytes <= memoryBytes)) return k;
  }
  return null;
}

/** What the preflight decided: the step's memory at its micro-batch size, and the split. */
export interface StepPlan extends MemoryEstimate {
  accumulate: number;
  microBatch: number;
  /** Why the batch is split, when the preflight chose to (null: as asked, or not split). */
  reason: string | null;
}

/**
 * Checks, before any work, that a training step fits the adapter (and `memoryBytes`, if known);
 * throws with the sizes and a fix when a layer cannot run. Unless `accumulate` is given, a batch
 * whose activations do not fit is split into the fewest micro-batches that do (said in `reason`).
 */
export function preflight(
  config: VggConfig,
  batch: number,
  rt: Runtime,
  o: { accumulate?: number | null; memoryBytes?: number | null } = {},
): StepPlan {
  const bind = rt.maxBindingBytes;
  const maxBuffer = rt.limits.maxBufferSize;
  const fix = 'use a smaller --width or --input-size';
  for (const l of planLayers(config)) {
    const perImage = outputBytes(l);
    if (perImage > bind)
      throw new Error(
        `${l.name}: one image's output needs ${fmtBytes(perImage)} in one binding, but the adapter binds at most ${fmtBytes(bind)}; ${fix}`,
      );
    if (perImage > maxBuffer)
      throw new Error(
        `${l.name}: one image's output needs a ${fmtBytes(perImage)} buffer, but the adapter allows ${fmtBytes(maxBuffer)}; ${fix}`,
      );
    if (l.kind === 'fc' && l.inFeatures * 4 > bind)
      throw new Error(
        `${l.name}: one weight row of ${l.inFeatures} floats exceeds the ${fmtBytes(bind)} binding limit; ${fix}`,
      );
    if (l.kind === 'fc' && l.inFeatures * l.outFeatures * 4 > maxBuffer) {
      throw new Error(
        `${l.name}: its ${fmtBytes(l.inFeatures * l.outFeatures * 4)} weight exceeds the adapter's ${fmtBytes(maxBuffer)} buffer limit; ${fix}`,
      );
    }
  }
  const memoryBytes = o.memoryBytes ?? null;
  const fits = fitAccumulation(config, batch, maxBuffer, memoryBytes);
  const act = largestActivation(config);
  const why = (k: number) => {
    const m = microBatch(batch, k);
    if (act.bytes * m > maxBuffer)
      return `${act.layer} needs a ${fmtBytes(act.bytes * m)} buffer for ${m} images, but the adapter allows ${fmtBytes(maxBuffer)}`;
    return `a step of ${m} images holds about ${fmtBytes(estimateMemory(config, m).totalBytes)}, more than the ${fmtBytes(memoryBytes!)} of --gpu-memory`;
  };
  if (fits === null) throw new Error(`not even one image at a time fits: ${why(batch)}; ${fix}`);
  const k = o.accumulate ?? fits;
  if (k < fits)
    throw new Error(
      `--accumulate ${k}: ${why(k)}; --accumulate ${fits} (micro-batches of ${microBatch(batch, fits)}) fits`,
    );
  const m = microBatch(batch, k);
  const reason =
    o.accumulate == null && k > 1
      ? `a batch of ${batch} does not fit (${why(1)}): accumulating gradients over ${k} micro-batches of ${m} — one SGD step, the same up to float summation order`
      : null;
  return { ...estimateMemory(config, m), accumulate: k, microBatch: m, reason };
}
