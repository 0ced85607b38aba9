// Release mode (Dawn's robustness, integer-division polyfills and workgroup zeroing off, the
// default) against safe mode (VGGPU_SAFE=1): two devices on this adapter, one in each mode, run
// every convolution and GEMM variant and a whole training step on the same data, and must give
// bit-identical results — the safety transforms change nothing for in-bounds kernels.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  backward,
  Engine,
  init,
  onDevice,
  Runtime,
  SGD,
  softmaxCrossEntropy,
  Tensor,
  tidy,
} from '../src/node/index.js';
import { RELEASE_TOGGLES, tryBackend } from '../src/node/gpu/adapter.js';
import { captureNativeStderr } from '../src/node/gpu/native_stderr.js';
import { convForward, convGradInput, convGradWeight, convVariants, type ConvPass } from '../src/ops/conv2d.js';
import { matmulVariants, stridedMatmul, whole } from '../src/ops/matmul.js';
import { buildVgg } from '../src/vgg/model.js';
import { randn } from './helpers.js';

let release: Engine;
let safe: Engine;

beforeAll(async () => {
  const first = (await init()).rt.adapter;
  const open = async (toggles: readonly string[], index: number) => {
    // Dawn's start-up messages stay off the terminal, as when the engine opens its adapter.
    const { value: choice } = await captureNativeStderr(() =>
      tryBackend(first.backend, first.featureLevel, undefined, [...toggles]),
    );
    if (!choice) throw new Error(`${first.backend} offered no second adapter`);
    return new Engine(await Runtime.create(choice), index);
  };
  release = await open(RELEASE_TOGGLES, 1);
  safe = await open([], 2);
});

/** Runs `fn` (which returns tensors) on both devices and expects the same bits from each. */
async function sameOnBoth(what: string, fn: () => Tensor[]): Promise<void> {
  const outs = await Promise.all(
    [release, safe].map(async (e) => {
      const ts = onDevice(e, fn);
      const arrays = await Promise.all(ts.map((t) => t.toArray()));
      ts.forEach((t) => t.dispose());
      return arrays.map((a) => new Uint32Array(a.buffer));
    }),
  );
  outs[0].forEach((bits, i) =>
    expect(
      Buffer.from(bits.buffer).equals(Buffer.from(outs[1][i].buffer)),
      `${what}: output ${i} differs between release and safe mode`,
    ).toBe(true),
  );
}

describe('the toggles reach Dawn', () => {
  // Dawn's dump_shaders prints each shader as the backend gets it: under robustness every
  // storage index is clamped to the array's length (GLSL .length(), SPIR-V OpArrayLength).
  const root = join(import.meta.dirname, '..');
  const generated = (safe: boolean) => {
    const script = join(mkdtempSync(join(tmpdir(), 'vggpu-toggles-')), 'dump.mts');
    const src = (f: string) => JSON.stringify(join(root, 'src', f));
    writeFileSync(
      script,
      `import { dawnToggles, chooseAdapter, tryBackend } from ${src('node/gpu/adapter.ts')};
import { Engine, onDevice, relu, Runtime, Tensor } from ${src('node/index.ts')};
const first = await chooseAdapter();
const choice = await tryBackend(first.backend, first.featureLevel, undefined, [...dawnToggles(), 'dump_shaders']);
const e = new Engine(await Runtime.create(choice!), 0);
const y = onDevice(e, () => relu(Tensor.from([1, -2, 3], [3])));
console.log('relu', Array.from(await y.toArray()).join(' '));
process.exit(0);
`,
    );
    const r = spawnSync(process.execPath, ['--import', 'tsx', script], {
      cwd: root,
      env: { ...process.env, VGGPU_SAFE: safe ? '1' : '0' },
      encoding: 'utf8',
    });
    expect(r.stdout, r.stderr).toContain('relu 1 0 3');
    return r.stdout + r.stderr;
  };
  it('release mode drops the index clamps that safe mode (VGGPU_SAFE=1) keeps', () => {
    const clamp = /\.length\(\)|OpArrayLength/;
    expect(generated(true)).toMatch(clamp);
    expect(generated(false)).not.toMatch(clamp);
  });
});

