// Shapes past the adapter's limits, run for real against the float64 CPU reference.
//
// Grids: more workgroups than one grid dimension holds (65,535), at the issue's own size and, with
// the limit lowered to 16, in every variant of every pass at small sizes.
//
// Loops: shapes whose reductions are longer than Mesa's CPU drivers run in one invocation: llvmpipe
// stops an invocation's loops, silently, after 65,535 iterations of them all. Every pass, in
// every variant that applies, against the float64 CPU reference, with the loop budget the
// launchers split by: Mesa's on llvmpipe (before the launchers kept to it, each case here came
// out wrong there); on other adapters, which have no such cap, a tenth of it with shapes scaled
// to match, so the same splits run at a tenth of the cost.
import { convErrorScale } from '../src/ops/conv2d_winograd.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { conv2d, engine, GpuError, init, linear, lrn, softmaxCrossEntropy, Tensor } from '../src/node/index.js';
import { MESA_LOOP_BUDGET } from '../src/gpu/runtime.js';
import { convForward, convGradInput, convGradWeight, type ConvPass, convVariants } from '../src/ops/conv2d.js';
import { matmulVariants, stridedMatmul, whole } from '../src/ops/matmul.js';
import { sumAxes } from '../src/ops/reduce.js';
import { setVariant } from '../src/ops/variants.js';
import { expectClose, randn } from './helpers.js';
import * as ref from './reference.js';

let BUDGET = MESA_LOOP_BUDGET;
/** A size of the llvmpipe case, scaled with the budget. */
const scaled = (n: number) => Math.round((n * BUDGET) / MESA_LOOP_BUDGET);

beforeAll(async () => {
  await init();
  if (engine().rt.loopLimit === Infinity) BUDGET = MESA_LOOP_BUDGET / 10;
  engine().rt.setLoopLimit(BUDGET);
});
afterAll(() => {
  engine().rt.setLoopLimit(null);
});
afterEach(() => {
  engine().rt.setWorkgroupLimit(null);
  setVariant('gemm', null);
  setVariant('conv_forward', null);
});

/** Largest |a − e| over the largest |e|. */
function relError(a: ArrayLike<number>, e: ArrayLike<number>): number {
  let err = 0;
  let max = 0;
  for (let i = 0; i < e.length; i++) {
    err = Math.max(err, Math.abs(a[i] - e[i]));
    max = Math.max(max, Math.abs(e[i]));
  }
  return err / max;
}

async function checkPass(pass: ConvPass, xs: number[], ws: number[], mustRun: string[] = []): Promise<void> {
  const [N, C, H, W] = xs;
  const [Co, , K] = ws;
  const pad = (K - 1) / 2;
  const xd = randn(N * C * H * W, 1);
  const wd = randn(Co * C * K * K, 2, 0.3);
  const bd = randn(Co, 3);
  const dyd = randn(N * Co * H * W, 4);
  const expected =
    pass === 'conv_forward'
      ? ref.conv2d(xd, xs, wd, ws, bd, false, pad)
      : pass === 'conv_grad_input'
        ? ref.conv2dBackward(xd, xs, wd, ws, dyd, pad).dx
        : ref.conv2dBackward(xd, xs, wd, ws, dyd, pad).dw;
  const [x, w, b, dy] = [
    Tensor.from(xd, xs),
    Tensor.from(wd, ws),
    Tensor.from(bd, [Co]),
    Tensor.from(dyd, [N, Co, H, W]),
  ];
  const { candidates } = convVariants(pass, xs, ws, pad);
  expect(candidates.length, `${pass}: variants that run ${xs} → ${Co}`).toBeGreaterThan(0);
  for (const v of mustRun) expect(candidates, `${pass} on ${xs}`).toContain(v);
  for (const v of candidates) {
    let out: Tensor;
    if (pass === 'conv_forward') {
      out = Tensor.empty([N, Co, H, W]);
      convForward(x, w, b, out, false, pad, v);
    } else if (pass === 'conv_grad_input') out = convGradInput(dy, w, xs, pad, v);
    else out = convGradWeight(dy, x, ws, pad, v);
    const err = relError(await out.toArray(), expected);
    out.dispose();
    // F(4×4) Winograd's bound is wider (convErrorScale: its transforms scale values by up to 8).
    expect(err, `${pass} ${v} on x ${xs}, w ${ws}: largest error over largest value`).toBeLessThan(
      2e-5 * convErrorScale(v),
    );
  }
  [x, w, b, dy].forEach((t) => t.dispose());
}

