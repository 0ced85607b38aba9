// Plain CPU references in float64 for every kernel, written for clarity, not speed.

import { Rng } from '../src/rng.js';

export type Arr = ArrayLike<number>;

/** Seeded normal data (scaled by `scale`). */
export function randn(n: number, seed: number, scale = 1): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n }, () => rng.normal() * scale);
}

/** Stride-1 convolution with zero padding P (default "same"). */
export function conv2d(
  x: Arr,
  xShape: number[],
  w: Arr,
  wShape: number[],
  b: Arr,
  relu = false,
  P = (wShape[2] - 1) / 2,
): Float64Array {
  const [N, , H, W] = xShape;
  const [Co, , K] = wShape;
  const Ho = H + 2 * P - K + 1;
  const Wo = W + 2 * P - K + 1;
  const y = new Float64Array(N * Co * Ho * Wo);
  for (let n = 0; n < N; n++)
    for (let co = 0; co < Co; co++)
      for (let oy = 0; oy < Ho; oy++)
        for (let ox = 0; ox < Wo; ox++) {
          const s = conv2dAt(x, xShape, w, wShape, b, P, n, co, oy, ox).value;
          y[((n * Co + co) * Ho + oy) * Wo + ox] = relu ? Math.max(0, s) : s;
        }
  return y;
}

/** Gradients of conv2d (without ReLU) given dY. */
export function conv2dBackward(x: Arr, xShape: number[], w: Arr, wShape: number[], dy: Arr, P = (wShape[2] - 1) / 2) {
  const [N, C, H, W] = xShape;
  const [Co, , K] = wShape;
  const dx = new Float64Array(N * C * H * W);
  const dw = new Float64Array(Co * C * K * K);
  const db = new Float64Array(Co);
  for (let n = 0; n < N; n++)
    for (let ci = 0; ci < C; ci++)
      for (let iy = 0; iy < H; iy++)
        for (let ix = 0; ix < W; ix++)
          dx[((n * C + ci) * H + iy) * W + ix] = conv2dGradInputAt(dy, xShape, w, wShape, P, n, ci, iy, ix).value;
  for (let co = 0; co < Co; co++) {
    db[co] = conv2dGradWeightAt(dy, x, xShape, wShape, P, co, -1, 0, 0).value;
    for (let ci = 0; ci < C; ci++)
      for (let ky = 0; ky < K; ky++)
        for (let kx = 0; kx < K; kx++)
          dw[((co * C + ci) * K + ky) * K + kx] = conv2dGradWeightAt(dy, x, xShape, wShape, P, co, ci, ky, kx).value;
  }
  return { dx, dw, db };
}

/** 2×2 stride-2 max-pool (floor); also returns the argmax input index per output. */
export function maxPool(x: Arr, [N, C, H, W]: number[]) {
  const Ho = Math.floor(H / 2);
  const Wo = Math.floor(W / 2);
  const y = new Float64Array(N * C * Ho * Wo);
  const arg = new Int32Array(y.length);
  for (let p = 0; p < N * C; p++)
    for (let oy = 0; oy < Ho; oy++)
      for (let ox = 0; ox < Wo; ox++) {
        let best = -Infinity;
        let at = -1;
        for (const [dy, dx] of [
          [0, 0],
          [0, 1],
          [1, 0],
          [1, 1],
        ]) {
          const i = p * H * W + (2 * oy + dy) * W + 2 * ox + dx;
          if (x[i] > best) {
            best = x[i];
            at = i;
          }
        }
        const o = (p * Ho + oy) * Wo + ox;
        y[o] = best;
        arg[o] = at;
      }
  return { y, arg };
}

export function maxPoolBackward(x: Arr, shape: number[], dy: Arr): Float64Array {
  const { arg } = maxPool(x, shape);
  const dx = new Float64Array(x.length);
  arg.forEach((i, o) => (dx[i] += dy[o]));
  return dx;
}

/** LRN with the effective α' (α/n for the Caffe convention). */
export function lrn(x: Arr, [N, C, H, W]: number[], size: number, k: number, alphaEff: number, beta: number) {
  const HW = H * W;
  const s = new Float64Array(x.length);
  const y = new Float64Array(x.length);
  const lo = Math.floor(size / 2);
  const hi = Math.floor((size - 1) / 2);
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++)
      for (let p = 0; p < HW; p++) {
        let sum = 0;
        for (let j = Math.max(0, c - lo); j <= Math.min(C - 1, c + hi); j++) sum += x[(n * C + j) * HW + p] ** 2;
        const i = (n * C + c) * HW + p;
        s[i] = k + alphaEff * sum;
        y[i] = x[i] * s[i] ** -beta;
      }
  return { y, s };
}

