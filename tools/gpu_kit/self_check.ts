// The GPU kit's self-check: every kernel variant the tuner may pick on this adapter against the
// float64 CPU reference (test/reference.ts), on small odd shapes (the same cases the kernel tests
// run, test/kernel_variants.test.ts) and on one large VGG-16 layer, where the reference is taken at
// sampled elements and every variant's whole output is held against the default variant's; and
// the kernels that come in one variant (pooling, LRN, fully-connected, loss, SGD), forward and backward.
import { backward, linear, lrn, maxPool2d, Rng, SGD, softmaxCrossEntropy, Tensor } from '../../src/index.js';
import { convForward, convGradInput, convGradWeight, type ConvPass, convVariants } from '../../src/ops/conv2d.js';
import { convErrorScale } from '../../src/ops/conv2d_winograd.js';
import { matmulVariants, stridedMatmul, type StridedMatmul } from '../../src/ops/matmul.js';
import { NET_NAMES, planLayers, resolveConfig } from '../../src/vgg/config.js';
import * as ref from '../../test/reference.js';

export const CONV_PASSES: ConvPass[] = ['conv_forward', 'conv_grad_input', 'conv_grad_weight'];

/**
 * [N, C, H, W, Cout, k, pad]: widths that are and are not multiples of 4, planes of 2×2 and 4×4
 * (whole-plane tiles), 14 wide (7-pixel rows), 1×1, valid and 5×5 convolutions, channel counts
 * that are not multiples of the tiles.
 */
export const CONV_CASES: number[][] = [
  [2, 5, 9, 12, 7, 3, 1],
  [3, 6, 4, 4, 9, 3, 1],
  [5, 6, 2, 2, 5, 3, 1],
  [2, 4, 1, 4, 3, 3, 1],
  [1, 7, 14, 14, 6, 3, 1],
  [2, 3, 16, 16, 10, 3, 1],
  [2, 5, 7, 7, 3, 3, 1],
  [2, 8, 6, 10, 12, 3, 1], // channels in multiples of 4 both ways: Winograd's vec4 products in both passes
  [1, 9, 6, 8, 5, 1, 0],
  [3, 10, 2, 2, 9, 1, 0],
  [2, 3, 7, 9, 6, 3, 0],
  [1, 4, 8, 8, 5, 5, 2],
  [1, 3, 7, 9, 4, 7, 0],
];

/** What a check saw: the pass-and-variant pairs it ran, and one line per result out of tolerance. */
export interface CheckLog {
  checked: Set<string>;
  failures: string[];
}

export const newLog = (): CheckLog => ({ checked: new Set(), failures: [] });

function compare(
  log: CheckLog,
  what: string,
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  atol: number,
  rtol: number,
): void {
  const bad =
    actual.length !== expected.length
      ? { index: -1, actual: actual.length, expected: expected.length }
      : ref.worstMismatch(actual, expected, atol, rtol);
  if (bad)
    log.failures.push(
      `${what}: element ${bad.index} is ${bad.actual}, expected ${bad.expected} (atol ${atol}, rtol ${rtol})`,
    );
}

/** Every variant of the given passes of one convolution case against the whole float64 reference. */
export async function checkConvCase(
  [N, C, H, W, Co, K, pad]: number[],
  log: CheckLog,
  passes = CONV_PASSES,
): Promise<void> {
  const xs = [N, C, H, W];
  const ws = [Co, C, K, K];
  const [Ho, Wo] = [H + 2 * pad - K + 1, W + 2 * pad - K + 1];
  const xd = ref.randn(N * C * H * W, 1);
  const wd = ref.randn(Co * C * K * K, 2, 0.3);
  const bd = ref.randn(Co, 3);
  const dyd = ref.randn(N * Co * Ho * Wo, 4);
  const [x, w, b, dy] = [
    Tensor.from(xd, xs),
    Tensor.from(wd, ws),
    Tensor.from(bd, [Co]),
    Tensor.from(dyd, [N, Co, Ho, Wo]),
  ];
  const yRef = ref.conv2d(xd, xs, wd, ws, bd, true, pad);
  const g = ref.conv2dBackward(xd, xs, wd, ws, dyd, pad);
  try {
    for (const pass of passes) {
      for (const v of convVariants(pass, xs, ws, pad).candidates) {
        const what = `${pass} ${v} on ${xs} k${K} p${pad} -> ${Co}`;
        const scale = convErrorScale(v);
        if (pass === 'conv_forward') {
          const y = Tensor.empty([N, Co, Ho, Wo]);
          convForward(x, w, b, y, true, pad, v);
          compare(log, what, await y.toArray(), yRef, 2e-4 * scale, 1e-4 * scale);
          y.dispose();
        } else if (pass === 'conv_grad_input') {
          const dx = convGradInput(dy, w, xs, pad, v);
          compare(log, what, await dx.toArray(), g.dx, 2e-4 * scale, 1e-4 * scale);
          dx.dispose();
        } else {
          const db = Tensor.empty([Co]);
          const dw = convGradWeight(dy, x, ws, pad, v, db);
          compare(log, what, await dw.toArray(), g.dw, 5e-4, 1e-4);
          compare(log, `${what} (bias)`, await db.toArray(), g.db, 2e-4, 1e-4);
          [dw, db].forEach((t) => t.dispose());
        }
        log.checked.add(`${pass} ${v}`);
      }
    }
  } finally {
    [x, w, b, dy].forEach((t) => t.dispose());
  }
}

