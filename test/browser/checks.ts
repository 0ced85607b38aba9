// Runs in a page of headless Chromium (test/browser.test.ts): the engine core on the browser host,
// each kernel family against the float64 CPU reference on small odd shapes, a few training steps
// of a small VGG, and a lost device. Bundled for the browser by tools/demo.ts.
import {
  backward,
  buildVgg,
  engine,
  init,
  installBrowserHost,
  linear,
  lrn,
  maxPool2d,
  SGD,
  softmaxCrossEntropy,
  Tensor,
} from '../../src/browser/index.js';
import { convForward, convGradInput, convGradWeight, type ConvPass, convVariants } from '../../src/ops/conv2d.js';
import { matmulVariants, stridedMatmul } from '../../src/ops/matmul.js';
import { lossesOnFixedBatch } from '../fixed_batch.js';
import * as ref from '../reference.js';

interface Check {
  family: string;
  what: string;
  maxErr: number;
  ok: boolean;
}

function rand(n: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return ((s / 2 ** 32) * 2 - 1) * scale;
  });
}

function compare(
  family: string,
  what: string,
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  atol: number,
  rtol: number,
): Check {
  let maxErr = 0;
  let ok = actual.length === expected.length;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    maxErr = Math.max(maxErr, d);
    if (!(d <= atol + rtol * Math.abs(expected[i]))) ok = false;
  }
  return { family, what, maxErr, ok };
}

async function convChecks(out: Check[]): Promise<void> {
  // [N, C, H, W, Cout, k, pad]: odd widths, 4×4 planes (whole-plane tiles), a 1×1 layer.
  for (const [N, C, H, W, Co, K, pad] of [
    [2, 5, 9, 12, 7, 3, 1],
    [3, 6, 4, 4, 9, 3, 1],
    [1, 9, 6, 8, 5, 1, 0],
  ]) {
    const xs = [N, C, H, W];
    const ws = [Co, C, K, K];
    const [Ho, Wo] = [H + 2 * pad - K + 1, W + 2 * pad - K + 1];
    const xd = rand(N * C * H * W, 1);
    const wd = rand(Co * C * K * K, 2, 0.3);
    const bd = rand(Co, 3);
    const dyd = rand(N * Co * Ho * Wo, 4);
    const [x, w, b, dy] = [
      Tensor.from(xd, xs),
      Tensor.from(wd, ws),
      Tensor.from(bd, [Co]),
      Tensor.from(dyd, [N, Co, Ho, Wo]),
    ];
    const yRef = ref.conv2d(xd, xs, wd, ws, bd, true, pad);
    const g = ref.conv2dBackward(xd, xs, wd, ws, dyd, pad);
    for (const pass of ['conv_forward', 'conv_grad_input', 'conv_grad_weight'] as ConvPass[]) {
      for (const v of convVariants(pass, xs, ws, pad).candidates) {
        const what = `${pass} ${v} on [${xs}] k${K} -> ${Co}`;
        if (pass === 'conv_forward') {
          const y = Tensor.empty([N, Co, Ho, Wo]);
          convForward(x, w, b, y, true, pad, v);
          out.push(compare('conv forward', what, await y.toArray(), yRef, 2e-4, 1e-4));
          y.dispose();
        } else if (pass === 'conv_grad_input') {
          const dx = convGradInput(dy, w, xs, pad, v);
          out.push(compare('conv input gradient', what, await dx.toArray(), g.dx, 2e-4, 1e-4));
          dx.dispose();
        } else {
          const db = Tensor.empty([Co]);
          const dw = convGradWeight(dy, x, ws, pad, v, db);
          out.push(compare('conv weight gradient', what, await dw.toArray(), g.dw, 5e-4, 1e-4));
          out.push(compare('conv bias gradient', what, await db.toArray(), g.db, 2e-4, 1e-4));
          [dw, db].forEach((t) => t.dispose());
        }
      }
    }
    [x, w, b, dy].forEach((t) => t.dispose());
  }
}

async function gemmChecks(out: Check[]): Promise<void> {
  for (const [M, N, K] of [
    [13, 20, 12],
    [3, 4, 16],
  ]) {
    const ad = rand(M * K, 5);
    const bd = rand(K * N, 6);
    const [a, b, c] = [Tensor.from(ad, [M * K]), Tensor.from(bd, [K * N]), Tensor.empty([M * N])];
    const want = new Float64Array(M * N);
    for (let i = 0; i < M; i++)
      for (let j = 0; j < N; j++) for (let k = 0; k < K; k++) want[i * N + j] += ad[i * K + k] * bd[k * N + j];
    const p = {
      M,
      N,
      K,
      a: { t: a, start: 0, count: M * K, s0: K, s1: 1 },
      b: { t: b, start: 0, count: K * N, s0: N, s1: 1 },
      c: { t: c, start: 0, count: M * N, s0: N, s1: 1 },
      label: 'check',
    };
    for (const v of matmulVariants(p).candidates) {
      stridedMatmul(p, v);
      out.push(compare('GEMM', `${v} ${M}x${N}x${K}`, await c.toArray(), want, 1e-4, 1e-4));
    }
    [a, b, c].forEach((t) => t.dispose());
  }
}

