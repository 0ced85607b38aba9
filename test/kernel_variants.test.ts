// Every kernel variant the tuner may pick, against the CPU reference over odd sizes; the tuner's
// timing, on-disk cache and forced choices.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { engine, init, Tensor } from '../src/node/index.js';
import { convForward, convGradInput, convGradWeight, type ConvPass, convVariants } from '../src/ops/conv2d.js';
import { matmulVariants, stridedMatmul } from '../src/ops/matmul.js';
import { tuneConv, tuneGemm } from '../src/ops/tune.js';
import { unrollLoops } from '../src/gpu/kernels.js';
import { chooseVariant, chooseVariantName, forceVariants, resetTunings, setVariant, tuningFile } from '../src/ops/variants.js';
import { NET_NAMES, planLayers, resolveConfig } from '../src/vgg/config.js';
import { applyVariants } from '../src/node/cli/args.js';
import { expectClose, randn } from './helpers.js';
import * as ref from './reference.js';

const PASSES: ConvPass[] = ['conv_forward', 'conv_grad_input', 'conv_grad_weight'];
const tested = new Set<string>();

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

// [N, C, H, W, Cout, k, pad]: widths that are and are not multiples of 4, planes of 2×2 and 4×4
// (whole-plane tiles), 14 wide (7-pixel rows), 1×1, valid and 5×5 convolutions, channel counts
// that are not multiples of the tiles.
const CASES: number[][] = [
  [2, 5, 9, 12, 7, 3, 1],
  [3, 6, 4, 4, 9, 3, 1],
  [5, 6, 2, 2, 5, 3, 1],
  [2, 4, 1, 4, 3, 3, 1],
  [1, 7, 14, 14, 6, 3, 1],
  [2, 3, 16, 16, 10, 3, 1],
  [2, 5, 7, 7, 3, 3, 1],
  [1, 9, 6, 8, 5, 1, 0],
  [3, 10, 2, 2, 9, 1, 0],
  [2, 3, 7, 9, 6, 3, 0],
  [1, 4, 8, 8, 5, 5, 2],
  [1, 3, 7, 9, 4, 7, 0],
];

async function checkConv([N, C, H, W, Co, K, pad]: number[], passes = PASSES): Promise<void> {
  const xs = [N, C, H, W];
  const ws = [Co, C, K, K];
  const [Ho, Wo] = [H + 2 * pad - K + 1, W + 2 * pad - K + 1];
  const xd = randn(N * C * H * W, 1);
  const wd = randn(Co * C * K * K, 2, 0.3);
  const bd = randn(Co, 3);
  const dyd = randn(N * Co * Ho * Wo, 4);
  const [x, w, b, dy] = [Tensor.from(xd, xs), Tensor.from(wd, ws), Tensor.from(bd, [Co]), Tensor.from(dyd, [N, Co, Ho, Wo])];
  const yRef = ref.conv2d(xd, xs, wd, ws, bd, true, pad);
  const g = ref.conv2dBackward(xd, xs, wd, ws, dyd, pad);
  for (const pass of passes) {
    for (const v of convVariants(pass, xs, ws, pad).candidates) {
      const what = `${pass} ${v} on ${xs} k${K} p${pad} -> ${Co}`;
      if (pass === 'conv_forward') {
        const y = Tensor.empty([N, Co, Ho, Wo]);
        convForward(x, w, b, y, true, pad, v);
        expectClose(await y.toArray(), yRef, 2e-4, 1e-4, what);
        y.dispose();
      } else if (pass === 'conv_grad_input') {
        const dx = convGradInput(dy, w, xs, pad, v);
        expectClose(await dx.toArray(), g.dx, 2e-4, 1e-4, what);
        dx.dispose();
      } else {
        const db = Tensor.empty([Co]);
        const dw = convGradWeight(dy, x, ws, pad, v, db);
        expectClose(await dw.toArray(), g.dw, 5e-4, 1e-4, what);
        expectClose(await db.toArray(), g.db, 2e-4, 1e-4, `${what} (bias)`);
        [dw, db].forEach((t) => t.dispose());
      }
      tested.add(`${pass} ${v}`);
    }
  }
  [x, w, b, dy].forEach((t) => t.dispose());
}

describe('convolution variants', () => {
  for (const c of CASES) it(`every variant of every pass matches the reference on ${c}`, () => checkConv(c));

  // Runs after the cases above (vitest keeps file order), which record the variants they checked.
  it('covers every variant the tuner may pick for the six nets at 32 and 224 pixels', () => {
    const missing = new Set<string>();
    for (const net of NET_NAMES) {
      for (const [size, width] of [[32, 0.25], [32, 1], [224, 1]]) {
        const config = resolveConfig({ net, width, inputSize: size, classes: 10, inChannels: 3 });
        for (const l of planLayers(config)) {
          if (l.kind !== 'conv') continue;
          const [x, w, pad] = [[2, l.inChannels, l.size, l.size], [l.outChannels, l.inChannels, l.kernel, l.kernel], (l.kernel - 1) / 2];
          for (const pass of PASSES) for (const v of convVariants(pass, x, w, pad).candidates) if (!tested.has(`${pass} ${v}`)) missing.add(`${pass} ${v}`);
        }
      }
    }
    expect([...missing]).toEqual([]);
  });

  it('ranges the rearranged weights of both directions when the weight exceeds one binding', async () => {
    // 960 usable floats against a 1,296-float weight: two output-channel ranges each way, and the
    // input gradient's flipped layout gathers W in two row runs. (A weight gradient must fit one binding.)
    engine().rt.setBindingLimit(4096);
    await checkConv([2, 12, 4, 4, 12, 3, 1], ['conv_forward', 'conv_grad_input']);
  });
});