export function lrnBackward(
  x: Arr,
  shape: number[],
  size: number,
  k: number,
  alphaEff: number,
  beta: number,
  dy: Arr,
): Float64Array {
  const [N, C, H, W] = shape;
  const HW = H * W;
  const { s } = lrn(x, shape, size, k, alphaEff, beta);
  const dx = new Float64Array(x.length);
  const lo = Math.floor(size / 2);
  const hi = Math.floor((size - 1) / 2);
  // y_c = x_c s_c^-β, s_c depends on x_j for j in win(c).
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++)
      for (let p = 0; p < HW; p++) {
        const i = (n * C + c) * HW + p;
        dx[i] += dy[i] * s[i] ** -beta;
        const coef = dy[i] * x[i] * -beta * s[i] ** (-beta - 1) * alphaEff * 2;
        for (let j = Math.max(0, c - lo); j <= Math.min(C - 1, c + hi); j++) {
          const xj = (n * C + j) * HW + p;
          dx[xj] += coef * x[xj];
        }
      }
  return dx;
}

/** C = A·B for row-major a [M, K] and b [K, N]. */
export function matmul(a: Arr, b: Arr, M: number, K: number, N: number): Float64Array {
  const c = new Float64Array(M * N);
  for (let m = 0; m < M; m++)
    for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) c[m * N + n] += a[m * K + k] * b[k * N + n];
  return c;
}

/** y = x·Wᵀ + b. */
export function linear(x: Arr, B: number, IN: number, w: Arr, OUT: number, b: Arr, relu = false): Float64Array {
  const y = new Float64Array(B * OUT);
  for (let i = 0; i < B; i++)
    for (let o = 0; o < OUT; o++) {
      let s = b[o];
      for (let k = 0; k < IN; k++) s += x[i * IN + k] * w[o * IN + k];
      y[i * OUT + o] = relu ? Math.max(0, s) : s;
    }
  return y;
}

export function linearBackward(x: Arr, B: number, IN: number, w: Arr, OUT: number, dy: Arr) {
  const dx = new Float64Array(B * IN);
  const dw = new Float64Array(OUT * IN);
  const db = new Float64Array(OUT);
  for (let i = 0; i < B; i++)
    for (let o = 0; o < OUT; o++) {
      const g = dy[i * OUT + o];
      if (g === 0) continue;
      db[o] += g;
      for (let k = 0; k < IN; k++) {
        dx[i * IN + k] += g * w[o * IN + k];
        dw[o * IN + k] += g * x[i * IN + k];
      }
    }
  return { dx, dw, db };
}

/** Mean softmax cross-entropy and its gradient w.r.t. the logits. */
export function softmaxCrossEntropy(logits: Arr, B: number, C: number, labels: Arr) {
  let loss = 0;
  const grad = new Float64Array(B * C);
  for (let r = 0; r < B; r++) {
    let m = -Infinity;
    for (let c = 0; c < C; c++) m = Math.max(m, logits[r * C + c]);
    let sum = 0;
    for (let c = 0; c < C; c++) sum += Math.exp(logits[r * C + c] - m);
    const lse = m + Math.log(sum);
    loss += lse - logits[r * C + labels[r]];
    for (let c = 0; c < C; c++) grad[r * C + c] = (Math.exp(logits[r * C + c] - lse) - (c === labels[r] ? 1 : 0)) / B;
  }
  return { loss: loss / B, grad };
}

/** The dropout kernel's keep decision for global element i (same hash as kernels/dropout.wgsl). */
export function dropoutKeeps(seed: number, i: number, p: number): boolean {
  const lowbias32 = (v: number) => {
    let h = v >>> 0;
    h ^= h >>> 16;
    h = Math.imul(h, 0x7feb352d) >>> 0;
    h ^= h >>> 15;
    h = Math.imul(h, 0x846ca68b) >>> 0;
    h ^= h >>> 16;
    return h >>> 0;
  };
  const u = (lowbias32((i ^ lowbias32(seed)) >>> 0) >>> 8) / 16777216;
  return u >= p;
}

