import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { backward, conv2d, engine, init, OpError, Tensor } from '../src/node/index.js';
import { expectClose, fdCheck, param, randn } from './helpers.js';
import * as ref from './reference.js';

beforeAll(async () => {
  await init();
});
afterEach(() => engine().rt.setBindingLimit(null));

// [N, C, H, W, Cout, k]: odd sizes, channel counts that are not multiples of 4 or the tile.
const CASES: Array<[number, number, number, number, number, number]> = [
  [2, 3, 9, 7, 5, 3],
  [1, 13, 5, 6, 4, 1],
  [3, 5, 4, 4, 13, 3],
  [1, 1, 1, 1, 3, 3],
  [4, 8, 16, 12, 6, 3], // K = N·H·W = 768: weight gradient takes the split-K path
  [2, 16, 7, 9, 9, 1],
];

async function checkAgainstReference([N, C, H, W, Co, K]: number[], relu: boolean, padding?: number): Promise<void> {
  const xs = [N, C, H, W];
  const ws = [Co, C, K, K];
  const xd = randn(N * C * H * W, 1);
  const wd = randn(Co * C * K * K, 2, 0.3);
  const bd = randn(Co, 3);
  const x = param(xd, xs);
  const w = param(wd, ws);
  const b = param(bd, [Co]);
  const y = conv2d(x, w, b, { relu, padding });
  const pad = padding ?? (K - 1) / 2;
  const yRef = ref.conv2d(xd, xs, wd, ws, bd, relu, pad);
  expectClose(await y.toArray(), yRef, 2e-4, 1e-4, 'forward');
  const dyd = randn(y.size, 4);
  // With ReLU, the reference gradient flows only where the output is positive.
  const dyEff = Float64Array.from(dyd, (g, i) => (relu && !(yRef[i] > 0) ? 0 : g));
  backward(y, Tensor.from(dyd, y.shape));
  const g = ref.conv2dBackward(xd, xs, wd, ws, dyEff, pad);
  expectClose(await x.grad!.toArray(), g.dx, 2e-4, 1e-4, 'dX');
  expectClose(await w.grad!.toArray(), g.dw, 5e-4, 1e-4, 'dW');
  expectClose(await b.grad!.toArray(), g.db, 5e-4, 1e-4, 'dbias');
  [x, w, b, y].forEach((t) => t.dispose());
}

describe('conv2d', () => {
  for (const c of CASES) {
    it(`matches the CPU reference for [N,C,H,W]=[${c.slice(0, 4)}], Cout ${c[4]}, ${c[5]}×${c[5]}`, async () => {
      await checkAgainstReference(c, false);
    });
  }

  // [N, C, H, W, Cout, k, padding]: valid convolutions (FC layers in dense form) and other paddings.
  for (const [N, C, H, W, Co, K, pad] of [
    [2, 3, 9, 7, 4, 3, 0],
    [1, 5, 7, 7, 3, 7, 0],
    [2, 3, 10, 8, 6, 7, 0],
    [2, 3, 6, 5, 4, 2, 1],
    [1, 2, 4, 4, 3, 5, 2],
  ]) {
    it(`matches the reference with padding ${pad}: [${[N, C, H, W]}], Cout ${Co}, ${K}×${K}`, async () => {
      await checkAgainstReference([N, C, H, W, Co, K], false, pad);
    });
  }

  it('launches a weight larger than one binding in output-channel ranges (forward)', async () => {
    engine().rt.setBindingLimit(2048); // 448 usable floats: 27 per channel → 16 channels per range, so two ranges
    const [xs, ws] = [
      [2, 3, 5, 4],
      [20, 3, 3, 3],
    ];
    const xd = randn(2 * 3 * 5 * 4, 1);
    const wd = randn(20 * 27, 2);
    const bd = randn(20, 3);
    const y = conv2d(Tensor.from(xd, xs), Tensor.from(wd, ws), Tensor.from(bd, [20]), { relu: true });
    expectClose(await y.toArray(), ref.conv2d(xd, xs, wd, ws, bd, true), 2e-4, 1e-4);
  });

  it('fused ReLU forward and backward match the reference', async () => {
    await checkAgainstReference([2, 3, 9, 7, 5, 3], true);
  });

  it('splits batches whose activations exceed one binding, with the same results', async () => {
    // 2·5·9·7·4 B = 2.5 KB per image of output: a 4 KiB limit forces one image per slice.
    engine().rt.setBindingLimit(4096);
    await checkAgainstReference([3, 5, 9, 7, 5, 3], false);
  });

  it('passes a finite-difference check (3×3 and 1×1)', async () => {
    for (const [k, seed] of [
      [3, 10],
      [1, 20],
    ]) {
      await fdCheck(
        ([x, w, b]) => conv2d(x, w, b),
        [
          { data: randn(2 * 3 * 5 * 4, seed), shape: [2, 3, 5, 4] },
          { data: randn(4 * 3 * k * k, seed + 1, 0.5), shape: [4, 3, k, k] },
          { data: randn(4, seed + 2), shape: [4] },
        ],
      );
    }
  });

  it('rejects mismatched shapes with the op and shapes in the message', () => {
    const x = Tensor.from(new Float32Array(2 * 5 * 4 * 4), [2, 5, 4, 4]);
    const w = Tensor.from(new Float32Array(4 * 3 * 9), [4, 3, 3, 3]);
    const b = Tensor.from(new Float32Array(4), [4]);
    expect(() => conv2d(x, w, b)).toThrowError(OpError);
    expect(() => conv2d(x, w, b)).toThrowError(
      /conv2d: input has 5 channels but the weight expects 3 \(input \[2, 5, 4, 4\], weight \[4, 3, 3, 3\]/,
    );
    const w2 = Tensor.from(new Float32Array(4 * 5 * 4), [4, 5, 2, 2]);
    expect(() => conv2d(x, w2, b)).toThrowError(/"same" padding needs an odd kernel/);
    const w5 = Tensor.from(new Float32Array(4 * 5 * 9), [4, 5, 3, 3]);
    expect(() => conv2d(x, w5, b, { padding: -1 })).toThrowError(/padding must be a non-negative integer/);
    const w7 = Tensor.from(new Float32Array(4 * 5 * 49), [4, 5, 7, 7]);
    expect(() => conv2d(x, w7, b, { padding: 0 })).toThrowError(/a 7×7 kernel with padding 0 does not fit the input/);
    expect(() => conv2d(x.view([2, 5, 16]), w, b)).toThrowError(/input must be \[N, C, H, W\]/);
  });
});