/** [M, N, K] of the matmul checks: odd edges, K of 4 and of 16. */
export const MATMUL_CASES: number[][] = [
  [13, 20, 12],
  [8, 8, 8],
  [3, 4, 16],
  [17, 36, 4],
];

/** A product C = A·B over whole tensors, A stored along K (rows) or along M (columns), B along N or along K. */
export function matmulProblem(
  M: number,
  N: number,
  K: number,
  aAlongK: boolean,
  bAlongN: boolean,
  a: Tensor,
  b: Tensor,
  c: Tensor,
): StridedMatmul {
  return {
    M,
    N,
    K,
    a: aAlongK ? { t: a, start: 0, count: M * K, s0: K, s1: 1 } : { t: a, start: 0, count: M * K, s0: 1, s1: M },
    b: bAlongN ? { t: b, start: 0, count: K * N, s0: N, s1: 1 } : { t: b, start: 0, count: K * N, s0: 1, s1: K },
    c: { t: c, start: 0, count: M * N, s0: N, s1: 1 },
    label: 'self-check',
  };
}

/** Every matmul variant and operand layout against the float64 product. */
export async function checkMatmul(log: CheckLog): Promise<void> {
  for (const [M, N, K] of MATMUL_CASES) {
    for (const aAlongK of [true, false]) {
      for (const bAlongN of [true, false]) {
        if (!aAlongK && M % 4) continue; // columns of A as vec4 need M % 4 == 0 (else only `tiled` applies)
        const ad = ref.randn(M * K, 5);
        const bd = ref.randn(K * N, 6);
        const [a, b, c] = [Tensor.from(ad, [M * K]), Tensor.from(bd, [K * N]), Tensor.empty([M * N])];
        const want = new Float64Array(M * N);
        for (let i = 0; i < M; i++)
          for (let j = 0; j < N; j++)
            for (let k = 0; k < K; k++)
              want[i * N + j] += ad[aAlongK ? i * K + k : k * M + i] * bd[bAlongN ? k * N + j : j * K + k];
        const p = matmulProblem(M, N, K, aAlongK, bAlongN, a, b, c);
        for (const v of matmulVariants(p).candidates) {
          stridedMatmul(p, v);
          compare(
            log,
            `gemm ${v} ${M}x${N}x${K} aAlongK=${aAlongK} bAlongN=${bAlongN}`,
            await c.toArray(),
            want,
            1e-4,
            1e-4,
          );
          log.checked.add(`gemm ${v}`);
        }
        [a, b, c].forEach((t) => t.dispose());
      }
    }
  }
}

const leaf = (data: Float32Array, shape: number[]) => {
  const t = Tensor.from(data, shape);
  t.requiresGrad = true;
  return t;
};

