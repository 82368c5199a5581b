import { configDefaults, defineConfig } from 'vitest/config';

// Scale tests (test/scale) measure timings, so they run alone: `MLOPS_SCALE_TESTS=1 vitest run` (npm test does).
const scale = process.env.MLOPS_SCALE_TESTS === '1';

export default defineConfig({
  test: {
    pool: 'forks',
    include: scale ? ['test/scale/**/*.test.ts'] : ['test/**/*.test.ts'],
    exclude: scale ? configDefaults.exclude : [...configDefaults.exclude, 'test/scale/**'],
    globalSetup: ['test/helpers/global-setup.ts'],
    setupFiles: ['test/helpers/test-env.ts'],
    testTimeout: 120_000,
    hookTimeout: 180_000,
    // Two cores: integration files each run a worker; more than two at once only thrash.
    maxWorkers: 2,
    // Scale tests measure: one file at a time, so none is timed while another loads the machine.
    fileParallelism: !scale,
  },
});
