// Inverted dropout (kernels/dropout.wgsl): training keeps each element with probability 1-p and
// scales it by 1/(1-p); evaluation (or p = 0) is the identity. The mask is a hash of
// (seed, element index), so the backward recomputes it and nothing is saved.
import { record } from '../autograd/tape.js';
import { engine } from '../engine.js';
import { OpError } from '../errors.js';
import { Tensor } from '../tensor.js';
import { copy } from './elementwise.js';
import { forEachChunk, gridFor } from './launch.js';
import { checkOptions, checkTensor } from './args.js';

/** Options of dropout. */
export interface DropoutOptions {
  /** Drop probability in [0, 1). */
  p: number;
  /** False in evaluation: returns x unchanged (as a copy). */
  training: boolean;
  /** Mask seed; drawn from the engine's seeded RNG when omitted. */
  seed?: number;
  /**
   * Added to every element index before hashing: a micro-batch that starts at image j of a larger
   * batch passes j × (elements per image), and gets exactly the masks the whole batch would have.
   */
  indexOffset?: number;
}

/** Inverted dropout: keeps each element with probability 1−p, scaled by 1/(1−p). */
export function dropout(x: Tensor, options: DropoutOptions): Tensor {
  checkTensor('dropout', 'input', x);
  if (options === undefined) throw new OpError('dropout', 'options { p, training } are required');
  checkOptions('dropout', options);
  const { p, training } = options;
  if (!(p >= 0 && p < 1)) throw new OpError('dropout', `p must be in [0, 1), got ${p}`, { input: x.shape });
  if (!training || p === 0) return copy(x);
  const seed = options.seed ?? engine().rng.nextU32();
  const offset = options.indexOffset ?? 0;
  const y = applyMask(x, p, seed, offset, `dropout ${x}`);
  record('dropout', [x], y, [], (g) => [applyMask(g, p, seed, offset, `dropout backward ${g}`)]);
  return y;
}

function applyMask(a: Tensor, p: number, seed: number, offset: number, label: string): Tensor {
  const rt = engine().rt;
  const y = Tensor.empty(a.shape, 'dropout');
  forEachChunk(a.size, (s, n) => {
    const ar = rt.range(a.buffer, s, n);
    const yr = rt.range(y.buffer, s, n);
    rt.dispatch({
      kernel: 'dropout',
      uniforms: {
        n,
        aOff: ar.elemOffset,
        yOff: yr.elemOffset,
        base: (offset + s) >>> 0,
        seed: seed >>> 0,
        p,
        scale: 1 / (1 - p),
      },
      buffers: [ar, yr],
      workgroups: gridFor(n),
      label,
    });
  });
  return y;
}
