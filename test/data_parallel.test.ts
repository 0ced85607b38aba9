// Several devices in one process (issue 16): engine state per device, the gradient exchange, and
// data-parallel training that equals one device's. Here the devices are several WebGPU devices
// of the one CPU adapter, as they would be GPUs on a multi-GPU machine.
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  backward,
  conv2d,
  Conv2d,
  engine,
  type Engine,
  initDevices,
  Linear,
  onDevice,
  relu,
  Sequential,
  softmaxCrossEntropy,
  Tensor,
  tidy,
  tapeOf,
} from '../src/node/index.js';
import { broadcastReplica, GradientExchange, type Replica } from '../src/train/data_parallel.js';
import { Trainer, type TrainOptions } from '../src/node/train/trainer.js';
import { Rng } from '../src/rng.js';
import { writeFashionLike } from './fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'vggpu-dp-'));
let devices: Engine[];
beforeAll(async () => {
  devices = await initDevices(2);
  writeFashionLike(join(dir, 'data'), 64, 16);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function randn(n: number, seed: number): Float32Array {
  const r = new Rng(seed);
  return Float32Array.from({ length: n }, () => r.normal());
}

describe('engine state per device', () => {
  it('opens two devices; ops run on the current one and tensors remember theirs', async () => {
    const [d0, d1] = devices;
    expect(d0.rt.device).not.toBe(d1.rt.device);
    expect(d1.rt.describe()).toMatch(/device 1 of 2/);
    expect(engine()).toBe(d0);
    const x = randn(2 * 3 * 5 * 5, 1);
    const w = randn(4 * 3 * 3 * 3, 2);
    const on = (e: Engine) =>
      onDevice(e, () =>
        conv2d(Tensor.from(x, [2, 3, 5, 5]), Tensor.from(w, [4, 3, 3, 3]), Tensor.from([0.1, 0.2, 0.3, 0.4], [4])),
      );
    const y0 = on(d0);
    const y1 = on(d1);
    expect(y0.engine).toBe(d0);
    expect(y1.engine).toBe(d1);
    expect(await y1.toArray()).toEqual(await y0.toArray());
  });

  it('refuses a tensor of another device with a clear error, and backward runs on the loss’s device', async () => {
    const [, d1] = devices;
    const a = onDevice(d1, () => Tensor.from([1, -2, 3], [3]));
    expect(() => relu(a)).toThrowError(/lives on another device .*onDevice/);
    const net = onDevice(d1, () => new Sequential([['fc', new Linear(3, 2)]]));
    for (const [, p] of net.parameters()) p.write(randn(p.size, p.size));
    const loss = onDevice(d1, () => softmaxCrossEntropy(net.forward(a.view([1, 3])), [1]));
    backward(loss); // outside onDevice: runs on d1, where the loss is
    for (const [, p] of net.parameters()) {
      expect(p.grad?.engine).toBe(d1);
      expect((await p.grad!.toArray()).some((v) => v !== 0)).toBe(true);
    }
    expect(tapeOf(d1).length).toBe(0);
  });

  it('says how many devices the CPU fallback offers when asked for more', async () => {
    const n = availableParallelism() + 1;
    if (!devices[0].rt.adapter.isCpu) return; // a GPU machine: the limit is its GPUs (not testable here)
    await expect(initDevices(n)).rejects.toThrowError(
      new RegExp(
        `--devices ${n}: there is no GPU here, and the CPU fallback .* offers at most one device per core \\(${n - 1}\\); use --devices ${n - 1} or fewer`,
      ),
    );
  });
});

describe('gradient exchange', () => {
  /** A small conv net replicated on both devices, with the same weights. */
  async function replicas(): Promise<Array<Replica & { net: Sequential }>> {
    const rs = devices.map((e) =>
      onDevice(e, () => {
        const net = new Sequential([
          ['conv1', new Conv2d(3, 4, 3)],
          ['conv2', new Conv2d(4, 4, 3)],
        ]);
        return { engine: e, net, params: net.parameters().map(([, p]) => p) };
      }),
    );
    rs[0].params.forEach((p, i) => p.write(randn(p.size, 100 + i)));
    await broadcastReplica(rs);
    return rs;
  }

  it('sums every replica’s gradients in device order, in buckets, started by backward as they finish', async () => {
    const rs = await replicas();
    expect(await rs[1].params[0].toArray()).toEqual(await rs[0].params[0].toArray());
    const ex = new GradientExchange(rs, 16); // each tensor fills a bucket
    expect(ex.buckets).toEqual([[3], [2], [1], [0]]);
    expect(new GradientExchange(rs, 500).buckets).toEqual([
      [3, 2],
      [1, 0],
    ]); // bias (16 B) + weight (576 B) per bucket
    expect(ex.buckets.flat().sort()).toEqual(rs[0].params.map((_, i) => i));
    expect(ex.buckets[0][0]).toBe(rs[0].params.length - 1); // last layer first, as backward finishes it
    let started = 0;
    rs.forEach((r, d) => {
      onDevice(r.engine, () => {
        const x = Tensor.from(randn(2 * 3 * 6 * 6, 10 + d), [2, 3, 6, 6]);
        const y = tidy(() => relu(r.net.forward(x)));
        const hook = ex.onGradReady(d);
        backward(y, Tensor.from(randn(y.size, 20 + d), y.shape), {
          onGradReady: (p) => {
            started++;
            hook(p);
          },
        });
      });
    });
    expect(started).toBe(2 * rs[0].params.length);
    const before = await Promise.all(rs.map((r) => Promise.all(r.params.map((p) => p.grad!.toArray()))));
    await ex.allReduce();
    for (const r of rs) {
      for (let i = 0; i < r.params.length; i++) {
        const want = before[0][i].map((v, k) => Math.fround(v + before[1][i][k]));
        expect(await r.params[i].grad!.toArray()).toEqual(want);
      }
    }
  });
});

describe('data-parallel training', () => {
  function options(out: string, over: Partial<TrainOptions> = {}): TrainOptions {
    return {
      net: 'A',
      data: `fashion-mnist:${join(dir, 'data')}`,
      out,
      epochs: 1,
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
      seed: 3,
      workers: 0,
      valFraction: 0.1,
      evalBatch: 8,
      resume: false,
      maxSteps: 3,
      ...over,
    };
  }
  async function train(name: string, over: Partial<TrainOptions>): Promise<Float32Array[]> {
    const t = new Trainer(options(join(dir, name), over));
    await t.run();
    const replicas = (t as unknown as { steps: { replicas: Replica[] } }).steps.replicas;
    // Every replica ends equal to device 0's, which is what checkpoints hold.
    const mine = await Promise.all(t.model.parameters().map((p) => p.toArray()));
    for (const r of replicas.slice(1)) expect(await Promise.all(r.params.map((p) => p.toArray()))).toEqual(mine);
    return mine;
  }
  const maxDiff = (a: Float32Array[], b: Float32Array[]) =>
    Math.max(...a.map((t, i) => Math.max(...t.map((v, k) => Math.abs(v - b[i][k])))));

  it('--devices 2 equals one device with the same batch (dropout on), and repeats bit for bit', async () => {
    const one = await train('one', { devices: 1 });
    const two = await train('two', { devices: 2 });
    const again = await train('two-again', { devices: 2 });
    const oneSplit = await train('one-split', { devices: 1, accumulate: 2 });
    expect(again).toEqual(two);
    // One device summing the same two half-batches (gradient accumulation) is the same arithmetic.
    expect(oneSplit).toEqual(two);
    // Against one whole batch: the same up to float summation order (weights are ~0.1–1).
    expect(maxDiff(one, two)).toBeLessThan(1e-5);
  });

  it('resumes a --devices 2 run on one device (and the reverse) where an uninterrupted run would be', async () => {
    const straight = await train('straight', { devices: 1, maxSteps: 4 });
    await train('switch', { devices: 2, maxSteps: 2 });
    const resumed = await train('switch', { devices: 1, maxSteps: 4, resume: true });
    expect(maxDiff(resumed, straight)).toBeLessThan(1e-5);
    await train('switch-back', { devices: 1, maxSteps: 2 });
    const back = await train('switch-back', { devices: 2, maxSteps: 4, resume: true });
    expect(maxDiff(back, straight)).toBeLessThan(1e-5);
  });

  it('splits a batch that does not divide evenly (17 images on 2 devices: 8 and 9) and says so', async () => {
    const messages: string[] = [];
    const t = new Trainer(
      options(join(dir, 'odd'), { devices: 2, batch: 17, maxSteps: 1 }),
      (e) => e.kind === 'message' && messages.push(e.message),
    );
    await t.run();
    expect(messages.join('\n')).toMatch(/data parallel over 2 devices: each takes 8–9 images of a batch/);
    expect(() => new Trainer(options(join(dir, 'tiny'), { devices: 2, batch: 1 }))).toThrowError(
      /--devices 2: more devices than the 1 images of a batch/,
    );
  });
});
