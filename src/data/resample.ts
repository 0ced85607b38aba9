// Antialiased bilinear resizing, as torchvision's Resize does it for nets trained with
// torchvision: `F.interpolate(x, mode='bilinear', antialias=True, align_corners=False)` in float
// (torchvision's default since 0.17, and the algorithm of PIL's BILINEAR resize, which differs only
// by rounding to 8 bits between its passes). When shrinking by a factor k the triangle filter is
// stretched to cover k source pixels, so every source pixel contributes; plain bilinear sampling
// (transforms.ts, what our own training uses) reads only the 4 nearest.
import type { RawImage } from './dataset.js';

/** Per output index: the first source index and the normalised filter weights. */
function axisWeights(inSize: number, outSize: number): Array<{ first: number; weights: Float64Array }> {
  const scale = inSize / outSize;
  const support = scale >= 1 ? scale : 1; // the triangle's half-width, in source pixels
  const invScale = scale >= 1 ? 1 / scale : 1;
  return Array.from({ length: outSize }, (_, i) => {
    const centre = scale * (i + 0.5);
    const first = Math.max(Math.trunc(centre - support + 0.5), 0);
    const last = Math.min(Math.trunc(centre + support + 0.5), inSize);
    const weights = new Float64Array(Math.max(last - first, 0));
    let total = 0;
    for (let j = 0; j < weights.length; j++) total += weights[j] = Math.max(0, 1 - Math.abs((j + first - centre + 0.5) * invScale));
    for (let j = 0; j < weights.length; j++) weights[j] /= total;
    return { first, weights };
  });
}

/** `img` resized to w×h with the antialiased bilinear filter: HWC values on the 0–255 scale. */
export function resizeAntialiased(img: RawImage, w: number, h: number): Float32Array {
  const { width: W, height: H, channels: C, data } = img;
  const xs = axisWeights(W, w);
  const ys = axisWeights(H, h);
  // Rows first (H × w), then columns (h × w).
  const rows = new Float32Array(H * w * C);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < w; x++) {
      const { first, weights } = xs[x];
      for (let c = 0; c < C; c++) {
        let s = 0;
        for (let j = 0; j < weights.length; j++) s += weights[j] * data[(y * W + first + j) * C + c];
        rows[(y * w + x) * C + c] = s;
      }
    }
  }
  const out = new Float32Array(h * w * C);
  for (let y = 0; y < h; y++) {
    const { first, weights } = ys[y];
    for (let x = 0; x < w; x++) {
      for (let c = 0; c < C; c++) {
        let s = 0;
        for (let j = 0; j < weights.length; j++) s += weights[j] * rows[((first + j) * w + x) * C + c];
        out[(y * w + x) * C + c] = s;
      }
    }
  }
  return out;
}
