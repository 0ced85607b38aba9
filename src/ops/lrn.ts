// Local response normalisation across channels (kernels/lrn.wgsl), used by VGG's A-LRN.
import { record } from '../autograd/tape.js';
import { engine } from '../engine.js';
import { OpError } from '../errors.js';
import { Tensor } from '../tensor.js';
import { forEachImageSlice, gridFor } from './launch.js';
import { checkOptions, checkTensor } from './args.js';

/**
 * How α enters the denominator k + α'·Σx²:
 * - `'caffe'`: α' = α/n — Caffe (which VGG used), PyTorch `nn.LocalResponseNorm`, ONNX. Default.
 * - `'alexnet'`: α' = α — the AlexNet paper, TensorFlow `tf.nn.local_response_normalization`.
 */
export type LrnConvention = 'caffe' | 'alexnet';

/** LRN parameters (defaults: the paper's). */
export interface LrnOptions {
  /** Channels in the window, n (default 5). */
  size?: number;
  /** k (default 2). */
  k?: number;
  /** α (default 1e-4). */
  alpha?: number;
  /** β (default 0.75). */
  beta?: number;
  /** Default 'caffe' (α/n). */
  convention?: LrnConvention;
}

/** The paper's (AlexNet's) parameters. */
export const LRN_DEFAULTS = { size: 5, k: 2, alpha: 1e-4, beta: 0.75, convention: 'caffe' as LrnConvention };

/** Local response normalisation across channels, [N, C, H, W] → same shape. */
export function lrn(x: Tensor, options: LrnOptions = {}): Tensor {
  checkTensor('lrn', 'input', x);
  checkOptions('lrn', options);
  const o = { ...LRN_DEFAULTS, ...options };
  if (x.shape.length !== 4) throw new OpError('lrn', 'input must be [N, C, H, W]', { input: x.shape });
  if (!Number.isInteger(o.size) || o.size < 1)
    throw new OpError('lrn', `size must be a positive integer, got ${o.size}`);
  if (!(o.k > 0)) throw new OpError('lrn', `k must be > 0, got ${o.k}`);
  if (o.convention !== 'caffe' && o.convention !== 'alexnet')
    throw new OpError('lrn', `convention must be 'caffe' or 'alexnet', got ${o.convention}`);
  const alphaEff = o.convention === 'caffe' ? o.alpha / o.size : o.alpha;
  const [N, C, H, W] = x.shape;
  const HW = H * W;
  const rt = engine().rt;
  const launch = (entry: 'forward' | 'backward', out: Tensor, dy?: Tensor) => {
    forEachImageSlice('lrn', N, [C * HW], (n0, n) => {
      const r = (t: Tensor) => rt.range(t.buffer, n0 * C * HW, n * C * HW);
      const xr = r(x);
      const outr = r(out);
      const dyr = dy ? r(dy) : null;
      const columns = n * HW; // one invocation walks the channels of each pixel
      rt.dispatch({
        kernel: 'lrn',
        entry,
        constants: { SIZE: o.size },
        uniforms: {
          n: columns,
          C,
          HW,
          xOff: xr.elemOffset,
          yOff: outr.elemOffset,
          dyOff: dyr?.elemOffset ?? 0,
          dxOff: outr.elemOffset,
          K: o.k,
          alpha: alphaEff,
          beta: o.beta,
        },
        buffers: dyr ? [xr, dyr, outr] : [xr, outr],
        workgroups: gridFor(columns),
        loop: C + o.size, // one walk over the channels of a pixel
        label: `lrn ${entry} ${x}`,
      });
    });
  };
  const y = Tensor.empty(x.shape, 'lrn');
  launch('forward', y);
  record('lrn', [x], y, [x], (g) => {
    const dx = Tensor.empty(x.shape, 'lrn dX');
    launch('backward', dx, g);
    return [dx];
  });
  return y;
}
