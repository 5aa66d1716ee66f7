import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { overwritePages } from '../helpers/damage';
import { expect, ROOT, test } from './fixtures';

/**
 * A damaged trace in the app: what can still be read is shown (the programs,
 * a program's listing and steps) and the banner says, naming the file, that
 * the trace is damaged — the same sentence `bpfscope runs` warns with
 * (test/unit/trace/damage.test.ts). One 4 KB page of resources/example.trace
 * overwritten with seeded noise: SQLite's check fails on runtime_runs, the
 * verifier tables still read.
 */
const EXAMPLE = join(ROOT, 'resources/example.trace');
let dir = '';
let damaged = '';
let sound = '';
test.beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'bpfscope-e2e-damage-'));
  damaged = join(dir, 'damaged.trace');
  writeFileSync(damaged, overwritePages(new Uint8Array(readFileSync(EXAMPLE)), 7, [32]));
  sound = join(dir, 'sound.trace');
  copyFileSync(EXAMPLE, sound);
});
test.afterAll(() => rmSync(dir, { recursive: true, force: true }));

test('a damaged trace opens with what can be read, and the banner says it is damaged', async ({ openApp }, info) => {
  const page = await openApp(damaged);
  const banner = page.getByRole('alert');
  await expect(banner).toContainText(`${damaged}: the trace is damaged (table runtime_runs: `);
  await expect(banner).toContainText("'bpfscope check' lists the problems");
  // The program whose rows sit on the overwritten page is named as unreadable; the others are listed.
  await expect(banner).toContainText('unreadable: list_mixed');
  const picker = page.getByLabel('Program');
  await expect(picker.locator('option', { hasText: 'list_push' })).toHaveCount(1);
  // The verifier's tables are intact: the program's steps are there to walk.
  const value = await picker.locator('option', { hasText: 'list_push' }).getAttribute('value');
  await picker.selectOption(value!);
  const step = page.getByLabel('Current step');
  await expect(step).toHaveText('0');
  await page.keyboard.press('j');
  await expect(step).toHaveText('1');
  await page.screenshot({ path: info.outputPath('damaged-trace.png') });
});

test('a sound trace has no damage banner', async ({ openApp }) => {
  const page = await openApp(sound);
  await expect(page.getByLabel('Program').locator('option', { hasText: 'list_push' })).toHaveCount(1);
  await expect(page.getByRole('alert')).toHaveCount(0);
});
