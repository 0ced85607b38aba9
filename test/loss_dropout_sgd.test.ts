import { beforeAll, describe, expect, it } from 'vitest';
import { add, backward, dropout, init, OpError, scale, SGD, softmaxCrossEntropy, Tensor } from '../src/node/index.js';
import { expectClose, fdCheck, param, randn } from './helpers.js';
import * as ref from './reference.js';

beforeAll(async () => {
  await init();
});

describe('softmaxCrossEntropy', () => {
  for (const [B, C] of [
    [1, 2],
    [3, 5],
    [7, 13],
    [4, 1000],
    [2, 257],
  ]) {
    it(`matches the CPU reference for batch ${B}, ${C} classes`, async () => {
      const xd = randn(B * C, 41, 3);
      const labels = Array.from({ length: B }, (_, i) => (i * 7 + 3) % C);
      const x = param(xd, [B, C]);
      const loss = softmaxCrossEntropy(x, labels);
      expect(loss.shape).toEqual([1]);
      const r = ref.softmaxCrossEntropy(xd, B, C, labels);
      expectClose(await loss.toArray(), [r.loss], 1e-5, 1e-5, 'loss');
      backward(loss);
      expectClose(await x.grad!.toArray(), r.grad, 1e-6, 1e-4, 'dLogits');
    });
  }

  it('stays finite with very large logits', async () => {
    const xd = Float32Array.from([1e4, -1e4, 5e3, 3e4, 3e4, -3e4]);
    const x = param(xd, [2, 3]);
    const loss = softmaxCrossEntropy(x, [1, 0]);
    const r = ref.softmaxCrossEntropy(xd, 2, 3, [1, 0]);
    const l = (await loss.toArray())[0];
    expect(Number.isFinite(l)).toBe(true);
    expect(l).toBeCloseTo(r.loss, 0);
    backward(loss);
    const g = await x.grad!.toArray();
    expect(g.every(Number.isFinite)).toBe(true);
    expectClose(g, r.grad, 1e-6, 1e-4);
  });

  it('passes a finite-difference check', async () => {
    await fdCheck(([x]) => softmaxCrossEntropy(x, [2, 0, 4]), [{ data: randn(15, 42), shape: [3, 5] }], { eps: 1e-2 });
  });

  it('rejects labels that are not integers in range, naming the op and shapes', () => {
    const x = Tensor.from(new Float32Array(6), [2, 3]);
    expect(() => softmaxCrossEntropy(x, [0, 1.5])).toThrowError(
      /softmaxCrossEntropy: label 1 is 1.5; labels must be integers in \[0, 3\) \(logits \[2, 3\]\)/,
    );
    expect(() => softmaxCrossEntropy(x, [0, 3])).toThrowError(OpError);
    expect(() => softmaxCrossEntropy(x, [0])).toThrowError(/1 labels for a batch of 2/);
  });
});

describe('dropout', () => {
  it('keeps elements by the seeded hash, scales by 1/(1-p), and routes gradients through the same mask', async () => {
    const n = 5003;
    const p = 0.3;
    const seed = 1234;
    const xd = randn(n, 51);
    const x = param(xd, [n]);
    const y = dropout(x, { p, training: true, seed });
    const yv = await y.toArray();
    const expected = Array.from(xd, (v, i) => (ref.dropoutKeeps(seed, i, p) ? v / (1 - p) : 0));
    expectClose(yv, expected, 1e-6, 1e-6, 'forward');
    const kept = expected.filter((v) => v !== 0).length / n;
    expect(Math.abs(kept - (1 - p))).toBeLessThan(0.03);
    const dyd = randn(n, 52);
    backward(y, Tensor.from(dyd, [n]));
    const dx = await x.grad!.toArray();
    expectClose(
      dx,
      Array.from(dyd, (g, i) => (ref.dropoutKeeps(seed, i, p) ? g / (1 - p) : 0)),
      1e-6,
      1e-6,
      'dX',
    );
  });

  it('is the identity in evaluation and differs between seeds in training', async () => {
    const x = Tensor.from(randn(100, 53), [100]);
    expectClose(await dropout(x, { p: 0.5, training: false }).toArray(), await x.toArray(), 0, 0);
    const a = await dropout(x, { p: 0.5, training: true, seed: 1 }).toArray();
    const b = await dropout(x, { p: 0.5, training: true, seed: 2 }).toArray();
    expect(a.some((v, i) => v !== b[i])).toBe(true);
    expect(() => dropout(x, { p: 1, training: true })).toThrowError(/dropout: p must be in \[0, 1\), got 1/);
  });
});

describe('SGD', () => {
  it('matches two PyTorch-semantics steps with momentum and weight decay (scalar and vec4 kernels)', async () => {
    for (const n of [1037, 1036]) {
      const pd = randn(n, 61);
      const g1 = randn(n, 62);
      const g2 = randn(n, 63);
      const p = param(pd, [n]);
      const opt = new SGD([p], { lr: 0.1, momentum: 0.9, weightDecay: 5e-4 });
      let want = ref.sgd(pd, g1, new Float64Array(n), 0.1, 0.9, 5e-4);
      p.grad = Tensor.from(g1, [n]);
      opt.step();
      expectClose(await p.toArray(), want.p, 1e-6, 1e-6, `n ${n} step 1`);
      want = ref.sgd(want.p, g2, want.buf, 0.1, 0.9, 5e-4);
      opt.zeroGrad();
      p.grad = Tensor.from(g2, [n]);
      opt.step();
      expectClose(await p.toArray(), want.p, 1e-6, 1e-6, `n ${n} step 2`);
      expectClose(await opt.buffers.get(p)!.toArray(), want.buf, 1e-6, 1e-6, `n ${n} momentum`);
    }
    const p = param(randn(4, 1), [4]);
    expect(() => new SGD([p], { lr: -1 })).toThrowError(/SGD: lr must be > 0, got -1/);
  });
});

describe('add and scale', () => {
  it('compute and differentiate', async () => {
    const ad = randn(37, 71);
    const bd = randn(37, 72);
    const y = add(Tensor.from(ad, [37]), Tensor.from(bd, [37]), 2);
    expectClose(
      await y.toArray(),
      Array.from(ad, (a, i) => a + 2 * bd[i]),
      1e-6,
      1e-6,
    );
    await fdCheck(
      ([a, b]) => scale(add(a, b, -0.5), 3),
      [
        { data: ad, shape: [37] },
        { data: bd, shape: [37] },
      ],
    );
    expect(() => add(Tensor.from(ad, [37]), Tensor.from(ad.slice(1), [36]))).toThrowError(
      /add: shapes must match \(a \[37\], b \[36\]\)/,
    );
  });
});
