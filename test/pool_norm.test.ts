import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { backward, engine, globalAvgPool, init, lrn, maxPool2d, OpError, Tensor } from '../src/node/index.js';
import { expectClose, fdCheck, param, randn } from './helpers.js';
import * as ref from './reference.js';
import { sumAxes } from '../src/ops/reduce.js';

beforeAll(async () => {
  await init();
});
afterEach(() => engine().rt.setBindingLimit(null));

describe('maxPool2d', () => {
  for (const shape of [
    [2, 3, 9, 7],
    [1, 5, 4, 4],
    [3, 13, 5, 6],
    [1, 1, 2, 3],
  ]) {
    it(`matches the CPU reference for [${shape}] (odd sizes floor)`, async () => {
      const xd = randn(
        shape.reduce((a, b) => a * b),
        11,
      );
      const x = param(xd, shape);
      const y = maxPool2d(x);
      const [N, C, H, W] = shape;
      expect(y.shape).toEqual([N, C, Math.floor(H / 2), Math.floor(W / 2)]);
      expectClose(await y.toArray(), ref.maxPool(xd, shape).y, 0, 0, 'forward');
      const dyd = randn(y.size, 12);
      backward(y, Tensor.from(dyd, y.shape));
      expectClose(await x.grad!.toArray(), ref.maxPoolBackward(xd, shape, dyd), 0, 0, 'dX');
      x.dispose();
      y.dispose();
    });
  }

  it('routes the gradient to the first maximum on ties', async () => {
    const x = param([1, 1, 1, 1], [1, 1, 2, 2]);
    const y = maxPool2d(x);
    backward(y, Tensor.from([5], [1, 1, 1, 1]));
    expect(Array.from(await x.grad!.toArray())).toEqual([5, 0, 0, 0]);
  });

  it('slices planes to fit a binding', async () => {
    engine().rt.setBindingLimit(512);
    const shape = [2, 3, 9, 7];
    const xd = randn(2 * 3 * 9 * 7, 13);
    const x = param(xd, shape);
    const y = maxPool2d(x);
    expectClose(await y.toArray(), ref.maxPool(xd, shape).y, 0, 0);
    const dyd = randn(y.size, 14);
    backward(y, Tensor.from(dyd, y.shape));
    expectClose(await x.grad!.toArray(), ref.maxPoolBackward(xd, shape, dyd), 0, 0);
  });

  it('passes a finite-difference check', async () => {
    await fdCheck(([x]) => maxPool2d(x), [{ data: randn(2 * 3 * 5 * 4, 15), shape: [2, 3, 5, 4] }], { eps: 1e-3 });
  });

  it('rejects bad input', () => {
    const x = Tensor.from(new Float32Array(3), [1, 1, 1, 3]);
    expect(() => maxPool2d(x)).toThrowError(/maxPool2d: input must be at least 2×2 \(input \[1, 1, 1, 3\]\)/);
  });
});