describe('matmul variants', () => {
  it('every variant and operand layout matches the reference, odd edges included', async () => {
    for (const [M, N, K] of [[13, 20, 12], [8, 8, 8], [3, 4, 16], [17, 36, 4]]) {
      for (const aAlongK of [true, false]) {
        for (const bAlongN of [true, false]) {
          if (!aAlongK && M % 4) continue; // columns of A as vec4 need M % 4 == 0 (else only `tiled` applies)
          const ad = randn(M * K, 5);
          const bd = randn(K * N, 6);
          const a = Tensor.from(ad, [M * K]);
          const b = Tensor.from(bd, [K * N]);
          const want = new Float64Array(M * N);
          for (let i = 0; i < M; i++)
            for (let j = 0; j < N; j++)
              for (let k = 0; k < K; k++) want[i * N + j] += ad[aAlongK ? i * K + k : k * M + i] * bd[bAlongN ? k * N + j : j * K + k];
          const c = Tensor.empty([M * N]);
          const p = {
            M, N, K,
            a: aAlongK ? { t: a, start: 0, count: M * K, s0: K, s1: 1 } : { t: a, start: 0, count: M * K, s0: 1, s1: M },
            b: bAlongN ? { t: b, start: 0, count: K * N, s0: N, s1: 1 } : { t: b, start: 0, count: K * N, s0: 1, s1: K },
            c: { t: c, start: 0, count: M * N, s0: N, s1: 1 },
            label: 'test',
          };
          const { candidates } = matmulVariants(p);
          expect(candidates).toContain('vec4-m8n8');
          for (const v of candidates) {
            stridedMatmul(p, v);
            expectClose(await c.toArray(), want, 1e-4, 1e-4, `${v} ${M}x${N}x${K} aAlongK=${aAlongK} bAlongN=${bAlongN}`);
          }
          [a, b, c].forEach((t) => t.dispose());
        }
      }
    }
  });

  it('falls back to the scalar-load kernel when K is not a multiple of 4', () => {
    const t = Tensor.empty([30]);
    const p = { M: 2, N: 3, K: 5, a: { t, start: 0, count: 10, s0: 5, s1: 1 }, b: { t, start: 0, count: 15, s0: 3, s1: 1 }, c: { t, start: 0, count: 6, s0: 3, s1: 1 }, label: 'x' };
    expect(matmulVariants(p).candidates).not.toContain('vec4-m8n8');
    expect(matmulVariants(p).candidates).toContain('gemm-reg');
    t.dispose();
  });
});

describe('tuner', () => {
  it('times the variants once, records the fastest on disk per adapter, and reuses the choice', async () => {
    const shape = { x: [2, 4, 8, 8], w: [8, 4, 3, 3], pad: 1 };
    const first = await tuneConv([shape]);
    expect(first.map((r) => r.pass)).toEqual(PASSES);
    for (const r of first) {
      const times = Object.values(r.ms);
      expect(times.length).toBeGreaterThan(1);
      expect(r.ms[r.variant]).toBe(Math.min(...times));
      expect(chooseVariantName(r.pass, r.shape, convVariants(r.pass as ConvPass, shape.x, shape.w, 1).candidates)).toBe(r.variant);
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
    expect(chooseVariant('conv_forward', 'any', [{ name: 'plane-c8i1' }, { name: 'direct-c8p4r1' }])).toEqual({ name: 'direct-c8p4r1' });
    setVariant('conv_forward', 'plane-c8i1');
    const { shape, candidates } = convVariants('conv_forward', [1, 3, 32, 32], [8, 3, 3, 3], 1);
    expect(() => chooseVariantName('conv_forward', shape, candidates)).toThrow(/plane-c8i1.*does not apply.*direct-c8p8r4/);
    expect(() => forceVariants('conv_forward')).toThrow(/pass=variant/);
    expect(() => setVariant('pool' as never, 'x')).toThrow(/unknown pass/);
    expect(() => applyVariants('pool=direct-c8p8r1')).toThrow(/--variants: .*unknown pass "pool"; passes: gemm, conv_forward/);
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
    expect(out).toContain('  { { acc[0u][0u] += 1.0; }\n{ acc[0u][1u] += 1.0; }\n{ acc[0u][2u] += 1.0; }\n{ acc[0u][3u] += 1.0; } }\n{ { acc[1u][0u] += 1.0; }');
    expect(out).toContain('acc[1u][3u] += 1.0;');
    expect(out.match(/acc\[/g)).toHaveLength(8);
    expect(out).toContain('for (var k = 0u; k < n; k++) { x += 1.0; }'); // runtime bound
    expect(out).toContain('for (var e = 0u; e < 3u; e++) { if (e == n) { break; } }'); // break
  });
});
