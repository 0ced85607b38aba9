// ReLU (kernels/relu.wgsl). Conv and linear layers fuse it into their output write instead.
import { record } from '../autograd/tape.js';
import { engine } from '../engine.js';
import { Tensor } from '../tensor.js';
import { forEachChunk, gridFor, vectorWidth } from './launch.js';
import { checkTensor } from './args.js';

/** max(x, 0), elementwise. */
export function relu(x: Tensor): Tensor {
  checkTensor('relu', 'input', x);
  const rt = engine().rt;
  const y = Tensor.empty(x.shape, 'relu');
  forEachChunk(x.size, (s, n) => {
    const xr = rt.range(x.buffer, s, n);
    const yr = rt.range(y.buffer, s, n);
    const VEC4 = vectorWidth(n, xr.elemOffset, yr.elemOffset) === 4;
    rt.dispatch({
      kernel: 'relu',
      entry: 'forward',
      constants: { VEC4 },
      uniforms: { n, aOff: xr.elemOffset, bOff: 0, yOff: yr.elemOffset },
      buffers: [xr, yr],
      workgroups: gridFor(VEC4 ? n / 4 : n),
      label: `relu ${x}`,
    });
  });
  record('relu', [x], y, [y], (g) => [reluBackward(y, g)]);
  return y;
}

/** dX = dY where the saved output y > 0, else 0. */
export function reluBackward(y: Tensor, dy: Tensor): Tensor {
  const rt = engine().rt;
  const dx = Tensor.empty(y.shape, 'relu dX');
  forEachChunk(y.size, (s, n) => {
    const yr = rt.range(y.buffer, s, n);
    const dyr = rt.range(dy.buffer, s, n);
    const dxr = rt.range(dx.buffer, s, n);
    const VEC4 = vectorWidth(n, yr.elemOffset, dyr.elemOffset, dxr.elemOffset) === 4;
    rt.dispatch({
      kernel: 'relu',
      entry: 'backward',
      constants: { VEC4 },
      uniforms: { n, aOff: yr.elemOffset, bOff: dyr.elemOffset, yOff: dxr.elemOffset },
      buffers: [yr, dyr, dxr],
      workgroups: gridFor(VEC4 ? n / 4 : n),
      label: `relu backward ${y}`,
    });
  });
  return dx;
}
