// The paper's preprocessing and augmentation (section 3.1), on 8-bit images, into f32 CHW tensors:
// isotropic rescale so the smallest side is S (fixed, or jittered per image), a random crop of the
// training size, a random horizontal flip, AlexNet's PCA colour shift, and subtraction of the
// training set's mean value per channel. Pixel values are scaled to [0, 1] before the mean is taken
// away. Every window is sampled straight from the source with bilinear interpolation, so the whole
// rescaled image is never materialised.
import type { Rng } from '../rng.js';
import type { ImageDataset, RawImage } from './dataset.js';
import { Prefetch } from './prefetch.js';
import { resizeAntialiased } from './resample.js';

/**
 * How an evaluation image becomes the net's input. 'vggpu' (our training's): long side rounded,
 * bilinear sampling straight from the source, centre crop at the floor of the margin.
 * 'torchvision' (Resize(Q) + CenterCrop): long side truncated, antialiased bilinear
 * (resample.ts), centre crop at the margin rounded half to even (Python's round).
 */
export type Sampling = 'vggpu' | 'torchvision';

/** Per-channel normalisation of inputs, (pixel/255 − mean) / std, and how images are sampled. */
export interface InputNorm {
  mean: number[] | null;
  /** Divisor per channel after the mean is taken away; null or absent: 1 (our training's default). */
  std?: number[] | null;
  /** Absent: 'vggpu'. */
  sampling?: Sampling;
}

/** Per-channel statistics of a training set, for mean subtraction and the PCA colour shift. */
export interface ChannelStats {
  /** Mean per channel, on the [0, 1] scale. */
  mean: number[];
  /** Eigenvalues and eigenvectors (rows) of the channel covariance, for the PCA colour shift. */
  eigenvalues: number[];
  eigenvectors: number[][];
}

/** The training-time augmentation and preprocessing settings. */
export interface AugmentOptions {
  /** Output size (the net's input size). */
  crop: number;
  /** Smallest side after rescaling: [S, S] fixed, or [Smin, Smax] jittered per image. */
  scale: [number, number];
  flip: boolean;
  /** Standard deviation of the PCA colour shift's coefficients (AlexNet: 0.1); 0 turns it off. */
  colorShift: number;
  /** Subtract `stats.mean` (on by default in the paper). */
  subtractMean: boolean;
  stats: ChannelStats;
  /** Per-channel divisor after the mean (null: none, the paper's recipe). */
  std?: number[] | null;
}

/** Size of an image rescaled so its smallest side is `s` (aspect ratio kept). */
export function rescaledSize(
  img: { width: number; height: number },
  s: number,
  sampling: Sampling = 'vggpu',
): [number, number] {
  const short = Math.min(img.width, img.height);
  const long = (side: number) =>
    Math.max(s, sampling === 'torchvision' ? Math.trunc((s * side) / short) : Math.round(side * (s / short)));
  return [img.width <= img.height ? s : long(img.width), img.height < img.width ? s : long(img.height)];
}

/** Python's round(): halves go to the even neighbour. */
function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  return d > 0.5 || (d === 0.5 && f % 2 !== 0) ? f + 1 : f;
}

/** Top-left corner of the centred crop×crop window of a w×h image. */
export function centreOffsets(w: number, h: number, crop: number, sampling: Sampling = 'vggpu'): [number, number] {
  const at = (size: number) =>
    sampling === 'torchvision' ? roundHalfEven((size - crop) / 2) : Math.floor((size - crop) / 2);
  return [at(w), at(h)];
}

// The last antialiased rescale of each image: evaluation takes several windows of one rescale.
const rescaled = new WeakMap<RawImage, { w: number; h: number; data: Float32Array }>();

/**
 * Like sampleWindow, with the image rescaled to scaledW × scaledH the way `sampling` says.
 */
