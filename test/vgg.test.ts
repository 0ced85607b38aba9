import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backward, init, noGrad, softmaxCrossEntropy, Tensor } from '../src/node/index.js';
import { NET_NAMES, resolveConfig, summarise, type NetName } from '../src/vgg/config.js';
import { buildVgg } from '../src/vgg/model.js';
import { initFromNetA, loadModel, saveModel } from '../src/node/checkpoint/checkpoint.js';
import { readSafetensors, writeSafetensors } from '../src/node/checkpoint/safetensors.js';
import { lossesOnFixedBatch } from './fixed_batch.js';
import { expectClose, randn } from './helpers.js';
import { vggReference } from './vgg_reference.js';

let dir: string;
beforeAll(async () => {
  await init();
  dir = mkdtempSync(join(tmpdir(), 'vggpu-test-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('VGG configurations', () => {
  it('have the exact parameter counts and multiply-adds of the paper at 224×224, 3 channels, 1000 classes', () => {
    const want: Record<NetName, [number, number]> = {
      A: [132_863_336, 7.61],
      'A-LRN': [132_863_336, 7.61],
      B: [133_047_848, 11.31],
      C: [133_638_952, 11.77],
      D: [138_357_544, 15.47],
      E: [143_667_240, 19.63],
    };
    for (const net of NET_NAMES) {
      const s = summarise(resolveConfig({ net }));
      expect(s.params, net).toBe(want[net][0]);
      expect(Number((s.macs / 1e9).toFixed(2)), net).toBe(want[net][1]);
    }
  });

  it('scale with width, input size, channels and classes (32×32, 1 channel, 10 classes, width 1/4)', () => {
    const s = summarise(resolveConfig({ net: 'A', width: 0.25, inputSize: 32, inChannels: 1, classes: 10 }));
    // Convs 16, 32, 64×2, 128×2, 128×2 on a 1×1 final map; FC 128 → 1024 → 1024 → 10.
    const convs =
      1 * 16 * 9 +
      16 +
      16 * 32 * 9 +
      32 +
      32 * 64 * 9 +
      64 +
      64 * 64 * 9 +
      64 +
      64 * 128 * 9 +
      128 +
      3 * (128 * 128 * 9 + 128);
    const fcs = 128 * 1024 + 1024 + 1024 * 1024 + 1024 + 1024 * 10 + 10;
    expect(s.params).toBe(convs + fcs);
    expect(s.params).toBe(1_768_778);
    expect(s.rows.at(-1)!.outputShape).toEqual([10]);
    expect(s.rows.find((r) => r.name === 'classifier.0')!.params).toBe(128 * 1024 + 1024);
    const d = summarise(resolveConfig({ net: 'D', width: 0.25, inputSize: 32, classes: 10 }));
    expect(d.params).toBe(summarise(resolveConfig({ net: 'D', width: 0.25, inputSize: 32, classes: 10 })).params);
  });

  it('reject bad options with a message saying what to do', () => {
    expect(() => resolveConfig({ net: 'F' as NetName })).toThrowError(
      /unknown net 'F'; choose one of A, A-LRN, B, C, D, E/,
    );
    expect(() => resolveConfig({ net: 'A', inputSize: 16 })).toThrowError(/at least 32/);
    expect(() => resolveConfig({ net: 'A', width: 0 })).toThrowError(/width 0 must be > 0/);
  });
});

describe('VGG on the GPU', () => {
  for (const net of NET_NAMES) {
    it(`VGG-${net} at width 1/8, 32×32 matches the CPU reference (logits, loss, every gradient)`, async () => {
      const model = buildVgg({ net, width: 1 / 8, inputSize: 32, classes: 10, dropout: 0 });
      const N = 2;
      const xd = randn(N * 3 * 32 * 32, 7);
      const labels = [3, 8];
      const x = Tensor.from(xd, [N, 3, 32, 32]);
      const logits = model.forward(x);
      const loss = softmaxCrossEntropy(logits, labels);
      const params = new Map<string, Float32Array>();
      for (const [name, t] of model.namedParameters()) params.set(name, await t.toArray());
      const want = vggReference(model.plan, params, xd, [N, 3, 32, 32], labels, 1e-4 / 5);
      expectClose(await logits.toArray(), want.logits, 1e-4, 1e-3, 'logits');
      expectClose(await loss.toArray(), [want.loss], 1e-5, 1e-4, 'loss');
      backward(loss);
      for (const [name, t] of model.namedParameters()) {
        const g = want.grads.get(name)!;
        const scale = g.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
        expectClose(await t.grad!.toArray(), g, 1e-4 * scale + 1e-7, 1e-3, `${net} ${name} gradient`);
      }
      model.dispose();
    });
  }

  it('dense evaluation equals the FC net on an input of the training size, and maps larger ones', async () => {
    const model = buildVgg({ net: 'B', width: 1 / 8, inputSize: 32, classes: 10 });
    model.setTraining(false);
    const x = Tensor.from(randn(2 * 3 * 32 * 32, 8), [2, 3, 32, 32]);
    const [fc, dense] = noGrad(() => [model.forward(x), model.denseForward(x)]);
    expectClose(await dense.toArray(), await fc.toArray(), 1e-5, 1e-4, 'dense vs FC');
    const big = Tensor.from(randn(1 * 3 * 70 * 50, 9), [1, 3, 70, 50]);
    const map = noGrad(() => model.denseScoreMap(big));
    expect(map.shape).toEqual([1, 10, 2, 1]);
    expect(() => model.denseScoreMap(Tensor.from(new Float32Array(3 * 16 * 40), [1, 3, 16, 40]))).toThrowError(
      /at least the training size 32×32/,
    );
    model.dispose();
  });
});

describe('VGG checkpoints', () => {
  it('round-trip: save, load into a fresh net, identical outputs', async () => {
    const a = buildVgg({ net: 'C', width: 1 / 8, inputSize: 32, classes: 10 });
    const file = join(dir, 'c.safetensors');
    await saveModel(file, a);
    const b = buildVgg({ net: 'C', width: 1 / 8, inputSize: 32, classes: 10 });
    loadModel(file, b);
    a.setTraining(false);
    b.setTraining(false);
    const x = Tensor.from(randn(3 * 32 * 32, 10), [1, 3, 32, 32]);
    const [ya, yb] = noGrad(() => [a.forward(x), b.forward(x)]);
    expect(Array.from(await yb.toArray())).toEqual(Array.from(await ya.toArray()));
    // Names and shapes are torchvision's; the configuration travels in the metadata.
    const st = readSafetensors(file);
    expect([...st.tensors.keys()].slice(0, 4)).toEqual([
      'features.0.weight',
      'features.0.bias',
      'features.2.weight',
      'features.2.bias',
    ]);
    expect(JSON.parse(st.metadata['vggpu.config']).net).toBe('C');
    a.dispose();
    b.dispose();
  });

  it('loading into a net of another shape names the first mismatched tensor and both shapes', async () => {
    const a = buildVgg({ net: 'A', width: 1 / 8, inputSize: 32, classes: 10 });
    const file = join(dir, 'a.safetensors');
    await saveModel(file, a);
    const wrongClasses = buildVgg({ net: 'A', width: 1 / 8, inputSize: 32, classes: 7 });
    expect(() => loadModel(file, wrongClasses)).toThrowError(
      /tensor 'classifier.6.weight' is \[10, 512\] in the checkpoint but \[7, 512\] in VGG-A/,
    );
    const otherNet = buildVgg({ net: 'B', width: 1 / 8, inputSize: 32, classes: 10 });
    expect(() => loadModel(file, otherNet)).toThrowError(
      /has no tensor 'features.2.weight' that VGG-B \(3 channels, 32px, 10 classes, width ×0.125\) needs; is it a checkpoint of another net\?/,
    );
    [a, wrongClasses, otherNet].forEach((m) => m.dispose());
  });

  it('loads a hand-built safetensors file laid out like torchvision’s VGG-11 into net A', () => {
    // torchvision.models.vgg11().state_dict(): names and shapes written out independently.
    const convs: Array<[number, number, number]> = [
      [0, 3, 64],
      [3, 64, 128],
      [6, 128, 256],
      [8, 256, 256],
      [11, 256, 512],
      [13, 512, 512],
      [16, 512, 512],
      [18, 512, 512],
    ];
    const tensors: Array<[string, { shape: number[]; data: Float32Array }]> = [];
    const pattern = (n: number, seed: number) => {
      const a = new Float32Array(n);
      for (let i = 0; i < Math.min(n, 97); i++) a[i] = ((i * 31 + seed) % 97) / 97 - 0.5;
      for (let len = 97; len < n; len *= 2) a.copyWithin(len, 0, Math.min(len, n - len)); // tile the 97-periodic pattern
      return a;
    };
    for (const [i, cin, cout] of convs) {
      tensors.push([`features.${i}.weight`, { shape: [cout, cin, 3, 3], data: pattern(cout * cin * 9, i) }]);
      tensors.push([`features.${i}.bias`, { shape: [cout], data: pattern(cout, i + 1) }]);
    }
    for (const [i, fin, fout] of [
      [0, 25088, 4096],
      [3, 4096, 4096],
      [6, 4096, 1000],
    ]) {
      tensors.push([`classifier.${i}.weight`, { shape: [fout, fin], data: pattern(fout * fin, i) }]);
      tensors.push([`classifier.${i}.bias`, { shape: [fout], data: pattern(fout, i + 1) }]);
    }
    const file = join(dir, 'vgg11.safetensors');
    writeSafetensors(file, tensors, { format: 'pt' });
    const net = buildVgg({ net: 'A' });
    expect(net.namedParameters().map(([n, t]) => [n, [...t.shape]])).toEqual(tensors.map(([n, t]) => [n, t.shape]));
    loadModel(file, net);
    return Promise.all(
      ['features.0.weight', 'features.18.bias', 'classifier.6.bias'].map(async (name) => {
        const t = net.namedParameters().find(([n]) => n === name)![1];
        expect(Array.from(await t.toArray())).toEqual(Array.from(tensors.find(([n]) => n === name)![1].data));
      }),
    ).finally(() => {
      net.dispose();
      rmSync(file);
    });
  });

  it('initialises a deeper net from net A (first four convs and the FC layers), and refuses a mismatch', async () => {
    const a = buildVgg({ net: 'A', width: 1 / 8, inputSize: 32, classes: 10 });
    const file = join(dir, 'a-init.safetensors');
    await saveModel(file, a);
    const d = buildVgg({ net: 'D', width: 1 / 8, inputSize: 32, classes: 10 });
    const copied = initFromNetA(d, file);
    expect(copied).toContain('features.0.weight → features.0.weight');
    expect(copied).toContain('features.3.weight → features.5.weight'); // A's block-2 conv → D's block-2 first conv
    expect(copied).toContain('features.8.weight → features.12.weight');
    expect(copied).toContain('classifier.0.weight');
    const get = (m: typeof a, n: string) =>
      m
        .namedParameters()
        .find(([k]) => k === n)![1]
        .toArray();
    expect(Array.from(await get(d, 'features.12.weight'))).toEqual(Array.from(await get(a, 'features.8.weight')));
    expect(Array.from(await get(d, 'classifier.3.weight'))).toEqual(Array.from(await get(a, 'classifier.3.weight')));
    const wide = buildVgg({ net: 'D', width: 1 / 4, inputSize: 32, classes: 10 });
    expect(() => initFromNetA(wide, file)).toThrowError(
      /cannot initialise from net A: features.0.weight → features.0.weight is \[8, 3, 3, 3\] in the checkpoint but \[16, 3, 3, 3\] here/,
    );
    const bFile = join(dir, 'b.safetensors');
    const b = buildVgg({ net: 'B', width: 1 / 8, inputSize: 32, classes: 10 });
    await saveModel(bFile, b);
    expect(() => initFromNetA(d, bFile)).toThrowError(/is a checkpoint of VGG-B; initialisation needs a trained net A/);
    [a, d, wide, b].forEach((m) => m.dispose());
  });
});

describe('a training step through the VGG builder', () => {
  it('lowers the loss of VGG-A-LRN at width 1/8 over a few steps on a fixed batch', async () => {
    const { SGD } = await import('../src/node/index.js');
    const model = buildVgg({ net: 'A-LRN', width: 1 / 8, inputSize: 32, classes: 10 });
    const opt = new SGD(model.parameters(), { lr: 0.01 });
    const x = Tensor.from(randn(8 * 3 * 32 * 32, 11), [8, 3, 32, 32]);
    const losses = await lossesOnFixedBatch(model, opt, x, [0, 1, 2, 3, 4, 5, 6, 7], 8);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses.at(-1)!).toBeLessThan(losses[0]);
    model.dispose();
    opt.dispose();
  });
});
