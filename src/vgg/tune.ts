// Times kernel variants for one network's layer shapes before training starts (ops/tune.ts), so
// every step runs the fastest variant this adapter has; the choices are cached on disk.
import type { ConvShape, GemmShape, TuneResult } from '../ops/tune.js';
import { gemmUntuned, gemmVariants, tuneConv, tuneGemm, untunedConvPasses } from '../ops/tune.js';
import { planLayers, type VggConfig } from './config.js';

/** Conv and FC shapes of a training step of `config` at `batch` images. */
export function vggShapes(config: VggConfig, batch: number): { convs: Array<ConvShape & { first: boolean }>; gemms: GemmShape[] } {
  const convs: Array<ConvShape & { first: boolean }> = [];
  const gemms: GemmShape[] = [];
  for (const l of planLayers(config)) {
    if (l.kind === 'conv') {
      convs.push({ x: [batch, l.inChannels, l.size, l.size], w: [l.outChannels, l.inChannels, l.kernel, l.kernel], pad: (l.kernel - 1) / 2, first: convs.length === 0 });
    } else if (l.kind === 'fc') {
      const [IN, OUT] = [l.inFeatures, l.outFeatures];
      gemms.push({ M: batch, N: OUT, K: IN, aAlongK: true, bAlongN: false }); // X·Wᵀ
      gemms.push({ M: batch, N: IN, K: OUT, aAlongK: true, bAlongN: true }); // dY·W
      gemms.push({ M: OUT, N: IN, K: batch, aAlongK: false, bAlongN: true }); // dYᵀ·X
    }
  }
  return { convs, gemms };
}

/** Where a tuning run stands, after each timed pass (for a progress line). */
export interface TuneProgress {
  done: number;
  total: number;
  /** Estimated seconds left, from the average time per pass so far. */
  etaSec: number;
  /** What was just decided, e.g. "conv_forward 32x16x16 k3 p1 -> 32: row-8x8x4 (…)". */
  line: string;
}

/**
 * Tunes every pass a training step of `config` runs (the first conv has no input gradient) that
 * has no timing on this adapter yet; `onProgress` hears after each pass, with the count known up front.
 */
export async function tuneVgg(config: VggConfig, batch: number, onProgress: (p: TuneProgress) => void = () => {}): Promise<TuneResult[]> {
  const { convs, gemms } = vggShapes(config, batch);
  // Deeper nets repeat layer shapes; each (pass, shape) is timed once.
  const seen = new Set<string>();
  const firstTime = (key: string) => !seen.has(key) && !!seen.add(key);
  const convJobs = convs.map((c) => {
    const passes = untunedConvPasses(c, c.first ? ['conv_forward', 'conv_grad_weight'] : ['conv_forward', 'conv_grad_input', 'conv_grad_weight']);
    return { c, passes: passes.filter((t) => firstTime(`${t.pass} ${t.shape}`)).map((t) => t.pass) };
  });
  const gemmJobs = gemms.filter((g) => gemmUntuned(g) && firstTime(`gemm ${gemmVariants(g).shape}`));
  const total = convJobs.reduce((n, j) => n + j.passes.length, 0) + gemmJobs.length;
  const t0 = performance.now();
  let done = 0;
  const log = (line: string) => {
    done++;
    const perPass = (performance.now() - t0) / 1000 / done;
    onProgress({ done, total, etaSec: perPass * (total - done), line });
  };
  const results: TuneResult[] = [];
  for (const { c, passes } of convJobs) if (passes.length) results.push(...(await tuneConv([c], passes, log)));
  results.push(...(await tuneGemm(gemmJobs, log)));
  return results;
}
