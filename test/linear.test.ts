import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { backward, engine, init, linear, matmul, OpError, Tensor } from '../src/node/index.js';
import { expectClose, fdCheck, param, randn } from './helpers.js';
import * as ref from './reference.js';

beforeAll(async () => {
  await init();
});
afterEach(() => engine().rt.setBindingLimit(null));

async function checkLinear(
  B: number,
  IN: number,
  OUT: number,
  relu: boolean,
  tol = { atol: 2e-4, rtol: 1e-4 },
): Promise<void> {
  const xd = randn(B * IN, 5);
  const wd = randn(OUT * IN, 6, 1 / Math.sqrt(IN));
  const bd = randn(OUT, 7);
  const x = param(xd, [B, IN]);
  const w = param(wd, [OUT, IN]);
  const b = param(bd, [OUT]);
  const y = linear(x, w, b, { relu });
  const yRef = ref.linear(xd, B, IN, wd, OUT, bd, relu);
  expectClose(await y.toArray(), yRef, tol.atol, tol.rtol, 'forward');
  const dyd = randn(B * OUT, 8);
  backward(y, Tensor.from(dyd, y.shape));
  const dyEff = Float64Array.from(dyd, (g, i) => (relu && !(yRef[i] > 0) ? 0 : g));
  const g = ref.linearBackward(xd, B, IN, wd, OUT, dyEff);
  expectClose(await x.grad!.toArray(), g.dx, tol.atol, tol.rtol, 'dX');
  expectClose(await w.grad!.toArray(), g.dw, tol.atol, tol.rtol, 'dW');
  expectClose(await b.grad!.toArray(), g.db, tol.atol, tol.rtol, 'dbias');
  [x, w, b, y].forEach((t) => t.dispose());
}

describe('linear', () => {
  for (const [B, IN, OUT] of [
    [1, 7, 5],
    [3, 13, 9],
    [5, 33, 17],
    [16, 40, 10],
    [2, 1, 1],
  ]) {
    it(`matches the CPU reference for batch ${B}, ${IN} → ${OUT}`, async () => {
      await checkLinear(B, IN, OUT, false);
    });
  }

  it('fused ReLU matches the reference', async () => {
    await checkLinear(4, 19, 11, true);
  });

  it('splits a weight larger than one binding into row ranges (lowered limit)', async () => {
    engine().rt.setBindingLimit(1024); // 256 floats: 23 inputs → 11 rows per range
    await checkLinear(3, 23, 37, true);
  });

  it('handles a weight beyond the storage-binding limit (40,000 × 1,000 floats; the limit lowered to 128 MiB where the adapter binds more)', async () => {
    // 160 MB of weight: more than llvmpipe's 128 MiB binding, so several row ranges. Adapters that
    // bind more (SwiftShader, GPUs: 1 GiB and up) are given llvmpipe's limit, for the same split.
    const rt = engine().rt;
    if (rt.limits.maxStorageBufferBindingSize >= 160e6) rt.setBindingLimit(128 * 2 ** 20);
    const B = 2;
    const IN = 1000;
    const OUT = 40000;
    const xd = randn(B * IN, 5);
    const wd = new Float32Array(OUT * IN);
    // Cheap, structured values whose float64 reference is exact enough to check every output.
    for (let o = 0; o < OUT; o++) for (let i = 0; i < IN; i++) wd[o * IN + i] = (((o * 7 + i * 13) % 17) - 8) / 64;
    const bd = randn(OUT, 7);
    const x = param(xd, [B, IN]);
    const w = param(wd, [OUT, IN]);
    const b = param(bd, [OUT]);
    expect(w.size * 4).toBeGreaterThan(rt.maxBindingBytes);
    const y = linear(x, w, b);
    const yRef = ref.linear(xd, B, IN, wd, OUT, bd);
    expectClose(await y.toArray(), yRef, 2e-3, 1e-4, 'forward');
    const dyd = randn(B * OUT, 8);
    backward(y, Tensor.from(dyd, y.shape));
    const g = ref.linearBackward(xd, B, IN, wd, OUT, dyd);
    expectClose(await x.grad!.toArray(), g.dx, 5e-3, 1e-4, 'dX');
    expectClose(await w.grad!.toArray(), g.dw, 1e-4, 1e-4, 'dW');
    expectClose(await b.grad!.toArray(), g.db, 1e-4, 1e-4, 'dbias');
    [x, w, b, y].forEach((t) => t.dispose());
    rt.setBindingLimit(null);
  });

  it('passes a finite-difference check', async () => {
    await fdCheck(
      ([x, w, b]) => linear(x, w, b),
      [
        { data: randn(3 * 6, 1), shape: [3, 6] },
        { data: randn(5 * 6, 2), shape: [5, 6] },
        { data: randn(5, 3), shape: [5] },
      ],
    );
  });

  it('rejects mismatched shapes', () => {
    const x = Tensor.from(new Float32Array(6), [2, 3]);
    const w = Tensor.from(new Float32Array(8), [2, 4]);
    const b = Tensor.from(new Float32Array(2), [2]);
    expect(() => linear(x, w, b)).toThrowError(OpError);
    expect(() => linear(x, w, b)).toThrowError(
      /linear: input has 3 features but the weight expects 4 \(input \[2, 3\], weight \[2, 4\], bias \[2\]\)/,
    );
  });
});

describe('matmul', () => {
  it('matches the CPU reference and passes a finite-difference check', async () => {
    const [M, K, N] = [7, 9, 13];
    const ad = randn(M * K, 1);
    const bd = randn(K * N, 2);
    const a = Tensor.from(ad, [M, K]);
    const b = Tensor.from(bd, [K, N]);
    const c = matmul(a, b);
    const expected = ref.matmul(ad, bd, M, K, N);
    expectClose(await c.toArray(), expected, 1e-4, 1e-4);
    await fdCheck(
      ([x, y]) => matmul(x, y),
      [
        { data: randn(M * K, 3), shape: [M, K] },
        { data: randn(K * N, 4), shape: [K, N] },
      ],
    );
    expect(() => matmul(a, a)).toThrowError(/matmul: needs a \[M, K\] and b \[K, N\] \(a \[7, 9\], b \[7, 9\]\)/);
  });
});
