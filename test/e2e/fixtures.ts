import { test as base, _electron, type Page } from '@playwright/test';
import { join } from 'node:path';
import { electronSkipReason, ROOT, serve } from './host';

export { cli, importTrace, ROOT, serve } from './host';

/**
 * `openApp(trace)`: a page showing the trace, through the browser host
 * (browser project) or the desktop app (electron project).
 */
export const test = base.extend<{ openApp: (trace: string) => Promise<Page> }>({
  openApp: async ({ page }, use, testInfo) => {
    const stops: (() => Promise<void> | void)[] = [];
    const isElectron = testInfo.project.name.startsWith('electron');
    // Here as well as in beforeEach: a hook declared in this module attaches to the first spec file that loads it only.
    if (isElectron) {
      const why = electronSkipReason();
      testInfo.skip(!!why, `electron: ${why}`);
    }
    await use(async (trace) => {
      if (isElectron) {
        const app = await _electron.launch({
          args: [join(ROOT, 'out/main/index.js'), trace],
          cwd: ROOT,
          env: { ...process.env, BPFSCOPE_NODE: process.execPath },
        });
        stops.push(() => app.close());
        const win = await app.firstWindow();
        await win.setViewportSize({ width: 1600, height: 1000 });
        return win;
      }
      const s = await serve(trace);
      stops.push(s.stop);
      await page.goto(s.url);
      return page;
    });
    for (const stop of stops) await stop();
  },
});

test.beforeEach(({}, testInfo) => {
  if (testInfo.project.name.startsWith('electron')) {
    const why = electronSkipReason();
    testInfo.skip(!!why, `electron: ${why}`);
  }
});

export { expect } from '@playwright/test';
