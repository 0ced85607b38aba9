// Register budgets: every row of every variant table declares the floats one invocation keeps
// live, checked here against its tile parameters (read from its name, so a new row with a new
// name fails until it is added below); GPU adapters are offered only rows within GPU_LIVE_FLOATS.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine, init, onDevice, Runtime, Tensor } from '../src/node/index.js';
import { CONV_TABLES, type ConvPass, convVariants } from '../src/ops/conv2d_variants.js';
import { GEMM_TABLE, matmulVariants } from '../src/ops/matmul.js';
import { GPU_LIVE_FLOATS } from '../src/ops/variants.js';
import { H100_LIMITS } from '../src/gpu/limits_device.js';
import type { ConvProblem } from '../src/ops/conv2d_args.js';

beforeAll(async () => {
  await init();
});

/** Live floats of a row from its name and the layer: the kernels' register arrays, written out again. */
function expected(pass: ConvPass | 'gemm', name: string, p: ConvProblem): number {
  const [, C, H, W] = p.x;
  const KS = p.w[2];
  const [Ho, Wo] = [H + 2 * p.pad - KS + 1, W + 2 * p.pad - KS + 1];
  const n = (re: RegExp) => re.exec(name)?.slice(1).map(Number);
  const bodies: Record<string, number> = {
    'gemm-reg': 8 * 8 + 8 + 8,
    'gemm-wg': 4 * 4 + 4 + 4,
    'gemm-gpu128': 8 * 8 + 2 * 8 + (2 * 128 * 8) / 256,
    'gemm-gpu64': 8 * 8 + 2 * 8 + (2 * 64 * 8) / 64,
  };
  const vec4 = (TM: number, TN: number) => TM * TN + 4 * TM + 4 * TN;
  if (name in bodies) return bodies[name];
  let m = n(/^vec4-m(\d+)n(\d+)(?:-unrolled)?$/);
  if (m) return vec4(m[0], m[1]);
  m = n(/^winograd([24])-/);
  if (m) {
    const product = name.slice('winograd2-'.length);
    const pm = n(/-vec4-m(\d+)n(\d+)$/);
    return Math.max(pm ? vec4(pm[0], pm[1]) : bodies[product], 2 * (m[0] + 2) ** 2);
  }
  const [inPix, outPix] = pass === 'conv_grad_input' ? [Ho * Wo, H * W] : [H * W, Ho * Wo];
  if (pass === 'conv_grad_weight') {
    m = n(/^direct-c(\d+)k(\d+)p(\d+)$/);
    if (m) return m[0] * m[1] * KS * KS + m[0] + m[0] * m[2] + m[2] + KS - 1;
    m = n(/^plane-c(\d+)k(\d+)$/);
    if (m) return m[0] * m[1] * KS * KS + m[0] + m[0] * Ho * Wo + H * W;
  } else {
    m = n(/^direct-c(\d+)p(\d+)r(\d+)$/);
    if (m) return m[0] * m[1] * m[2] + (m[2] + KS - 1) * (m[1] + KS - 1) + KS * KS * m[0];
    m = n(/^plane-c(\d+)i(\d+)$/);
    if (m) return m[1] * outPix * m[0] + m[1] * inPix + KS * KS * m[0];
  }
  throw new Error(`${pass} ${name}: no register budget known for this row; add it to this test (C = ${C})`);
}

const LAYERS: ConvProblem[] = [
  { x: [2, 64, 56, 56], w: [128, 64, 3, 3], pad: 1 },
  { x: [2, 512, 2, 2], w: [512, 512, 3, 3], pad: 1 },
  { x: [2, 256, 4, 4], w: [256, 256, 1, 1], pad: 0 },
  { x: [2, 512, 7, 7], w: [64, 512, 7, 7], pad: 0 },
];

describe('register budgets', () => {
  it("every row's declared live floats match its tile parameters", () => {
    for (const [pass, table] of Object.entries(CONV_TABLES) as Array<[ConvPass, (typeof CONV_TABLES)[ConvPass]]>)
      for (const row of table)
        for (const p of LAYERS)
          expect(row.liveFloats(p), `${pass} ${row.name} on ${p.x} k${p.w[2]}`).toBe(expected(pass, row.name, p));
    for (const row of GEMM_TABLE)
      expect(row.liveFloats(null as never), row.name).toBe(expected('gemm', row.name, LAYERS[0]));
  });

  describe("on a GPU (an H100's limits)", () => {
    let rt: Runtime;
    let e: Engine;
    beforeAll(() => {
      rt = Runtime.limitsOnly(H100_LIMITS, 'limits of an NVIDIA H100');
      e = new Engine(rt, 0);
    });
    afterAll(() => rt.destroy());

    it('offers only rows within the budget, GPU bodies and Winograd on them included', () =>
      onDevice(e, () => {
        for (const p of LAYERS)
          for (const pass of Object.keys(CONV_TABLES) as ConvPass[]) {
            const { candidates } = convVariants(pass, p.x, p.w, p.pad);
            expect(candidates.length, `${pass} on ${p.x}`).toBeGreaterThan(0);
            for (const v of candidates) {
              const row = CONV_TABLES[pass].find((r) => r.name === v)!;
              expect(row.liveFloats(p), `${pass} ${v}`).toBeLessThanOrEqual(GPU_LIVE_FLOATS);
            }
            expect(candidates).toContain('gemm-gpu128');
            expect(candidates).not.toContain('direct-c8p8r4');
          }
        const big = convVariants('conv_forward', LAYERS[0].x, LAYERS[0].w, 1).candidates;
        expect(big).toEqual(expect.arrayContaining(['winograd2-gemm-gpu128', 'winograd4-vec4-m8n8']));
        expect(big).not.toContain('winograd4-vec4-m16n16');
        expect(big[0], 'the default on a GPU').toBe('gemm-gpu128');
        const t = Tensor.empty([64 * 64]);
        const fc = matmulVariants({
          M: 32,
          N: 64,
          K: 64,
          a: { t, start: 0, count: 2048, s0: 64, s1: 1 },
          b: { t, start: 0, count: 4096, s0: 64, s1: 1 },
          c: { t, start: 0, count: 2048, s0: 64, s1: 1 },
          label: 'budget',
        }).candidates;
        t.dispose();
        expect(fc).toContain('vec4-m8n8');
        expect(fc).not.toContain('vec4-m16n16');
      }));
  });
});