export function sampleRescaled(
  img: RawImage,
  scaledW: number,
  scaledH: number,
  x0: number,
  y0: number,
  outW: number,
  outH: number,
  flip: boolean,
  sampling: Sampling,
  out: Float32Array,
  offset: number,
): void {
  if (sampling === 'vggpu') {
    sampleWindow(img, scaledW, scaledH, x0, y0, outW, outH, flip, out, offset);
    return;
  }
  let r = rescaled.get(img);
  if (!r || r.w !== scaledW || r.h !== scaledH) {
    r = { w: scaledW, h: scaledH, data: resizeAntialiased(img, scaledW, scaledH) };
    rescaled.set(img, r);
  }
  const C = img.channels;
  const plane = outW * outH;
  for (let oy = 0; oy < outH; oy++) {
    for (let ox = 0; ox < outW; ox++) {
      const src = ((y0 + oy) * scaledW + x0 + (flip ? outW - 1 - ox : ox)) * C;
      for (let c = 0; c < C; c++) out[offset + c * plane + oy * outW + ox] = r.data[src + c] / 255;
    }
  }
}

/**
 * Writes the window [x0, x0+outW) × [y0, y0+outH) of `img` rescaled to scaledW × scaledH into `out`
 * (CHW at `offset`), values in [0, 1], mirrored horizontally when `flip`.
 */
export function sampleWindow(
  img: RawImage,
  scaledW: number,
  scaledH: number,
  x0: number,
  y0: number,
  outW: number,
  outH: number,
  flip: boolean,
  out: Float32Array,
  offset: number,
): void {
  const { width: W, height: H, channels: C, data } = img;
  const sx = W / scaledW;
  const sy = H / scaledH;
  const plane = outW * outH;
  if (sx === 1 && sy === 1) {
    // No rescale: the window's pixels themselves (what the general case computes, faster).
    for (let oy = 0; oy < outH; oy++) {
      for (let ox = 0; ox < outW; ox++) {
        const src = ((y0 + oy) * W + x0 + (flip ? outW - 1 - ox : ox)) * C;
        for (let c = 0; c < C; c++) out[offset + c * plane + oy * outW + ox] = data[src + c] / 255;
      }
    }
    return;
  }
  for (let oy = 0; oy < outH; oy++) {
    const fy = Math.min(Math.max((y0 + oy + 0.5) * sy - 0.5, 0), H - 1);
    const y1 = Math.floor(fy);
    const y2 = Math.min(y1 + 1, H - 1);
    const wy = fy - y1;
    for (let ox = 0; ox < outW; ox++) {
      const tx = flip ? outW - 1 - ox : ox;
      const fx = Math.min(Math.max((x0 + tx + 0.5) * sx - 0.5, 0), W - 1);
      const x1 = Math.floor(fx);
      const x2 = Math.min(x1 + 1, W - 1);
      const wx = fx - x1;
      for (let c = 0; c < C; c++) {
        const a = data[(y1 * W + x1) * C + c];
        const b = data[(y1 * W + x2) * C + c];
        const d = data[(y2 * W + x1) * C + c];
        const e = data[(y2 * W + x2) * C + c];
        const v = (a * (1 - wx) + b * wx) * (1 - wy) + (d * (1 - wx) + e * wx) * wy;
        out[offset + c * plane + oy * outW + ox] = v / 255;
      }
    }
  }
}

/** Mean subtraction, a per-image constant colour shift (if given) and division by std (if given), in place. */
function normalise(
  out: Float32Array,
  offset: number,
  channels: number,
  plane: number,
  mean: number[] | null,
  shift: number[] | null,
  std: number[] | null = null,
): void {
  for (let c = 0; c < channels; c++) {
    const delta = (shift ? shift[c] : 0) - (mean ? mean[c] : 0);
    const k = std ? 1 / std[c] : 1;
    if (delta === 0 && k === 1) continue;
    const base = offset + c * plane;
    for (let i = 0; i < plane; i++) out[base + i] = (out[base + i] + delta) * k;
  }
}

