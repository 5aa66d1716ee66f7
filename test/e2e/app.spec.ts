import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Page } from '@playwright/test';
import { expect, importTrace, ROOT, test } from './fixtures';

/**
 * The app on real data: kernel logs of resources/progs (test/fixtures/logs,
 * printed by this kernel) imported with their objects through the CLI.
 * What the views show is checked against the kernel's own text (registers),
 * pahole (struct layout) and the log itself (references, errors).
 */
const LIST_LOG = 'test/fixtures/logs/list.list_push.log';
const LEAK_LOG = 'test/fixtures/logs/reject_leak.leak_on_branch.log';

let trace = '';
test.afterAll(() => rmSync(dirname(trace), { recursive: true, force: true }));
test.beforeAll(() => {
  trace = importTrace('app', [
    [LIST_LOG, 'resources/progs/list.bpf.o', 'list_push'],
    [LEAK_LOG, 'resources/progs/reject_leak.bpf.o', 'leak_on_branch'],
  ]);
});

const step = (page: Page) => page.getByLabel('Current step');
const region = (page: Page, name: string) => page.getByRole('region', { name, exact: true });

/** `R6=ctx() R9=scalar(smin=0,…,var_off=(0x0; 0xffffffff)) refs=3` → {R6: 'ctx()', R9: 'scalar(…)'}. */
function regsInDelta(delta: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /(?:^|\s)(R\d+|fp-\d+|refs)=/g;
  const marks: { name: string; start: number; end: number }[] = [];
  for (let m; (m = re.exec(delta)); ) marks.push({ name: m[1], start: m.index, end: re.lastIndex });
  marks.forEach((m, i) => {
    const value = delta.slice(m.end, i + 1 < marks.length ? marks[i + 1].start : undefined).trim();
    if (m.name.startsWith('R')) out[m.name] = value;
  });
  return out;
}

async function pickProgram(page: Page, name: string): Promise<void> {
  const picker = page.getByLabel('Program');
  const value = await picker.locator('option', { hasText: name }).getAttribute('value');
  await picker.selectOption(value!);
}

test('opens a trace: programs with verdicts, step 0, every region', async ({ openApp }, info) => {
  const page = await openApp(trace);
  await expect(page.getByLabel('Program').locator('option')).toHaveCount(2);
  await expect(page.getByLabel('Program').locator('option').nth(1)).toContainText('✗ leak_on_branch');
  for (const name of ['Listing', 'Registers', 'Stack', 'References', 'Struct layout', 'Object lifetimes']) {
    await expect(region(page, name)).toBeVisible();
  }
  await pickProgram(page, 'list_push');
  await expect(step(page)).toHaveText('0');
  await page.screenshot({ path: info.outputPath('open.png') });
  await page.getByTitle('Toggle dark/light theme').click();
  await expect(page.locator('html')).toHaveAttribute('data-theme', 'light');
  await page.screenshot({ path: info.outputPath('open-light.png') });
  await page.getByTitle('Toggle dark/light theme').click();
});

test('steps with the keyboard; registers shown equal the kernel log text', async ({ openApp }, info) => {
  const page = await openApp(trace);
  await pickProgram(page, 'list_push');
  await page.keyboard.press('Home');
  await expect(step(page)).toHaveText('0');
  const log = readFileSync(join(ROOT, LIST_LOG), 'utf8').split('\n');
  let checked = 0;
  for (let s = 1; s <= 45; s++) {
    await page.keyboard.press(s % 2 ? 'ArrowDown' : 'j');
    await expect(step(page)).toHaveText(String(s));
    await expect(step(page)).toHaveAttribute('data-ready', String(s));
    // The highlighted log line is the kernel's line for this step.
    const current = region(page, 'Listing').getByLabel('Verifier log').locator('.vrow[aria-current=step]');
    const lineNo = Number(await current.locator('.ln').textContent());
    const text = log[lineNo - 1];
    await expect(current.locator('.tx')).toHaveText(text);
    const semi = /^\d+: \([0-9a-f]{2}\) .*?;\s(.*)$/.exec(text);
    const regs = semi ? regsInDelta(semi[1]) : /^\d+: (R.*)$/.test(text) ? regsInDelta(text.replace(/^\d+: /, '')) : {};
    for (const [reg, raw] of Object.entries(regs)) {
      await expect(region(page, 'Registers').locator(`.frame.current tr[data-reg=${reg}] td.raw`)).toHaveText(raw);
      checked++;
    }
  }
  expect(checked).toBeGreaterThan(40);
  // k and ArrowUp go back.
  await page.keyboard.press('k');
  await page.keyboard.press('ArrowUp');
  await expect(step(page)).toHaveText('43');
  // The position survives a reload.
  await page.reload();
  await expect(step(page)).toHaveText('43');
  await page.screenshot({ path: info.outputPath('stepping.png') });
});

test('go to, next visit of the same insn, search', async ({ openApp }) => {
  const page = await openApp(trace);
  await pickProgram(page, 'list_push');
  // An insn the kernel printed on two paths (two `N: (op)` lines).
  const counts = new Map<string, number>();
  for (const m of readFileSync(join(ROOT, LIST_LOG), 'utf8').matchAll(/^(\d+): \([0-9a-f]{2}\)/gm)) counts.set(m[1], (counts.get(m[1]) ?? 0) + 1);
  const insn = [...counts].find(([, n]) => n >= 2)![0];
  await page.getByLabel('Go to').fill(`i${insn}`);
  await page.getByLabel('Go to').press('Enter');
  await expect(page.locator('#step-where')).toContainText(`insn ${insn} `);
  const first = Number(await step(page).textContent());
  await page.keyboard.press('n');
  await expect(step(page)).not.toHaveText(String(first));
  await expect(page.locator('#step-where')).toContainText(`insn ${insn} `);
  await page.keyboard.press('N');
  await expect(step(page)).toHaveText(String(first));
  await page.getByLabel('Search log').fill('bpf_list_push_back');
  await page.getByLabel('Search log').press('Enter');
  await expect(region(page, 'Listing').locator('.vrow.marked .tx')).toContainText('bpf_list_push_back');
});

