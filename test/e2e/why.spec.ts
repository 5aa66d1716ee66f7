import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Page } from '@playwright/test';
import { expect, importTrace, test } from './fixtures';

/**
 * Where a value came from, as a person asks it: click a register or a stack
 * slot at a step, read the chain, see its insns lit in the listing, walk it
 * with ] and [. On the real 6.18 log of compute.c's loop_callback: at step 27
 * (insn 11, `r0 = *(u64 *)(r10 -8)` after bpf_loop), R0 comes from fp-8,
 * which the callback wrote through fp[0]-8 from its R3, back to the
 * constant 5 the program stored first (hand-checked in
 * test/unit/provenance/why.test.ts).
 */
const LOG = 'test/fixtures/logs/compute.loop_callback.log';
let trace = '';
test.beforeAll(() => {
  trace = importTrace('why', [[LOG, 'resources/progs/compute.bpf.o', 'loop_callback']]);
});
test.afterAll(() => rmSync(dirname(trace), { recursive: true, force: true }));

const step = (page: Page) => page.getByLabel('Current step');
const region = (page: Page, name: string) => page.getByRole('region', { name, exact: true });

async function goto(page: Page, s: number): Promise<void> {
  await page.getByLabel('Go to').fill(String(s));
  await page.getByLabel('Go to').press('Enter');
  await expect(step(page)).toHaveAttribute('data-ready', String(s));
}

test('click R0: the chain, its insns in the listing, walked with ] and [', async ({ openApp }, info) => {
  const page = await openApp(trace);
  await goto(page, 27);
  await region(page, 'Registers').locator('.frame.current tr[data-reg=R0]').click();
  const why = region(page, 'Why');
  await expect(why).toBeVisible();
  await expect(why.locator('.why-title')).toContainText('R0 = scalar() after step 27 · 8 link(s)');
  const links = why.getByLabel('Provenance chain').locator('li');
  await expect(links).toHaveCount(8);
  await expect(links.locator('.st')).toHaveText(['#27', '#20', '#19', '#18', '#17', '#15', '#2', '#1']);
  await expect(links.nth(0).locator('.why-kind')).toHaveText('fill');
  await expect(links.nth(0).locator('.tx')).toHaveText('r0 = *(u64 *)(r10 -8)');
  await expect(links.nth(1).locator('.flow')).toHaveText('frame1 fp[0]-8 ← R3');
  await expect(links.nth(7).locator('.why-origin')).toHaveText('starts here: the constant 5');
  // The log rows of the chain's steps are lit (those in view: the log follows the cursor at step 27).
  const listing = region(page, 'Listing');
  await expect(listing.locator('.vrow.why').first()).toBeVisible();
  // The instructions tab lights the chain's insns, and only those.
  await page.locator('#listing-body').focus();
  await page.keyboard.press('l');
  const lit = listing.locator('.vrow.insn.why .ln');
  await expect(lit).toHaveText(['0:', '1:', '11:', '14:', '15:', '16:', '17:']);
  await page.screenshot({ path: info.outputPath('why-chain.png') });
  // ] walks back along the chain (the cursor follows), [ forwards.
  await page.keyboard.press(']');
  await expect(step(page)).toHaveText('27');
  await expect(links.nth(0)).toHaveClass(/selected/);
  await page.keyboard.press(']');
  await expect(step(page)).toHaveText('20');
  await expect(links.nth(1)).toHaveClass(/selected/);
  await expect(page.locator('#step-where')).toContainText('frame 1');
  for (const s of ['19', '18', '17', '15', '2', '1']) {
    await page.keyboard.press(']');
    await expect(step(page)).toHaveText(s);
  }
  await page.keyboard.press(']');
  await expect(page.locator('#error')).toContainText('the chain ends here: 8 link(s)');
  await page.keyboard.press('[');
  await expect(step(page)).toHaveText('2');
  // A click on a link goes to its step.
  await links.nth(4).click();
  await expect(step(page)).toHaveText('17');
  await page.screenshot({ path: info.outputPath('why-walked.png') });
  await page.keyboard.press('Escape');
  await expect(why).toBeHidden();
  await expect(listing.locator('.vrow.why')).toHaveCount(0);
});

test('click a stack slot: fp-8 after the callback, through the callee frame', async ({ openApp }, info) => {
  const page = await openApp(trace);
  await goto(page, 27);
  await region(page, 'Stack').locator('tr[data-off="-8"]').click();
  const why = region(page, 'Why');
  await expect(why.locator('.why-title')).toContainText('fp-8 = scalar() after step 27');
  const links = why.getByLabel('Provenance chain').locator('li');
  await expect(links.locator('.st')).toHaveText(['#20', '#19', '#18', '#17', '#15', '#2', '#1']);
  await expect(links.nth(0).locator('.why-kind')).toHaveText('spill');
  // The callback's own argument: bpf_loop's R3, the frame pointer minus 8.
  await goto(page, 17);
  await region(page, 'Registers').locator('.frame.current tr[data-reg=R2]').click();
  await expect(why.locator('.why-title')).toContainText('frame1:R2 = fp[0]-8 after step 17');
  await expect(links.locator('.why-kind')).toHaveText(['arg', 'alu', 'mov']);
  await expect(links.nth(2).locator('.why-origin')).toHaveText('starts here: the frame pointer of frame 0');
  await page.screenshot({ path: info.outputPath('why-slot.png') });
});