/** One PyTorch SGD step; returns new params and momentum buffer. */
export function sgd(p: Arr, g: Arr, buf: Arr, lr: number, momentum: number, wd: number) {
  const np = new Float64Array(p.length);
  const nb = new Float64Array(p.length);
  for (let i = 0; i < p.length; i++) {
    const d = g[i] + wd * p[i];
    nb[i] = momentum * buf[i] + d;
    np[i] = p[i] - lr * nb[i];
  }
  return { p: np, buf: nb };
}

/** The element where |a − e| exceeds atol + rtol·|e| by most, or null when every element is within. */
export function worstMismatch(
  actual: Arr,
  expected: Arr,
  atol: number,
  rtol = 0,
): { index: number; actual: number; expected: number } | null {
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < expected.length; i++) {
    const excess = Math.abs(actual[i] - expected[i]) - (atol + rtol * Math.abs(expected[i]));
    // NaN counts as the worst of all (`!(x <= y)` is true for NaN).
    if (!(excess <= 0) && (worst < 0 || !(excess <= worstExcess))) {
      worst = i;
      worstExcess = excess;
    }
  }
  return worst < 0 ? null : { index: worst, actual: actual[worst], expected: expected[worst] };
}

/**
 * Single elements of a stride-1, zero-padded convolution and its gradients (no ReLU), for layers
 * too large for the whole references: each returns the float64 value and the sum of the absolute
 * values of its terms (the scale its rounding error grows with).
 */
export interface ConvPoint {
  value: number;
  scale: number;
}

export function conv2dAt(
  x: Arr,
  [, C, H, W]: number[],
  w: Arr,
  [, , K]: number[],
  b: Arr,
  P: number,
  n: number,
  co: number,
  oy: number,
  ox: number,
): ConvPoint {
  let value = b[co];
  let scale = Math.abs(b[co]);
  for (let ci = 0; ci < C; ci++)
    for (let ky = 0; ky < K; ky++)
      for (let kx = 0; kx < K; kx++) {
        const iy = oy + ky - P;
        const ix = ox + kx - P;
        if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
        const t = w[((co * C + ci) * K + ky) * K + kx] * x[((n * C + ci) * H + iy) * W + ix];
        value += t;
        scale += Math.abs(t);
      }
  return { value, scale };
}

/** dX[n, ci, iy, ix] of a "same" convolution with output gradient dy [N, Co, H, W]. */
export function conv2dGradInputAt(
  dy: Arr,
  [, C, H, W]: number[],
  w: Arr,
  [Co, , K]: number[],
  P: number,
  n: number,
  ci: number,
  iy: number,
  ix: number,
): ConvPoint {
  const [Ho, Wo] = [H + 2 * P - K + 1, W + 2 * P - K + 1];
  let value = 0;
  let scale = 0;
  for (let co = 0; co < Co; co++)
    for (let ky = 0; ky < K; ky++)
      for (let kx = 0; kx < K; kx++) {
        const oy = iy - ky + P;
        const ox = ix - kx + P;
        if (oy < 0 || oy >= Ho || ox < 0 || ox >= Wo) continue;
        const t = w[((co * C + ci) * K + ky) * K + kx] * dy[((n * Co + co) * Ho + oy) * Wo + ox];
        value += t;
        scale += Math.abs(t);
      }
  return { value, scale };
}

/** dW[co, ci, ky, kx]; with ci < 0, the bias gradient dB[co]. */
export function conv2dGradWeightAt(
  dy: Arr,
  x: Arr,
  [N, C, H, W]: number[],
  [Co, , K]: number[],
  P: number,
  co: number,
  ci: number,
  ky: number,
  kx: number,
): ConvPoint {
  const [Ho, Wo] = [H + 2 * P - K + 1, W + 2 * P - K + 1];
  let value = 0;
  let scale = 0;
  for (let n = 0; n < N; n++)
    for (let oy = 0; oy < Ho; oy++) {
      const iy = oy + ky - P;
      if (ci >= 0 && (iy < 0 || iy >= H)) continue;
      const dyRow = ((n * Co + co) * Ho + oy) * Wo;
      const xRow = ((n * C + ci) * H + iy) * W;
      for (let ox = 0; ox < Wo; ox++) {
        const ix = ox + kx - P;
        if (ci >= 0 && (ix < 0 || ix >= W)) continue;
        const t = dy[dyRow + ox] * (ci < 0 ? 1 : x[xRow + ix]);
        value += t;
        scale += Math.abs(t);
      }
    }
  return { value, scale };
}
