// Issue 7: every example runs (on small settings), and the packed npm tarball installs into a
// fresh project where an example runs against it, importing only the package name.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PNG } from 'pngjs';
import { init } from '../src/node/index.js';
import { saveModel } from '../src/node/checkpoint/checkpoint.js';
import { buildVgg } from '../src/vgg/model.js';
import { writeFashionLike } from './fixtures.js';

const root = join(import.meta.dirname, '..');
const dir = mkdtempSync(join(tmpdir(), 'vggpu-examples-'));
beforeAll(async () => {
  await init();
  writeFashionLike(join(dir, 'fm'), 600, 1000);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function runExample(
  file: string,
  args: string[],
  cwd = root,
  env: Record<string, string> = {},
  loader = 'tsx',
): string {
  const r = spawnSync(process.execPath, ['--import', loader, file, ...args], {
    cwd,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 240_000,
  });
  if (r.status !== 0) throw new Error(`${file} exited ${r.status}: ${r.stderr.slice(-2000)}`);
  return r.stdout;
}

describe('examples', () => {
  it('every example in examples/ is covered here (the browser demo in browser.test.ts)', () => {
    expect(readdirSync(join(root, 'examples')).sort()).toEqual([
      'browser',
      'classify_image.ts',
      'gemm.ts',
      'tiny_cnn.ts',
    ]);
    expect(readdirSync(join(root, 'examples', 'browser')).sort()).toEqual(['demo.ts', 'index.html']);
  });

  it('gemm.ts checks a GPU matrix product against the CPU', () => {
    expect(runExample('examples/gemm.ts', ['96'])).toMatch(/max \|GPU − CPU\| over sampled entries = .*\n.* GFLOPS/);
  });

  it('tiny_cnn.ts trains a small CNN on Fashion-MNIST-format data', () => {
    const out = runExample('examples/tiny_cnn.ts', ['40'], root, { FASHION_MNIST: join(dir, 'fm') });
    expect(out).toMatch(/step 40: loss \d+\.\d+/);
    // The variants its shapes run: two convs (forward, input and weight gradients, less the first
    // conv's input gradient) and the FC's three GEMMs at batch 64, plus evaluation's at 250.
    const kernels = out.split('\n').filter((l) => l.startsWith('kernel '));
    expect(kernels.filter((l) => l.startsWith('kernel conv_')).length).toBe(5);
    expect(kernels.filter((l) => l.startsWith('kernel gemm ')).length).toBe(4);
    const acc = Number(/test accuracy on 1000 images: ([\d.]+)%/.exec(out)![1]);
    expect(acc).toBeGreaterThan(30); // class shows in brightness in this generated set
  });

  it('classify_image.ts prints the top-5 classes of a PNG', async () => {
    const net = buildVgg({ net: 'A', width: 1 / 16, inputSize: 32, classes: 10, inChannels: 1 });
    const ck = join(dir, 'net.safetensors');
    await saveModel(ck, net, 0, {
      mean: [0.3],
      scale: [32, 40],
      classNames: ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'],
    });
    const png = new PNG({ width: 50, height: 40 });
    png.data.fill(128);
    const img = join(dir, 'x.png');
    writeFileSync(img, PNG.sync.write(png));
    const out = runExample('examples/classify_image.ts', [ck, img]);
    const lines = out.trim().split('\n');
    expect(lines[0]).toBe(`VGG-A on ${img}:`);
    expect(lines.slice(1).length).toBe(5);
    for (const l of lines.slice(1))
      expect(l).toMatch(/^\s+\d+\.\d% {2}(zero|one|two|three|four|five|six|seven|eight|nine)$/);
  });
});

describe('npm package', () => {
  it('packs compiled JS, types and kernels, installs into a fresh project, and runs an example', () => {
    const pack = join(dir, 'pack');
    execFileSync('npm', ['pack', '--pack-destination', dir, '--silent'], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const tgz = readdirSync(dir).find((f) => f.endsWith('.tgz'))!;
    const listing = execFileSync('tar', ['tzf', join(dir, tgz)], { encoding: 'utf8' }).split('\n');
    for (const f of [
      'package/dist/index.js',
      'package/dist/index.d.ts',
      'package/kernels/gemm_body.wgsl',
      'package/kernels/conv2d_forward.wgsl',
      'package/README.md',
      'package/CHANGELOG.md',
      'package/LICENSE',
    ]) {
      expect(listing, f).toContain(f);
    }
    expect(listing.some((f) => f.startsWith('package/src/') || f.startsWith('package/test/'))).toBe(false);
    execFileSync('mkdir', ['-p', pack]);
    writeFileSync(
      join(pack, 'package.json'),
      JSON.stringify({ name: 'consumer', version: '1.0.0', type: 'module', private: true }),
    );
    execFileSync('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--silent', join(dir, tgz)], {
      cwd: pack,
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 240_000,
    });
    copyFileSync(join(root, 'examples', 'gemm.ts'), join(pack, 'gemm.ts'));
    // The example imports only 'vggpu', resolved from the fresh project's node_modules.
    const out = runExample('gemm.ts', ['64'], pack, {}, join(root, 'node_modules', 'tsx', 'dist', 'loader.mjs'));
    expect(out).toMatch(/max \|GPU − CPU\| over sampled entries/);
    const plain = join(pack, 'plain.mjs');
    writeFileSync(
      plain,
      "import { init, Tensor, matmul } from 'vggpu';\nawait init();\nconst c = matmul(Tensor.from([1, 2, 3, 4], [2, 2]), Tensor.from([5, 6, 7, 8], [2, 2]));\nconsole.log(JSON.stringify(Array.from(await c.toArray())));\nprocess.exit(0);\n",
    );
    const r = spawnSync(process.execPath, [plain], { cwd: pack, encoding: 'utf8' });
    expect(r.stdout.trim()).toBe('[19,22,43,50]');
  }, 300_000);
});
