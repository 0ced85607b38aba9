// The GPU kit's program, one phase per call (run.sh runs them in order, each in its own process
// under its own time limit, so one that fails or hangs costs only itself):
//   node kit.mjs info|check|conv|step|report --out DIR [--scale auto|gpu|cpu|smoke] [--budget SECONDS]
// Each phase writes DIR/<phase>.json (conv writes conv-release.json or, under VGGPU_SAFE=1,
// conv-safe.json). Bundled with esbuild by tools/gpu_kit/build.ts; runs from source with tsx too.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { backward, init, SGD, softmaxCrossEntropy, Tensor, tidy } from '../../src/node/index.js';
import { tryBackend } from '../../src/node/gpu/adapter.js';
import type { ConvPass } from '../../src/ops/conv2d.js';
import { tuneConv, tuneStep } from '../../src/ops/tune.js';
import { resetTunings } from '../../src/ops/variants.js';
import { planLayers, resolveConfig, summarise } from '../../src/vgg/config.js';
import { buildVgg } from '../../src/vgg/model.js';
import { report } from './report.js';
import {
  checkConvCase,
  checkLargeLayer,
  checkMatmul,
  checkOtherKernels,
  CONV_CASES,
  newLog,
  tunerConvCandidates,
} from './self_check.js';

/** What each phase runs at each scale. `gpu` is the issue's protocol; `cpu` and `smoke` make the same calls small enough for a CPU adapter. */
const SCALES = {
  gpu: {
    large: { N: 128, C: 64, Co: 64, S: 224 },
    conv: { size: 224, batch: 32, width: 1, layers: Infinity },
    step: { size: 224, batches: [64, 128], width: 1, classes: 1000 },
  },
  cpu: {
    large: { N: 2, C: 64, Co: 64, S: 56 },
    conv: { size: 32, batch: 2, width: 1, layers: Infinity },
    step: { size: 32, batches: [4, 8], width: 0.25, classes: 10 },
  },
  smoke: {
    large: { N: 1, C: 8, Co: 8, S: 24 },
    conv: { size: 32, batch: 1, width: 0.25, layers: 2 },
    step: { size: 32, batches: [2], width: 0.25, classes: 10 },
  },
};
type Scale = keyof typeof SCALES;

const args = process.argv.slice(2);
const phase = args[0];
const flag = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const outDir = flag('out') ?? 'gpu-kit-out';
const budgetMs = Number(flag('budget') ?? 120) * 1000;
mkdirSync(outDir, { recursive: true });
const say = (line: string) => console.log(`[${phase}] ${line}`);
const save = (name: string, value: unknown) =>
  writeFileSync(join(outDir, `${name}.json`), `${JSON.stringify(value, null, 2)}\n`);

if (phase === 'report') {
  process.exit(report(outDir));
}
if (!['info', 'check', 'conv', 'step'].includes(phase)) {
  console.error(
    'usage: node kit.mjs info|check|conv|step|report --out DIR [--scale auto|gpu|cpu|smoke] [--budget SECONDS]',
  );
  process.exit(2);
}

const e = await init();
const rt = e.rt;
const asked = flag('scale') ?? 'auto';
if (!['auto', ...Object.keys(SCALES)].includes(asked))
  throw new Error(`--scale ${asked}: expected auto, gpu, cpu or smoke`);
const scale: Scale = asked === 'auto' ? (rt.adapter.isCpu ? 'cpu' : 'gpu') : (asked as Scale);
const S = SCALES[scale];
const mode = rt.adapter.toggles.length ? 'release' : 'safe';
const head = {
  adapter: rt.describe(),
  backend: rt.adapter.backend,
  mode,
  toggles: rt.adapter.toggles,
  scale,
  date: new Date().toISOString(),
};
say(
  `${rt.describe()}; ${mode} mode; ${scale} scale${asked === 'auto' && scale === 'cpu' ? ' (a CPU adapter: the same phases at small sizes)' : ''}`,
);