/** Max-pooling, LRN, a fully-connected layer with ReLU, softmax cross-entropy and an SGD step, forward and backward. */
export async function checkOtherKernels(log: CheckLog): Promise<void> {
  const pool = [2, 3, 9, 7];
  const pd = ref.randn(2 * 3 * 9 * 7, 11);
  const px = leaf(pd, pool);
  const py = maxPool2d(px);
  compare(log, 'maxpool forward', await py.toArray(), ref.maxPool(pd, pool).y, 0, 0);
  const pdy = ref.randn(py.size, 12);
  backward(py, Tensor.from(pdy, py.shape));
  compare(log, 'maxpool backward', await px.grad!.toArray(), ref.maxPoolBackward(pd, pool, pdy), 0, 0);

  const norm = [2, 7, 3, 5];
  const nd = ref.randn(2 * 7 * 3 * 5, 21, 2);
  const nx = leaf(nd, norm);
  const ny = lrn(nx, { size: 5, k: 1, alpha: 2, beta: 0.75, convention: 'caffe' });
  compare(log, 'lrn forward', await ny.toArray(), ref.lrn(nd, norm, 5, 1, 2 / 5, 0.75).y, 1e-5, 1e-4);
  const ndy = ref.randn(ny.size, 22);
  backward(ny, Tensor.from(ndy, ny.shape));
  compare(log, 'lrn backward', await nx.grad!.toArray(), ref.lrnBackward(nd, norm, 5, 1, 2 / 5, 0.75, ndy), 1e-5, 1e-4);

  const [B, IN, OUT] = [5, 37, 11];
  const [xd, wd, bd] = [ref.randn(B * IN, 5), ref.randn(OUT * IN, 6, 1 / Math.sqrt(IN)), ref.randn(OUT, 7)];
  const [x, w, b] = [leaf(xd, [B, IN]), leaf(wd, [OUT, IN]), leaf(bd, [OUT])];
  const y = linear(x, w, b, { relu: true });
  const yRef = ref.linear(xd, B, IN, wd, OUT, bd, true);
  compare(log, 'linear forward', await y.toArray(), yRef, 1e-5, 1e-4);
  const dyd = ref.randn(B * OUT, 8);
  backward(y, Tensor.from(dyd, y.shape));
  const g = ref.linearBackward(
    xd,
    B,
    IN,
    wd,
    OUT,
    Float64Array.from(dyd, (v, i) => (yRef[i] > 0 ? v : 0)),
  );
  compare(log, 'linear dX', await x.grad!.toArray(), g.dx, 1e-5, 1e-4);
  compare(log, 'linear dW', await w.grad!.toArray(), g.dw, 1e-5, 1e-4);
  compare(log, 'linear dbias', await b.grad!.toArray(), g.db, 1e-5, 1e-4);

  const [R, C] = [7, 13];
  const ld = ref.randn(R * C, 41, 3);
  const labels = Array.from({ length: R }, (_, i) => (i * 7 + 3) % C);
  const logits = leaf(ld, [R, C]);
  const loss = softmaxCrossEntropy(logits, labels);
  const l = ref.softmaxCrossEntropy(ld, R, C, labels);
  compare(log, 'softmax cross-entropy', await loss.toArray(), [l.loss], 1e-5, 1e-5);
  backward(loss);
  compare(log, 'softmax cross-entropy backward', await logits.grad!.toArray(), l.grad, 1e-6, 1e-4);

  const n = 1037;
  const [p0, g0] = [ref.randn(n, 61), ref.randn(n, 62)];
  const p = leaf(p0, [n]);
  const opt = new SGD([p], { lr: 0.1, momentum: 0.9, weightDecay: 5e-4 });
  p.grad = Tensor.from(g0, [n]);
  opt.step();
  compare(log, 'sgd step', await p.toArray(), ref.sgd(p0, g0, new Float64Array(n), 0.1, 0.9, 5e-4).p, 1e-6, 1e-6);
  opt.dispose();
  [px, py, nx, ny, x, w, b, y, logits, loss, p].forEach((t) => t.dispose());
  for (const k of ['maxpool', 'lrn', 'linear', 'softmax-cross-entropy', 'sgd']) log.checked.add(k);
}

/** Every convolution pass and variant the tuner may pick for the six nets at 32 and 224 pixels, on this adapter. */
export function tunerConvCandidates(): Set<string> {
  const all = new Set<string>();
  for (const net of NET_NAMES) {
    for (const [size, width] of [
      [32, 0.25],
      [32, 1],
      [224, 1],
    ]) {
      const config = resolveConfig({ net, width, inputSize: size, classes: 10, inChannels: 3 });
      for (const l of planLayers(config)) {
        if (l.kind !== 'conv') continue;
        const [x, w, pad] = [
          [2, l.inChannels, l.size, l.size],
          [l.outChannels, l.inChannels, l.kernel, l.kernel],
          (l.kernel - 1) / 2,
        ];
        for (const pass of CONV_PASSES)
          for (const v of convVariants(pass, x, w, pad).candidates) all.add(`${pass} ${v}`);
      }
    }
  }
  return all;
}

/** Uniform in [−1, 1), from a hash of the index: fills hundreds of millions of elements in seconds. */
function hashFill(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let z = Math.imul((i ^ seed) >>> 0, 0x9e3779b1) ^ seed;
    z = Math.imul(z ^ (z >>> 15), 0x85ebca6b);
    z ^= z >>> 13;
    out[i] = (z >>> 8) / 8388608 - 1;
  }
  return out;
}

/** Sampled coordinates of a 4-D shape: its 16 corners, then random ones. */
function samplePoints(shape: number[], random: number, seed: number): number[][] {
  const rng = new Rng(seed);
  const corners = Array.from({ length: 16 }, (_, m) => shape.map((d, i) => ((m >> i) & 1 ? d - 1 : 0)));
  return [...corners, ...Array.from({ length: random }, () => shape.map((d) => Math.floor(rng.uniform() * d)))];
}

const flat = ([a, b, c, d]: number[], [, B, C, D]: number[]) => ((a * B + b) * C + c) * D + d;

