// PNG charts drawn with pngjs alone: training loss and validation error per epoch, and a grid of
// the first convolution's filters. Text uses a built-in 3×5 pixel font (no font files needed).
import { writeFileSync, renameSync } from 'node:fs';
import { PNG } from 'pngjs';
import type { Vgg } from '../../vgg/model.js';
import type { EpochRecord } from './options.js';

type RGB = [number, number, number];

const GLYPHS: Record<string, string> = {
  '0': '111101101101111',
  '1': '010110010010111',
  '2': '111001111100111',
  '3': '111001111001111',
  '4': '101101111001001',
  '5': '111100111001111',
  '6': '111100111101111',
  '7': '111001001001001',
  '8': '111101111101111',
  '9': '111101111001111',
  A: '010101111101101',
  B: '110101110101110',
  C: '011100100100011',
  D: '110101101101110',
  E: '111100110100111',
  F: '111100110100100',
  G: '011100101101011',
  H: '101101111101101',
  I: '111010010010111',
  J: '001001001101010',
  K: '101101110101101',
  L: '100100100100111',
  M: '101111111101101',
  N: '110101101101101',
  O: '010101101101010',
  P: '110101110100100',
  Q: '010101101110011',
  R: '110101110101101',
  S: '011100010001110',
  T: '111010010010010',
  U: '101101101101111',
  V: '101101101101010',
  W: '101101111111101',
  X: '101101010101101',
  Y: '101101010010010',
  Z: '111001010100111',
  '.': '000000000000010',
  '-': '000000111000000',
  '%': '101001010100101',
  ':': '000010000010000',
  '/': '001001010100100',
  ' ': '000000000000000',
  '(': '010100100100010',
  ')': '010001001001010',
};

class Canvas {
  readonly png: PNG;
  constructor(
    readonly width: number,
    readonly height: number,
    bg: RGB = [255, 255, 255],
  ) {
    this.png = new PNG({ width, height });
    for (let i = 0; i < width * height; i++) this.png.data.set([...bg, 255], i * 4);
  }
  set(x: number, y: number, c: RGB): void {
    x = Math.round(x);
    y = Math.round(y);
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return;
    this.png.data.set(c, (y * this.width + x) * 4);
  }
  rect(x: number, y: number, w: number, h: number, c: RGB): void {
    for (let j = 0; j < h; j++) for (let i = 0; i < w; i++) this.set(x + i, y + j, c);
  }
  line(x0: number, y0: number, x1: number, y1: number, c: RGB, thick = 2): void {
    const n = Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0), 1);
    for (let t = 0; t <= n; t++)
      this.rect(x0 + ((x1 - x0) * t) / n - thick / 2, y0 + ((y1 - y0) * t) / n - thick / 2, thick, thick, c);
  }
  text(x: number, y: number, s: string, c: RGB = [40, 40, 40], scale = 2): void {
    for (const ch of s.toUpperCase()) {
      const g = GLYPHS[ch] ?? GLYPHS[' '];
      for (let r = 0; r < 5; r++)
        for (let q = 0; q < 3; q++) if (g[r * 3 + q] === '1') this.rect(x + q * scale, y + r * scale, scale, scale, c);
      x += 4 * scale;
    }
  }
  save(file: string): void {
    const tmp = `${file}.tmp`;
    writeFileSync(tmp, PNG.sync.write(this.png));
    renameSync(tmp, file);
  }
}

function fmt(v: number): string {
  return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toFixed(3);
}

/** One panel: series over epochs with y-range labels. */
function panel(
  cv: Canvas,
  x0: number,
  y0: number,
  w: number,
  h: number,
  title: string,
  series: Array<{ name: string; values: number[]; color: RGB }>,
): void {
  const all = series.flatMap((s) => s.values).filter(Number.isFinite);
  const lo = Math.min(0, ...all);
  const hi = Math.max(...all, lo + 1e-6);
  const n = Math.max(...series.map((s) => s.values.length));
  const px = (i: number) => x0 + 50 + (n <= 1 ? 0 : (i * (w - 60)) / (n - 1));
  const py = (v: number) => y0 + h - 30 - ((v - lo) / (hi - lo)) * (h - 70);
  cv.text(x0 + 50, y0 + 8, title);
  cv.line(x0 + 50, y0 + 30, x0 + 50, y0 + h - 30, [120, 120, 120], 1);
  cv.line(x0 + 50, y0 + h - 30, x0 + w - 10, y0 + h - 30, [120, 120, 120], 1);
  cv.text(x0 + 2, py(hi) - 4, fmt(hi), [90, 90, 90]);
  cv.text(x0 + 2, py(lo) - 4, fmt(lo), [90, 90, 90]);
  cv.text(x0 + 50, y0 + h - 22, 'EPOCH 1', [90, 90, 90]);
  if (n > 1) cv.text(x0 + w - 70, y0 + h - 22, `${n}`, [90, 90, 90]);
  series.forEach((s, k) => {
    cv.text(x0 + w - 150, y0 + 34 + 14 * k, s.name, s.color);
    s.values.forEach((v, i) => {
      if (i > 0 && Number.isFinite(v) && Number.isFinite(s.values[i - 1]))
        cv.line(px(i - 1), py(s.values[i - 1]), px(i), py(v), s.color);
      cv.rect(px(i) - 2, py(v) - 2, 5, 5, s.color);
    });
  });
}

/** Training loss and validation top-1 / top-5 error (%) per epoch. */
export async function writeTrainingChart(file: string, history: EpochRecord[]): Promise<void> {
  const cv = new Canvas(900, 360);
  panel(cv, 0, 0, 450, 360, 'TRAIN LOSS', [
    { name: 'LOSS', values: history.map((r) => r.trainLoss), color: [200, 60, 40] },
  ]);
  panel(cv, 450, 0, 450, 360, 'VAL ERROR %', [
    { name: 'TOP-1', values: history.map((r) => r.valTop1 * 100), color: [40, 90, 200] },
    { name: 'TOP-5', values: history.map((r) => r.valTop5 * 100), color: [40, 160, 80] },
  ]);
  cv.save(file);
}

/** The first conv layer's filters as a grid (RGB for 3 input channels, gray otherwise). */
export async function writeFilterGrid(file: string, model: Vgg): Promise<void> {
  const conv = model.convLayers()[0].conv;
  const [cout, cin, k] = conv.weight.shape;
  const w = await conv.weight.toArray();
  const cols = Math.ceil(Math.sqrt(cout));
  const rows = Math.ceil(cout / cols);
  const cell = Math.max(4, Math.floor(48 / k));
  const tile = k * cell + 4;
  const cv = new Canvas(cols * tile + 4, rows * tile + 4, [30, 30, 30]);
  for (let f = 0; f < cout; f++) {
    const vals = w.subarray(f * cin * k * k, (f + 1) * cin * k * k);
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of vals) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    const norm = (v: number) => Math.round(((v - lo) / Math.max(hi - lo, 1e-12)) * 255);
    const ox = 4 + (f % cols) * tile;
    const oy = 4 + Math.floor(f / cols) * tile;
    for (let y = 0; y < k; y++)
      for (let x = 0; x < k; x++) {
        const at = (c: number) => norm(vals[(c * k + y) * k + x]);
        const color: RGB = cin === 3 ? [at(0), at(1), at(2)] : [at(0), at(0), at(0)];
        cv.rect(ox + x * cell, oy + y * cell, cell, cell, color);
      }
  }
  cv.save(file);
}
