// `npm run bench [-- --filter TEXT] [--json FILE] [--quick | --smoke] [--variants pass=variant,…] [--verbose]`: kernel throughput
// per kernel and per VGG layer shape, whole training steps, and the input pipeline, on whatever adapter the engine picks. Speed
// is judged by ratios within one run (a conv pass against our own GEMM), since the machines are shared. `--smoke` runs one small
// case of every group once, untuned (each shape's default variant): CI's check that the bench runs, not a measurement.
import { writeFileSync } from 'node:fs';
import { backward, init, matmul, noGrad, SGD, softmaxCrossEntropy, Tensor, tidy } from '../src/node/index.js';
import { conv2d } from '../src/ops/conv2d.js';
import { convGradInput, convGradWeight } from '../src/ops/conv2d.js';
import { linear } from '../src/ops/linear.js';
import { lrn } from '../src/ops/lrn.js';
import { maxPool2d } from '../src/ops/maxpool2d.js';
import { relu } from '../src/ops/relu.js';
import { NET_NAMES, planLayers, resolveConfig, summarise, type NetName } from '../src/vgg/config.js';
import { buildVgg } from '../src/vgg/model.js';
import { type ConvPass, convVariants } from '../src/ops/conv2d.js';
import { type GemmShape, gemmVariants, tuneConv, tuneGemm, tuneStep } from '../src/ops/tune.js';
import { chooseVariantName, forceVariants, type Pass, tuningsForAdapter } from '../src/ops/variants.js';
import { benchData } from './data.js';
import { benchDevices } from './devices.js';
import { BENCH_FLAGS } from './flags.js';
import { benchWinograd } from './winograd.js';

interface Result {
  group: string;
  name: string;
  /** The kernel variant that ran (chosen by timing on this adapter, or forced with --variants). */
  variant?: string;
  ms: number;
  /** Counted floating-point operations per run (2 per multiply-add). */
  gflops?: number;
  gbps?: number;
  imagesPerSec?: number;
  compileMs: number;
  vsGemm?: number;
  /** A case's own figures beyond the columns (e.g. scaling and gradient-exchange share for devices). */
  detail?: string;
}

const args = process.argv.slice(2);
const flag = (n: string) => {
  const i = args.indexOf(`--${n}`);
  return i >= 0 ? args[i + 1] : undefined;
};
for (const a of args) {
  if (a.startsWith('--') && !(a.slice(2) in BENCH_FLAGS)) {
    console.error(
      `bench: unknown flag ${a}; flags: ${Object.keys(BENCH_FLAGS)
        .map((f) => `--${f}`)
        .join(', ')}`,
    );
    process.exit(2);
  }
}
const filter = flag('filter');
// `--json` alone prints JSON instead of the table; `--json FILE` writes it to FILE as well.
const jsonFlag = args.includes('--json');
const jsonFile = flag('json')?.startsWith('--') ? undefined : flag('json');
const smoke = args.includes('--smoke');
const quick = smoke || args.includes('--quick');
if (args.includes('--verbose')) process.env.VGGPU_VERBOSE = '1'; // Dawn's own start-up messages
if (flag('variants')) forceVariants(flag('variants')!);
const budgetMs = smoke ? 0 : quick ? 300 : 1200;
const minRuns = smoke ? 1 : 3;

const e = await init();
const rt = e.rt;
const results: Result[] = [];

/** Times fn (which returns tensors to dispose) until the budget is spent; the first run (compile) is apart. */
const selected = (group: string, name: string) =>
  !filter || `${group} ${name}`.toLowerCase().includes(filter.toLowerCase());

/** The variant a pass runs for a shape, and its first-call overhead when the tuner measured it. */
function variantOf(pass: Pass, shape: string, candidates: string[]): { variant: string; compileMs?: number } {
  const variant = chooseVariantName(pass, shape, candidates);
  return { variant, compileMs: tuningsForAdapter()[`${pass} ${shape}`]?.compileMs?.[variant] };
}

function gemmVariantOf(g: GemmShape): { variant: string; compileMs?: number } {
  const { shape, candidates } = gemmVariants(g);
  return variantOf('gemm', shape, candidates);
}