describe('lrn', () => {
  const P = { size: 5, k: 2, alpha: 1e-4, beta: 0.75 };
  for (const [shape, conv, params] of [
    [[2, 3, 9, 7], 'caffe', P],
    [[1, 13, 5, 6], 'alexnet', P],
    // Strong normalisation so the cross-channel term matters in the check.
    [[2, 7, 3, 5], 'caffe', { size: 5, k: 1, alpha: 2, beta: 0.75 }],
    [[1, 6, 2, 3], 'alexnet', { size: 4, k: 1.5, alpha: 0.5, beta: 0.6 }],
  ] as const) {
    it(`matches the CPU reference for [${shape}], ${conv} convention, n=${params.size} α=${params.alpha}`, async () => {
      const xd = randn(
        (shape as readonly number[]).reduce((a, b) => a * b, 1),
        21,
        2,
      );
      const x = param(xd, [...shape]);
      const y = lrn(x, { ...params, convention: conv });
      const aEff = conv === 'caffe' ? params.alpha / params.size : params.alpha;
      const r = ref.lrn(xd, [...shape], params.size, params.k, aEff, params.beta);
      expectClose(await y.toArray(), r.y, 1e-5, 1e-4, 'forward');
      const dyd = randn(y.size, 22);
      backward(y, Tensor.from(dyd, y.shape));
      expectClose(
        await x.grad!.toArray(),
        ref.lrnBackward(xd, [...shape], params.size, params.k, aEff, params.beta, dyd),
        1e-5,
        1e-4,
        'dX',
      );
    });
  }

  it('distinguishes the α/n and α conventions', async () => {
    const x = Tensor.from([3, 4], [1, 2, 1, 1]);
    const a = await lrn(x, { convention: 'caffe', alpha: 1, size: 5, k: 1, beta: 1 }).toArray();
    const b = await lrn(x, { convention: 'alexnet', alpha: 1, size: 5, k: 1, beta: 1 }).toArray();
    expect(a[0]).toBeCloseTo(3 / (1 + 25 / 5), 5);
    expect(b[0]).toBeCloseTo(3 / (1 + 25), 5);
  });

  it('passes a finite-difference check', async () => {
    await fdCheck(
      ([x]) => lrn(x, { size: 3, k: 1, alpha: 1, beta: 0.75 }),
      [{ data: randn(2 * 5 * 3 * 2, 23), shape: [2, 5, 3, 2] }],
      { eps: 1e-3 },
    );
  });

  it('rejects bad options', () => {
    const x = Tensor.from(new Float32Array(4), [1, 4, 1, 1]);
    expect(() => lrn(x, { size: 0 })).toThrowError(OpError);
    expect(() => lrn(x.view([4]))).toThrowError(/lrn: input must be \[N, C, H, W\] \(input \[4\]\)/);
  });
});

describe('sumAxes', () => {
  it('sums [outer, R, inner] over outer and inner, short sums serially and long ones by tree', async () => {
    for (const [outer, R, inner] of [
      [7, 9, 3],
      [3, 5, 2000],
      [1, 300, 1],
    ]) {
      const xd = randn(outer * R * inner, 40);
      const want = new Float64Array(R);
      for (let o = 0; o < outer; o++)
        for (let r = 0; r < R; r++) for (let i = 0; i < inner; i++) want[r] += 0.5 * xd[(o * R + r) * inner + i];
      const got = sumAxes(Tensor.from(xd, [outer * R * inner]), outer, R, inner, 0.5);
      expectClose(await got.toArray(), want, 1e-4, 1e-5, `[${outer}, ${R}, ${inner}]`);
    }
  });
});

describe('globalAvgPool', () => {
  it('averages over H×W and spreads the gradient back', async () => {
    const shape = [2, 3, 5, 7];
    const xd = randn(2 * 3 * 35, 31);
    const x = param(xd, shape);
    const y = globalAvgPool(x);
    expect(y.shape).toEqual([2, 3]);
    const expected = Array.from({ length: 6 }, (_, r) => xd.slice(r * 35, r * 35 + 35).reduce((a, b) => a + b, 0) / 35);
    expectClose(await y.toArray(), expected, 1e-5, 1e-5);
    await fdCheck(([t]) => globalAvgPool(t), [{ data: xd, shape }]);
  });
});

describe('relu', () => {
  it('matches the reference, passes a finite-difference check, and routes gradients by the saved output', async () => {
    const { relu } = await import('../src/node/index.js');
    // 105 elements run the scalar kernel, 84 the vec4 one.
    for (const shape of [
      [3, 5, 7],
      [3, 4, 7],
    ]) {
      const n = shape.reduce((a, b) => a * b);
      const xd = randn(n, 41);
      const x = param(xd, shape);
      const y = relu(x);
      expectClose(
        await y.toArray(),
        Array.from(xd, (v) => Math.max(0, v)),
        0,
        0,
      );
      const dyd = randn(y.size, 42);
      backward(y, Tensor.from(dyd, y.shape));
      expectClose(
        await x.grad!.toArray(),
        Array.from(dyd, (g, i) => (xd[i] > 0 ? g : 0)),
        0,
        0,
      );
      await fdCheck(([t]) => relu(t), [{ data: xd, shape }], { eps: 1e-3 });
    }
  });
});
