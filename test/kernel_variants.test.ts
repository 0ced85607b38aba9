// Every kernel variant the tuner may pick, against the CPU reference over odd sizes (the checks the
// GPU kit's self-check runs on a GPU); the tuner's timing, on-disk cache and forced choices.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { conv2d, engine, init, noGrad, Tensor } from '../src/node/index.js';
import { type ConvPass, convVariants } from '../src/ops/conv2d.js';
import { matmulVariants } from '../src/ops/matmul.js';
import { tuneConv, tuneGemm, TuningStopped, tuneStep } from '../src/ops/tune.js';
import { unrollLoops } from '../src/gpu/kernels.js';
import {
  chooseVariant,
  chooseVariantName,
  forceVariants,
  resetTunings,
  setVariant,
  tuningFile,
} from '../src/ops/variants.js';
import { applyVariants } from '../src/node/cli/args.js';
import {
  checkConvCase,
  checkLargeLayer,
  checkMatmul,
  CONV_CASES,
  CONV_PASSES,
  MATMUL_CASES,
  matmulProblem,
  newLog,
  tunerConvCandidates,
} from '../tools/gpu_kit/self_check.js';

const PASSES = CONV_PASSES;
const log = newLog();

beforeAll(async () => {
  await init();
  process.env.VGGPU_CACHE_DIR = mkdtempSync(join(tmpdir(), 'vggpu-tune-'));
  resetTunings();
});
afterEach(() => {
  engine().rt.setBindingLimit(null);
  for (const p of [...PASSES, 'gemm'] as const) setVariant(p, null);
});
afterAll(() => {
  delete process.env.VGGPU_CACHE_DIR;
  resetTunings();
});

/** Runs a check (the GPU kit's self-check, tools/gpu_kit/self_check.ts) and expects no failures of its own. */
async function expectNoFailures(check: () => Promise<void>): Promise<void> {
  const before = log.failures.length;
  await check();
  expect(log.failures.slice(before)).toEqual([]);
}

describe('convolution variants', () => {
  for (const c of CONV_CASES)
    it(`every variant of every pass matches the reference on ${c}`, () =>
      expectNoFailures(() => checkConvCase(c, log)));

  // Runs after the cases above (vitest keeps file order), which record the variants they checked.
  it('covers every variant the tuner may pick for the six nets at 32 and 224 pixels', () => {
    expect([...tunerConvCandidates()].filter((v) => !log.checked.has(v))).toEqual([]);
  });

  it('ranges the rearranged weights of both directions when the weight exceeds one binding', async () => {
    // 960 usable floats against a 1,296-float weight: two output-channel ranges each way, and the
    // input gradient's flipped layout gathers W in two row runs. (A weight gradient must fit one binding.)
    engine().rt.setBindingLimit(4096);
    await expectNoFailures(() => checkConvCase([2, 12, 4, 4, 12, 3, 1], log, ['conv_forward', 'conv_grad_input']));
  });

  it("holds a large layer to sampled float64 values and every variant to the default one (the GPU kit's large-layer check, scaled down)", async () => {
    const { results, skipped } = await checkLargeLayer(2, 8, 8, 20, log, Infinity);
    expect(skipped).toEqual([]);
    expect(results.filter((r) => !r.ok)).toEqual([]);
    expect(new Set(results.map((r) => r.pass))).toEqual(new Set(PASSES));
  });
});

describe('matmul variants', () => {
  it('every variant and operand layout matches the reference, odd edges included', async () => {
    const t = Tensor.empty([1024]);
    for (const [M, N, K] of MATMUL_CASES)
      expect(matmulVariants(matmulProblem(M, N, K, true, true, t, t, t)).candidates).toContain('vec4-m8n8');
    t.dispose();
    await expectNoFailures(() => checkMatmul(log));
  });

  it('falls back to the scalar-load kernel when K is not a multiple of 4', () => {
    const t = Tensor.empty([30]);
    const p = {
      M: 2,
      N: 3,
      K: 5,
      a: { t, start: 0, count: 10, s0: 5, s1: 1 },
      b: { t, start: 0, count: 15, s0: 3, s1: 1 },
      c: { t, start: 0, count: 6, s0: 3, s1: 1 },
      label: 'x',
    };
    expect(matmulVariants(p).candidates).not.toContain('vec4-m8n8');
    expect(matmulVariants(p).candidates).toContain('gemm-reg');
    t.dispose();
  });
});

