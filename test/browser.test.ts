// The engine in a real browser (issue 15): Debian's headless Chromium, driven by puppeteer-core,
// on its built-in SwiftShader Vulkan device — a core-feature-level adapter, our only check of
// core-feature WebGPU and the workgroup-memory kernels through a browser's WebGPU. Every kernel
// family against the CPU reference, training steps of a small VGG, the demo page, and a lost device.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { afterAll, describe, expect, it } from 'vitest';
import { type DemoServer, startDemoServer } from '../tools/demo.js';
import { writeFashionLike } from './fixtures.js';

const CHROMIUM = ['/usr/lib/chromium/chromium', '/usr/bin/chromium'].find((p) => existsSync(p));

interface Check {
  family: string;
  what: string;
  maxErr: number;
  ok: boolean;
}
interface Checks {
  adapter: { line: string; featureLevel: string; description: string };
  runChecks(): Promise<Check[]>;
  runTraining(): Promise<number[]>;
  loseDeviceThenStep(): Promise<void>;
}
declare const checks: Checks;
declare const demo: {
  state: string;
  steps: number;
  losses: Array<[number, number]>;
  stepMs: number;
  adapter: string;
  error: string;
};

const CHECKS_PAGE =
  '<!doctype html><meta charset="utf-8"><title>vggpu checks</title><div id="error"></div><script type="module" src="checks.js"></script>';

let server: DemoServer | null = null;
let browser: Browser | null = null;
let page: Page | null = null;
const data = mkdtempSync(join(tmpdir(), 'vggpu-browser-'));

if (!CHROMIUM) {
  console.warn(
    'NOT TESTED: the browser suite needs Debian’s chromium (npm run setup installs it); none found at /usr/lib/chromium/chromium or /usr/bin/chromium.',
  );
} else {
  writeFashionLike(data, 256, 1000, 3, false);
  server = await startDemoServer({
    dataDir: data,
    pages: { '/checks.html': CHECKS_PAGE, '/checks.js': { script: join(import.meta.dirname, 'browser', 'checks.ts') } },
  });
  // --enable-unsafe-webgpu: WebGPU on Linux and on SwiftShader, Chromium's CPU Vulkan device.
  browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--enable-unsafe-webgpu'],
    protocolTimeout: 600_000,
  });
  page = await browser.newPage();
  await page.goto(`${server.url}checks.html`);
  await page.waitForFunction(() => 'checks' in globalThis || document.getElementById('error')!.textContent !== '', {
    timeout: 60_000,
  });
}
afterAll(async () => {
  await browser?.close();
  await server?.close();
  rmSync(data, { recursive: true, force: true });
});

const adapter = page
  ? await page.evaluate(() => (globalThis as unknown as { checks?: Checks }).checks?.adapter ?? null)
  : null;
const pageError = page ? await page.$eval('#error', (e) => e.textContent) : '';

describe.skipIf(!CHROMIUM)(
  `in headless Chromium, on ${adapter ? `${adapter.featureLevel} feature level: ${adapter.description}` : 'no adapter'}`,
  () => {
    it('finds a WebGPU adapter at the core feature level (SwiftShader Vulkan)', () => {
      expect(pageError).toBe('');
      expect(adapter?.featureLevel).toBe('core');
      expect(adapter?.line).toMatch(/^browser \(core\): /);
    });

    it('runs every kernel family as the CPU reference does, every variant, on small odd shapes', {
      timeout: 600_000,
    }, async () => {
      const results = await page!.evaluate(() => checks.runChecks());
      const families = new Set(results.map((r) => r.family));
      for (const f of [
        'conv forward',
        'conv input gradient',
        'conv weight gradient',
        'conv bias gradient',
        'GEMM',
        'max-pool forward',
        'max-pool backward',
        'LRN forward',
        'LRN backward',
        'FC forward',
        'FC backward',
        'softmax cross-entropy forward',
        'softmax cross-entropy backward',
        'SGD',
      ]) {
        expect(families, f).toContain(f);
      }
      // The workgroup-memory GEMM body, which only core-feature adapters run here.
      expect(results.some((r) => r.what.includes('gemm-wg'))).toBe(true);
      expect(results.filter((r) => !r.ok)).toEqual([]);
    });

    it('lowers the loss of a small VGG in a few SGD steps', { timeout: 600_000 }, async () => {
      const losses = await page!.evaluate(() => checks.runTraining());
      expect(losses).toHaveLength(8);
      expect(losses.every(Number.isFinite)).toBe(true);
      expect(losses.at(-1)!).toBeLessThan(losses[0] * 0.9);
    });

    it('the demo page loads Fashion-MNIST from the server and trains VGG-A, showing its adapter and loss', {
      timeout: 600_000,
    }, async () => {
      const p = await browser!.newPage();
      try {
        await p.goto(`${server!.url}?autostart=1&steps=10`);
        await p.waitForFunction(() => demo.state === 'stopped' || demo.state === 'error', {
          timeout: 540_000,
          polling: 500,
        });
        const d = await p.evaluate(() => ({
          state: demo.state,
          steps: demo.steps,
          losses: demo.losses,
          adapter: demo.adapter,
          error: demo.error,
          stepMs: demo.stepMs,
        }));
        expect(d.error).toBe('');
        expect(d.state).toBe('stopped');
        expect(d.steps).toBe(10);
        expect(d.adapter).toMatch(/^browser \(core\): /);
        expect(d.losses.length).toBeGreaterThan(1);
        expect(d.losses.every(([, l]) => Number.isFinite(l) && l > 0 && l < 10)).toBe(true);
        expect(d.stepMs).toBeGreaterThan(0);
        expect(await p.$eval('#adapter', (e) => e.textContent)).toContain('browser (core)');
        expect(await p.$eval('#status', (e) => e.textContent)).toMatch(/^step 10: loss \d+\.\d+/);
      } finally {
        await p.close();
      }
    });

    it('a lost device shows as a clear error in the page and here, not a hang', { timeout: 120_000 }, async () => {
      const thrown = await page!.evaluate(() =>
        checks.loseDeviceThenStep().then(
          () => 'no error',
          (e: Error) => `${e.name}: ${e.message}`,
        ),
      );
      expect(thrown).toMatch(/GPU device lost \(destroyed: .*\) while running read-back|GPU device lost/);
      // The same failure, unhandled, reaches the page's error banner.
      await page!.evaluate(() => {
        void checks.loseDeviceThenStep();
      });
      await page!.waitForFunction(() => document.getElementById('error')!.textContent !== '', { timeout: 30_000 });
      expect(await page!.$eval('#error', (e) => e.textContent)).toMatch(/GPU device lost/);
    });
  },
);
