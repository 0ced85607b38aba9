// The tape end to end: a small conv → ReLU → LRN → pool → FC → loss network against a float64
// CPU reference, gradient accumulation, saved-tensor release, and a leak check over 50 steps.
import { beforeAll, describe, expect, it } from 'vitest';
import {
  add,
  backward,
  clearTape,
  conv2d,
  engine,
  flatten,
  init,
  linear,
  lrn,
  maxPool2d,
  noGrad,
  SGD,
  softmaxCrossEntropy,
  Tensor,
  tapeOf,
  tidy,
} from '../src/node/index.js';
import { expectClose, param, randn } from './helpers.js';
import * as ref from './reference.js';

beforeAll(async () => {
  await init();
});

const N = 3,
  C = 3,
  H = 9,
  W = 7,
  CO = 5,
  CLASSES = 4;
const LRN = { size: 5, k: 1, alpha: 0.5, beta: 0.75 }; // strong, so its backward matters
const FEAT = CO * Math.floor(H / 2) * Math.floor(W / 2);
const labels = [1, 3, 0];

function makeParams() {
  return {
    w1: param(randn(CO * C * 9, 81, 0.4), [CO, C, 3, 3]),
    b1: param(randn(CO, 82, 0.1), [CO]),
    w2: param(randn(CLASSES * FEAT, 83, 0.2), [CLASSES, FEAT]),
    b2: param(randn(CLASSES, 84, 0.1), [CLASSES]),
  };
}

function forward(x: Tensor, p: ReturnType<typeof makeParams>): Tensor {
  const h = conv2d(x, p.w1, p.b1, { relu: true });
  const n = lrn(h, { ...LRN, convention: 'caffe' });
  const q = maxPool2d(n);
  const logits = linear(flatten(q), p.w2, p.b2);
  return softmaxCrossEntropy(logits, labels);
}

async function cpuReference(xd: Float32Array, p: ReturnType<typeof makeParams>) {
  const [w1, b1, w2, b2] = await Promise.all([p.w1, p.b1, p.w2, p.b2].map((t) => t.toArray()));
  const xs = [N, C, H, W];
  const h = ref.conv2d(xd, xs, w1, [CO, C, 3, 3], b1, true);
  const hs = [N, CO, H, W];
  const aEff = LRN.alpha / LRN.size;
  const n = ref.lrn(h, hs, LRN.size, LRN.k, aEff, LRN.beta).y;
  const q = ref.maxPool(n, hs).y;
  const logits = ref.linear(q, N, FEAT, w2, CLASSES, b2);
  const { loss, grad } = ref.softmaxCrossEntropy(logits, N, CLASSES, labels);
  const l2 = ref.linearBackward(q, N, FEAT, w2, CLASSES, grad);
  const dn = ref.maxPoolBackward(n, hs, l2.dx);
  const dh = ref.lrnBackward(h, hs, LRN.size, LRN.k, aEff, LRN.beta, dn);
  const dhRelu = dh.map((g, i) => (h[i] > 0 ? g : 0));
  const l1 = ref.conv2dBackward(xd, xs, w1, [CO, C, 3, 3], dhRelu);
  return { loss, w1: l1.dw, b1: l1.db, w2: l2.dw, b2: l2.db, x: l1.dx };
}

describe('autograd tape', () => {
  it('matches the CPU reference gradients of every parameter of a conv→ReLU→LRN→pool→FC→loss net', async () => {
    const p = makeParams();
    const xd = randn(N * C * H * W, 80);
    const x = param(xd, [N, C, H, W]);
    const loss = forward(x, p);
    const want = await cpuReference(xd, p);
    expectClose(await loss.toArray(), [want.loss], 1e-5, 1e-5, 'loss');
    backward(loss);
    expect(tapeOf().length).toBe(0);
    expectClose(await p.w1.grad!.toArray(), want.w1, 1e-5, 1e-3, 'conv weight');
    expectClose(await p.b1.grad!.toArray(), want.b1, 1e-5, 1e-3, 'conv bias');
    expectClose(await p.w2.grad!.toArray(), want.w2, 1e-5, 1e-3, 'fc weight');
    expectClose(await p.b2.grad!.toArray(), want.b2, 1e-5, 1e-3, 'fc bias');
    expectClose(await x.grad!.toArray(), want.x, 1e-5, 1e-3, 'input');
  });

  it('accumulates gradients where a tensor feeds several ops, and across backward calls', async () => {
    const x = param([1, 2, 3], [3]);
    const y = add(add(x, x), x, 2); // 4x
    backward(y, Tensor.from([1, 1, 1], [3]));
    expect(Array.from(await x.grad!.toArray())).toEqual([4, 4, 4]);
    backward(add(x, x), Tensor.from([1, 0, 1], [3]));
    expect(Array.from(await x.grad!.toArray())).toEqual([6, 4, 6]);
  });

  it('records nothing under noGrad, and rejects a non-scalar loss', async () => {
    const x = param([1, 2], [2]);
    noGrad(() => add(x, x));
    expect(tapeOf().length).toBe(0);
    expect(() => backward(add(x, x))).toThrowError(/backward: the loss must be a scalar/);
    clearTape();
  });

  it('releases saved activations during backward and leaks nothing over 50 SGD steps', async () => {
    const p = makeParams();
    const opt = new SGD(Object.values(p), { lr: 0.01 });
    const x = Tensor.from(randn(N * C * H * W, 90), [N, C, H, W]);
    const pool = engine().rt.pool;
    const liveBefore = pool.stats().liveBuffers;
    const stats: Array<ReturnType<typeof pool.stats>> = [];
    const losses: number[] = [];
    for (let step = 0; step < 50; step++) {
      const loss = tidy(() => forward(x, p));
      backward(loss);
      opt.step();
      opt.zeroGrad();
      if (step % 10 === 0) losses.push((await loss.toArray())[0]);
      loss.dispose();
      stats.push(pool.stats());
    }
    // After the first step (which creates the momentum buffers) nothing grows.
    for (const s of stats.slice(1)) {
      expect(s.liveBuffers).toBe(stats[1].liveBuffers);
      expect(s.allocatedBytes).toBe(stats[1].allocatedBytes);
    }
    // Between steps only the four momentum buffers are new: every activation went back.
    expect(stats[49].liveBuffers).toBe(liveBefore + 4);
    expect(losses.at(-1)!).toBeLessThan(losses[0]);
  });
});
