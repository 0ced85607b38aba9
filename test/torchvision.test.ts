// Issue 20: torchvision weights get torchvision's preprocessing (Resize(256) → CenterCrop(224) →
// ToTensor → Normalize with ImageNet's mean and std), the net and class count are inferred from the
// tensors, foreign-file mistakes get one-line errors, and F16/BF16/F64 files read fast and exactly.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { init, Tensor } from '../src/node/index.js';
import { loadModel } from '../src/node/checkpoint/checkpoint.js';
import { readSafetensors, writeSafetensors, type StoredTensor } from '../src/node/checkpoint/safetensors.js';
import { decodeImage } from '../src/node/data/decode.js';
import { centreSample } from '../src/data/transforms.js';
import { imagesPosteriors, softmaxRows } from '../src/node/eval/protocols.js';
import { IMAGENET_MEAN, IMAGENET_STD, loadForEval } from '../src/node/eval/load.js';
import { type NetName, planLayers, resolveConfig } from '../src/vgg/config.js';
import { buildVgg } from '../src/vgg/model.js';
import { Rng } from '../src/rng.js';
import { expectClose } from './helpers.js';

const root = join(import.meta.dirname, '..');
const dir = mkdtempSync(join(tmpdir(), 'vggpu-tv-'));
const png = join(dir, 'photo.png');
beforeAll(async () => {
  await init();
  // 333×250: the long side rescales to 340.99 (truncated to 340 by torchvision, 341 by rounding)
  // and the crop margins are 58 and 16; random pixels make any sampling difference show.
  const img = new PNG({ width: 333, height: 250 });
  const rng = new Rng(7);
  for (let i = 0; i < img.data.length; i++) img.data[i] = i % 4 === 3 ? 255 : rng.int(256);
  writeFileSync(png, PNG.sync.write(img));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A checkpoint laid out as torchvision saves VGG (names, shapes, F32), without our metadata. */
function torchvisionFile(name: string, net: NetName, classes: number, prefix = ''): string {
  const config = resolveConfig({ net, width: 1 / 16, inputSize: 224, classes, inChannels: 3 });
  const rng = new Rng(11);
  const tensors: Array<[string, StoredTensor]> = [];
  for (const l of planLayers(config)) {
    const shapes =
      l.kind === 'conv'
        ? [[l.outChannels, l.inChannels, l.kernel, l.kernel], [l.outChannels]]
        : l.kind === 'fc'
          ? [[l.outFeatures, l.inFeatures], [l.outFeatures]]
          : [];
    shapes.forEach((shape, i) => {
      const n = shape.reduce((a, b) => a * b, 1);
      const fanIn = shape.slice(1).reduce((a, b) => a * b, 1);
      tensors.push([
        `${prefix}${l.name}.${i ? 'bias' : 'weight'}`,
        { shape, data: Float32Array.from({ length: n }, () => rng.normal() * (i ? 0.1 : Math.sqrt(2 / fanIn))) },
      ]);
    });
  }
  const file = join(dir, name);
  writeSafetensors(file, tensors);
  return file;
}

/**
 * torchvision's transform in float64, written out directly: Resize(256) keeps the aspect ratio
 * with the long side truncated (int(256·long/short)); its bilinear filter is antialiased as
 * F.interpolate(..., antialias=True, align_corners=False): output pixel i of an axis shrunk by
 * k = in/out ≥ 1 averages the source pixels j with weight max(0, 1 − |j + 0.5 − k(i + 0.5)| / k),
 * normalised, over the j whose centres lie within k of k(i + 0.5) (rounded as PyTorch rounds the
 * window ends). CenterCrop(224) starts at round((size − 224) / 2) (Python's round). ToTensor /255.
 */
function torchvisionInput(
  img: { width: number; height: number; channels: number; data: Uint8Array },
  resize: number,
  crop: number,
  mean: number[],
  std: number[],
): Float64Array {
  const short = Math.min(img.width, img.height);
  const W = img.width === short ? resize : Math.trunc((resize * img.width) / short);
  const H = img.height === short ? resize : Math.trunc((resize * img.height) / short);
  const taps = (inSize: number, outSize: number, i: number): Array<[number, number]> => {
    const k = inSize / outSize;
    const half = Math.max(k, 1);
    const c = k * (i + 0.5);
    const lo = Math.max(Math.trunc(c - half + 0.5), 0);
    const hi = Math.min(Math.trunc(c + half + 0.5), inSize);
    const t: Array<[number, number]> = [];
    for (let j = lo; j < hi; j++) t.push([j, Math.max(0, 1 - Math.abs(j + 0.5 - c) / half)]);
    const sum = t.reduce((a, [, w]) => a + w, 0);
    return t.map(([j, w]) => [j, w / sum]);
  };
  const round = (v: number) =>
    v - Math.floor(v) === 0.5 ? (Math.floor(v) % 2 === 0 ? Math.floor(v) : Math.floor(v) + 1) : Math.round(v);
  const x0 = round((W - crop) / 2);
  const y0 = round((H - crop) / 2);
  const out = new Float64Array(3 * crop * crop);
  for (let y = 0; y < crop; y++) {
    const ty = taps(img.height, H, y0 + y);
    for (let x = 0; x < crop; x++) {
      const tx = taps(img.width, W, x0 + x);
      for (let c = 0; c < 3; c++) {
        let s = 0;
        for (const [sy, wy] of ty) for (const [sx, wx] of tx) s += wy * wx * img.data[(sy * img.width + sx) * 3 + c];
        out[c * crop * crop + y * crop + x] = (s / 255 - mean[c]) / std[c];
      }
    }
  }
  return out;
}

describe('a torchvision checkpoint', () => {
  it('is recognised from its tensors, and its input is torchvision’s Resize + CenterCrop + ToTensor + Normalize', async () => {
    const file = torchvisionFile('vgg11.safetensors', 'A', 1000);
    const loaded = loadForEval(file);
    expect(loaded.model.config).toMatchObject({
      net: 'A',
      classes: 1000,
      inChannels: 3,
      inputSize: 224,
      width: 1 / 16,
    });
    expect(loaded.preprocess).toMatchObject({
      mean: IMAGENET_MEAN,
      std: IMAGENET_STD,
      scale: [256, 256],
      sampling: 'torchvision',
    });
    expect(loaded.notes.join('\n')).toMatch(
      /torchvision's layout of VGG-A .* 1000 classes \(inferred from classifier\.6\.weight\)/,
    );
    expect(loaded.notes.join('\n')).toMatch(
      /Resize\(256\) \(antialiased bilinear\), CenterCrop\(224\), ToTensor, Normalize\(mean=\[0\.485, 0\.456, 0\.406\], std=\[0\.229, 0\.224, 0\.225\]\)/,
    );
    const img = decodeImage(png);
    const x = new Float32Array(3 * 224 * 224);
    centreSample(img, 256, 224, loaded.preprocess, x, 0);
    expectClose(x, torchvisionInput(img, 256, 224, IMAGENET_MEAN, IMAGENET_STD), 1e-5, 0, 'input tensor');
    // The evaluation protocols sample the same way: the centre view's posterior is the net's on x.
    const probs = await imagesPosteriors(loaded.model, [img], 'centre', 256, loaded.preprocess);
    const logits = await loaded.model.forward(Tensor.from(x, [1, 3, 224, 224])).toArray();
    expectClose(probs, softmaxRows(logits, 1000), 1e-6, 1e-4, 'centre posterior');
  });

  it('classify_image.ts takes it with no flags (1000 classes) and a 10-class one with the count inferred', () => {
    const run = (args: string[]) =>
      spawnSync(process.execPath, ['--import', 'tsx', 'examples/classify_image.ts', ...args], {
        cwd: root,
        encoding: 'utf8',
        timeout: 120_000,
      });
    const big = run([torchvisionFile('vgg13.safetensors', 'B', 1000), png]);
    expect(big.status, big.stderr).toBe(0);
    expect(big.stdout).toMatch(/note: .*torchvision's layout of VGG-B/);
    expect(big.stdout).toMatch(/VGG-B on .*photo\.png:\n(\s+\d+\.\d% {2}class \d+\n){5}$/);
    const small = run([torchvisionFile('vgg16_10.safetensors', 'D', 10), png, '--classes', '10']);
    expect(small.status, small.stderr).toBe(0);
    expect(small.stdout).toMatch(/with 10 classes \(inferred from classifier\.6\.weight\)/);
    // User mistakes: one line, no stack trace.
    const wrong = run([torchvisionFile('vgg16_10b.safetensors', 'D', 10), png, '--classes', '1000']);
    expect(wrong.status).toBe(1);
    expect(wrong.stderr).toMatch(
      /^error: .*classifier\.6\.weight has 10 rows: it is a 10-class net, not 1000; drop --classes\n$/,
    );
    const badNet = run([join(dir, 'vgg13.safetensors'), png, '--net', 'D']);
    expect(badNet.stderr).toMatch(
      /^error: .*has no tensor 'features\.\d+\.weight' that VGG-D .* needs; is it a checkpoint of another net\?\n$/,
    );
    const usage = run([png]);
    expect(usage.status).toBe(2);
    expect(usage.stderr).toMatch(/^error: usage: classify_image\.ts CHECKPOINT IMAGE/);
  });

  it('--mean and --std replace the normalisation; a count that does not fit the channels is refused', () => {
    const file = join(dir, 'vgg11.safetensors');
    const p = loadForEval(file, { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] });
    expect(p.preprocess).toMatchObject({ mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25], sampling: 'torchvision' });
    expect(() => loadForEval(file, { std: [0.2, 0.2] })).toThrowError(
      /takes 3-channel images, but --std gives 2 values/,
    );
  });

  it("strips a DataParallel 'module.' prefix with a note, and loadModel names the prefix", () => {
    const file = torchvisionFile('ddp.safetensors', 'A', 1000, 'module.');
    const loaded = loadForEval(file);
    expect(loaded.notes[0]).toMatch(
      /stripped the 'module\.' prefix from its tensor names \(a DataParallel\/DDP state dict\)/,
    );
    expect(loaded.model.config.net).toBe('A');
    const net = buildVgg({ net: 'A', width: 1 / 16, inputSize: 224, classes: 1000 });
    expect(() => loadModel(file, net)).toThrowError(
      /tensor names carry a 'module\.' prefix \('module\.features\.0\.weight'\), as a DataParallel\/DDP state dict saves them/,
    );
  });

  it('a file that is no torchvision VGG and has no metadata asks for --net', () => {
    const file = join(dir, 'other.safetensors');
    writeSafetensors(file, [['features.0.weight', { shape: [4, 3, 3, 3], data: new Float32Array(108) }]]);
    expect(() => loadForEval(file)).toThrowError(
      /has no vggpu metadata, and its tensor names and shapes are not those of a torchvision VGG .*; pass --net/,
    );
  });
});

/** A safetensors file of one tensor in `dtype`, written byte by byte. */
function rawFile(name: string, dtype: string, shape: number[], bytes: Uint8Array): string {
  let json = JSON.stringify({ t: { dtype, shape, data_offsets: [0, bytes.length] } });
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(BigInt(json.length));
  const file = join(dir, name);
  writeFileSync(file, Buffer.concat([head, Buffer.from(json), bytes]));
  return file;
}

describe('F16, BF16 and F64 tensors', () => {
  it('convert exactly as PyTorch’s .float() does, specials included', () => {
    // f16 bit patterns: ±0, the smallest subnormal, the largest subnormal, 1, the largest normal, ±∞, NaN.
    const f16 = [0x0000, 0x8000, 0x0001, 0x03ff, 0x3c00, 0x7bff, 0x7c00, 0xfc00, 0x7e00, 0xc248];
    const f16Want = [0, -0, 2 ** -24, 1023 * 2 ** -24, 1, 65504, Infinity, -Infinity, NaN, -3.140625];
    const f16Got = readSafetensors(
      rawFile('h.safetensors', 'F16', [f16.length], new Uint8Array(Uint16Array.from(f16).buffer)),
    ).tensors.get('t')!.data;
    expect(Array.from(f16Got)).toEqual(f16Want);
    // bf16 is the top half of an f32.
    const f32 = Float32Array.from([0, -0, 1, -2.5, 3.0e38, 1e-40, Infinity, NaN, 0.1]);
    const bf16 = Uint16Array.from(new Uint32Array(f32.buffer), (u) => u >>> 16);
    const bfGot = readSafetensors(
      rawFile('b.safetensors', 'BF16', [bf16.length], new Uint8Array(bf16.buffer)),
    ).tensors.get('t')!.data;
    expect(Array.from(new Uint32Array(bfGot.buffer))).toEqual(Array.from(bf16, (h) => (h << 16) >>> 0));
    const f64 = Float64Array.from([0.1, -1 / 3, 1e300, 1e-300, 2 ** -149]);
    const dGot = readSafetensors(rawFile('d.safetensors', 'F64', [f64.length], new Uint8Array(f64.buffer))).tensors.get(
      't',
    )!.data;
    expect(Array.from(dGot)).toEqual(Array.from(f64, Math.fround));
  });

  it('reads a 16 M-value BF16 tensor at under 40 ns per value (was ~400)', () => {
    const n = 16 * 2 ** 20;
    const bf16 = new Uint16Array(n);
    for (let i = 0; i < n; i++) bf16[i] = 0x3f80 + (i & 0x7f);
    const file = rawFile('big.safetensors', 'BF16', [4096, n / 4096], new Uint8Array(bf16.buffer));
    const t0 = performance.now();
    const t = readSafetensors(file).tensors.get('t')!;
    const nsPerValue = ((performance.now() - t0) * 1e6) / n;
    expect(t.data[129]).toBe(1 + 1 / 128);
    expect(nsPerValue).toBeLessThan(40);
  });
});