describe('tuner', () => {
  it('tuneStep times the largest passes first within its budget, defers the rest, and stops when asked', async () => {
    const was = process.env.VGGPU_TUNE;
    process.env.VGGPU_TUNE = '1';
    try {
      resetTunings();
      // Two layers' forward passes: 27,648 and 19,440 FLOPs per run.
      const fn = () =>
        noGrad(() => {
          conv2d(Tensor.empty([2, 4, 8, 8]), Tensor.empty([6, 4, 3, 3])).dispose();
          conv2d(Tensor.empty([2, 3, 6, 6]), Tensor.empty([5, 3, 3, 3])).dispose();
        });
      const none = await tuneStep(fn, undefined, { budgetSec: 0 });
      expect(none).toHaveLength(2);
      expect(none.every((v) => v.deferred && !v.timedNow)).toBe(true);
      let runs = 0;
      await expect(tuneStep(fn, undefined, { budgetSec: Infinity, shouldStop: () => ++runs > 3 })).rejects.toThrow(
        TuningStopped,
      );
      const lines: string[] = [];
      const all = await tuneStep(fn, (p) => lines.push(p.line), { budgetSec: Infinity });
      expect(all.every((v) => v.timedNow && !v.deferred)).toBe(true);
      expect(lines[0]).toMatch(/^conv_forward 4x8x8 k3 p1 -> 6:/);
      expect(lines[1]).toMatch(/^conv_forward 3x6x6 k3 p1 -> 5:/);
    } finally {
      process.env.VGGPU_TUNE = was;
      resetTunings();
    }
  });

  it('times the variants once, records the fastest on disk per adapter, and reuses the choice', async () => {
    const shape = { x: [2, 4, 8, 8], w: [8, 4, 3, 3], pad: 1 };
    const first = await tuneConv([shape]);
    expect(first.map((r) => r.pass)).toEqual(PASSES);
    for (const r of first) {
      const times = Object.values(r.ms);
      expect(times.length).toBeGreaterThan(1);
      expect(r.ms[r.variant]).toBe(Math.min(...times));
      expect(chooseVariantName(r.pass, r.shape, convVariants(r.pass as ConvPass, shape.x, shape.w, 1).candidates)).toBe(
        r.variant,
      );
    }
    const saved = JSON.parse(readFileSync(tuningFile(), 'utf8'));
    const adapter = Object.keys(saved);
    expect(adapter).toHaveLength(1);
    expect(adapter[0]).toContain(engine().rt.adapter.backend);
    expect(saved[adapter[0]].timings[`conv_forward ${first[0].shape}`].variant).toBe(first[0].variant);
    // Read back from disk by a fresh process (simulated by forgetting the in-memory copy).
    resetTunings();
    expect(await tuneConv([shape])).toEqual([]);
    // Timings made with other kernel sources (an older version) are stale and made again.
    saved[adapter[0]].kernels = 'other';
    writeFileSync(tuningFile(), JSON.stringify(saved));
    resetTunings();
    expect((await tuneConv([shape])).map((r) => r.pass)).toEqual(PASSES);
    const g = await tuneGemm([{ M: 8, N: 12, K: 16, aAlongK: true, bAlongN: true }]);
    expect(g).toHaveLength(1);
  });

  it('honours a forced variant and refuses one that does not apply, naming those that do', () => {
    forceVariants('conv_forward=direct-c8p4r1');
    expect(chooseVariant('conv_forward', 'any', [{ name: 'plane-c8i1' }, { name: 'direct-c8p4r1' }])).toEqual({
      name: 'direct-c8p4r1',
    });
    setVariant('conv_forward', 'plane-c8i1');
    const { shape, candidates } = convVariants('conv_forward', [1, 3, 32, 32], [8, 3, 3, 3], 1);
    expect(() => chooseVariantName('conv_forward', shape, candidates)).toThrow(
      /plane-c8i1.*does not apply.*direct-c8p8r4/,
    );
    expect(() => forceVariants('conv_forward')).toThrow(/pass=variant/);
    expect(() => setVariant('pool' as never, 'x')).toThrow(/unknown pass/);
    expect(() => applyVariants('pool=direct-c8p8r1')).toThrow(
      /--variants: .*unknown pass "pool"; passes: gemm, conv_forward/,
    );
  });
});

describe('source unrolling (UNROLL variants)', () => {
  it('unrolls constant-bound loops innermost first, leaves other loops, and keeps each copy in a block', () => {
    const src = [
      'const TM = 2u;',
      'const TM2 = TM * 2u;',
      'fn f(n: u32) {',
      '  for (var i = 0u; i < TM; i++) { for (var j = 0u; j < TM2; j++) { acc[i][j] += 1.0; } }',
      '  for (var k = 0u; k < n; k++) { x += 1.0; }',
      '  for (var e = 0u; e < 3u; e++) { if (e == n) { break; } }',
      '}',
    ].join('\n');
    const out = unrollLoops('test', src);
    expect(out).toContain(
      '  { { acc[0u][0u] += 1.0; }\n{ acc[0u][1u] += 1.0; }\n{ acc[0u][2u] += 1.0; }\n{ acc[0u][3u] += 1.0; } }\n{ { acc[1u][0u] += 1.0; }',
    );
    expect(out).toContain('acc[1u][3u] += 1.0;');
    expect(out.match(/acc\[/g)).toHaveLength(8);
    expect(out).toContain('for (var k = 0u; k < n; k++) { x += 1.0; }'); // runtime bound
    expect(out).toContain('for (var e = 0u; e < 3u; e++) { if (e == n) { break; } }'); // break
  });
});
