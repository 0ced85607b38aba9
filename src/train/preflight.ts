// Checks, before any training work, that a net and batch fit the adapter's limits, and estimates
// the GPU memory a training step holds — so a size problem is reported with numbers and a fix
// instead of surfacing as a failure mid-step.
import type { Runtime } from '../gpu/runtime.js';
import { fmtBytes } from '../gpu/runtime.js';
import { planLayers, type VggConfig } from '../vgg/config.js';

/** GPU memory a training step holds. */
export interface MemoryEstimate {
  parameters: number;
  /** Parameters, gradients and momentum. */
  paramBytes: number;
  /** Activations kept for the backward pass, plus their gradients, for one batch. */
  activationBytes: number;
  totalBytes: number;
}

/** Estimates the GPU memory of training `config` at `batch`. */
export function estimateMemory(config: VggConfig, batch: number): MemoryEstimate {
  let params = 0;
  let act = config.inChannels * config.inputSize ** 2;
  for (const l of planLayers(config)) {
    if (l.kind === 'conv') {
      params += l.outChannels * l.inChannels * l.kernel ** 2 + l.outChannels;
      act += l.outChannels * l.size ** 2;
    } else if (l.kind === 'fc') {
      params += l.inFeatures * l.outFeatures + l.outFeatures;
      act += l.outFeatures * (l.dropoutAfter ? 2 : 1);
    } else act += l.channels * l.size ** 2;
  }
  const paramBytes = params * 4 * 3;
  const activationBytes = act * batch * 4 * 2;
  return { parameters: params, paramBytes, activationBytes, totalBytes: paramBytes + activationBytes };
}

/** Throws with the sizes involved and a suggestion when a layer cannot run on this adapter. */
export function preflight(config: VggConfig, batch: number, rt: Runtime): MemoryEstimate {
  const bind = rt.maxBindingBytes;
  const maxBuffer = rt.limits.maxBufferSize;
  const fix = 'use a smaller --batch, --width or --input-size';
  for (const l of planLayers(config)) {
    const perImage = (l.kind === 'conv' ? l.outChannels * l.size ** 2 : l.kind === 'fc' ? l.outFeatures : l.channels * l.size ** 2) * 4;
    if (perImage > bind) throw new Error(`${l.name}: one image's output needs ${fmtBytes(perImage)} in one binding, but the adapter binds at most ${fmtBytes(bind)}; ${fix}`);
    if (perImage * batch > maxBuffer) throw new Error(`${l.name}: a batch of ${batch} needs a ${fmtBytes(perImage * batch)} buffer, but the adapter allows ${fmtBytes(maxBuffer)}; ${fix}`);
    if (l.kind === 'fc' && l.inFeatures * 4 > bind) throw new Error(`${l.name}: one weight row of ${l.inFeatures} floats exceeds the ${fmtBytes(bind)} binding limit; ${fix}`);
    if (l.kind === 'fc' && l.inFeatures * l.outFeatures * 4 > maxBuffer) {
      throw new Error(`${l.name}: its ${fmtBytes(l.inFeatures * l.outFeatures * 4)} weight exceeds the adapter's ${fmtBytes(maxBuffer)} buffer limit; use a smaller --width or --input-size`);
    }
  }
  return estimateMemory(config, batch);
}