describe('grids past the limit of workgroups per dimension', () => {
  // gemm-wg, the GPU default, put 784 workgroups per 224² image in x: at 90 images, 70,560 (on
  // adapters other than llvmpipe, 9 images against a tenth of the limit, as the loops below).
  it('conv forward on gemm-wg, x [90, 1, 224, 224], w [4, 1, 3, 3]: 70,560 tiles folded', async () => {
    if (BUDGET < MESA_LOOP_BUDGET) engine().rt.setWorkgroupLimit(scaled(engine().rt.maxWorkgroupsPerDim));
    const images = scaled(90);
    const [xs, ws] = [
      [images, 1, 224, 224],
      [4, 1, 3, 3],
    ];
    const [xd, wd, bd] = [randn(images * 224 * 224, 11), randn(36, 12, 0.3), randn(4, 13)];
    const [x, w, b] = [Tensor.from(xd, xs), Tensor.from(wd, ws), Tensor.from(bd, [4])];
    setVariant('conv_forward', 'gemm-wg');
    const y = conv2d(x, w, b, { relu: true });
    expect(relError(await y.toArray(), ref.conv2d(xd, xs, wd, ws, bd, true, 1))).toBeLessThan(2e-6);
    [x, w, b, y].forEach((t) => t.dispose());
  });

  // With 16 workgroups per dimension, these fold in every GEMM variant (tiles along n: 20–80).
  it('every conv variant of every pass with the limit lowered to 16 workgroups per dimension', async () => {
    engine().rt.setWorkgroupLimit(16);
    for (const pass of ['conv_forward', 'conv_grad_input', 'conv_grad_weight'] as ConvPass[])
      await checkPass(pass, [5, 3, 32, 32], [7, 3, 3, 3]);
  });

  it('every GEMM variant, 3×20 · 20×12000, with the limit lowered to 16', async () => {
    engine().rt.setWorkgroupLimit(16);
    const [M, K, N] = [3, 20, 12_000];
    const [ad, bd] = [randn(M * K, 14), randn(K * N, 15)];
    const expected = ref.matmul(ad, bd, M, K, N);
    const [a, b] = [Tensor.from(ad, [M, K]), Tensor.from(bd, [K, N])];
    const c = Tensor.empty([M, N]);
    const p = { M, N, K, a: whole(a), b: whole(b), c: whole(c), label: 'folded gemm' };
    const { candidates } = matmulVariants(p);
    expect(candidates.length).toBeGreaterThan(2);
    for (const v of candidates) {
      stridedMatmul(p, v);
      expectClose(await c.toArray(), expected, 1e-4, 1e-5, `gemm ${v}`);
    }
    [a, b, c].forEach((t) => t.dispose());
  });
});

