import { existsSync } from 'node:fs';
import { defineConfig } from 'vitest/config';

// Two adapters run the tests here. Every suite runs on the engine's own choice (on a machine
// without a GPU: llvmpipe over OpenGL ES, compatibility feature level). The kernel-correctness
// suites run again on SwiftShader's Vulkan driver, a core-feature-level adapter like a real GPU's
// (other limits, subgroups, a compiler that does not unroll our tiles); Debian's chromium package,
// which `npm run setup` installs, ships it.
const SWIFTSHADER = '/usr/lib/chromium/vk_swiftshader_icd.json';
const KERNEL_SUITES = [
  'test/kernel_variants.test.ts',
  'test/api.test.ts',
  'test/large_shapes.test.ts',
  'test/release_mode.test.ts',
  'test/conv2d.test.ts',
  'test/linear.test.ts',
  'test/pool_norm.test.ts',
  'test/loss_dropout_sgd.test.ts',
  'test/device.test.ts',
  'test/network.test.ts',
];
const swiftshader = existsSync(SWIFTSHADER);
if (!swiftshader)
  console.warn(
    `\n*** NOT TESTED on a core-feature adapter: no SwiftShader at ${SWIFTSHADER} (npm run setup installs Debian's chromium, which has it) ***\n`,
  );

export default defineConfig({
  test: {
    // One GPU device per worker process; llvmpipe already uses every core.
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    projects: [
      {
        extends: true,
        // Training tests run each shape's default kernel variant; tuning has its own test.
        test: { name: 'default adapter', include: ['test/**/*.test.ts'], env: { VGGPU_TUNE: '0' } },
      },
      ...(swiftshader
        ? [
            {
              extends: true as const,
              test: {
                name: 'SwiftShader Vulkan (core)',
                include: KERNEL_SUITES,
                env: { VGGPU_TUNE: '0', VGGPU_BACKEND: 'vulkan', VK_ICD_FILENAMES: SWIFTSHADER },
              },
            },
          ]
        : []),
    ],
  },
});
