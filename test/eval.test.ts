import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { init } from '../src/node/index.js';
import { saveModel } from '../src/node/checkpoint/checkpoint.js';
import { IdxDataset } from '../src/node/data/idx.js';
import { sampleWindow } from '../src/data/transforms.js';
import { checkFits, loadForEval, testScales } from '../src/node/eval/load.js';
import { imagesPosteriors, posteriors, viewsOf } from '../src/node/eval/protocols.js';
import type { StepVariant } from '../src/ops/tune.js';
import { resetTunings, tuningsForAdapter } from '../src/ops/variants.js';
import { buildVgg } from '../src/vgg/model.js';
import { writeFashionLike } from './fixtures.js';
import { expectClose } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'vggpu-eval-'));
let file: string;
beforeAll(async () => {
  await init();
  writeFashionLike(join(dir, 'data'), 8, 6);
  const net = buildVgg({ net: 'A', width: 1 / 16, inputSize: 32, classes: 10, inChannels: 1 });
  file = join(dir, 'a.safetensors');
  await saveModel(file, net, 0, { mean: [0.3], scale: [32, 40] });
  net.dispose();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('test protocols', () => {
  it('take 50 multi-crop views per scale that cover the corners and the centre, both flips', () => {
    const v = viewsOf('multi-crop', 57, 40, 32, 0);
    expect(v.length).toBe(50);
    const at = (x: number, y: number) => v.filter((k) => k.x0 === x && k.y0 === y).map((k) => k.flip);
    for (const [x, y] of [
      [0, 0],
      [25, 0],
      [0, 8],
      [25, 8],
      [13, 4],
    ])
      expect(at(x, y).sort()).toEqual([false, true]);
    expect(viewsOf('dense+multi-crop', 57, 40, 32, 0).filter((k) => k.whole).length).toBe(2);
    expect(viewsOf('centre', 57, 40, 32, 0)).toEqual([{ image: 0, whole: false, x0: 12, y0: 4, flip: false }]);
  });

  it('flipping an input twice is the identity', () => {
    const img = { width: 5, height: 3, channels: 2, data: Uint8Array.from({ length: 30 }, (_, i) => (i * 37) % 256) };
    const once = new Float32Array(30);
    sampleWindow(img, 5, 3, 0, 0, 5, 3, true, once, 0);
    const back = { ...img, data: new Uint8Array(30) };
    for (let c = 0; c < 2; c++) for (let p = 0; p < 15; p++) back.data[p * 2 + c] = Math.round(once[c * 15 + p] * 255);
    const twice = new Float32Array(30);
    sampleWindow(back, 5, 3, 0, 0, 5, 3, true, twice, 0);
    const plain = new Float32Array(30);
    sampleWindow(img, 5, 3, 0, 0, 5, 3, false, plain, 0);
    expectClose(twice, plain, 1e-6);
  });

  it('times the kernels of a dense pass on an image size training never met, when tuning is on', async () => {
    const { model } = loadForEval(file);
    const env = { tune: process.env.VGGPU_TUNE, cache: process.env.VGGPU_CACHE_DIR };
    process.env.VGGPU_TUNE = '1';
    process.env.VGGPU_CACHE_DIR = join(dir, 'cache'); // no timings yet
    resetTunings();
    try {
      const img = {
        width: 44,
        height: 36,
        channels: 1,
        data: Uint8Array.from({ length: 44 * 36 }, (_, i) => (i * 29) % 256),
      };
      const heard: StepVariant[] = [];
      await imagesPosteriors(model, [img], 'dense', 36, { mean: [0.3] }, 8, { onVariants: (v) => heard.push(...v) });
      // The first conv sees the whole 44×36 image (dense: the rescaled image, not a 32×32 crop).
      const first = heard.find((v) => v.pass === 'conv_forward' && v.shape.startsWith('1x36x44 '));
      expect(first).toBeDefined();
      const convs = heard.filter((v) => v.pass === 'conv_forward');
      expect(convs.length).toBeGreaterThan(3);
      const tunings = tuningsForAdapter();
      for (const v of convs) {
        // Timed now, every candidate, and the fastest kept: a tuned choice, not the default.
        expect(v.timedNow).toBe(true);
        const t = tunings[`${v.pass} ${v.shape}`];
        expect(Object.keys(t.ms).length).toBeGreaterThan(1);
        expect(v.variant).toBe(Object.entries(t.ms).reduce((a, b) => (b[1] < a[1] ? b : a))[0]);
      }
      // A second pass at that size finds them decided: nothing is timed again.
      const again: StepVariant[] = [];
      const { model: second } = loadForEval(file);
      await imagesPosteriors(second, [img], 'dense', 36, { mean: [0.3] }, 8, { onVariants: (v) => again.push(...v) });
      expect(again.filter((v) => v.timedNow)).toEqual([]);
      second.dispose();
    } finally {
      if (env.tune === undefined) delete process.env.VGGPU_TUNE;
      else process.env.VGGPU_TUNE = env.tune;
      if (env.cache === undefined) delete process.env.VGGPU_CACHE_DIR;
      else process.env.VGGPU_CACHE_DIR = env.cache;
      resetTunings();
      model.dispose();
    }
  });

  it('dense evaluation of an image of exactly the crop size equals the plain forward pass', async () => {
    const { model } = loadForEval(file);
    // A mirror-symmetric 32×32 image: the flipped view is the same, so dense = centre crop.
    const data = new Uint8Array(32 * 32);
    for (let y = 0; y < 32; y++)
      for (let x = 0; x < 16; x++) data[y * 32 + x] = data[y * 32 + 31 - x] = (x * 13 + y * 7) % 256;
    const img = { width: 32, height: 32, channels: 1, data };
    const dense = await imagesPosteriors(model, [img], 'dense', 32, { mean: [0.3] });
    const centre = await imagesPosteriors(model, [img], 'centre', 32, { mean: [0.3] });
    expectClose(dense, centre, 1e-5, 1e-4);
    expect(dense.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
  });

  it('fusion of a checkpoint with itself equals that checkpoint alone, for every method', async () => {
    const a = loadForEval(file);
    const ds = new IdxDataset(join(dir, 'data'), 'test');
    for (const method of ['centre', 'dense', 'multi-crop', 'dense+multi-crop'] as const) {
      const alone = await posteriors([{ model: a.model, norm: { mean: [0.3] }, scales: [36] }], ds, method, {
        chunk: 4,
      });
      const fused = await posteriors(
        [
          { model: a.model, norm: { mean: [0.3] }, scales: [36] },
          { model: a.model, norm: { mean: [0.3] }, scales: [36] },
        ],
        ds,
        method,
        { chunk: 4 },
      );
      expectClose(fused, alone, 1e-9, 1e-9, method);
    }
  });

  it('picks the paper’s test scales', () => {
    expect(testScales([256, 256], false, 224)).toEqual([256]);
    expect(testScales([256, 256], true, 224)).toEqual([224, 256, 288]);
    expect(testScales([256, 512], false, 224)).toEqual([384]);
    expect(testScales([256, 512], true, 224)).toEqual([256, 384, 512]);
    expect(testScales([32, 40], true, 32)).toEqual([32, 36, 40]);
  });

  it('refuses a checkpoint that does not fit the data before doing any work', () => {
    const a = loadForEval(file);
    const rgb = {
      name: 'rgb set',
      length: 1,
      channels: 3,
      classNames: Array.from({ length: 10 }, String),
      image: () => {
        throw new Error('no');
      },
      label: () => 0,
      spec: { kind: 'cifar10' as const, dir: '', split: 'test' as const },
    };
    expect(() => checkFits(a, rgb)).toThrowError(/takes 1-channel images but rgb set has 3-channel images/);
    expect(() => checkFits(a, { ...rgb, channels: 1, classNames: ['a', 'b'] })).toThrowError(
      /is a 10-class VGG-A but rgb set has 2 classes/,
    );
  });
});
