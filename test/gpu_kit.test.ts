// The GPU kit's parts that run without a GPU: the report (ours ÷ PyTorch's, only for the same net,
// size and batch; a missing or failed phase makes it fail) and the PyTorch baseline script (a
// timed step where PyTorch is installed, a stated skip where it is not). The kit as a whole is
// built and run offline under `env -i` by CI (.ci/run); its self-check is the kernel tests' own
// (kernel_variants.test.ts).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { report } from '../tools/gpu_kit/report.js';

function outDir(files: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'vggpu-kit-report-'));
  for (const [name, value] of Object.entries(files)) writeFileSync(join(dir, `${name}.json`), JSON.stringify(value));
  return dir;
}

const conv = (ms: number) => ({
  results: [
    {
      layer: '64→64 224²',
      pass: 'conv_forward',
      chosen: 'gemm-wg',
      variants: { 'gemm-wg': { ms, gflops: 5000 / ms }, 'gemm-reg': { ms: 2 * ms, gflops: 2500 / ms } },
    },
  ],
  skipped: [],
});
const step = (batch: number, imagesPerSec: number, width = 1) => ({
  name: `VGG-16 b${batch}`,
  net: 'D',
  size: 224,
  width,
  classes: 1000,
  batch,
  imagesPerSec,
});
const torch = {
  device: 'NVIDIA H100',
  size: 224,
  cases: [
    { batch: 64, mode: 'fp32', imagesPerSec: 400 },
    { batch: 64, mode: 'tf32', imagesPerSec: 800 },
    { batch: 128, mode: 'fp32', imagesPerSec: 420 },
  ],
};
const complete = {
  info: { adapter: 'vulkan: NVIDIA H100', scale: 'gpu', deviceLimits: {} },
  check: { ok: true, checked: ['conv_forward gemm-wg'], failures: [], large: { skipped: [] } },
  'conv-release': conv(10),
  'conv-safe': conv(12),
  step: { cases: [step(64, 200), step(128, 210)] },
  torch,
};

describe('GPU kit report', () => {
  it('divides our images/s by PyTorch’s for the same net, size and batch, and the safe-mode time by the release-mode time', () => {
    vi.spyOn(console, 'log').mockImplementation(() => {});
    const dir = outDir(complete);
    expect(report(dir)).toBe(0);
    const s = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8'));
    expect(s.problems).toEqual([]);
    expect(s.steps[0]).toMatchObject({ batch: 64, oursOverTorchFp32: 0.5, oursOverTorchTf32: 0.25 });
    expect(s.steps[1]).toMatchObject({ batch: 128, oursOverTorchFp32: 0.5 });
    expect(s.steps[1].oursOverTorchTf32).toBeUndefined();
    expect(s.conv[0]).toMatchObject({ variant: 'gemm-wg', gflops: 500 });
    expect(s.conv[0].safeOverRelease).toBeCloseTo(1.2, 10);
    vi.restoreAllMocks();
  });

  it('gives no ratio for a different net (width, classes or size), and fails on a missing phase or a failed check', () => {
    vi.spyOn(console, 'log').mockImplementation(() => {});
    const narrow = outDir({ ...complete, step: { cases: [step(64, 200, 0.25)] } });
    expect(report(narrow)).toBe(0);
    expect(JSON.parse(readFileSync(join(narrow, 'summary.json'), 'utf8')).steps[0].oursOverTorchFp32).toBeUndefined();
    const { check: _check, ...noCheck } = complete;
    expect(report(outDir(noCheck))).toBe(1);
    const failed = outDir({
      ...complete,
      check: {
        ok: false,
        checked: [],
        failures: ['conv_forward gemm-wg: element 3 is 1, expected 2'],
        large: { skipped: [] },
      },
    });
    expect(report(failed)).toBe(1);
    expect(JSON.parse(readFileSync(join(failed, 'summary.json'), 'utf8')).problems).toEqual(['check: failures']);
    vi.restoreAllMocks();
  });
});

describe('PyTorch baseline (bench/peers/torch_vgg16.py)', () => {
  it('times a VGG-16 step on the CPU where PyTorch is installed, and says it skipped where it is not', () => {
    // Each python3 here: the first on PATH, and Debian's (where `apt-get install python3-torch` puts PyTorch).
    const seen = new Set<string>();
    for (const python of ['python3', '/usr/bin/python3']) {
      let out: string;
      try {
        out = execFileSync(
          python,
          [
            'bench/peers/torch_vgg16.py',
            '--device',
            'cpu',
            '--batch',
            '1',
            '--size',
            '32',
            '--steps',
            '1',
            '--warmup',
            '1',
          ],
          { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 100_000 },
        );
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw e;
      }
      const r = JSON.parse(out);
      if (r.skipped) {
        expect(r.skipped).toMatch(
          /PyTorch or torchvision is not installed here .*apt-get install python3-torch python3-torchvision/,
        );
        seen.add('skipped');
      } else {
        expect(r).toMatchObject({ peer: 'torchvision vgg16', size: 32, cases: [{ batch: 1, mode: 'fp32' }] });
        expect(r.cases[0].imagesPerSec).toBeGreaterThan(0);
        expect(Number.isFinite(r.cases[0].loss)).toBe(true);
        seen.add('ran');
      }
    }
    expect(seen.size).toBeGreaterThan(0);
  });
});
