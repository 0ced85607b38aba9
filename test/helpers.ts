// Shared test utilities: seeded data, closeness assertions, finite-difference checks.
import { expect } from 'vitest';
import { backward, Tensor } from '../src/node/index.js';
import { randn, worstMismatch } from './reference.js';

export { randn };

/** Asserts |a − e| ≤ atol + rtol·|e| elementwise, reporting the worst element. */
export function expectClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  atol: number,
  rtol = 0,
  what = 'values',
): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  const bad = worstMismatch(actual, expected, atol, rtol);
  if (bad)
    expect.fail(
      `${what}: element ${bad.index} is ${bad.actual}, expected ${bad.expected} (atol ${atol}, rtol ${rtol})`,
    );
}

export function param(data: ArrayLike<number>, shape: number[]): Tensor {
  const t = Tensor.from(data, shape);
  t.requiresGrad = true;
  return t;
}

/**
 * Finite-difference check of a GPU op's backward rule. L = Σ r ⊙ f(inputs) for a fixed random r;
 * for random directions v, compares ⟨∇L, v⟩ from backward() with (L(x+εv) − L(x−εv)) / 2ε.
 */
export async function fdCheck(
  f: (inputs: Tensor[]) => Tensor,
  inputs: Array<{ data: Float32Array; shape: number[] }>,
  opts: { eps?: number; rtol?: number; directions?: number; seed?: number } = {},
): Promise<void> {
  const eps = opts.eps ?? 1e-2;
  const rtol = opts.rtol ?? 2e-2;
  const seed = opts.seed ?? 99;
  const ts = inputs.map((i) => param(i.data, i.shape));
  const y = f(ts);
  const r = randn(y.size, seed);
  const rT = Tensor.from(r, y.shape);
  backward(y, rT);
  rT.dispose();
  y.dispose();
  const grads = await Promise.all(ts.map((t) => t.grad!.toArray()));
  ts.forEach((t) => t.dispose());
  const evalL = async (datas: Float32Array[]): Promise<number> => {
    const xs = datas.map((d, i) => Tensor.from(d, inputs[i].shape));
    const out = f(xs);
    const v = await out.toArray();
    out.dispose();
    xs.forEach((x) => x.dispose());
    let s = 0;
    for (let i = 0; i < v.length; i++) s += r[i] * v[i];
    return s;
  };
  for (let d = 0; d < (opts.directions ?? 2); d++) {
    const vs = inputs.map((inp, i) => randn(inp.data.length, seed + 17 * (d + 1) + i));
    let analytic = 0;
    vs.forEach((v, i) => v.forEach((vi, j) => (analytic += vi * grads[i][j])));
    const plus = inputs.map((inp, i) => inp.data.map((x, j) => x + eps * vs[i][j]));
    const minus = inputs.map((inp, i) => inp.data.map((x, j) => x - eps * vs[i][j]));
    const numeric = ((await evalL(plus)) - (await evalL(minus))) / (2 * eps);
    const tol = rtol * Math.max(1, Math.abs(numeric));
    expect(
      Math.abs(analytic - numeric),
      `directional derivative ${d}: analytic ${analytic} vs numeric ${numeric}`,
    ).toBeLessThanOrEqual(tol);
  }
}
