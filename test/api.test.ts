// The public API without traps: optional biases (conv2d, linear, their layers) as in PyTorch, and
// every public op refusing a missing, disposed or ill-typed argument with an error that names the
// op, the argument and what it expected.
import { beforeAll, describe, expect, it } from 'vitest';
import {
  accumulateInto,
  add,
  backward,
  Conv2d,
  conv2d,
  copy,
  dropout,
  fill,
  fillInPlace,
  flatten,
  globalAvgPool,
  init,
  Linear,
  linear,
  lrn,
  matmul,
  maxPool2d,
  OpError,
  relu,
  reshape,
  scale,
  softmaxCrossEntropy,
  Tensor,
} from '../src/node/index.js';
import { convForward, convVariants } from '../src/ops/conv2d.js';
import { expectClose, param, randn } from './helpers.js';
import * as ref from './reference.js';

beforeAll(async () => {
  await init();
});

describe('optional bias', () => {
  const [N, C, H, W, Co] = [2, 5, 7, 6, 4];
  const xs = [N, C, H, W];
  const ws = [Co, C, 3, 3];
  const xd = randn(N * C * H * W, 1);
  const wd = randn(Co * C * 9, 2, 0.3);
  const zero = new Float64Array(Co);

  it('conv2d without a bias (left out, null, or options in its place) matches the reference, in every forward variant', async () => {
    const [x, w] = [Tensor.from(xd, xs), Tensor.from(wd, ws)];
    expectClose(await conv2d(x, w).toArray(), ref.conv2d(xd, xs, wd, ws, zero), 1e-4, 1e-4, 'conv2d(x, w)');
    expectClose(
      await conv2d(x, w, null, { relu: true }).toArray(),
      ref.conv2d(xd, xs, wd, ws, zero, true),
      1e-4,
      1e-4,
      'conv2d(x, w, null, { relu })',
    );
    expectClose(
      await conv2d(x, w, { padding: 0 }).toArray(),
      ref.conv2d(xd, xs, wd, ws, zero, false, 0),
      1e-4,
      1e-4,
      'conv2d(x, w, { padding: 0 })',
    );
    for (const v of convVariants('conv_forward', xs, ws, 1).candidates) {
      const y = Tensor.empty([N, Co, H, W]);
      convForward(x, w, null, y, true, 1, v);
      expectClose(
        await y.toArray(),
        ref.conv2d(xd, xs, wd, ws, zero, true),
        2e-4,
        1e-4,
        `conv_forward ${v} without bias`,
      );
      y.dispose();
    }
  });

  it('conv2d without a bias back-propagates to its input and weight', async () => {
    const [x, w] = [param(xd, xs), param(wd, ws)];
    const y = conv2d(x, w);
    const dyd = randn(y.size, 3);
    backward(y, Tensor.from(dyd, y.shape));
    const g = ref.conv2dBackward(xd, xs, wd, ws, dyd);
    expectClose(await x.grad!.toArray(), g.dx, 2e-4, 1e-4, 'dX');
    expectClose(await w.grad!.toArray(), g.dw, 5e-4, 1e-4, 'dW');
  });

  it('linear without a bias matches the reference, forward and backward', async () => {
    const [B, IN, OUT] = [3, 9, 5];
    const [ad, bd] = [randn(B * IN, 4), randn(OUT * IN, 5)];
    const [x, w] = [param(ad, [B, IN]), param(bd, [OUT, IN])];
    const y = linear(x, w, { relu: false });
    expectClose(await y.toArray(), ref.linear(ad, B, IN, bd, OUT, new Float64Array(OUT)), 1e-5, 1e-4, 'linear(x, w)');
    const dyd = randn(B * OUT, 6);
    backward(y, Tensor.from(dyd, y.shape));
    const g = ref.linearBackward(ad, B, IN, bd, OUT, dyd);
    expectClose(await x.grad!.toArray(), g.dx, 1e-5, 1e-4, 'dX');
    expectClose(await w.grad!.toArray(), g.dw, 1e-5, 1e-4, 'dW');
  });

  it('layers take bias: false and then have no bias parameter', () => {
    const conv = new Conv2d(3, 4, 3, { bias: false, relu: true });
    expect(conv.bias).toBeNull();
    expect(conv.parameters().map(([n]) => n)).toEqual(['weight']);
    expect(new Linear(4, 2, { bias: false }).parameters().map(([n]) => n)).toEqual(['weight']);
    expect(new Linear(4, 2).parameters().map(([n]) => n)).toEqual(['weight', 'bias']);
    expect(conv.forward(Tensor.from(randn(3 * 16, 7), [1, 3, 4, 4])).shape).toEqual([1, 4, 4, 4]);
  });
});

