// The six nets at the paper's sizes against a real GPU's limits, on a machine without that GPU:
// a training step at batch 256 (224², 1000 classes) and the validation and dense-evaluation
// forwards are dry-run on a device that has only an H100's limits (src/gpu/limits_device.ts),
// once per variant the tuner may pick for every pass of every layer, and every dispatch must fit:
// workgroups per grid dimension, workgroup size and memory, binding sizes and offsets, buffer
// sizes; and again with Mesa's loop budget, which every invocation's loops must keep within.
import { beforeAll, describe, expect, it } from 'vitest';
import {
  backward,
  Engine,
  GpuError,
  init,
  noGrad,
  onDevice,
  Runtime,
  SGD,
  softmaxCrossEntropy,
  Tensor,
  tidy,
} from '../src/node/index.js';
import { MESA_LOOP_BUDGET } from '../src/gpu/runtime.js';
import { H100_LIMITS } from '../src/gpu/limits_device.js';
import { preflight } from '../src/train/preflight.js';
import { collectChoices, recordTuning } from '../src/ops/variants.js';
import { conv2d } from '../src/ops/conv2d.js';
import { NET_NAMES } from '../src/vgg/config.js';
import { Vgg } from '../src/vgg/model.js';

const BATCH = 256;

beforeAll(async () => {
  await init(); // the host (WebGPU's globals) and a real device beside the limits-only ones
});

/**
 * Dry-runs `step` once per candidate rank: in round r every (pass, shape) it asks for runs its
 * r-th candidate (its last where it has fewer), so each variant that may be picked runs once.
 * Returns the dispatches checked per round.
 */
function everyVariant(rt: Runtime, step: () => void): number[] {
  const choices = collectChoices(() => rt.dryRun(step));
  const rounds = Math.max(1, ...choices.map((c) => c.candidates.length));
  const counts: number[] = [];
  for (let r = 0; r < rounds; r++) {
    for (const c of choices)
      recordTuning(c.pass, c.shape, {
        variant: c.candidates[Math.min(r, c.candidates.length - 1)],
        ms: {},
        compileMs: {},
      });
    counts.push(rt.dryRun(step).dispatches);
  }
  return counts;
}

// Bindings of 2 GiB (H100_LIMITS: the batch in slices) and of 4 GiB less 4 bytes (the most Dawn
// exposes: whole batches, indices up to 2^30 elements).
const LIMIT_SETS = [H100_LIMITS, { ...H100_LIMITS, maxStorageBufferBindingSize: 2 ** 32 - 4 }];

describe(`the six nets at 224², 1000 classes, batch ${BATCH}, against an H100's limits (${H100_LIMITS.maxComputeWorkgroupsPerDimension} workgroups per dimension, 2 and 4 GiB bindings, ${H100_LIMITS.maxBufferSize / 2 ** 30} GiB buffers)`, () => {
  for (const net of NET_NAMES)
    for (const limits of LIMIT_SETS) {
      const binding = `${(limits.maxStorageBufferBindingSize / 2 ** 30).toFixed(0)} GiB bindings`;
      it(`VGG-${net}, ${binding}: training step, validation and dense evaluation, every variant`, () => {
        const rt = Runtime.limitsOnly(limits, `limits of an NVIDIA H100, ${binding}`);
        const e = new Engine(rt, 0);
        onDevice(e, () => {
          const model = new Vgg({ net, inputSize: 224, classes: 1000, inChannels: 3 });
          const opt = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9, weightDecay: 5e-4 });
          const plan = preflight(model.config, BATCH, rt);
          expect(plan.microBatch, 'a 4 GiB buffer holds the largest activation of 256 images').toBe(BATCH);
          const step = () => {
            const loss = tidy(() =>
              softmaxCrossEntropy(model.forward(Tensor.empty([BATCH, 3, 224, 224])), new Array<number>(BATCH).fill(0)),
            );
            backward(loss);
            loss.dispose();
            opt.step();
            opt.zeroGrad();
            // Validation's centre crops (evaluation batch 256) and dense evaluation at Q = 384.
            tidy(() => noGrad(() => model.forward(Tensor.empty([BATCH, 3, 224, 224]))));
            tidy(() => noGrad(() => model.denseForward(Tensor.empty([32, 3, 384, 384]))));
          };
          // As a GPU runs them, then within Mesa's loop budget too (launchers split long loops).
          for (const limit of [null, MESA_LOOP_BUDGET]) {
            rt.setLoopLimit(limit);
            const counts = everyVariant(rt, step);
            expect(counts.length, 'rounds: the most candidates of any pass').toBeGreaterThan(1);
            for (const n of counts) expect(n).toBeGreaterThan(100);
          }
          model.dispose();
        });
        rt.destroy();
      });
    }

  it('fails where a dispatch would not fit (the check is live)', () => {
    const rt = Runtime.limitsOnly(
      { ...H100_LIMITS, maxComputeWorkgroupsPerDimension: 16 },
      'a GPU of 16 workgroups per dimension',
    );
    onDevice(new Engine(rt, 0), () => {
      const x = Tensor.empty([1, 1, 16, 16]);
      const w = Tensor.empty([1, 1, 3, 3]);
      const b = Tensor.empty([1]);
      // 1,024 workgroups of a 256-wide element-wise kernel fold into 64×16; 65,536 cannot.
      expect(() => rt.dryRun(() => conv2d(x, w, b))).not.toThrow();
      expect(() => rt.dryRun(() => conv2d(Tensor.empty([1, 1, 2048, 2048]), w, b, { relu: true }))).toThrow(GpuError);
    });
    rt.destroy();
  });
});
