// Issue 6: the training CLI killed (SIGKILL) at random moments, or interrupted (SIGINT), always
// leaves a valid checkpoint, and --resume reaches exactly the parameters of an uninterrupted run.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSafetensors } from '../src/node/checkpoint/safetensors.js';
import { Rng } from '../src/rng.js';
import { writeFashionLike } from './fixtures.js';

const runs = mkdtempSync(join(tmpdir(), 'vggpu-kill-'));
const root = join(import.meta.dirname, '..');
beforeAll(() => {
  writeFashionLike(join(runs, 'data'), 64, 16);
  // The same compiled CLI that `npm run train` runs, with its input-pipeline worker process.
  execFileSync('npm', ['run', '-s', 'build'], { cwd: root });
});
afterAll(() => rmSync(runs, { recursive: true, force: true }));

function train(
  out: string,
  extra: string[],
  kill?: { signal: NodeJS.Signals; afterMs: number },
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ code: number | null; stdout: string }> {
  const args = [join(root, 'dist/node/cli/train.js'), '--out', out, ...extra];
  return new Promise((resolve) => {
    const p = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    let armed = false;
    // Start the clock once the run has begun: SIGKILL at any moment after start-up; a stop request
    // once the first step has run (before it, a stop ends the run with nothing to checkpoint).
    const arm = () => {
      const begun = kill?.signal === 'SIGKILL' ? stdout.includes(' on fashion-mnist') : stderr.includes('epoch 1 ');
      if (kill && !armed && begun) {
        armed = true;
        setTimeout(() => p.kill(kill.signal), kill.afterMs);
      }
    };
    p.stdout.on('data', (d) => {
      stdout += d;
      arm();
    });
    p.stderr.on('data', (d) => {
      stderr += d;
      arm();
    });
    p.on('close', (code) => resolve({ code, stdout }));
  });
}

const BASE = ['--net', 'A', '--width', '0.0625', '--batch', '16', '--epochs', '3', '--workers', '1', '--seed', '11'];

function params(file: string): Map<string, number[]> {
  return new Map([...readSafetensors(file).tensors].map(([k, t]) => [k, Array.from(t.data)]));
}

/** The training loss of each epoch, from a run's metrics.jsonl. */
function losses(out: string): number[] {
  return readFileSync(join(out, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l).trainLoss);
}

/** The step a resumable checkpoint was written at (0 while there is none or it is being replaced). */
function checkpointStep(file: string): number {
  try {
    return Number(readSafetensors(file).metadata['vggpu.step'] ?? 0);
  } catch {
    return 0;
  }
}

// On one device, and on two (data parallel: each device's running loss sum is checkpointed too).
describe.each([1, 2])('interrupted training on %i device(s)', (devices) => {
  const RUN = [...BASE, '--devices', String(devices)];
  const dir = join(runs, `devices-${devices}`);
  let reference: Map<string, number[]>;
  let referenceLosses: number[];

  it('runs uninterrupted for reference', async () => {
    const r = await train(join(dir, 'ref'), ['--data', `fashion-mnist:${join(runs, 'data')}`, ...RUN]);
    expect(r.code).toBe(0);
    reference = params(join(dir, 'ref', 'last.train.safetensors'));
    referenceLosses = losses(join(dir, 'ref'));
  });

  it('SIGINT finishes the step, writes a checkpoint, says how to resume; resuming matches', async () => {
    const out = join(dir, 'int');
    const r = await train(out, ['--data', `fashion-mnist:${join(runs, 'data')}`, ...RUN], {
      signal: 'SIGINT',
      afterMs: 150,
    });
    expect(r.code).toBe(130);
    expect(r.stdout).toMatch(/interrupt: finishing this step and writing a checkpoint/);
    expect(r.stdout).toContain(`continue with: npm run train -- --out ${out} --resume`);
    const done = await train(out, ['--resume']);
    expect(done.code).toBe(0);
    expect(params(join(out, 'last.train.safetensors'))).toEqual(reference);
  });

  it('SIGTERM (a polite kill) stops the same way, with a resumable checkpoint', async () => {
    const out = join(dir, 'term');
    const r = await train(out, ['--data', `fashion-mnist:${join(runs, 'data')}`, ...RUN], {
      signal: 'SIGTERM',
      afterMs: 150,
    });
    expect(r.code).toBe(130);
    expect(r.stdout).toMatch(/terminate: finishing this step and writing a checkpoint/);
    expect((await train(out, ['--resume'])).code).toBe(0);
    expect(params(join(out, 'last.train.safetensors'))).toEqual(reference);
  });

  it('--checkpoint-every: SIGKILL mid-epoch loses only the steps since the last checkpoint, and --resume matches bit for bit', async () => {
    const out = join(dir, 'every');
    const ck = join(out, 'last.train.safetensors');
    // 4 steps per epoch; a checkpoint every 3 steps lands mid-epoch (step 3); kill the run when it appears.
    const args = [
      join(root, 'dist/node/cli/train.js'),
      '--out',
      out,
      '--data',
      `fashion-mnist:${join(runs, 'data')}`,
      ...RUN,
      '--checkpoint-every',
      '3',
    ];
    const p = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'ignore', 'ignore'] });
    const killedAt = await new Promise<number>((resolve) => {
      const poll = setInterval(() => {
        const step = checkpointStep(ck);
        if (step >= 3) {
          clearInterval(poll);
          p.kill('SIGKILL');
          resolve(step);
        }
      }, 5);
    });
    await new Promise((r) => p.on('close', r));
    const saved = checkpointStep(ck);
    expect(saved).toBeGreaterThanOrEqual(killedAt);
    const resumed = await train(out, ['--resume']);
    expect(resumed.code).toBe(0);
    // It continued from the last checkpoint, not from an epoch's start.
    expect(resumed.stdout).toContain(`step ${saved}, lr`);
    expect(params(ck)).toEqual(reference);
    expect(losses(out)).toEqual(referenceLosses);
  });

  it('SIGKILL at random moments always leaves a valid checkpoint, and --resume reaches the same parameters', async () => {
    const out = join(dir, 'kill');
    const ck = join(out, 'last.train.safetensors');
    const rng = new Rng(7);
    let code: number | null = null;
    let kills = 0;
    for (let round = 0; round < 12 && code !== 0; round++) {
      const resume = existsSync(ck);
      const r = await train(
        out,
        resume ? ['--resume'] : ['--data', `fashion-mnist:${join(runs, 'data')}`, ...RUN],
        round < 8 ? { signal: 'SIGKILL', afterMs: rng.int(500) } : undefined,
      );
      code = r.code;
      if (code !== 0) kills++;
      if (existsSync(ck)) expect(() => readSafetensors(ck)).not.toThrow();
    }
    expect(code).toBe(0);
    expect(kills).toBeGreaterThanOrEqual(3);
    console.log(`SIGKILL test: ${kills} kills before the run completed`);
    expect(params(ck)).toEqual(reference);
  });
});