/** An op and its backward through the tape, against the reference's forward and input gradient. */
async function opCheck(
  out: Check[],
  family: string,
  shape: number[],
  run: (x: Tensor) => Tensor,
  refY: (x: Float32Array) => ArrayLike<number>,
  refDx: (x: Float32Array, dy: Float32Array) => ArrayLike<number>,
): Promise<void> {
  const xd = rand(
    shape.reduce((a, b) => a * b, 1),
    11,
  );
  const x = Tensor.from(xd, shape);
  x.requiresGrad = true;
  const y = run(x);
  const dyd = rand(y.size, 12);
  out.push(compare(`${family} forward`, `[${shape}]`, await y.toArray(), refY(xd), 1e-5, 1e-4));
  backward(y, Tensor.from(dyd, y.shape));
  out.push(compare(`${family} backward`, `[${shape}]`, await x.grad!.toArray(), refDx(xd, dyd), 1e-5, 1e-4));
  y.dispose();
  x.dispose();
}

async function otherChecks(out: Check[]): Promise<void> {
  const ps = [2, 3, 5, 7];
  await opCheck(
    out,
    'max-pool',
    ps,
    maxPool2d,
    (x) => ref.maxPool(x, ps).y,
    (x, dy) => ref.maxPoolBackward(x, ps, dy),
  );
  const ls = [2, 7, 3, 5];
  const alphaEff = 1e-4 / 5;
  await opCheck(
    out,
    'LRN',
    ls,
    (x) => lrn(x),
    (x) => ref.lrn(x, ls, 5, 2, alphaEff, 0.75).y,
    (x, dy) => ref.lrnBackward(x, ls, 5, 2, alphaEff, 0.75, dy),
  );
  // FC: y = relu(x·Wᵀ + b), every gradient.
  const [B, IN, OUT] = [3, 13, 9];
  const [xd, wd, bd] = [rand(B * IN, 21), rand(OUT * IN, 22, 0.3), rand(OUT, 23)];
  const [x, w, b] = [Tensor.from(xd, [B, IN]), Tensor.from(wd, [OUT, IN]), Tensor.from(bd, [OUT])];
  for (const t of [x, w, b]) t.requiresGrad = true;
  const y = linear(x, w, b);
  const dyd = rand(B * OUT, 24);
  out.push(
    compare('FC forward', `${B}×${IN}→${OUT}`, await y.toArray(), ref.linear(xd, B, IN, wd, OUT, bd), 1e-5, 1e-4),
  );
  backward(y, Tensor.from(dyd, y.shape));
  const g = ref.linearBackward(xd, B, IN, wd, OUT, dyd);
  out.push(compare('FC backward', 'dX', await x.grad!.toArray(), g.dx, 1e-5, 1e-4));
  out.push(compare('FC backward', 'dW', await w.grad!.toArray(), g.dw, 1e-5, 1e-4));
  out.push(compare('FC backward', 'db', await b.grad!.toArray(), g.db, 1e-5, 1e-4));
  // Softmax cross-entropy: the mean loss and its gradient.
  const [R, C] = [5, 7];
  const zd = rand(R * C, 31, 3);
  const labels = [0, 6, 3, 3, 1];
  const z = Tensor.from(zd, [R, C]);
  z.requiresGrad = true;
  const loss = softmaxCrossEntropy(z, labels);
  const r = ref.softmaxCrossEntropy(zd, R, C, labels);
  out.push(compare('softmax cross-entropy forward', `[${R}, ${C}]`, await loss.toArray(), [r.loss], 1e-5, 1e-5));
  backward(loss);
  out.push(compare('softmax cross-entropy backward', `[${R}, ${C}]`, await z.grad!.toArray(), r.grad, 1e-6, 1e-4));
  // SGD with momentum and weight decay, two steps.
  const [pd, gd] = [rand(37, 41), rand(37, 42)];
  const p = Tensor.from(pd, [37]);
  p.grad = Tensor.from(gd, [37]);
  const opt = new SGD([p], { lr: 0.1, momentum: 0.9, weightDecay: 0.01 });
  opt.step();
  opt.step();
  const s1 = ref.sgd(pd, gd, new Float64Array(37), 0.1, 0.9, 0.01);
  const s2 = ref.sgd(s1.p, gd, s1.buf, 0.1, 0.9, 0.01);
  out.push(compare('SGD', 'two steps, momentum and weight decay', await p.toArray(), s2.p, 1e-6, 1e-5));
}

async function runChecks(): Promise<Check[]> {
  const out: Check[] = [];
  await convChecks(out);
  await gemmChecks(out);
  await otherChecks(out);
  return out;
}

/** Eight SGD steps of VGG-A (width 1/16, 32×32) on one fixed batch: the losses. */
async function runTraining(): Promise<number[]> {
  const model = buildVgg({ net: 'A', width: 1 / 16, inputSize: 32, classes: 10, inChannels: 3, dropout: 0 });
  const opt = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9, weightDecay: 5e-4 });
  const x = Tensor.from(rand(8 * 3 * 32 * 32, 51), [8, 3, 32, 32]);
  return lossesOnFixedBatch(model, opt, x, [0, 1, 2, 3, 4, 5, 6, 7], 8);
}

/** Destroys the device, then goes on as if nothing happened: what the page shows is the test. */
async function loseDeviceThenStep(): Promise<void> {
  engine().rt.device.destroy();
  await new Promise((r) => setTimeout(r, 50));
  const t = Tensor.from([1, 2, 3], [3]);
  await t.toArray();
}

function showError(e: unknown): void {
  const box = document.getElementById('error')!;
  box.textContent = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}
addEventListener('unhandledrejection', (ev) => showError(ev.reason));
addEventListener('error', (ev) => showError(ev.error ?? ev.message));

installBrowserHost({ settings: { VGGPU_TUNE: '0' } });
const e = await init();
Object.assign(globalThis, {
  checks: {
    adapter: { line: e.rt.describe(), featureLevel: e.rt.adapter.featureLevel, description: e.rt.adapter.description },
    runChecks,
    runTraining,
    loseDeviceThenStep,
  },
});
