import { defineConfig } from 'vitest/config';

// Unit and integration tests. End-to-end tests (test/e2e) run under Playwright
// from the same `npm test` (see package.json), benchmarks under `npm run bench`.
export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    pool: 'forks',
  },
});