export interface LargeLayerResult {
  pass: ConvPass;
  variant: string;
  ms: number;
  /** Largest |error| at the sampled elements over the sum of |terms| there (the rounding scale). */
  sampleError: number;
  /** Largest |difference| from the default variant's whole output, over that output's RMS. */
  vsDefault: number;
  ok: boolean;
}

/**
 * One "same" 3×3 layer at full size, every variant of each pass: float64 values at sampled elements
 * (|error| ≤ 4e-6 × the sum of |terms|: a few rounding steps per term, while a term missing or doubled
 * costs ~1/√K of that sum), and the whole output against the default variant's (≤ 1e-4 of its RMS
 * for outputs summing 9·C terms, 1e-3 for the weight gradient's N·H·W). Variants past `budgetMs`
 * are left out and named in `skipped`.
 */
export async function checkLargeLayer(
  N: number,
  C: number,
  Co: number,
  S: number,
  log: CheckLog,
  budgetMs: number,
): Promise<{ results: LargeLayerResult[]; skipped: string[] }> {
  const [K, P] = [3, 1];
  const xs = [N, C, S, S];
  const ws = [Co, C, K, K];
  const ys = [N, Co, S, S];
  const xd = hashFill(N * C * S * S, 11);
  const wd = hashFill(Co * C * K * K, 12).map((v) => v * 0.1);
  const bd = hashFill(Co, 13);
  const dyd = hashFill(N * Co * S * S, 14);
  const [x, w, b, dy] = [Tensor.from(xd, xs), Tensor.from(wd, ws), Tensor.from(bd, [Co]), Tensor.from(dyd, ys)];
  const results: LargeLayerResult[] = [];
  const skipped: string[] = [];
  const t0 = performance.now();
  try {
    for (const pass of CONV_PASSES) {
      const outShape = pass === 'conv_forward' ? ys : pass === 'conv_grad_input' ? xs : ws;
      const points = samplePoints(outShape, pass === 'conv_grad_weight' ? 16 : 240, 21);
      const expected = points.map((p) =>
        pass === 'conv_forward'
          ? ref.conv2dAt(xd, xs, wd, ws, bd, P, p[0], p[1], p[2], p[3])
          : pass === 'conv_grad_input'
            ? ref.conv2dGradInputAt(dyd, xs, wd, ws, P, p[0], p[1], p[2], p[3])
            : ref.conv2dGradWeightAt(dyd, xd, xs, ws, P, p[0], p[1], p[2], p[3]),
      );
      const crossTol = pass === 'conv_grad_weight' ? 1e-3 : 1e-4;
      let baseline: Float32Array | null = null;
      let rms = 0;
      for (const v of convVariants(pass, xs, ws, P).candidates) {
        const what = `${pass} ${v} on [${xs}] -> ${Co} (large layer)`;
        if (performance.now() - t0 > budgetMs) {
          skipped.push(`${pass} ${v}`);
          continue;
        }
        const start = performance.now();
        let out: Tensor;
        if (pass === 'conv_forward') {
          out = Tensor.empty(ys);
          convForward(x, w, b, out, false, P, v);
        } else if (pass === 'conv_grad_input') out = convGradInput(dy, w, xs, P, v);
        else out = convGradWeight(dy, x, ws, P, v);
        const got = await out.toArray();
        const ms = performance.now() - start;
        out.dispose();
        let sampleError = 0;
        points.forEach((p, i) => {
          const e = Math.abs(got[flat(p, outShape)] - expected[i].value) / Math.max(expected[i].scale, 1e-30);
          sampleError = Number.isNaN(e) ? Infinity : Math.max(sampleError, e);
        });
        let vsDefault = 0;
        if (!baseline) {
          baseline = got;
          let s = 0;
          for (let i = 0; i < got.length; i++) s += got[i] * got[i];
          rms = Math.sqrt(s / got.length);
        } else {
          let worst = 0;
          for (let i = 0; i < got.length; i++) {
            const d = Math.abs(got[i] - baseline[i]);
            if (!(d <= worst)) worst = Number.isNaN(d) ? Infinity : d;
          }
          vsDefault = worst / rms;
        }
        const scale = convErrorScale(v);
        const ok = sampleError <= 4e-6 * scale && vsDefault <= crossTol * scale;
        if (!ok)
          log.failures.push(
            `${what}: sampled error ${sampleError.toExponential(2)} of the terms' scale (at most ${4e-6 * scale}), ${vsDefault.toExponential(2)} of the RMS from the default variant (at most ${crossTol * scale})`,
          );
        log.checked.add(`${pass} ${v}`);
        results.push({ pass, variant: v, ms, sampleError, vsDefault, ok });
      }
    }
  } finally {
    [x, w, b, dy].forEach((t) => t.dispose());
  }
  return { results, skipped };
}
