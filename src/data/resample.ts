// Antialiased bilinear resizing, as torchvision's Resize does it for nets trained with
// torchvision: `F.interpolate(x, mode='bilinear', antialias=True, align_corners=False)` in float
// (torchvision's default since 0.17, and the algorithm of PIL's BILINEAR resize, which differs only
// by rounding to 8 bits between its passes). When shrinking by a factor k the triangle filter is
// stretched to cover k source pixels, so every source pixel contributes; plain bilinear sampling
// (transforms.ts, what our own training uses) reads only the 4 nearest.
import type { RawImage, Window } from './dataset.js';

/** Per output index: the first source index and the normalised filter weights. */
function axisWeights(inSize: number, outSize: number): Array<{ first: number; weights: Float64Array }> {
  const scale = inSize / outSize;
  const support = Math.max(scale, 1); // the triangle's half-width, in source pixels
  const invScale = scale >= 1 ? 1 / scale : 1;
  return Array.from({ length: outSize }, (_, i) => {
    const centre = scale * (i + 0.5);
    const first = Math.max(Math.trunc(centre - support + 0.5), 0);
    const last = Math.min(Math.trunc(centre + support + 0.5), inSize);
    const weights = new Float64Array(Math.max(last - first, 0));
    let total = 0;
    for (let j = 0; j < weights.length; j++)
      total += weights[j] = Math.max(0, 1 - Math.abs((j + first - centre + 0.5) * invScale));
    for (let j = 0; j < weights.length; j++) weights[j] /= total;
    return { first, weights };
  });
}

/** An axis's taps for outputs [from, from + n), flattened: first source index, count, K weights each. */
function flatTaps(
  inSize: number,
  outSize: number,
  from: number,
  n: number,
): { first: Int32Array; count: Int32Array; weights: Float64Array; K: number } {
  const taps = axisWeights(inSize, outSize).slice(from, from + n);
  const K = Math.max(...taps.map((t) => t.weights.length));
  const weights = new Float64Array(n * K);
  taps.forEach((t, i) => weights.set(t.weights, i * K));
  return {
    first: Int32Array.from(taps, (t) => t.first),
    count: Int32Array.from(taps, (t) => t.weights.length),
    weights,
    K,
  };
}

/**
 * The window `win` of `img` resized to w×h with the antialiased bilinear filter: HWC values on
 * the 0–255 scale. Only the window is computed: rows first, over just the source rows its taps
 * reach, then columns.
 */
export function resampleWindow(img: RawImage, w: number, h: number, win: Window): Float32Array {
  const { width: W, channels: C, data } = img;
  const xs = flatTaps(W, w, win.x0, win.width);
  const ys = flatTaps(img.height, h, win.y0, win.height);
  const top = ys.first[0];
  let bottom = 0;
  for (let y = 0; y < win.height; y++) bottom = Math.max(bottom, ys.first[y] + ys.count[y]);
  const stride = win.width * C;
  const rows = new Float32Array((bottom - top) * stride);
  for (let y = top; y < bottom; y++) {
    const rowIn = y * W * C;
    const rowOut = (y - top) * stride;
    for (let x = 0; x < win.width; x++) {
      const n = xs.count[x];
      const q0 = x * xs.K;
      for (let c = 0; c < C; c++) {
        let s = 0;
        for (let j = 0, p = rowIn + xs.first[x] * C + c; j < n; j++, p += C) s += xs.weights[q0 + j] * data[p];
        rows[rowOut + x * C + c] = s;
      }
    }
  }
  const out = new Float32Array(win.height * stride);
  for (let y = 0; y < win.height; y++) {
    const base = (ys.first[y] - top) * stride;
    const n = ys.count[y];
    const q0 = y * ys.K;
    for (let k = 0; k < stride; k++) {
      let s = 0;
      for (let j = 0, p = base + k; j < n; j++, p += stride) s += ys.weights[q0 + j] * rows[p];
      out[y * stride + k] = s;
    }
  }
  return out;
}

/** `img` resized to w×h with the antialiased bilinear filter: HWC values on the 0–255 scale. */
export function resizeAntialiased(img: RawImage, w: number, h: number): Float32Array {
  return resampleWindow(img, w, h, { x0: 0, y0: 0, width: w, height: h });
}

/** The window `win` of `img` resized to w×h with the same filter, rounded to 8 bits (the pure-JS pipeline's crops). */
export function resizeWindow(img: RawImage, w: number, h: number, win: Window): RawImage {
  // Uint8ClampedArray stores round and clamp to 0…255.
  const data = new Uint8Array(Uint8ClampedArray.from(resampleWindow(img, w, h, win)).buffer);
  return { width: win.width, height: win.height, channels: img.channels, data };
}