test('shift+clicking a register jumps to the step whose kernel line last set it', async ({ openApp }) => {
  const page = await openApp(trace);
  await pickProgram(page, 'list_push');
  await page.getByLabel('Go to').fill('i21');
  await page.getByLabel('Go to').press('Enter');
  await expect(page.locator('#step-where')).toContainText('insn 21 ');
  const before = Number(await step(page).textContent());
  const r8 = region(page, 'Registers').locator('.frame.current tr[data-reg=R8] td.raw');
  const raw = await r8.textContent();
  // A plain click asks where the value came from (why.spec.ts); shift+click jumps to the writer.
  await r8.click({ modifiers: ['Shift'] });
  await expect(step(page)).not.toHaveText(String(before));
  const now = Number(await step(page).textContent());
  expect(now).toBeLessThan(before);
  // The kernel printed R8 with that very text on the line of the step we landed on.
  const line = await region(page, 'Listing').getByLabel('Verifier log').locator('.vrow[aria-current=step] .tx').textContent();
  expect(line).toContain(`R8=${raw}`);
});

test('b jumps to the branch that started the path: the insn of the kernel\'s "from X to Y" line', async ({ openApp }) => {
  const page = await openApp(trace);
  await pickProgram(page, 'list_push');
  const log = readFileSync(join(ROOT, LIST_LOG), 'utf8').split('\n');
  const at = log.findIndex((l) => /^from \d+ to \d+: R/.test(l));
  const [, from, to] = /^from (\d+) to (\d+)/.exec(log[at])!;
  await page.getByLabel('Go to').fill(`L${at + 1}`);
  await page.getByLabel('Go to').press('Enter');
  // Go to a line looks its step up first: keys pressed before it lands would move from the old step.
  await expect(page.locator('#step-where')).toContainText(`line ${at + 1}`);
  const landed = Number(await step(page).textContent());
  await page.keyboard.press('j');
  await page.keyboard.press('j');
  await expect(step(page)).toHaveAttribute('data-ready', String(landed + 2));
  await expect(page.locator('#step-where')).not.toContainText(`insn ${from} `);
  await page.keyboard.press('b');
  await expect(page.locator('#step-where')).toContainText(`insn ${from} `);
  const line = await region(page, 'Listing').getByLabel('Verifier log').locator('.vrow[aria-current=step] .tx').textContent();
  expect(line).toMatch(new RegExp(`^${from}: \\([0-9a-f]{2}\\) if .* goto pc[+-]\\d+`));
  expect(Number(to)).toBeGreaterThan(0);
});

test('struct layout equals pahole', async ({ openApp }, info) => {
  const page = await openApp(trace);
  await pickProgram(page, 'list_push');
  await page.getByLabel('Type').selectOption('elem');
  const pahole = execFileSync('pahole', ['-C', 'elem', join(ROOT, 'resources/progs/list.bpf.o')], { encoding: 'utf8' });
  const members = [...pahole.matchAll(/^\s+.*?\s\**(\w+);\s+\/\*\s+(\d+)\s+(\d+)\s+\*\//gm)].map((m) => ({
    name: m[1],
    offset: m[2],
    size: m[3],
  }));
  expect(members.length).toBe(3);
  const layout = region(page, 'Struct layout');
  await expect(layout).toContainText(`struct elem · ${/size: (\d+)/.exec(pahole)![1]} bytes`);
  for (const m of members) {
    const row = layout.locator(`table.fields tr[data-field="${m.name}"]`);
    await expect(row.locator('td').nth(0)).toHaveText(m.offset);
    await expect(row.locator('td').nth(1)).toHaveText(m.size);
  }
  const hole = /XXX (\d+) bytes hole/.exec(pahole)!;
  await expect(layout.locator('table.fields tr.k-hole td').nth(1)).toHaveText(hole[1]);
  await expect(layout.locator('table.fields tr[data-field=node] td.notes')).toContainText('zeroed by bpf_obj_new');
  await page.screenshot({ path: info.outputPath('layout.png') });
});

test('object lifetimes: a lane per reference, the leak marked, first error', async ({ openApp }, info) => {
  const page = await openApp(trace);
  await pickProgram(page, 'leak_on_branch');
  const log = readFileSync(join(ROOT, LEAK_LOG), 'utf8');
  const refIds = new Set([...log.matchAll(/ref_obj_id=(\d+)/g)].map((m) => m[1]));
  const lifetimes = region(page, 'Object lifetimes');
  for (const id of refIds) await expect(lifetimes.locator(`g.lane[data-ref="${id}"]`)).toHaveCount(1);
  const leak = /Unreleased reference id=(\d+)/.exec(log)!;
  await expect(lifetimes.locator(`g.lane.leaked[data-ref="${leak[1]}"] .leak`)).toHaveCount(1);
  await page.keyboard.press('e');
  await expect(region(page, 'References')).toContainText('Unreleased reference');
  await expect(region(page, 'References').locator(`[data-ref="${leak[1]}"]`)).toBeVisible();
  await page.screenshot({ path: info.outputPath('lifetimes.png') });
  // Clicking the acquire mark jumps to the step that acquired it.
  await lifetimes.locator(`g.lane[data-ref="${leak[1]}"] circle.acquire`).click();
  await expect(page.locator('#step-where')).toContainText(`insn ${/alloc_insn=(\d+)/.exec(log)![1]}`);
});