if (phase === 'info') {
  const a = rt.adapter.adapter;
  // Limits are getters on the object's prototype (Dawn's bindings), or own properties (a browser's, a mock).
  const numbers = (o: object) => {
    const keys = new Set([...Object.keys(o), ...Object.getOwnPropertyNames(Object.getPrototypeOf(o))]);
    return Object.fromEntries(
      [...keys]
        .filter((k) => typeof (o as Record<string, unknown>)[k] === 'number')
        .sort()
        .map((k) => [k, (o as Record<string, number>)[k]]),
    );
  };
  const info = a.info as GPUAdapterInfo & Record<string, unknown>;
  // Subgroup matrices (tensor cores) are behind Dawn's allow_unsafe_apis toggle: ask an adapter opened with it.
  const unsafe = await tryBackend(rt.adapter.backend, rt.adapter.featureLevel, undefined, [
    ...rt.adapter.toggles,
    'allow_unsafe_apis',
  ]);
  const unsafeInfo = unsafe?.adapter.info as (GPUAdapterInfo & { subgroupMatrixConfigs?: unknown[] }) | undefined;
  const out = {
    ...head,
    reason: rt.adapter.reason,
    featureLevel: rt.adapter.featureLevel,
    info: {
      vendor: info.vendor,
      architecture: info.architecture,
      device: info.device,
      description: info.description,
      subgroupMinSize: info.subgroupMinSize,
      subgroupMaxSize: info.subgroupMaxSize,
      isFallbackAdapter: info.isFallbackAdapter,
    },
    features: [...a.features].sort(),
    adapterLimits: numbers(a.limits),
    deviceLimits: numbers(rt.limits),
    unsafeApis: unsafe
      ? {
          features: [...unsafe.adapter.features].sort(),
          subgroupMatrixConfigs: unsafeInfo?.subgroupMatrixConfigs ?? null,
        }
      : 'no adapter with allow_unsafe_apis',
  };
  save('info', out);
  say(`reason: ${out.reason}`);
  say(`features: ${out.features.join(', ')}`);
  say(
    `limits: ${Object.entries(out.deviceLimits)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
  );
  say(
    `with allow_unsafe_apis: ${typeof out.unsafeApis === 'string' ? out.unsafeApis : `subgroupMatrixConfigs ${JSON.stringify(out.unsafeApis.subgroupMatrixConfigs)}`}`,
  );
}

if (phase === 'check') {
  const t0 = performance.now();
  const log = newLog();
  for (const c of scale === 'smoke' ? CONV_CASES.slice(0, 2) : CONV_CASES) await checkConvCase(c, log);
  await checkMatmul(log);
  await checkOtherKernels(log);
  const missing = scale === 'smoke' ? [] : [...tunerConvCandidates()].filter((v) => !log.checked.has(v));
  for (const v of missing) log.failures.push(`${v}: a variant the tuner may pick was not checked`);
  say(
    `small shapes: ${log.checked.size} kernels and pass/variant pairs checked in ${((performance.now() - t0) / 1000).toFixed(1)} s, ${log.failures.length} failures`,
  );
  const { N, C, Co, S: side } = S.large;
  say(`large layer: ${C}→${Co} 3×3 at ${side}², batch ${N}, every variant of each pass`);
  const large = await checkLargeLayer(N, C, Co, side, log, budgetMs - (performance.now() - t0));
  for (const r of large.results)
    say(
      `  ${r.pass.padEnd(16)} ${r.variant.padEnd(14)} ${r.ms.toFixed(0).padStart(7)} ms  sampled error ${r.sampleError.toExponential(1)}  vs default ${r.vsDefault.toExponential(1)}  ${r.ok ? 'ok' : 'FAILED'}`,
    );
  if (large.skipped.length) say(`  not checked (past the ${budgetMs / 1000} s budget): ${large.skipped.join(', ')}`);
  for (const f of log.failures) say(`FAILED ${f}`);
  save('check', {
    ...head,
    ok: log.failures.length === 0,
    checked: [...log.checked].sort(),
    failures: log.failures,
    large: { shape: S.large, ...large },
    seconds: (performance.now() - t0) / 1000,
  });
  say(log.failures.length ? `${log.failures.length} FAILURES` : 'every checked variant matches the float64 reference');
  process.exit(log.failures.length ? 1 : 0);
}

if (phase === 'conv') {
  // Every variant timed now, whatever was tuned before: a fresh tuning file for this process.
  const cacheDir = mkdtempSync(join(tmpdir(), `vggpu-kit-tune-`));
  process.env.VGGPU_CACHE_DIR = cacheDir;
  resetTunings();
  const t0 = performance.now();
  const { size, batch, width, layers } = S.conv;
  const seen = new Set<string>();
  const results: unknown[] = [];
  const skipped: string[] = [];
  for (const l of planLayers(resolveConfig({ net: 'D', inputSize: size, width, classes: 1000 }))) {
    if (l.kind !== 'conv') continue;
    const key = `${l.inChannels}→${l.outChannels} ${l.size}²`;
    if (seen.has(key) || seen.size >= layers) continue;
    seen.add(key);
    const shape = {
      x: [batch, l.inChannels, l.size, l.size],
      w: [l.outChannels, l.inChannels, l.kernel, l.kernel],
      pad: (l.kernel - 1) / 2,
    };
    const flops = 2 * batch * l.outChannels * l.inChannels * l.kernel ** 2 * l.size ** 2;
    // The first layer's input gradient is never computed in training.
    const passes: ConvPass[] =
      l.inChannels === 3
        ? ['conv_forward', 'conv_grad_weight']
        : ['conv_forward', 'conv_grad_input', 'conv_grad_weight'];
    for (const pass of passes) {
      if (performance.now() - t0 > budgetMs) {
        skipped.push(`${pass} ${key}`);
        continue;
      }
      for (const r of await tuneConv([shape], [pass])) {
        const variants = Object.fromEntries(
          Object.entries(r.ms).map(([v, ms]) => [v, { ms, gflops: flops / ms / 1e6, compileMs: r.compileMs?.[v] }]),
        );
        results.push({ layer: key, pass, shape: r.shape, batch, chosen: r.variant, variants });
        say(
          `${key.padEnd(14)} ${pass.padEnd(16)} best ${r.variant} ${(flops / r.ms[r.variant] / 1e6).toFixed(0)} GFLOPS  (${Object.entries(
            r.ms,
          )
            .map(([v, ms]) => `${v} ${ms.toFixed(1)}`)
            .join(', ')} ms)`,
        );
      }
    }
  }
  if (skipped.length) say(`not timed (past the ${budgetMs / 1000} s budget): ${skipped.join(', ')}`);
  save(`conv-${mode}`, {
    ...head,
    net: 'D',
    size,
    batch,
    width,
    results,
    skipped,
    seconds: (performance.now() - t0) / 1000,
  });
  rmSync(cacheDir, { recursive: true, force: true });
}

if (phase === 'step') {
  const { size, batches, width, classes } = S.step;
  const cases: unknown[] = [];
  const t0 = performance.now();
  for (const batch of batches) {
    const name = `VGG-16 (D) ${size}² batch ${batch}${width === 1 ? '' : ` width ${width}`}`;
    if (performance.now() - t0 > budgetMs) {
      cases.push({ batch, skipped: `past the ${budgetMs / 1000} s budget` });
      continue;
    }
    const model = buildVgg({ net: 'D', inputSize: size, width, classes });
    const opt = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9, weightDecay: 5e-4 });
    const x = Tensor.from(
      Float32Array.from({ length: batch * 3 * size * size }, (_, i) => Math.sin(i * 0.37)),
      [batch, 3, size, size],
    );
    const labels = Array.from({ length: batch }, (_, i) => (i * 7) % classes);
    const step = () => {
      const loss = tidy(() => softmaxCrossEntropy(model.forward(x), labels));
      backward(loss);
      opt.step();
      opt.zeroGrad();
      return loss;
    };
    try {
      const tt = performance.now();
      // Timing within what the phase's budget leaves, less ~30 s for the steps themselves.
      const tuned = await tuneStep(
        () => step().dispose(),
        (p) => say(`  tuning ${p.done}/${p.total}: ${p.line}`),
        { budgetSec: Math.max(10, (budgetMs - (performance.now() - t0)) / 1000 - 30) },
      );
      const tuneSec = (performance.now() - tt) / 1000;
      for (let i = 0; i < 2; i++) step().dispose(); // warm-up: pipelines, buffer pool
      await rt.sync();
      const times: number[] = [];
      let loss = NaN;
      const ts = performance.now();
      while (times.length < 10 && (times.length < 3 || performance.now() - ts < 20_000)) {
        const t = performance.now();
        const l = step();
        loss = (await l.toArray())[0];
        l.dispose();
        times.push(performance.now() - t);
      }
      times.sort((a, b) => a - b);
      const ms = times[times.length >> 1];
      const gflop = (3 * 2 * summarise(model.config).macs * batch) / 1e9;
      const mem = rt.pool.stats().allocatedBytes / 2 ** 30;
      cases.push({
        name,
        net: 'D',
        size,
        width,
        classes,
        batch,
        ms,
        imagesPerSec: (batch * 1000) / ms,
        gflops: (gflop * 1000) / ms,
        loss,
        steps: times.length,
        tuneSec,
        memoryGiB: mem,
        variants: tuned.map(
          (v) => `${v.pass} ${v.shape}: ${v.variant}${v.deferred ? ' (default: not timed within the budget)' : ''}`,
        ),
        untimedPasses: tuned.filter((v) => v.deferred).length,
      });
      say(
        `${name}: ${((batch * 1000) / ms).toFixed(1)} img/s (${ms.toFixed(1)} ms/step, ${((gflop * 1000) / ms).toFixed(0)} GFLOP/s), loss ${loss.toFixed(3)}, tuned in ${tuneSec.toFixed(0)} s${tuned.some((v) => v.deferred) ? ` (${tuned.filter((v) => v.deferred).length} passes left on their default variant by the budget)` : ''}, ${mem.toFixed(1)} GiB`,
      );
      if (!Number.isFinite(loss)) throw new Error(`${name}: the loss is not finite (${loss})`);
    } catch (err) {
      cases.push({ name, batch, error: (err as Error).message });
      say(`${name}: FAILED ${(err as Error).message}`);
    } finally {
      model.dispose();
      opt.dispose();
      x.dispose();
    }
  }
  save('step', { ...head, cases, seconds: (performance.now() - t0) / 1000 });
}
process.exit(0);
