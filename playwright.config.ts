import { defineConfig } from '@playwright/test';
import { existsSync } from 'node:fs';

/**
 * End-to-end tests of the app: the `browser` project drives the renderer
 * through the browser host (`bpfscope serve`) in the system Chromium; the
 * `electron` project runs the same specs through `_electron.launch` when the
 * Electron binary is installed (node_modules/electron/dist), and skips them
 * with the reason otherwise. Screenshots land in test-results/.
 */
// The reason is in the project name so that every skipped test's line says why.
const electronSkip = existsSync('node_modules/electron/dist')
  ? undefined
  : 'the Electron binary is not installed (node_modules/electron/dist is absent)';

const chromium = {
  browserName: 'chromium' as const,
  launchOptions: {
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  },
};

export default defineConfig({
  testDir: 'test/e2e',
  outputDir: 'test-results/e2e',
  timeout: 60_000,
  workers: 1,
  fullyParallel: false,
  reporter: [['list']],
  use: {
    viewport: { width: 1600, height: 1000 },
    screenshot: 'only-on-failure',
    trace: 'off',
  },
  projects: [
    { name: 'browser', use: chromium },
    // The electron project launches the app itself (test/e2e/fixtures.ts); `chromium` only backs Playwright's default page.
    { name: electronSkip ? `electron [skipped: ${electronSkip}]` : 'electron', use: chromium },
  ],
});