async function time(
  group: string,
  name: string,
  fn: () => Tensor | Tensor[] | undefined,
  counts: { flops?: number; bytes?: number; images?: number },
  v?: { variant: string; compileMs?: number },
): Promise<Result | null> {
  if (!selected(group, name)) return null;
  const dispose = (r: Tensor | Tensor[] | undefined) =>
    (Array.isArray(r) ? r : r ? [r] : []).forEach((t) => t.dispose());
  const c0 = rt.compileMs;
  dispose(fn());
  await rt.sync();
  const compileMs = rt.compileMs - c0;
  // The median of timed runs (each waits for the GPU): robust to the bursts of a shared machine.
  const times: number[] = [];
  const start = performance.now();
  do {
    const t0 = performance.now();
    dispose(fn());
    await rt.sync();
    times.push(performance.now() - t0);
  } while ((performance.now() - start < budgetMs || times.length < minRuns) && times.length < 200);
  times.sort((a, b) => a - b);
  const ms = times[times.length >> 1];
  // After tuning, the chosen pipeline is already compiled: report what compiling it cost then.
  const r: Result = { group, name, variant: v?.variant, ms, compileMs: v?.compileMs ?? compileMs };
  if (counts.flops) r.gflops = counts.flops / ms / 1e6;
  if (counts.bytes) r.gbps = counts.bytes / ms / 1e6;
  if (counts.images) r.imagesPerSec = (counts.images * 1000) / ms;
  results.push(r);
  const fmt = [
    r.gflops !== undefined ? `${r.gflops.toFixed(2)} GFLOPS` : '',
    r.gbps !== undefined ? `${r.gbps.toFixed(2)} GB/s` : '',
    r.imagesPerSec !== undefined ? `${r.imagesPerSec.toFixed(1)} img/s` : '',
  ]
    .filter(Boolean)
    .join('  ');
  process.stderr.write(
    `  ${group.padEnd(14)} ${name.padEnd(44)} ${(v?.variant ?? '').padEnd(12)} ${ms.toFixed(2).padStart(10)} ms  ${fmt}\n`,
  );
  return r;
}

const rand = (n: number, s = 1) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + s) * 0.5);
const T = (shape: number[], s = 1) =>
  Tensor.from(
    rand(
      shape.reduce((a, b) => a * b, 1),
      s,
    ),
    shape,
  );

const mode = rt.adapter.toggles.length
  ? `release (Dawn toggles: ${rt.adapter.toggles.join(', ')}; VGGPU_SAFE=1 keeps Dawn's safety transforms)`
  : "safe (Dawn's safety transforms on)";
process.stderr.write(`adapter: ${rt.describe()}\nmode: ${mode}\n`);

// The ×GEMM reference: 1024³ GEMM GFLOPS, sampled again before each group of cases, since the
// machine's load drifts during a run; ratios use the median of the samples.
const gemmA = T([1024, 1024]);
const gemmB = T([1024, 1024], 2);
const gemmSamples: number[] = [];
async function sampleGemm(): Promise<void> {
  const times: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    noGrad(() => matmul(gemmA, gemmB)).dispose();
    await rt.sync();
    times.push(performance.now() - t0);
  }
  times.sort((x, y) => x - y);
  gemmSamples.push((2 * 1024 ** 3) / times[1] / 1e6);
}

// GEMM: 1024³ and the FC shapes (batch 32).
{
  const g1024 = { M: 1024, N: 1024, K: 1024, aAlongK: true, bAlongN: true };
  if (!smoke) await tuneGemm([g1024]);
  const r = await time(
    'gemm',
    '1024×1024×1024',
    () => noGrad(() => matmul(gemmA, gemmB)),
    { flops: 2 * 1024 ** 3 },
    gemmVariantOf(g1024),
  );
  if (r?.gflops) gemmSamples.push(r.gflops);
  for (const [B, IN, OUT] of [
    [32, 25088, 4096],
    [32, 4096, 4096],
    [32, 4096, 1000],
    [32, 128, 1024],
    [32, 1024, 1024],
  ]) {
    if ((quick && IN === 25088) || (smoke && IN !== 128)) continue;
    const x = T([B, IN]);
    const w = T([OUT, IN], 3);
    const bias = T([OUT], 4);
    const fc = { M: B, N: OUT, K: IN, aAlongK: true, bAlongN: false };
    if (!smoke && selected('gemm', `FC ${B}×${IN}→${OUT}`)) await tuneGemm([fc]);
    await time(
      'gemm',
      `FC ${B}×${IN}→${OUT}`,
      () => noGrad(() => linear(x, w, bias)),
      { flops: 2 * B * IN * OUT },
      gemmVariantOf(fc),
    );
    [x, w, bias].forEach((t) => t.dispose());
  }
}