describe('reductions longer than the loop budget', () => {
  // The weight gradient's reduction runs over images × pixels: 802,816 at 224² (the GEMM variants
  // split it in 8 on CPU adapters: 100,352 each, of which llvmpipe ran 65,535).
  it('conv weight gradient, x [16, 2, 224, 224], w [4, 2, 3, 3]: every variant', async () => {
    const side = Math.round(224 * Math.sqrt(BUDGET / MESA_LOOP_BUDGET));
    await checkPass('conv_grad_weight', [16, 2, side, side], [4, 2, 3, 3], ['gemm-reg', 'gemm-wg']);
  });

  // 7,300 input channels: the forward's reduction is 65,700 long (K = C·3·3), and the direct
  // kernels' rearranged weights span more rows than one grid dimension (65,535 / 9 = 7,281).
  // 4×4 planes: whole-plane tiles as well as row tiles.
  it('conv forward, x [1, 7300, 4, 4], w [4, 7300, 3, 3]: every variant that fits the budget', async () => {
    await checkPass('conv_forward', [1, scaled(7300), 4, 4], [4, scaled(7300), 3, 3], ['direct-c8p8r4', 'plane-c8i1']);
  });

  it('conv input gradient, 7,300 output channels: every variant that fits the budget', async () => {
    await checkPass('conv_grad_input', [1, 3, 3, 5], [scaled(7300), 3, 3, 3], ['direct-c8p8r4']);
  });

  it('a GEMM over K = 270,000 with bias and ReLU (linear): every variant, the long ones in K chunks', async () => {
    const [B, IN, OUT] = [3, scaled(270_000), 5];
    const xd = randn(B * IN, 5);
    const wd = randn(OUT * IN, 6);
    const bd = randn(OUT, 7, 30);
    const expected = ref.linear(xd, B, IN, wd, OUT, bd, true);
    const [x, w, b] = [Tensor.from(xd, [B, IN]), Tensor.from(wd, [OUT, IN]), Tensor.from(bd, [OUT])];
    const problem = {
      M: B,
      N: OUT,
      K: IN,
      a: whole(x),
      b: { ...whole(w), s0: 1, s1: IN },
      c: { t: x, start: 0, count: B * OUT, s0: OUT, s1: 1 },
      label: 'probe',
    };
    const { candidates } = matmulVariants(problem);
    expect(candidates).toEqual(expect.arrayContaining(['gemm-reg', 'gemm-wg']));
    expect(
      candidates.filter((c) => c.startsWith('vec4')),
      'vec4 variants loop over all of K: not offered',
    ).toEqual([]);
    for (const v of candidates) {
      setVariant('gemm', v);
      const y = linear(x, w, b, { relu: true });
      // A sum of 270,000 products of unit normals (~520 in size); float32 sums err by ~0.02.
      expectClose(await y.toArray(), expected, 0.1, 0, `linear on ${v}`);
      y.dispose();
    }
    [x, w, b].forEach((t) => t.dispose());
  });

  // Just within the budget: one invocation of a vec4 variant loops K / 4 = 64,000 times, and
  // must still be whole (each loop iteration the variant declares is one the adapter counts).
  it('a GEMM over K = 256,000: the vec4 variants, at the edge of the budget', async () => {
    const [M, K, N] = [3, scaled(256_000), 8];
    const [ad, bd] = [randn(M * K, 16), randn(K * N, 17)];
    const expected = ref.matmul(ad, bd, M, K, N);
    const [a, b, c] = [Tensor.from(ad, [M, K]), Tensor.from(bd, [K, N]), Tensor.empty([M, N])];
    const p = { M, N, K, a: whole(a), b: whole(b), c: whole(c), label: 'long gemm' };
    const vec4 = matmulVariants(p).candidates.filter((v) => v.startsWith('vec4'));
    expect(vec4.length).toBeGreaterThan(0);
    for (const v of vec4) {
      stridedMatmul(p, v);
      expectClose(await c.toArray(), expected, 0.1, 0, `gemm ${v}`);
    }
    [a, b, c].forEach((t) => t.dispose());
  });

  it('sumAxes over 2 × 9,000,000 values (a bias gradient of huge planes): sliced to fit', async () => {
    const [outer, inner] = [2, scaled(9_000_000)];
    const xd = randn(outer * inner, 8);
    let expected = 0;
    for (let i = 0; i < xd.length; i++) expected += xd[i];
    const x = Tensor.from(xd, [outer * inner]);
    const s = sumAxes(x, outer, 1, inner);
    const [got] = await s.toArray();
    expect(Math.abs(got - expected), `sum ${got} vs ${expected}`).toBeLessThan(1);
    [x, s].forEach((t) => t.dispose());
  });

  it('LRN over 70,000 channels and softmax over 8.4 M classes: a clear error, not a cut-off loop', () => {
    const x = Tensor.empty([1, scaled(70_000), 1, 1]);
    expect(() => lrn(x)).toThrow(GpuError);
    expect(() => lrn(x)).toThrow(new RegExp(`loop ${scaled(70_000) + 5} times`));
    const logits = Tensor.empty([1, scaled(8_400_000)]);
    expect(() => softmaxCrossEntropy(logits, [0])).toThrow(/would loop/);
    [x, logits].forEach((t) => t.dispose());
  });
});
