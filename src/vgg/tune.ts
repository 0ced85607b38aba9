// Times kernel variants for one network's layer shapes before training starts (ops/tune.ts), so
// every step runs the fastest variant this adapter has; the choices are cached on disk.
import type { ConvShape, GemmShape, TuneResult } from '../ops/tune.js';
import { tuneConv, tuneGemm } from '../ops/tune.js';
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

/** Tunes every pass a training step of `config` runs (the first conv has no input gradient). */
export async function tuneVgg(config: VggConfig, batch: number, log: (line: string) => void = () => {}): Promise<TuneResult[]> {
  const { convs, gemms } = vggShapes(config, batch);
  const results: TuneResult[] = [];
  for (const c of convs) {
    results.push(...(await tuneConv([c], c.first ? ['conv_forward', 'conv_grad_weight'] : ['conv_forward', 'conv_grad_input', 'conv_grad_weight'], log)));
  }
  results.push(...(await tuneGemm(gemms, log)));
  return results;
}