// Convolution passes at every distinct VGG conv shape: 224×224 batch 1, and 32×32 batch 32 at width 1 and 1/4.
const settings: Array<{ label: string; size: number; batch: number; width: number }> = [
  { label: '224 b1', size: 224, batch: 1, width: 1 },
  { label: '32 b32', size: 32, batch: 32, width: 1 },
  { label: '32 b32 w¼', size: 32, batch: 32, width: 0.25 },
];
for (const s of quick ? settings.slice(2) : settings) {
  await sampleGemm();
  const seen = new Set<string>();
  for (const net of ['C', 'E'] as NetName[]) {
    for (const l of planLayers(resolveConfig({ net, inputSize: s.size, width: s.width }))) {
      if (l.kind !== 'conv') continue;
      const key = `${l.inChannels}→${l.outChannels} k${l.kernel} ${l.size}²`;
      if (seen.has(key) || (smoke && seen.size === 2)) continue;
      seen.add(key);
      const x = T([s.batch, l.inChannels, l.size, l.size]);
      const w = T([l.outChannels, l.inChannels, l.kernel, l.kernel], 2);
      const b = T([l.outChannels], 3);
      const dy = T([s.batch, l.outChannels, l.size, l.size], 4);
      const flops = 2 * s.batch * l.outChannels * l.inChannels * l.kernel ** 2 * l.size ** 2;
      const pad = (l.kernel - 1) / 2;
      const group = `conv ${s.label}`;
      // Time the variant the engine picks for this shape: tune it first (cached per adapter).
      const pick = async (pass: ConvPass, name: string) => {
        if (!selected(group, name)) return undefined;
        if (!smoke) await tuneConv([{ x: x.shape, w: w.shape, pad }], [pass]);
        const { shape, candidates } = convVariants(pass, x.shape, w.shape, pad);
        return variantOf(pass, shape, candidates);
      };
      await time(
        group,
        `${key} forward`,
        () => noGrad(() => conv2d(x, w, b, { relu: true })),
        { flops },
        await pick('conv_forward', `${key} forward`),
      );
      if (l.inChannels > 3)
        await time(
          group,
          `${key} input-grad`,
          () => convGradInput(dy, w, x.shape, pad),
          { flops },
          await pick('conv_grad_input', `${key} input-grad`),
        );
      await time(
        group,
        `${key} weight-grad`,
        () => convGradWeight(dy, x, w.shape, pad),
        { flops },
        await pick('conv_grad_weight', `${key} weight-grad`),
      );
      [x, w, b, dy].forEach((t) => t.dispose());
    }
  }
}

// Winograd against the best other variant, per 3×3 layer (bench/winograd.ts).
await sampleGemm();
await benchWinograd(time, T, smoke);

// Memory-bound kernels (bytes = everything read and written once).
{
  const shape = [32, 64, 32, 32];
  const n = shape.reduce((a, b) => a * b, 1);
  const x = T(shape);
  await time('memory', `relu [${shape}]`, () => noGrad(() => relu(x)), { bytes: 8 * n });
  await time('memory', `maxpool 2×2 [${shape}]`, () => noGrad(() => maxPool2d(x)), { bytes: 4 * n * 1.25 });
  await time('memory', `lrn n=5 [${shape}]`, () => noGrad(() => lrn(x)), { bytes: 8 * n });
  const logits = T([256, 1000]);
  const labels = Array.from({ length: 256 }, (_, i) => i % 1000);
  await time('memory', 'softmax-CE [256, 1000]', () => noGrad(() => softmaxCrossEntropy(logits, labels)), {
    bytes: 4 * 256 * 1000,
  });
  const p = T([n]);
  p.requiresGrad = true;
  p.grad = T([n], 5);
  const opt = new SGD([p], { lr: 1e-4 });
  await time(
    'memory',
    `sgd update [${n}]`,
    () => {
      opt.step();
      return undefined;
    },
    { bytes: 4 * n * 5 },
  );
  [x, logits, p].forEach((t) => t.dispose());
  opt.dispose();
}

