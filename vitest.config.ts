import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    pool: 'forks',
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    setupFiles: ['test/helpers/test-env.ts'],
    testTimeout: 120_000,
    hookTimeout: 180_000,
    // Two cores: integration files each run a worker; more than two at once only thrash.
    maxWorkers: 2,
  },
});
