import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // One GPU device per worker process; llvmpipe already uses every core.
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Training tests run each shape's default kernel variant; tuning has its own test.
    env: { VGGPU_TUNE: '0' },
  },
});