// Whole training steps: forward + backward + SGD update.
const stepCases: Array<{ net: NetName; size: number; batch: number; width: number }> = [
  ...(smoke ? ['A' as NetName] : NET_NAMES).map((net) => ({ net, size: 32, batch: 32, width: 0.25 })),
  ...(quick
    ? []
    : [
        { net: 'A' as NetName, size: 224, batch: 1, width: 1 },
        { net: 'E' as NetName, size: 224, batch: 1, width: 1 },
      ]),
];
await sampleGemm();
for (const c of stepCases) {
  const name = `VGG-${c.net} ${c.size}² b${c.batch} w${c.width}`;
  if (filter && !`step ${name}`.toLowerCase().includes(filter.toLowerCase())) continue;
  const model = buildVgg({ net: c.net, inputSize: c.size, width: c.width, classes: c.size === 224 ? 1000 : 10 });
  const opt = new SGD(model.parameters(), { lr: 1e-3 });
  const x = T([c.batch, 3, c.size, c.size]);
  const labels = Array.from({ length: c.batch }, (_, i) => i % 10);
  const macs = summarise(model.config).macs;
  const step = () => {
    const loss = tidy(() => softmaxCrossEntropy(model.forward(x), labels));
    backward(loss);
    opt.step();
    opt.zeroGrad();
    return loss;
  };
  if (!smoke) await tuneStep(() => step().dispose(), undefined, { budgetSec: Infinity });
  await time('step', name, step, { flops: 3 * 2 * macs * c.batch, images: c.batch });
  model.dispose();
  opt.dispose();
  x.dispose();
}

// The input pipeline (no GPU work): images/s of training batches, validation crops, decoding.
results.push(...(await benchData(selected, smoke ? 'smoke' : quick ? 'quick' : 'full')));

// Data parallelism: whole steps at 1 and 2 devices, and the gradient all-reduce alone.
results.push(...(await benchDevices(selected, smoke ? 'smoke' : quick ? 'quick' : 'full')));

// Ratios to the GEMM reference (conv passes and whole steps).
await sampleGemm();
const sorted = [...gemmSamples].sort((x, y) => x - y);
const gemmRef = sorted[sorted.length >> 1];
for (const r of results)
  if (r.gflops && (r.group.startsWith('conv') || r.group === 'step')) r.vsGemm = r.gflops / gemmRef;
const refLine = `×GEMM reference: 1024³ GEMM, median of ${sorted.length} samples across the run: ${gemmRef.toFixed(2)} GFLOPS (${sorted[0].toFixed(2)}–${sorted[sorted.length - 1].toFixed(2)})`;

// The table.
const head = ['group', 'case', 'variant', 'ms', 'GFLOPS', 'GB/s', 'img/s', '×GEMM', 'compile ms', 'detail'];
const body = results.map((r) => [
  r.group,
  r.name,
  r.variant ?? '',
  r.ms.toFixed(2),
  r.gflops?.toFixed(2) ?? '',
  r.gbps?.toFixed(2) ?? '',
  r.imagesPerSec?.toFixed(1) ?? '',
  r.vsGemm?.toFixed(2) ?? '',
  r.compileMs.toFixed(0),
  r.detail ?? '',
]);
const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
const line = (cells: string[]) =>
  cells
    .map((c, i) => (i >= 3 && i < 9 ? c.padStart(w[i]) : c.padEnd(w[i])))
    .join('  ')
    .trimEnd();
const json = `${JSON.stringify({ adapter: rt.describe(), dawnToggles: rt.adapter.toggles, date: new Date().toISOString(), gemmReference: { gflops: gemmRef, samples: gemmSamples }, results }, null, 2)}\n`;
if (jsonFile) writeFileSync(jsonFile, json);
if (jsonFlag && !jsonFile) process.stdout.write(json);
else {
  console.log(`adapter: ${rt.describe()}`);
  console.log(`mode: ${mode}`);
  console.log(refLine);
  console.log([line(head), w.map((n) => '-'.repeat(n)).join('  '), ...body.map(line)].join('\n'));
}
process.exit(0);
