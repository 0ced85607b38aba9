// Issue 6: bad input gets a clear error; corrupt files never crash, hang or allocate wildly;
// divergence keeps the last good checkpoint; memory stays flat over a long run.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engine, init } from '../src/node/index.js';
import { parseFlags, UsageError } from '../src/node/cli/args.js';
import { buildOptions, TRAIN_FLAGS } from '../src/node/cli/train_options.js';
import { loadModel, saveModel } from '../src/node/checkpoint/checkpoint.js';
import { CheckpointError, readSafetensors, writeSafetensors } from '../src/node/checkpoint/safetensors.js';
import { CifarDataset } from '../src/node/data/cifar.js';
import { DatasetError } from '../src/data/dataset.js';
import { IdxDataset } from '../src/node/data/idx.js';
import { decodeImage } from '../src/node/data/decode.js';
import { Rng } from '../src/rng.js';
import { DivergedError, Trainer, type TrainOptions } from '../src/node/train/trainer.js';
import { buildVgg } from '../src/vgg/model.js';
import { writeCifarLike, writeFashionLike, writeImageFolder } from './fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'vggpu-rel-'));
beforeAll(async () => {
  await init();
  writeFashionLike(join(dir, 'data'), 48, 16);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const flags = (...argv: string[]) => buildOptions(parseFlags(argv, TRAIN_FLAGS));

describe('bad flags', () => {
  const cases: Array<[string[], RegExp]> = [
    [['--net', 'F'], /--net F: choose one of A, A-LRN, B, C, D, E/],
    [['--lr=-1'], /--lr -1: must be a number > 0/],
    [['--lr', 'fast'], /--lr fast: must be a number > 0/],
    [['--batch', '0'], /--batch 0: must be an integer ≥ 1/],
    [['--epochs', '1.5'], /--epochs 1.5: must be an integer ≥ 1/],
    [['--width', '0'], /--width 0: must be a number > 0/],
    [['--width=-0.5'], /--width -0.5: must be a number > 0/],
    [['--input-size', '32', '--scale', '28'], /--scale 28: the smallest side S must be at least the crop size 32/],
    [['--scale', '40:32'], /--scale 40:32: Smax is below Smin/],
    [['--init', 'zeros'], /--init zeros: choose one of kaiming, xavier, paper/],
    [['--dropout', '1'], /--dropout 1: must be a number ≥ 0 ≤ 0.99/],
    [['--bogus'], /Unknown option '--bogus'/],
    [['stray'], /unexpected argument 'stray'/],
    [['--resume'], /--resume needs --out with the run folder to continue/],
    [['--std', '0.2,0'], /--std 0: must be a number > 0/],
    [['--classes', '1'], /--classes 1: must be an integer ≥ 2/],
    [
      ['--checkpoint-every', '5x'],
      /--checkpoint-every 5x: give a duration \(90s, 10m, 2h\) or a number of steps \(500\)/,
    ],
    [['--accumulate', '0'], /--accumulate 0: must be an integer ≥ 1/],
    [['--batch', '8', '--accumulate', '9'], /--accumulate 9: more micro-batches than the 8 images of a batch/],
  ];
  for (const [argv, msg] of cases) {
    it(`${argv.join(' ')} → a usage error naming the flag`, () => {
      expect(() => flags(...argv)).toThrowError(UsageError);
      expect(() => flags(...argv)).toThrowError(msg);
    });
  }

  it('a missing dataset names the path and the fix', () => {
    expect(
      () => new Trainer({ ...flags('--data', `fashion-mnist:${join(dir, 'nope')}`), out: join(dir, 'x') }),
    ).toThrowError(/nope\/train-images-idx3-ubyte: missing .*npm run setup/);
  });
});

/** Flips random bytes or truncates; returns the mutated copy. */
function mutate(bytes: Uint8Array, rng: Rng): Uint8Array {
  const b = Uint8Array.from(bytes);
  if (rng.uniform() < 0.4) return b.subarray(0, rng.int(b.length));
  const n = 1 + rng.int(8);
  // Favour the header, where structure lives.
  for (let i = 0; i < n; i++)
    b[rng.uniform() < 0.7 ? rng.int(Math.min(b.length, 400)) : rng.int(b.length)] ^= 1 << rng.int(8);
  return b;
}

/** Runs `open` on many corruptions of `file`: each either works or throws `ErrorType`; nothing else. */
function fuzz(
  file: string,
  open: () => void,
  ErrorType: new (...a: never[]) => Error,
  rounds = 150,
): { clean: number; failed: number } {
  const original = readFileSync(file);
  const rng = new Rng(42);
  let clean = 0;
  let failed = 0;
  try {
    for (let r = 0; r < rounds; r++) {
      writeFileSync(file, mutate(original, rng));
      const t0 = performance.now();
      try {
        open();
        clean++;
      } catch (e) {
        if (!(e instanceof ErrorType)) throw new Error(`round ${r}: ${(e as Error).name}: ${(e as Error).message}`);
        failed++;
      }
      expect(performance.now() - t0).toBeLessThan(2000);
    }
  } finally {
    writeFileSync(file, original);
  }
  return { clean, failed };
}

describe('corrupt files', () => {
  it('safetensors: flipped and truncated bytes give a CheckpointError, never a crash or a huge allocation', async () => {
    const net = buildVgg({ net: 'A', width: 1 / 16, inputSize: 32, classes: 10 });
    const file = join(dir, 'ck.safetensors');
    await saveModel(file, net);
    const r = fuzz(file, () => loadModel(file, net), CheckpointError);
    expect(r.failed).toBeGreaterThan(50);
    // A header that claims more bytes than the file has, and one that claims 2^60 bytes.
    const bytes = readFileSync(file);
    const lie = Buffer.from(bytes);
    lie.writeBigUInt64LE(BigInt(bytes.length), 0);
    writeFileSync(file, lie);
    expect(() => readSafetensors(file)).toThrowError(/header claims \d+ bytes but the file has \d+/);
    lie.writeBigUInt64LE(2n ** 60n, 0);
    writeFileSync(file, lie);
    expect(() => readSafetensors(file)).toThrowError(CheckpointError);
    // A tensor whose offsets run past the data section.
    writeSafetensors(file, [['features.0.weight', { shape: [2], data: new Float32Array(2) }]]);
    const b2 = readFileSync(file);
    writeFileSync(file, b2.subarray(0, b2.length - 4));
    expect(() => readSafetensors(file)).toThrowError(/claims bytes 0–8 but the data section has 4/);
    net.dispose();
  });

  it('IDX (gzipped and raw) and CIFAR files: corruption gives a DatasetError naming the file', () => {
    writeFashionLike(join(dir, 'fz'), 6, 2, 3, false);
    const img = join(dir, 'fz', 'train-images-idx3-ubyte');
    expect(fuzz(img, () => new IdxDataset(join(dir, 'fz'), 'train'), DatasetError).failed).toBeGreaterThan(50);
    const lab = join(dir, 'fz', 'train-labels-idx1-ubyte');
    fuzz(lab, () => new IdxDataset(join(dir, 'fz'), 'train'), DatasetError);
    writeFileSync(`${img}.gz`, gzipSync(readFileSync(img)));
    rmSync(img);
    fuzz(`${img}.gz`, () => new IdxDataset(join(dir, 'fz'), 'train'), DatasetError, 60);
    writeCifarLike(join(dir, 'cz'), 3);
    fuzz(join(dir, 'cz', 'test_batch.bin'), () => new CifarDataset(join(dir, 'cz'), 'test'), DatasetError, 60);
  });

  it('PNG and JPEG files: corruption gives a DatasetError naming the file', () => {
    writeImageFolder(join(dir, 'imgs'), ['a'], 2);
    for (const f of ['img0.png', 'img1.jpg']) {
      const file = join(dir, 'imgs', 'a', f);
      const r = fuzz(file, () => decodeImage(file), DatasetError, 80);
      expect(r.failed).toBeGreaterThan(0);
    }
  });

  it('an interrupted checkpoint write leaves the previous file whole', () => {
    const file = join(dir, 'atomic.safetensors');
    writeSafetensors(file, [['w', { shape: [3], data: Float32Array.from([1, 2, 3]) }]]);
    const before = readFileSync(file);
    // A tensor whose data does not fill its shape fails part-way, before the rename.
    expect(() =>
      writeSafetensors(file, [
        ['w', { shape: [3], data: Float32Array.from([1, 2, 3]) }],
        ['v', { shape: [4], data: new Float32Array(2) }],
      ]),
    ).toThrowError();
    expect(readFileSync(file).equals(before)).toBe(true);
  });
});

function options(out: string, over: Partial<TrainOptions> = {}): TrainOptions {
  return {
    ...flags(
      '--data',
      `fashion-mnist:${join(dir, 'data')}`,
      '--out',
      out,
      '--width',
      '0.0625',
      '--batch',
      '16',
      '--epochs',
      '2',
      '--workers',
      '0',
      '--seed',
      '3',
    ),
    ...over,
  };
}

describe('numerical trouble', () => {
  it('a NaN/Inf loss stops training, names the step, and keeps the last good checkpoint', async () => {
    const out = join(dir, 'diverge');
    const t1 = new Trainer(options(out, { epochs: 1 }));
    await t1.run();
    const ck = join(out, 'last.train.safetensors');
    const before = readFileSync(ck);
    const t2 = new Trainer(options(out, { resume: true, epochs: 3 }));
    t2.opt.lr = 1e30;
    const err = await t2.run().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DivergedError);
    expect((err as Error).message).toMatch(
      /NaN or infinite by step [4-6]; training stopped\. The last good checkpoint is .*last\.train\.safetensors \(kept/,
    );
    expect(readFileSync(ck).equals(before)).toBe(true);
  });
});

describe('adapter limits', () => {
  it('a net whose layers exceed the binding limit fails before training with the numbers and a fix', () => {
    engine().rt.setBindingLimit(8192);
    try {
      expect(() => new Trainer(options(join(dir, 'big')))).toThrowError(
        /features.0: one image's output needs 16.0 KiB in one binding, but the adapter binds at most 8.0 KiB; use a smaller --width or --input-size/,
      );
    } finally {
      engine().rt.setBindingLimit(null);
    }
  });
});

describe('steady memory', () => {
  it('300 training steps keep the buffer pool flat and resident memory bounded', async () => {
    writeFashionLike(join(dir, 'data300'), 16 * 300, 16);
    const pool = engine().rt.pool;
    const stats: Array<ReturnType<typeof pool.stats>> = [];
    const rss: number[] = [];
    const t = new Trainer(
      { ...options(join(dir, 'steady')), data: `fashion-mnist:${join(dir, 'data300')}`, epochs: 1 },
      (ev) => {
        if (ev.kind === 'step') {
          stats.push(pool.stats());
          rss.push(process.memoryUsage().rss);
        }
      },
    );
    await t.run();
    expect(stats.length).toBe(300);
    for (const s of stats.slice(5)) {
      expect(s.liveBuffers).toBe(stats[5].liveBuffers);
      expect(s.allocatedBytes).toBe(stats[5].allocatedBytes);
    }
    expect(rss[299] - rss[20]).toBeLessThan(64 * 2 ** 20);
  });
});