describe('argument checks of the public ops', () => {
  const t4 = () => Tensor.from(randn(2 * 3 * 4 * 4, 8), [2, 3, 4, 4]);
  const t2 = () => Tensor.from(randn(6, 9), [2, 3]);
  // Each op with its tensor arguments in order (by the names the errors use) and a call over them.
  const ops: Array<{ op: string; args: string[]; make: () => Tensor[]; call: (a: unknown[]) => unknown }> = [
    {
      op: 'conv2d',
      args: ['input', 'weight'],
      make: () => [t4(), Tensor.from(randn(27, 1), [1, 3, 3, 3])],
      call: ([x, w]) => conv2d(x as Tensor, w as Tensor),
    },
    {
      op: 'linear',
      args: ['input', 'weight'],
      make: () => [t2(), Tensor.from(randn(6, 2), [2, 3])],
      call: ([x, w]) => linear(x as Tensor, w as Tensor),
    },
    {
      op: 'matmul',
      args: ['a', 'b'],
      make: () => [t2(), Tensor.from(randn(6, 3), [3, 2])],
      call: ([a, b]) => matmul(a as Tensor, b as Tensor),
    },
    { op: 'maxPool2d', args: ['input'], make: () => [t4()], call: ([x]) => maxPool2d(x as Tensor) },
    { op: 'lrn', args: ['input'], make: () => [t4()], call: ([x]) => lrn(x as Tensor) },
    { op: 'relu', args: ['input'], make: () => [t4()], call: ([x]) => relu(x as Tensor) },
    {
      op: 'dropout',
      args: ['input'],
      make: () => [t4()],
      call: ([x]) => dropout(x as Tensor, { p: 0.5, training: true }),
    },
    {
      op: 'softmaxCrossEntropy',
      args: ['logits'],
      make: () => [t2()],
      call: ([x]) => softmaxCrossEntropy(x as Tensor, [0, 1]),
    },
    { op: 'globalAvgPool', args: ['input'], make: () => [t4()], call: ([x]) => globalAvgPool(x as Tensor) },
    { op: 'reshape', args: ['input'], make: () => [t2()], call: ([x]) => reshape(x as Tensor, [3, 2]) },
    { op: 'flatten', args: ['input'], make: () => [t4()], call: ([x]) => flatten(x as Tensor) },
    { op: 'add', args: ['a', 'b'], make: () => [t2(), t2()], call: ([a, b]) => add(a as Tensor, b as Tensor) },
    { op: 'scale', args: ['a'], make: () => [t2()], call: ([a]) => scale(a as Tensor, 2) },
    { op: 'copy', args: ['a'], make: () => [t2()], call: ([a]) => copy(a as Tensor) },
    { op: 'fillInPlace', args: ['target'], make: () => [t2()], call: ([a]) => fillInPlace(a as Tensor, 1) },
    {
      op: 'accumulateInto',
      args: ['target', 'src'],
      make: () => [t2(), t2()],
      call: ([a, b]) => accumulateInto(a as Tensor, b as Tensor),
    },
  ];
  const bad: Array<[string, () => unknown, RegExp]> = [
    ['undefined', () => undefined, /must be a Tensor, got undefined/],
    ['null', () => null, /must be a Tensor, got null/],
    ['a number', () => 3, /must be a Tensor, got number 3/],
    ['a string', () => 'x', /must be a Tensor, got the string "x"/],
    ['a plain object', () => ({ shape: [2, 3] }), /must be a Tensor, got a Object object/],
    ['an array', () => [1, 2, 3], /must be a Tensor, got an array/],
    [
      'a disposed tensor',
      () => {
        const d = t2();
        d.dispose();
        return d;
      },
      /Tensor\[2, 3\] was disposed/,
    ],
  ];

  for (const o of ops) {
    it(`${o.op} runs with good arguments and names each bad one`, () => {
      const good = o.make();
      expect(() => o.call(good)).not.toThrow();
      o.args.forEach((name, i) => {
        for (const [what, value, message] of bad) {
          const args: unknown[] = [...good];
          args[i] = value();
          let err: unknown;
          try {
            o.call(args);
          } catch (e) {
            err = e;
          }
          expect(err, `${o.op} with ${what} as ${name}`).toBeInstanceOf(OpError);
          expect((err as Error).message, `${o.op} with ${what} as ${name}`).toMatch(
            new RegExp(`^${o.op}: ${name} ${message.source}`),
          );
        }
      });
      good.forEach((t) => t.dispose());
    });
  }

  it('names bad non-tensor arguments: numbers, options, biases, labels, shapes', () => {
    const x = t2();
    expect(() => scale(x, NaN)).toThrow(/^scale: alpha must be a finite number, got number NaN/);
    expect(() => add(x, x, '2' as unknown as number)).toThrow(
      /^add: alpha must be a finite number, got the string "2"/,
    );
    expect(() => fill([2, 0], 1)).toThrow(/^fill: shape must be a list of positive integers/);
    expect(() => fill([2, 2], undefined as unknown as number)).toThrow(
      /^fill: value must be a finite number, got undefined/,
    );
    expect(() => linear(x, Tensor.from(randn(6, 1), [2, 3]), 5 as unknown as Tensor, {})).toThrow(
      /^linear: bias must be a Tensor or null, got number 5/,
    );
    expect(() => linear(x, Tensor.from(randn(6, 1), [2, 3]), 'relu' as unknown as Tensor)).toThrow(
      /^linear: options must be an object, got the string "relu"/,
    );
    expect(() => softmaxCrossEntropy(x, undefined as unknown as number[])).toThrow(
      /^softmaxCrossEntropy: labels must be an array of class indices, got undefined/,
    );
    expect(() => dropout(x, undefined as unknown as { p: number; training: boolean })).toThrow(
      /^dropout: options \{ p, training \} are required/,
    );
    expect(() => lrn(t4(), 5 as unknown as object)).toThrow(/^lrn: options must be an object, got number 5/);
    x.dispose();
  });
});