// Before the first step nothing is at stake: a stop request ends the run within seconds, also while
// kernel variants are timed (each timed run is kept short on a CPU adapter), keeping the timings
// made so far; a timing budget bounds how long a first run times before training.
describe('signals and budget before the first step', () => {
  const data = () => ['--data', `fashion-mnist:${join(runs, 'data')}`];
  const tuned = (cache: string, extra: Record<string, string> = {}) => ({
    ...process.env,
    VGGPU_TUNE: '1',
    VGGPU_CACHE_DIR: cache,
    ...extra,
  });

  it('SIGTERM while kernels are timed stops within seconds, says so, and keeps the timings made so far', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'vggpu-tune-stop-'));
    const out = join(runs, 'tune-stop');
    const args = [
      join(root, 'dist/node/cli/train.js'),
      '--out',
      out,
      ...data(),
      '--net',
      'B',
      '--width',
      '0.25',
      '--batch',
      '32',
      '--workers',
      '1',
      '--tune-budget',
      'inf',
    ];
    const p = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: tuned(cache) });
    let stdout = '';
    let signalledAt = 0;
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => {
      // The progress line's first report: one layer pass has been timed.
      if (!signalledAt && String(d).includes('timing kernels')) {
        signalledAt = Date.now();
        p.kill('SIGTERM');
      }
    });
    const code = await new Promise<number | null>((resolve) => p.on('close', resolve));
    const seconds = (Date.now() - signalledAt) / 1000;
    expect(signalledAt).toBeGreaterThan(0);
    expect(code).toBe(130);
    expect(seconds).toBeLessThan(10);
    expect(stdout).toMatch(/terminate: stopping \(no step has run yet/);
    expect(stdout).toMatch(
      /stopped while timing kernels; kernel timing stopped after [1-9]\d* layer passes \(those are saved in .*kernel-tuning\.json\); no step had run/,
    );
    const saved = JSON.parse(readFileSync(join(cache, 'kernel-tuning.json'), 'utf8'));
    const timings = Object.values(saved as Record<string, { timings: object }>)[0].timings;
    expect(Object.keys(timings).length).toBeGreaterThan(0);
    expect(existsSync(join(out, 'last.train.safetensors'))).toBe(false);
  });

  it('a spent timing budget leaves the remaining layer passes on their default variant and says so', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'vggpu-tune-budget-'));
    const extra = [...data(), '--net', 'A', '--width', '0.0625', '--batch', '16', '--workers', '1', '--max-steps', '1'];
    const r = await train(join(runs, 'tune-budget'), [...extra, '--tune-budget', '0'], undefined, tuned(cache));
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /timed kernel variants for 0 layer passes in .*; \d+ more run their default variant until a later run times them \(the timing budget, --tune-budget, was spent\)/,
    );
  });
});
