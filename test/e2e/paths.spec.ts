import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { NOT_CHOSEN } from '../../main/host/allowedPaths';
import { expect, importTrace, serve, test } from './fixtures';

/**
 * The browser host opens only the files the user chose: a page asking for
 * another trace (`&trace=PATH` in its URL) gets the one sentence in its
 * banner, the chosen trace still opens. Browser host only: the desktop app
 * checks paths in its main process (test/unit/app/allowedPaths.test.ts).
 */
const LOG = 'test/fixtures/logs/new_drop.new_drop.log';
let chosen = '';
let other = '';
test.beforeAll(() => {
  chosen = importTrace('chosen', [[LOG, 'resources/progs/new_drop.bpf.o', 'new_drop']]);
  other = importTrace('other', [[LOG, 'resources/progs/new_drop.bpf.o', 'new_drop']]);
});
test.afterAll(() => {
  for (const t of [chosen, other]) rmSync(dirname(t), { recursive: true, force: true });
});

test('a trace named in the URL opens only if it was chosen', async ({ page }, info) => {
  test.skip(info.project.name !== 'browser', 'the browser host only: the desktop app has no &trace= URL to forge');
  const s = await serve(chosen);
  try {
    await page.goto(`${s.url}&trace=${encodeURIComponent(other)}`);
    await expect(page.getByRole('alert')).toHaveText(`${other}: ${NOT_CHOSEN}`);
    await expect(page.getByLabel('Program').locator('option')).toHaveCount(0);
    await page.goto(`${s.url}&trace=${encodeURIComponent(chosen)}`);
    await expect(page.getByLabel('Program').locator('option')).toHaveCount(1);
    await expect(page.getByLabel('Program').locator('option').first()).toContainText('new_drop');
  } finally {
    s.stop();
  }
});
