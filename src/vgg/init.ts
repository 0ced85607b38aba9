// Weight initialisation schemes. Biases start at zero in all of them.
import { engine } from '../engine.js';
import type { Tensor } from '../tensor.js';
import type { Rng } from '../rng.js';

/**
 * - `kaiming` (default): N(0, 2/fan_in), He et al. 2015. It keeps the activation variance constant
 *   through ReLU layers, so all six nets — even the 19-layer E — train from scratch, without the
 *   paper's pre-training of net A.
 * - `xavier`: U(±√(6/(fan_in+fan_out))), Glorot & Bengio 2010; the authors' post-submission note says it
 *   also works without pre-training.
 * - `paper`: N(0, variance 10⁻²), i.e. std 0.1, as section 3.1 states for net A. Deep nets diverge
 *   or stall with it; it is here to reproduce the paper's setting.
 */
export const INIT_SCHEMES = ['kaiming', 'xavier', 'paper'] as const;
/** One of INIT_SCHEMES. */
export type InitScheme = (typeof INIT_SCHEMES)[number];

/** Values for a weight of `shape` ([out, in] or [out, in, k, k]). */
export function initValues(shape: readonly number[], scheme: InitScheme, rng: Rng): Float32Array {
  const size = shape.reduce((a, b) => a * b, 1);
  const receptive = shape.slice(2).reduce((a, b) => a * b, 1);
  const fanIn = shape[1] * receptive;
  const fanOut = shape[0] * receptive;
  const out = new Float32Array(size);
  if (scheme === 'xavier') {
    const a = Math.sqrt(6 / (fanIn + fanOut));
    for (let i = 0; i < size; i++) out[i] = (2 * rng.uniform() - 1) * a;
    return out;
  }
  const std = scheme === 'kaiming' ? Math.sqrt(2 / fanIn) : 0.1;
  for (let i = 0; i < size; i++) out[i] = rng.normal() * std;
  return out;
}

/** Initialises a (weight, bias) pair in place. Uses the engine's seeded RNG unless one is given. */
export function initLayer(weight: Tensor, bias: Tensor | null, scheme: InitScheme, rng: Rng = engine().rng): void {
  const rt = engine().rt;
  rt.write(weight.buffer, 0, initValues(weight.shape, scheme, rng));
  if (bias) rt.write(bias.buffer, 0, new Float32Array(bias.size));
}
