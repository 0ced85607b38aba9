// Trains each of the six configurations for a few hundred steps at small width on Fashion-MNIST
// and reports the loss at the start and the end: a check that none diverges (A-LRN included).
//   npx tsx tools/six_nets.ts [--steps 300] [--width 0.125] [--batch 32]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { init } from '../src/node/index.js';
import { buildOptions, TRAIN_FLAGS } from '../src/node/cli/train_options.js';
import { parseFlags } from '../src/node/cli/args.js';
import { Trainer } from '../src/node/train/trainer.js';
import { NET_NAMES } from '../src/vgg/config.js';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const steps = Number(arg('steps', '300'));
const width = arg('width', '0.125');
const batch = arg('batch', '32');
const e = await init();
console.log(`adapter: ${e.rt.describe()}`);
const out = mkdtempSync(join(tmpdir(), 'six-nets-'));
let failed = false;
for (const net of NET_NAMES) {
  const losses: number[] = [];
  const o = buildOptions(
    parseFlags(
      [
        '--net',
        net,
        '--width',
        width,
        '--batch',
        batch,
        '--max-steps',
        String(steps),
        '--out',
        join(out, net),
        '--workers',
        '1',
      ],
      TRAIN_FLAGS,
    ),
  );
  const t0 = Date.now();
  const trainer = new Trainer(o, (ev) => {
    if (ev.kind === 'step' && ev.loss !== null && ev.step % 10 === 0) losses.push(ev.loss);
  });
  await trainer.run();
  const first = losses[0];
  const last = losses.at(-1)!;
  const ok = Number.isFinite(last) && last < first;
  failed ||= !ok;
  console.log(
    `VGG-${net.padEnd(5)} ${steps} steps of ${batch} at width ${width}: running mean loss ${first.toFixed(4)} after 10 steps → ${last.toFixed(4)} after ${steps} (${((Date.now() - t0) / 1000).toFixed(0)} s) ${ok ? 'ok' : 'NOT DECREASING'}`,
  );
}
rmSync(out, { recursive: true, force: true });
process.exit(failed ? 1 : 0);
