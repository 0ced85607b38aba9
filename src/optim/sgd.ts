// Mini-batch SGD with momentum and L2 weight decay (PyTorch semantics, as in the paper's recipe):
//   d = g + wd·p;  buf = momentum·buf + d;  p −= lr·buf     — one kernel pass per parameter.
import { onDevice } from '../engine.js';
import { OpError } from '../errors.js';
import { fillInPlace } from '../ops/elementwise.js';
import { forEachChunk, gridFor, vectorWidth } from '../ops/launch.js';
import { keep, Tensor } from '../tensor.js';

/** SGD hyper-parameters (defaults: the paper's). */
export interface SgdOptions {
  /** Learning rate (paper: 1e-2). */
  lr: number;
  /** Momentum (paper: 0.9). */
  momentum?: number;
  /** L2 weight decay (paper: 5e-4). */
  weightDecay?: number;
}

/** SGD with momentum and weight decay, PyTorch semantics, one kernel per parameter. */
export class SGD {
  lr: number;
  readonly momentum: number;
  readonly weightDecay: number;
  /** Momentum buffer per parameter, created zero on first use. */
  readonly buffers = new Map<Tensor, Tensor>();

  constructor(
    readonly params: Tensor[],
    options: SgdOptions,
  ) {
    this.lr = options.lr;
    this.momentum = options.momentum ?? 0.9;
    this.weightDecay = options.weightDecay ?? 5e-4;
    if (!(this.lr > 0)) throw new OpError('SGD', `lr must be > 0, got ${this.lr}`);
    if (!(this.momentum >= 0 && this.momentum < 1))
      throw new OpError('SGD', `momentum must be in [0, 1), got ${this.momentum}`);
    if (!(this.weightDecay >= 0)) throw new OpError('SGD', `weightDecay must be ≥ 0, got ${this.weightDecay}`);
  }

  /** Updates every parameter that has a gradient (each on its own device). */
  step(): void {
    for (const p of this.params) if (p.grad) onDevice(p.engine, () => this.update(p, p.grad!));
  }

  /** The momentum buffer of `p`, made (zero, on p's device) on first use. */
  momentumOf(p: Tensor): Tensor {
    let buf = this.buffers.get(p);
    if (!buf) {
      buf = onDevice(p.engine, () => {
        const b = keep(Tensor.empty(p.shape, 'momentum'));
        fillInPlace(b, 0);
        return b;
      });
      this.buffers.set(p, buf);
    }
    return buf;
  }

  private update(p: Tensor, g: Tensor): void {
    const rt = p.engine.rt;
    const b = this.momentumOf(p);
    forEachChunk(p.size, (s, n) => {
      const pr = rt.range(p.buffer, s, n);
      const gr = rt.range(g.buffer, s, n);
      const br = rt.range(b.buffer, s, n);
      const vec4 = vectorWidth(n, pr.elemOffset, gr.elemOffset, br.elemOffset) === 4;
      rt.dispatch({
        kernel: 'sgd',
        constants: { VEC4: vec4 },
        uniforms: {
          n,
          pOff: pr.elemOffset,
          gOff: gr.elemOffset,
          bufOff: br.elemOffset,
          lr: this.lr,
          momentum: this.momentum,
          wd: this.weightDecay,
        },
        buffers: [pr, gr, br],
        workgroups: gridFor(vec4 ? n / 4 : n),
        label: `sgd ${p}`,
      });
    });
  }

  /** Drops every parameter's gradient (the next backward starts from zero). */
  zeroGrad(): void {
    for (const p of this.params) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  /** Frees the momentum buffers. */
  dispose(): void {
    for (const b of this.buffers.values()) b.dispose();
    this.buffers.clear();
  }
}
