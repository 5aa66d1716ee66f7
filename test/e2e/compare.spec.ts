import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { expect, importTrace, serve, test } from './fixtures';

/**
 * The compare view as a person uses it (browser host: `bpfscope serve A B`
 * names both traces): open it, name trace B, see the programs side by side,
 * pick one, land on its first difference, step to the next with `]` and
 * back with `[`, close with Escape. The traces: the same two programs as
 * verified by 6.1 and by 6.18 (test/fixtures/logs): parse_udp's first
 * difference is insn 19, where 6.1 forgets the range `be16` keeps.
 */
const PROG = 'resources/progs/compute.bpf.o';
let a = '';
let b = '';
test.beforeAll(() => {
  a = importTrace('k61', [
    ['test/fixtures/logs/6.1/compute.parse_udp.log', PROG, 'parse_udp'],
    ['test/fixtures/logs/6.1/compute.count_bytes.log', PROG, 'count_bytes'],
  ]);
  b = importTrace('k618', [
    ['test/fixtures/logs/compute.parse_udp.log', PROG, 'parse_udp'],
    ['test/fixtures/logs/compute.count_bytes.log', PROG, 'count_bytes'],
  ]);
});
test.afterAll(() => {
  for (const t of [a, b]) rmSync(dirname(t), { recursive: true, force: true });
});

test('compare two traces: the table, the first difference, next and previous by key', async ({ page }, info) => {
  test.skip(info.project.name !== 'browser', 'browser host: the desktop app picks trace B in its native Open dialog');
  const s = await serve(a, b);
  try {
    await page.setViewportSize({ width: 1600, height: 1000 });
    await page.goto(s.url);
    await expect(page.getByLabel('Program').locator('option')).toHaveCount(2);
    await page.getByRole('button', { name: 'Compare…' }).click();
    const view = page.getByRole('dialog', { name: 'Compare traces' });
    await expect(view).toBeVisible();
    await view.getByLabel('Trace B').fill(b);
    await view.getByLabel('Trace B').press('Enter');
    const rows = view.locator('tr.prog');
    await expect(rows).toHaveCount(2);
    // count_bytes: 6.1 processes 1028 insns, 6.18 531 (the kernel's own closing line).
    await expect(rows.filter({ hasText: 'count_bytes' })).toContainText('1028');
    await expect(rows.filter({ hasText: 'count_bytes' })).toContainText('-497 (-48.35%)');
    await rows.filter({ hasText: 'parse_udp' }).click();
    const diff = view.locator('#compare-diff');
    await expect(diff.locator('.diff-title')).toContainText('difference at insn 19: the states differ');
    await expect(diff.locator('.diff-lines')).toContainText('r0 = be16 r0');
    await expect(diff.locator('tr.differs')).toHaveCount(1);
    await expect(diff.locator('tr.differs td.name')).toHaveText('R0');
    await expect(diff.locator('tr.differs')).toContainText('scalar()');
    await page.screenshot({ path: info.outputPath('compare.png') });
    // parse_udp differs from there on in R0 alone: one difference, no next one.
    await page.keyboard.press(']');
    await expect(page.locator('#error')).toHaveText('compare: no difference after this one');
    await expect(diff.locator('.diff-title')).toContainText('difference at insn 19');
    // count_bytes: 6.18 walks the loop differently; differences follow one another.
    await rows.filter({ hasText: 'count_bytes' }).click();
    await expect(diff.locator('.diff-title')).toContainText('difference at insn 10');
    const first = await diff.getAttribute('data-pair');
    await page.keyboard.press(']');
    await expect(diff).not.toHaveAttribute('data-pair', first ?? '');
    const second = Number(await diff.getAttribute('data-pair'));
    expect(second).toBeGreaterThan(Number(first));
    await page.keyboard.press('[');
    await expect(diff).toHaveAttribute('data-pair', first ?? '');
    // The main view's stepping keys stayed where they were.
    await expect(page.locator('#current-step')).toHaveText('0');
    await page.keyboard.press('Escape');
    await expect(view).toBeHidden();
  } finally {
    s.stop();
  }
});

test('compare of a trace with itself: no difference; a trace not named on the command line is refused', async ({ page }, info) => {
  test.skip(info.project.name !== 'browser', 'browser host only');
  const s = await serve(a);
  try {
    await page.goto(`${s.url}&compare=${encodeURIComponent(a)}`);
    const view = page.getByRole('dialog', { name: 'Compare traces' });
    await expect(view.locator('tr.prog')).toHaveCount(2);
    await view.locator('tr.prog', { hasText: 'count_bytes' }).click();
    await expect(view.locator('.no-diff')).toContainText('count_bytes: no difference');
    await view.getByLabel('Trace B').fill(b);
    await view.getByLabel('Trace B').press('Enter');
    await expect(page.getByRole('alert')).toContainText('bpfscope opens only files you chose');
  } finally {
    s.stop();
  }
});
