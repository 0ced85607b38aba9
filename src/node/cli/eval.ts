#!/usr/bin/env node
// `npm run eval -- --checkpoint run/best.safetensors`: the paper's test protocols, top-1/top-5 error.
import '../host.js'; // the Node host: Dawn's adapters, the cache folder, the environment
import { writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { init } from '../../engine.js';
import { openData } from '../data/open.js';
import { Subset } from '../../data/dataset.js';
import { savedOptions } from '../train/options.js';
import { ErrorCounter } from '../../train/metrics.js';
import { METHODS, type Method, posteriors } from '../eval/protocols.js';
import { defaultTuneBudget, type StepVariant, tuningEnabled } from '../../ops/tune.js';
import { checkFits, type EvalOverrides, type LoadedNet, loadForEval, testScales } from '../eval/load.js';
import { BatchMaker } from '../data/batch_maker.js';
import type { ImageDataset } from '../../data/dataset.js';
import { defaultWorkers } from './train_options.js';
import { NET_NAMES } from '../../vgg/config.js';
import { fmtDuration, Progress } from './progress.js';
import { EVAL_FLAGS } from './eval_flags.js';
import { applyTuneBudget, applyVariants, helpText, num, numList, oneOf, parseFlags, UsageError } from './args.js';

interface Row {
  net: string;
  trainScale: string;
  testScales: string;
  method: Method;
  top1: number;
  top5: number;
  images: number;
  seconds: number;
}

async function main(): Promise<number> {
  const f = parseFlags(process.argv.slice(2), EVAL_FLAGS);
  if (f.help) {
    process.stdout.write(
      helpText(
        'npm run eval -- --checkpoint FILE [--checkpoint FILE …] [flags]   Test a trained VGG with the paper’s protocols.',
        EVAL_FLAGS,
      ),
    );
    return 0;
  }
  applyVariants(f.variants);
  applyTuneBudget(f['tune-budget']);
  if (f.verbose) process.env.VGGPU_VERBOSE = '1';
  const files = (f.checkpoint as string[] | undefined) ?? [];
  if (files.length === 0)
    throw new UsageError(
      '--checkpoint FILE is required (e.g. runs/<run>/best.safetensors); repeat it to fuse several nets',
    );
  const methodArg = (f.method as string | undefined) ?? 'centre';
  const methods: Method[] =
    methodArg === 'all' ? [...METHODS] : methodArg.split(',').map((m) => oneOf('method', m, METHODS));
  const saved = savedOptions(dirname(files[0]));
  const dataArg = (f.data as string | undefined) ?? saved?.data ?? 'fashion-mnist';
  const valFraction = num(
    'val-fraction',
    (f['val-fraction'] as string | undefined) ?? String(saved?.valFraction ?? 0.1),
    { gt: 0, max: 0.9 },
  );
  const seed = num('seed', (f.seed as string | undefined) ?? String(saved?.seed ?? 1), { int: true, min: 0 });
  const batch = num('batch', (f.batch as string | undefined) ?? '128', { int: true, min: 1 });
  const workers = f.workers ? num('workers', f.workers as string, { int: true, min: 0, max: 64 }) : defaultWorkers();
  const scalesArg = f.scales as string | undefined;
  const forced = scalesArg ? scalesArg.split(',').map((q) => num('scales', q, { int: true, min: 1 })) : null;
  const overrides: EvalOverrides = {
    net: f.net ? oneOf('net', f.net as string, NET_NAMES) : undefined,
    classes: f.classes ? num('classes', f.classes as string, { int: true, min: 2 }) : undefined,
    mean: f.mean ? numList('mean', f.mean as string) : undefined,
    std: f.std ? numList('std', f.std as string, { gt: 0 }) : undefined,
  };

  const e = await init();
  console.log(`adapter: ${e.rt.describe()}`);
  const nets = files.map((file) => loadForEval(file, overrides));
  for (const n of nets) for (const note of n.notes) console.log(`note: ${note}`);
  let { val } = openData(dataArg, valFraction, seed);
  for (const n of nets) checkFits(n, val);
  for (const n of nets) {
    const bad = forced?.find((q) => q < n.model.config.inputSize);
    if (bad) throw new UsageError(`--scales: Q = ${bad} is below ${n.file}'s crop size ${n.model.config.inputSize}`);
  }
  if (f.limit) {
    const limit = num('limit', f.limit as string, { int: true, min: 1 });
    if (limit < val.length)
      val = new Subset(
        val,
        Array.from({ length: limit }, (_, i) => i),
        `${val.name} (first ${limit})`,
      );
  }
  console.log(
    `evaluating ${nets.length > 1 ? `a fusion of ${nets.length} nets` : nets[0].file} on ${val.name} (${val.length} images)`,
  );
  const pipeline = new BatchMaker(val, null, seed, workers);
  const variants = new Map<string, StepVariant>();
  let rows: Row[];
  try {
    rows = await runMethods(methods, nets, val, forced, f['multi-scale'] === true, batch, pipeline, variants);
  } finally {
    await pipeline.close();
  }
  printTable(rows);
  const chosen = [...variants.values()];
  const timed = chosen.filter((v) => v.timedNow).length;
  const deferred = chosen.filter((v) => v.deferred).length;
  const later = deferred
    ? `, ${deferred} on their default variant (the timing budget, --tune-budget, was spent; a later run times them)`
    : '';
  console.log(
    `kernel variants: ${chosen.length} layer passes at the sizes met${timed ? `, ${timed} timed now` : ''}${later}${tuningEnabled() ? '' : ' (VGGPU_TUNE=0: defaults)'}${f.verbose ? ':' : ' (--verbose lists them)'}`,
  );
  if (f.verbose) for (const v of chosen) console.log(`  ${v.pass} ${v.shape}: ${v.variant}`);
  if (f.json) {
    const text = JSON.stringify({ checkpoints: files, data: dataArg, results: rows, variants: chosen }, null, 2);
    if (f.json === '-') console.log(text);
    else writeFileSync(f.json as string, `${text}\n`);
  }
  return 0;
}

/** Runs each protocol over the validation images and returns the table's rows. */
async function runMethods(
  methods: Method[],
  nets: LoadedNet[],
  val: ImageDataset,
  forced: number[] | null,
  multiScale: boolean,
  batch: number,
  pipeline: BatchMaker,
  variants: Map<string, StepVariant>,
): Promise<Row[]> {
  const rows: Row[] = [];
  const progress = new Progress();
  // One timing budget for the whole evaluation, however many view sizes it meets.
  const deadlineMs = performance.now() + defaultTuneBudget() * 1000;
  for (const method of methods) {
    const models = nets.map((n) => ({
      model: n.model,
      norm: n.preprocess,
      scales: forced ?? testScales(n.preprocess.scale, multiScale, n.model.config.inputSize),
    }));
    const t0 = Date.now();
    const probs = await posteriors(models, val, method, {
      batch,
      pipeline,
      onProgress: (done) => progress.update(`  ${method}`, done, val.length, ''),
      tuning: {
        deadlineMs,
        onProgress: (p) =>
          progress.update(
            `  timing kernels for ${method}'s view sizes (once per adapter)`,
            p.done,
            p.total,
            `passes, ~${fmtDuration(p.etaSec)} left`,
          ),
        onVariants: (vs) => {
          for (const v of vs) variants.set(`${v.pass} ${v.shape}`, v);
        },
      },
    });
    progress.done();
    const counter = new ErrorCounter();
    const labels = Int32Array.from({ length: val.length }, (_, i) => val.label(i));
    counter.add(probs, nets[0].model.config.classes, labels);
    const r = counter.rates();
    rows.push({
      net: nets.map((n) => n.model.config.net).join('+'),
      trainScale: nets
        .map((n) =>
          n.preprocess.scale[0] === n.preprocess.scale[1]
            ? `${n.preprocess.scale[0]}`
            : `[${n.preprocess.scale.join(';')}]`,
        )
        .join(', '),
      testScales: models.map((m) => m.scales.join(',')).join(' | '),
      method,
      top1: r.top1,
      top5: r.top5,
      images: r.images,
      seconds: (Date.now() - t0) / 1000,
    });
  }
  return rows;
}

function printTable(rows: Row[]): void {
  const head = ['net', 'train S', 'test Q', 'method', 'top-1 err %', 'top-5 err %', 'images', 'time'];
  const body = rows.map((r) => [
    r.net,
    r.trainScale,
    r.testScales,
    r.method,
    (r.top1 * 100).toFixed(2),
    (r.top5 * 100).toFixed(2),
    String(r.images),
    fmtDuration(r.seconds),
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i >= 4 ? c.padStart(w[i]) : c.padEnd(w[i]))).join('  ');
  console.log([line(head), w.map((n) => '-'.repeat(n)).join('  '), ...body.map(line)].join('\n'));
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    console.error(`error: ${err.message}`);
    process.exit(err instanceof UsageError ? 2 : 1);
  },
);
