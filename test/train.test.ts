import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { init } from '../src/node/index.js';
import { PlateauSchedule } from '../src/train/schedule.js';
import { topKMisses } from '../src/train/metrics.js';
import { Trainer, type TrainOptions } from '../src/node/train/trainer.js';
import { writeFashionLike } from './fixtures.js';
import { expectClose } from './helpers.js';
import { estimateMemory } from '../src/train/preflight.js';
import { resolveConfig } from '../src/vgg/config.js';

const dir = mkdtempSync(join(tmpdir(), 'vggpu-train-'));
beforeAll(async () => {
  await init();
  writeFashionLike(join(dir, 'data'), 48, 16);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function options(out: string, over: Partial<TrainOptions> = {}): TrainOptions {
  return {
    net: 'A',
    data: `fashion-mnist:${join(dir, 'data')}`,
    out,
    epochs: 2,
    batch: 16,
    lr: 0.01,
    momentum: 0.9,
    weightDecay: 5e-4,
    dropout: 0.5,
    patience: 2,
    maxDecays: 3,
    width: 1 / 16,
    inputSize: 32,
    scale: [32, 40],
    flip: true,
    colorShift: 0.1,
    subtractMean: true,
    init: 'kaiming',
    initFrom: null,
    lrnConvention: 'caffe',
    seed: 5,
    workers: 0,
    valFraction: 0.1,
    evalBatch: 8,
    resume: false,
    maxSteps: null,
    ...over,
  };
}

async function params(t: Trainer): Promise<Float32Array[]> {
  return Promise.all(t.model.parameters().map((p) => p.toArray()));
}

describe('learning-rate schedule', () => {
  it('divides by 10 after `patience` epochs without improvement, at most maxDecays times, then finishes', () => {
    const s = new PlateauSchedule(0.01, 2, 2);
    expect(s.step(0.5)).toBe('improved');
    expect(s.step(0.4)).toBe('improved');
    expect(s.step(0.4)).toBe('waiting');
    expect(s.step(0.41)).toBe('decayed');
    expect(s.state.lr).toBeCloseTo(0.001, 12);
    expect(s.step(0.3)).toBe('improved');
    expect(s.step(0.3)).toBe('waiting');
    expect(s.step(0.3)).toBe('decayed');
    expect(s.state.lr).toBeCloseTo(0.0001, 12);
    expect(s.step(0.35)).toBe('waiting');
    expect(s.step(0.35)).toBe('finished');
    expect(s.state.done).toBe(true);
  });
});

describe('top-k error', () => {
  it('counts misses on hand-made score vectors', () => {
    const scores = [
      [0.1, 0.7, 0.2, 0, 0, 0], // label 1: top-1 hit
      [0.5, 0.1, 0.2, 0.15, 0.05, 0], // label 3: rank 3 → top-1 miss, top-5 hit
      [0.3, 0.25, 0.2, 0.15, 0.1, 0], // label 5: rank 6 → misses both
    ].flat();
    expect(topKMisses(scores, 6, [1, 3, 5], 1)).toBe(2);
    expect(topKMisses(scores, 6, [1, 3, 5], 5)).toBe(1);
  });
});

describe('training', () => {
  it('resumes an interrupted run to exactly the parameters of an uninterrupted one', async () => {
    const full = new Trainer(options(join(dir, 'full')));
    const r = await full.run();
    expect(r.history.length).toBe(2);
    const want = await params(full);

    const first = new Trainer(options(join(dir, 'cut'), { maxSteps: 4 })); // stops mid-epoch 2 (3 steps per epoch)
    expect((await first.run()).stoppedEarly).toBe(true);
    const resumed = new Trainer(options(join(dir, 'cut'), { resume: true }));
    const r2 = await resumed.run();
    expect(r2.stoppedEarly).toBe(false);
    const got = await params(resumed);
    got.forEach((g, i) => expect(Array.from(g), `parameter ${i}`).toEqual(Array.from(want[i])));
    expect(r2.history.map((h) => h.trainLoss)).toEqual(r.history.map((h) => h.trainLoss));

    // The run folder has everything a user looks for.
    for (const f of [
      'last.safetensors',
      'last.train.safetensors',
      'best.safetensors',
      'metrics.jsonl',
      'chart.png',
      'filters.png',
      'options.json',
    ]) {
      expect(existsSync(join(dir, 'full', f)), f).toBe(true);
    }
    const lines = readFileSync(join(dir, 'full', 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => l.epoch)).toEqual([1, 2]);
    expect(lines[0].valTop1).toBeGreaterThanOrEqual(0);
    expect(lines[0].valTop5).toBeLessThanOrEqual(lines[0].valTop1);
  });

  it('refuses to resume a run of another net, or with no checkpoint', () => {
    expect(() => new Trainer(options(join(dir, 'none'), { resume: true }))).toThrowError(
      /--resume: no checkpoint at .*none\/last.train.safetensors/,
    );
    expect(() => new Trainer(options(join(dir, 'full'), { resume: true, width: 1 / 8 }))).toThrowError(
      /holds VGG-A width 0.0625.*run with the same --net, --width/,
    );
  });

  it('trains every configuration at small width for a few dozen steps without diverging', async () => {
    for (const net of ['A-LRN', 'B', 'C', 'D', 'E'] as const) {
      const t = new Trainer(options(join(dir, `net-${net}`), { net, epochs: 1, maxSteps: 3 }));
      await t.run();
      const ps = await params(t);
      expect(
        ps.every((p) => p.every(Number.isFinite)),
        net,
      ).toBe(true);
    }
  });
});

describe('resuming with a new learning rate', () => {
  it('--lr with --resume replaces the saved rate', async () => {
    const out = join(dir, 'lr');
    await new Trainer(options(out, { epochs: 1 })).run();
    const t = new Trainer(options(out, { resume: true, resumeLr: 0.001 }));
    expect(t.opt.lr).toBe(0.001);
  });
});

describe('resuming before the first validation', () => {
  it('a checkpoint from the middle of epoch 1 resumes exactly (schedule state survives JSON)', async () => {
    const full = new Trainer(options(join(dir, 'early-full')));
    await full.run();
    const cut = new Trainer(options(join(dir, 'early-cut'), { maxSteps: 1 }));
    await cut.run();
    const resumed = new Trainer(options(join(dir, 'early-cut'), { resume: true }));
    await resumed.run();
    const [a, b] = [await params(full), await params(resumed)];
    a.forEach((p, i) => expect(Array.from(b[i]), `parameter ${i}`).toEqual(Array.from(p)));
  });
});

describe('gradient accumulation', () => {
  // One SGD step at batch 32 (of the 48 training images) as 1 or 4 micro-batches of 8.
  const oneStep = async (name: string, accumulate: number, dropout: number) => {
    const t = new Trainer(options(join(dir, name), { batch: 32, epochs: 1, maxSteps: 1, accumulate, dropout }));
    expect(t.plan.accumulate).toBe(accumulate);
    expect(t.plan.microBatch).toBe(32 / accumulate);
    await t.run();
    return params(t);
  };
  const expectNear = (a: Float32Array[], b: Float32Array[], what: string) =>
    a.forEach((p, i) => expectClose(b[i], p, 2e-6, 1e-4, `${what}: parameter ${i}`));

  it('--accumulate 4 takes the same step as the whole batch (float summation order aside), dropout off and on', async () => {
    // Tolerance: f32 gradients summed in another order, through momentum and weight decay: 2e-6 + 1e-4·|w|.
    expectNear(await oneStep('acc1', 1, 0), await oneStep('acc4', 4, 0), 'dropout off');
    // Dropout masks depend on (seed, step, image), not on the split.
    expectNear(await oneStep('acc1-d', 1, 0.5), await oneStep('acc4-d', 4, 0.5), 'dropout 0.5');
  });

  it('a resume may change K: the run ends where an unsplit one does, float order aside', async () => {
    const whole = new Trainer(options(join(dir, 'k-whole'), { batch: 16, epochs: 1, dropout: 0 }));
    await whole.run();
    const cut = new Trainer(
      options(join(dir, 'k-cut'), { batch: 16, epochs: 1, dropout: 0, accumulate: 2, maxSteps: 1 }),
    );
    await cut.run();
    const resumed = new Trainer(
      options(join(dir, 'k-cut'), { batch: 16, epochs: 1, dropout: 0, accumulate: 4, resume: true }),
    );
    expect(resumed.plan.accumulate).toBe(4);
    await resumed.run();
    expectNear(await params(whole), await params(resumed), 'K 1 vs K 2 then 4');
  });

  it('is bit-identical across two runs with the same K, dropout on', async () => {
    const [a, b] = [await oneStep('acc4-a', 4, 0.5), await oneStep('acc4-b', 4, 0.5)];
    a.forEach((p, i) => expect(Array.from(b[i]), `parameter ${i}`).toEqual(Array.from(p)));
  });

  it('a K whose micro-batches do not fit is refused with the K that fits; without --accumulate that K is chosen', () => {
    // A memory budget that a step of 8 images fits, and one of 11 does not: the fewest
    // micro-batches of at most 8 of a batch of 32 is 4.
    const config = resolveConfig({ net: 'A', width: 1 / 16, inputSize: 32, classes: 10, inChannels: 1 });
    const budget = estimateMemory(config, 8).totalBytes;
    expect(estimateMemory(config, 11).totalBytes).toBeGreaterThan(budget);
    const auto = new Trainer(options(join(dir, 'fit'), { batch: 32, gpuMemoryBytes: budget }));
    expect([auto.plan.accumulate, auto.plan.microBatch]).toEqual([4, 8]);
    expect(auto.plan.reason).toMatch(
      /^a batch of 32 does not fit \(a step of 32 images holds about .*, more than the .* of --gpu-memory\): accumulating gradients over 4 micro-batches of 8/,
    );
    expect(
      () => new Trainer(options(join(dir, 'fit2'), { batch: 32, accumulate: 2, gpuMemoryBytes: budget })),
    ).toThrowError(/--accumulate 2: a step of 16 images holds about .*; --accumulate 4 \(micro-batches of 8\) fits/);
  });
});
