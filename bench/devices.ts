// `npm run bench` group "devices": data parallelism on this machine's devices (2 devices of the
// CPU adapter where there is no GPU). A whole VGG step at 1 and 2 devices, the same global
// batch, with the share of the 2-device step spent exchanging gradients; and the all-reduce alone
// for VGG-A at width ¼ and for full-size VGG-16 (138 M parameters): what a multi-GPU machine pays
// per step to move the gradients through the host.
import { backward, type Engine, initDevices, onDevice, softmaxCrossEntropy, Tensor, tidy } from '../src/node/index.js';
import { fillInPlace } from '../src/ops/elementwise.js';
import { SGD } from '../src/optim/sgd.js';
import { GradientExchange } from '../src/train/data_parallel.js';
import { buildVgg, type Vgg } from '../src/vgg/model.js';
import { summarise, type VggOptions } from '../src/vgg/config.js';
import { tuneStep } from '../src/ops/tune.js';
import type { BenchSize } from './data.js';

export interface DevicesResult {
  group: string;
  name: string;
  ms: number;
  gflops?: number;
  gbps?: number;
  imagesPerSec?: number;
  compileMs: number;
  detail?: string;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

interface Replica {
  engine: Engine;
  model: Vgg;
  opt: SGD;
  params: Tensor[];
}

function replicas(engines: Engine[], options: VggOptions): Replica[] {
  return engines.map((engine) =>
    onDevice(engine, () => {
      const model = buildVgg(options);
      return { engine, model, opt: new SGD(model.parameters(), { lr: 1e-3 }), params: model.parameters() };
    }),
  );
}

function release(rs: Replica[]): void {
  for (const r of rs) {
    r.model.dispose();
    r.opt.dispose();
    r.engine.rt.pool.trim();
  }
}

/** Median ms of `runs` calls of `fn` after one warm-up (compiles), and of the exchange inside it. */
async function timeSteps(fn: () => Promise<number>, budgetMs: number): Promise<{ ms: number; exchangeMs: number }> {
  await fn();
  const ms: number[] = [];
  const ex: number[] = [];
  const start = performance.now();
  do {
    const t0 = performance.now();
    ex.push(await fn());
    ms.push(performance.now() - t0);
  } while ((performance.now() - start < budgetMs || ms.length < 3) && ms.length < 50);
  return { ms: median(ms), exchangeMs: median(ex) };
}

export async function benchDevices(
  selected: (group: string, name: string) => boolean,
  size: BenchSize,
): Promise<DevicesResult[]> {
  const quick = size !== 'full';
  const budgetMs = size === 'smoke' ? 0 : quick ? 600 : 2000;
  const results: DevicesResult[] = [];
  const stepCase = 'step VGG-A 32² b32 w0.25';
  const reduceCases = ['all-reduce VGG-A w0.25', ...(quick ? [] : ['all-reduce VGG-16 (138 M parameters)'])];
  if (![stepCase, ...reduceCases].some((n) => selected('devices', n))) return results;
  const engines = await initDevices(2);
  const report = (r: DevicesResult) => {
    results.push(r);
    process.stderr.write(
      `  ${r.group.padEnd(14)} ${r.name.padEnd(56)} ${r.ms.toFixed(2).padStart(10)} ms  ${r.detail ?? ''}\n`,
    );
  };

  if (selected('devices', stepCase)) {
    const options: VggOptions = { net: 'A', inputSize: 32, width: 0.25, classes: 10, dropout: 0 };
    const batch = 32;
    const x = new Float32Array(batch * 3 * 32 * 32).map((_, i) => Math.sin(i * 12.9898) * 0.5);
    const labels = Int32Array.from({ length: batch }, (_, i) => i % 10);
    const macs = summarise(buildVgg(options).config).macs;
    let oneDevice = 0;
    for (const n of [1, 2]) {
      const rs = replicas(engines.slice(0, n), options);
      const exchange = n > 1 ? new GradientExchange(rs) : null;
      // Device d's forward and backward on its slice of the batch.
      const slice = (r: Replica, d: number) =>
        onDevice(r.engine, () => {
          const [j0, j1] = [(d * batch) / n, ((d + 1) * batch) / n];
          const per = 3 * 32 * 32;
          const loss = tidy(() =>
            softmaxCrossEntropy(
              r.model.forward(Tensor.from(x.subarray(j0 * per, j1 * per), [j1 - j0, 3, 32, 32])),
              labels.subarray(j0, j1),
            ),
          );
          backward(loss, undefined, exchange ? { onGradReady: exchange.onGradReady(d) } : {});
          loss.dispose();
        });
      if (size !== 'smoke') {
        await tuneStep(() => {
          slice(rs[0], 0);
          rs[0].opt.zeroGrad();
        });
      }
      // The trainer's step: each device its slice, forward and backward; the exchange; the update.
      const step = async () => {
        rs.forEach(slice);
        if (exchange) await exchange.allReduce();
        for (const r of rs) {
          r.opt.step();
          r.opt.zeroGrad();
        }
        await Promise.all(rs.map((r) => r.engine.rt.sync()));
        return exchange?.lastMs ?? 0;
      };
      const { ms, exchangeMs } = await timeSteps(step, budgetMs);
      const imagesPerSec = (batch * 1000) / ms;
      if (n === 1) oneDevice = imagesPerSec;
      const detail =
        n === 1
          ? `${imagesPerSec.toFixed(1)} img/s`
          : `${imagesPerSec.toFixed(1)} img/s, ${(imagesPerSec / oneDevice).toFixed(2)}× one device; gradient exchange ${exchangeMs.toFixed(2)} ms = ${((100 * exchangeMs) / ms).toFixed(0)}% of the step`;
      exchange?.dispose();
      report({
        group: 'devices',
        name: `${stepCase}, ${n} device${n > 1 ? 's' : ''}`,
        ms,
        gflops: (6 * macs * batch) / ms / 1e6,
        imagesPerSec,
        compileMs: 0,
        detail,
      });
      release(rs);
    }
  }

  for (const name of reduceCases) {
    if (!selected('devices', name)) continue;
    const options: VggOptions = name.includes('VGG-16')
      ? { net: 'D', inputSize: 224, width: 1, classes: 1000 }
      : { net: 'A', inputSize: 32, width: 0.25, classes: 10 };
    const rs = replicas(engines, options);
    for (const r of rs) {
      onDevice(r.engine, () => {
        for (const p of r.params) {
          p.grad = Tensor.empty(p.shape, 'gradient');
          fillInPlace(p.grad, 1e-3);
        }
      });
    }
    const exchange = new GradientExchange(rs);
    const { ms } = await timeSteps(async () => {
      await exchange.allReduce();
      await Promise.all(rs.map((r) => r.engine.rt.sync()));
      return 0;
    }, budgetMs);
    const count = rs[0].params.reduce((s, p) => s + p.size, 0);
    // Each device's gradients go to the host and the sum comes back: 2 transfers per device.
    const bytes = 2 * rs.length * count * 4;
    exchange.dispose();
    report({
      group: 'devices',
      name: `${name}, 2 devices`,
      ms,
      gbps: bytes / ms / 1e6,
      compileMs: 0,
      detail: `${(count / 1e6).toFixed(2)} M parameters in ${exchange.buckets.length} bucket${exchange.buckets.length > 1 ? 's' : ''}; ${(bytes / 1e9).toFixed(2)} GB through the host, ${(bytes / ms / 1e6).toFixed(2)} GB/s`,
    });
    release(rs);
  }
  return results;
}