/** A training image's smallest side S: fixed, or jittered in [Smin, Smax]. The first draw of its rng. */
export function drawScale(o: AugmentOptions, rng: Rng): number {
  return o.scale[0] + rng.int(o.scale[1] - o.scale[0] + 1);
}

/** One training sample: jittered rescale, random crop, random flip, colour shift, mean subtraction. */
export function trainSample(img: RawImage, o: AugmentOptions, rng: Rng, out: Float32Array, offset: number): void {
  trainSampleAt(img, drawScale(o, rng), o, rng, out, offset);
}

/** The random crop's top-left corner in a w×h image: the draws after S. */
export function cropCorner(w: number, h: number, crop: number, rng: Rng): [number, number] {
  const x0 = rng.int(w - crop + 1);
  return [x0, rng.int(h - crop + 1)];
}

/** trainSample once S is drawn: `img` is the image as stored, rescaled here while sampling. */
export function trainSampleAt(
  img: RawImage,
  s: number,
  o: AugmentOptions,
  rng: Rng,
  out: Float32Array,
  offset: number,
): void {
  const [w, h] = rescaledSize(img, s);
  const [x0, y0] = cropCorner(w, h, o.crop, rng);
  finishTrainSample(img, w, h, x0, y0, o, rng, out, offset);
}

/**
 * The rest of a training sample once the crop is placed (window [x0, x0+crop) × [y0, y0+crop) of
 * `img` rescaled to w×h): flip, PCA colour shift, mean and std. The input pipeline passes the crop
 * itself, already rescaled by the decoder (w = h = crop, x0 = y0 = 0).
 */
export function finishTrainSample(
  img: RawImage,
  w: number,
  h: number,
  x0: number,
  y0: number,
  o: AugmentOptions,
  rng: Rng,
  out: Float32Array,
  offset: number,
): void {
  const flip = o.flip && rng.uniform() < 0.5;
  sampleWindow(img, w, h, x0, y0, o.crop, o.crop, flip, out, offset);
  let shift: number[] | null = null;
  if (o.colorShift > 0) {
    // AlexNet: add Σ_i α_i λ_i p_i with α_i ~ N(0, σ²) to every pixel.
    const { eigenvalues: l, eigenvectors: p } = o.stats;
    const alpha = l.map(() => rng.normal() * o.colorShift);
    shift =
      img.channels === l.length
        ? Array.from({ length: l.length }, (_, c) => l.reduce((a, li, i) => a + alpha[i] * li * p[i][c], 0))
        : null;
  }
  normalise(out, offset, img.channels, o.crop * o.crop, o.subtractMean ? o.stats.mean : null, shift, o.std ?? null);
}

/** The centre crop of the image rescaled to smallest side `q` (single-scale evaluation). */
export function centreSample(
  img: RawImage,
  q: number,
  crop: number,
  norm: InputNorm,
  out: Float32Array,
  offset: number,
  flip = false,
): void {
  const sampling = norm.sampling ?? 'vggpu';
  const [w, h] = rescaledSize(img, q, sampling);
  const [x0, y0] = centreOffsets(w, h, crop, sampling);
  sampleRescaled(img, w, h, x0, y0, crop, crop, flip, sampling, out, offset);
  normalise(out, offset, img.channels, crop * crop, norm.mean, null, norm.std ?? null);
}

/** A crop the decoder already made (rescaled and cropped: the whole of `img`), normalised. */
export function normalisedCrop(img: RawImage, norm: InputNorm, out: Float32Array, offset: number): void {
  sampleWindow(img, img.width, img.height, 0, 0, img.width, img.height, false, out, offset);
  normalise(out, offset, img.channels, img.width * img.height, norm.mean, null, norm.std ?? null);
}

/** A window of the image rescaled to smallest side `q`, normalised (evaluation views). */
export function viewSample(
  img: RawImage,
  q: number,
  x0: number,
  y0: number,
  outW: number,
  outH: number,
  flip: boolean,
  norm: InputNorm,
  out: Float32Array,
  offset: number,
): void {
  const sampling = norm.sampling ?? 'vggpu';
  const [w, h] = rescaledSize(img, q, sampling);
  sampleRescaled(img, w, h, x0, y0, outW, outH, flip, sampling, out, offset);
  normalise(out, offset, img.channels, outW * outH, norm.mean, null, norm.std ?? null);
}