describe('release mode gives the same bits as safe mode', () => {
  // Odd sizes (edges in every tile) and whole-plane tiles.
  for (const [N, C, H, W, Co] of [
    [2, 5, 9, 12, 7],
    [3, 6, 4, 4, 9],
  ]) {
    for (const pass of ['conv_forward', 'conv_grad_input', 'conv_grad_weight'] as ConvPass[]) {
      it(`${pass}, every variant, x [${N}, ${C}, ${H}, ${W}] → ${Co}`, async () => {
        const [xs, ws, ys] = [
          [N, C, H, W],
          [Co, C, 3, 3],
          [N, Co, H, W],
        ];
        const [xd, wd, bd, dyd] = [
          randn(N * C * H * W, 1),
          randn(Co * C * 9, 2, 0.3),
          randn(Co, 3),
          randn(N * Co * H * W, 4),
        ];
        for (const v of convVariants(pass, xs, ws, 1).candidates) {
          await sameOnBoth(`${pass} ${v}`, () => {
            const [x, w, b, dy] = [
              Tensor.from(xd, xs),
              Tensor.from(wd, ws),
              Tensor.from(bd, [Co]),
              Tensor.from(dyd, ys),
            ];
            let out: Tensor[];
            if (pass === 'conv_forward') {
              const y = Tensor.empty(ys);
              convForward(x, w, b, y, true, 1, v);
              out = [y];
            } else if (pass === 'conv_grad_input') out = [convGradInput(dy, w, xs, 1, v)];
            else {
              const db = Tensor.empty([Co]);
              out = [convGradWeight(dy, x, ws, 1, v, db), db];
            }
            [x, w, b, dy].forEach((t) => t.dispose());
            return out;
          });
        }
      });
    }
  }

  it('every GEMM variant, 13×36×20 with a transposed operand', async () => {
    const [M, N, K] = [13, 36, 20];
    const [ad, bd] = [randn(M * K, 5), randn(K * N, 6)];
    const probe = (a: Tensor, b: Tensor, c: Tensor) => ({
      M,
      N,
      K,
      a: whole(a),
      b: whole(b, true),
      c: whole(c),
      label: 'gemm',
    });
    const candidates = onDevice(
      release,
      () => matmulVariants(probe(Tensor.empty([M, K]), Tensor.empty([N, K]), Tensor.empty([M, N]))).candidates,
    );
    expect(candidates.length).toBeGreaterThan(1);
    for (const v of candidates) {
      await sameOnBoth(`gemm ${v}`, () => {
        const [a, b, c] = [Tensor.from(ad, [M, K]), Tensor.from(bd, [N, K]), Tensor.empty([M, N])];
        stridedMatmul(probe(a, b, c), v);
        [a, b].forEach((t) => t.dispose());
        return [c];
      });
    }
  });

  it('a training step of VGG-A-LRN (1/16 width, 32², dropout, LRN, pools, SGD): every parameter after it', async () => {
    await sameOnBoth('VGG-A-LRN step', () => {
      const model = buildVgg({ net: 'A-LRN', width: 1 / 16, inputSize: 32, classes: 10, inChannels: 3 });
      const opt = new SGD(model.parameters(), { lr: 0.05, momentum: 0.9, weightDecay: 5e-4 });
      const x = Tensor.from(randn(3 * 3 * 32 * 32, 7), [3, 3, 32, 32]);
      const loss = tidy(() => softmaxCrossEntropy(model.forward(x), [1, 4, 9]));
      backward(loss);
      opt.step();
      x.dispose();
      return [loss, ...model.parameters()];
    });
  });
});
