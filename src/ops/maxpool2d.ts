// 2×2 max-pool, stride 2 (kernels/maxpool.wgsl). Odd sizes floor, as in PyTorch.
import { record } from '../autograd/tape.js';
import { engine } from '../engine.js';
import { OpError } from '../errors.js';
import { Tensor } from '../tensor.js';
import { fillInPlace } from './elementwise.js';
import { forEachImageSlice, gridFor } from './launch.js';
import { checkTensor } from './args.js';

/** x [N, C, H, W] → [N, C, ⌊H/2⌋, ⌊W/2⌋]. */
export function maxPool2d(x: Tensor): Tensor {
  checkTensor('maxPool2d', 'input', x);
  if (x.shape.length !== 4) throw new OpError('maxPool2d', 'input must be [N, C, H, W]', { input: x.shape });
  const [N, C, H, W] = x.shape;
  if (H < 2 || W < 2) throw new OpError('maxPool2d', 'input must be at least 2×2', { input: x.shape });
  const Ho = Math.floor(H / 2);
  const Wo = Math.floor(W / 2);
  const rt = engine().rt;
  const y = Tensor.empty([N, C, Ho, Wo], 'maxPool2d');
  // Slices of whole planes (N·C of them) so every binding fits.
  forEachImageSlice('maxPool2d', N * C, [H * W], (p0, np) => {
    const xr = rt.range(x.buffer, p0 * H * W, np * H * W);
    const yr = rt.range(y.buffer, p0 * Ho * Wo, np * Ho * Wo);
    const n = np * Ho * Wo;
    rt.dispatch({
      kernel: 'maxpool',
      entry: 'forward',
      uniforms: { n, H, W, xOff: xr.elemOffset, yOff: yr.elemOffset, dyOff: 0, dxOff: 0 },
      buffers: [xr, yr],
      workgroups: gridFor(n),
      label: `maxPool2d ${x}`,
    });
  });
  record('maxPool2d', [x], y, [x], (g) => {
    const dx = Tensor.empty(x.shape, 'maxPool2d dX');
    if (H % 2 || W % 2) fillInPlace(dx, 0); // the dropped last row/column gets no gradient
    forEachImageSlice('maxPool2d', N * C, [H * W], (p0, np) => {
      const xr = rt.range(x.buffer, p0 * H * W, np * H * W);
      const dyr = rt.range(g.buffer, p0 * Ho * Wo, np * Ho * Wo);
      const dxr = rt.range(dx.buffer, p0 * H * W, np * H * W);
      const n = np * Ho * Wo;
      rt.dispatch({
        kernel: 'maxpool',
        entry: 'backward',
        uniforms: { n, H, W, xOff: xr.elemOffset, yOff: 0, dyOff: dyr.elemOffset, dxOff: dxr.elemOffset },
        buffers: [xr, dyr, dxr],
        workgroups: gridFor(n),
        label: `maxPool2d backward ${x}`,
      });
    });
    return [dx];
  });
  return y;
}