/** The whole image rescaled to smallest side `q` (dense evaluation): CHW values and its size. */
export function fullSample(
  img: RawImage,
  q: number,
  norm: InputNorm,
  flip = false,
): { data: Float32Array; width: number; height: number } {
  const [w, h] = rescaledSize(img, q, norm.sampling);
  const data = new Float32Array(img.channels * w * h);
  viewSample(img, q, 0, 0, w, h, flip, norm, data, 0);
  return { data, width: w, height: h };
}

/**
 * Channel mean and covariance eigen-decomposition over up to `maxImages` training images
 * (a seeded sample when the set is larger), on the [0, 1] scale. `load` fetches images as stored
 * (the input pipeline's workers, for files); by default they are read here, one by one.
 */
export async function channelStats(
  ds: ImageDataset,
  maxImages: number,
  rng: Rng,
  load?: (indices: number[]) => Promise<RawImage[]>,
): Promise<ChannelStats> {
  const C = ds.channels;
  const n = Math.min(ds.length, maxImages);
  const picks = Array.from({ length: n }, (_, k) => (n === ds.length ? k : rng.int(ds.length)));
  const sum = new Float64Array(C);
  const sq = new Float64Array(C * C);
  let count = 0;
  const CHUNK = 64;
  const chunks = new Prefetch(
    async (k) => {
      const part = picks.slice(k * CHUNK, (k + 1) * CHUNK);
      return load ? load(part) : part.map((i) => ds.image(i));
    },
    0,
    Math.ceil(n / CHUNK),
    1,
  );
  for (let k = 0; k * CHUNK < n; k++) {
    for (const img of await chunks.next()) {
      const px = img.width * img.height;
      for (let p = 0; p < px; p++) {
        for (let a = 0; a < C; a++) {
          const va = img.data[p * C + a] / 255;
          sum[a] += va;
          for (let b = 0; b < C; b++) sq[a * C + b] += va * (img.data[p * C + b] / 255);
        }
      }
      count += px;
    }
  }
  const mean = Array.from(sum, (s) => s / count);
  const cov = Array.from({ length: C }, (_, a) =>
    Array.from({ length: C }, (_, b) => sq[a * C + b] / count - mean[a] * mean[b]),
  );
  const { values, vectors } = symmetricEigen(cov);
  return { mean, eigenvalues: values.map((v) => Math.sqrt(Math.max(v, 0))), eigenvectors: vectors };
}

/** Jacobi eigen-decomposition of a small symmetric matrix: eigenvalues and eigenvectors as rows. */
export function symmetricEigen(m: number[][]): { values: number[]; vectors: number[][] } {
  const n = m.length;
  const a = m.map((r) => [...r]);
  const v: number[][] = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 1 : 0)));
  for (let sweep = 0; sweep < 50; sweep++) {
    let off = 0;
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) off += a[i][j] ** 2;
    if (off < 1e-20) break;
    for (let p = 0; p < n; p++)
      for (let q = p + 1; q < n; q++) {
        if (Math.abs(a[p][q]) < 1e-30) continue;
        const theta = (a[q][q] - a[p][p]) / (2 * a[p][q]);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k][p];
          const akq = a[k][q];
          a[k][p] = c * akp - s * akq;
          a[k][q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p][k];
          const aqk = a[q][k];
          a[p][k] = c * apk - s * aqk;
          a[q][k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k][p];
          const vkq = v[k][q];
          v[k][p] = c * vkp - s * vkq;
          v[k][q] = s * vkp + c * vkq;
        }
      }
  }
  // Columns of v are eigenvectors; return them as rows.
  return { values: a.map((r, i) => r[i]), vectors: Array.from({ length: n }, (_, i) => v.map((row) => row[i])) };
}
