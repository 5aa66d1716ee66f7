import { readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Page } from '@playwright/test';
import { expect, importTrace, ROOT, test } from './fixtures';

/**
 * A call step in the Registers pane: the arguments as they were before the
 * call and R0 as it returned, above the state after the call (R1–R5
 * clobbered). Checked against the kernel's own lines in the fixture logs.
 */
const NEW_DROP_LOG = 'test/fixtures/logs/new_drop.new_drop.log';
const SUBPROG_LOG = 'test/fixtures/logs/subprog.subprog_calls.log';

let trace = '';
test.afterAll(() => rmSync(dirname(trace), { recursive: true, force: true }));
test.beforeAll(() => {
  trace = importTrace('calls', [
    [NEW_DROP_LOG, 'resources/progs/new_drop.bpf.o', 'new_drop'],
    [SUBPROG_LOG, 'resources/progs/subprog.bpf.o', 'subprog_calls'],
  ]);
});

const step = (page: Page) => page.getByLabel('Current step');
const registers = (page: Page) => page.getByRole('region', { name: 'Registers', exact: true });

async function pickProgram(page: Page, name: string): Promise<void> {
  const picker = page.getByLabel('Program');
  const value = await picker.locator('option', { hasText: name }).getAttribute('value');
  await picker.selectOption(value!);
}

async function goToInsn(page: Page, insn: number): Promise<void> {
  await page.getByLabel('Go to').fill(`i${insn}`);
  await page.getByLabel('Go to').press('Enter');
  await expect(page.locator('#step-where')).toContainText(`insn ${insn} `);
}

/** `R6=ctx() R9=scalar(smin=0,…,var_off=(0x0; 0xffffffff)) refs=3` → {R6: 'ctx()', R9: 'scalar(…)'}. */
function regsInState(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /(?:^|\s)(R\d+|fp-\d+|refs|frame\d+:)(=|\s)/g;
  const marks: { name: string; start: number; end: number }[] = [];
  for (let m; (m = re.exec(text)); ) marks.push({ name: m[1], start: m.index, end: re.lastIndex });
  marks.forEach((m, i) => {
    if (m.name.startsWith('R')) out[m.name] = text.slice(m.end, i + 1 < marks.length ? marks[i + 1].start : undefined).trim();
  });
  return out;
}

/** The value the kernel printed for `reg` on the last line before line index `before` that printed it. */
function printedBefore(log: string[], before: number, reg: string): string {
  for (let i = before - 1; i >= 0; i--) {
    const l = log[i];
    const semi = /^\d+: \([0-9a-f]{2}\) .*?;\s(.*)$/.exec(l);
    const state = semi ? semi[1] : /^\d+: (R|frame)/.test(l) ? l.replace(/^\d+: /, '') : null;
    const v = state !== null ? regsInState(state)[reg] : undefined;
    if (v !== undefined) return v;
  }
  throw new Error(`no ${reg} before line ${before + 1}`);
}

test('a kfunc call: R1–R2 before the call with the prototype, R0 returned, R1–R5 clobbered after', async ({ openApp }, info) => {
  const page = await openApp(trace);
  await pickProgram(page, 'new_drop');
  const log = readFileSync(join(ROOT, NEW_DROP_LOG), 'utf8').split('\n');
  const callAt = log.findIndex((l) => /^\d+: \(85\) call bpf_obj_new_impl#\d+$/.test(l));
  const insn = Number(/^(\d+):/.exec(log[callAt])![1]);
  await goToInsn(page, insn);
  await expect(step(page)).toHaveAttribute('data-ready', await step(page).textContent() ?? '');
  const box = registers(page).locator('.frame.call');
  await expect(box.locator('.frame-head')).toContainText('call bpf_obj_new_impl#');
  await expect(box.locator('.frame-head')).toContainText('kfunc');
  // The arguments: what the kernel printed for R1 and R2 before the call.
  await expect(box.locator('tr.arg[data-reg=R1] td.raw')).toHaveText(printedBefore(log, callAt, 'R1'));
  await expect(box.locator('tr.arg[data-reg=R2] td.raw')).toHaveText(printedBefore(log, callAt, 'R2'));
  await expect(box.locator('tr.arg[data-reg=R1] td.param')).toHaveText('__u64');
  await expect(box.locator('tr.arg[data-reg=R2] td.param')).toHaveText('void *');
  await expect(box.locator('tr.arg')).toHaveCount(2);
  // R0 returned: the kernel's own line after the call (`5: R0=ptr_or_null_point(id=2,ref_obj_id=2) refs=2`).
  const after = log.slice(callAt + 1).find((l) => /^\d+: R0=/.test(l))!;
  const r0 = regsInState(after.replace(/^\d+: /, '')).R0;
  expect(r0).toMatch(/^ptr_or_null_\w+\(.*ref_obj_id=\d+/);
  await expect(box.locator('tr.ret[data-reg=R0] td.raw')).toHaveText(r0);
  // The state after the call: R0 holds it, R1–R5 are clobbered (and highlighted as changed).
  const frame = registers(page).locator('.frame.current');
  await expect(frame.locator('tr[data-reg=R0] td.raw')).toHaveText(r0);
  for (const r of ['R1', 'R2', 'R3', 'R4', 'R5']) {
    await expect(frame.locator(`tr[data-reg=${r}] td.ty`)).toHaveText('not init · clobbered by the call');
  }
  await expect(frame.locator('tr[data-reg=R1]')).toHaveClass(/changed/);
  await registers(page).screenshot({ path: info.outputPath('call-kfunc-registers.png') });
  await page.screenshot({ path: info.outputPath('call-kfunc.png') });
  // A click on an argument goes to the step that wrote it before the call.
  const callStep = Number(await step(page).textContent());
  await box.locator('tr.arg[data-reg=R1]').click();
  await expect(step(page)).not.toHaveText(String(callStep));
  const line = await page.getByRole('region', { name: 'Listing', exact: true }).getByLabel('Verifier log').locator('.vrow[aria-current=step] .tx').textContent();
  expect(line).toContain(`R1=${printedBefore(log, callAt, 'R1')}`);
  // The next insn's step has no call box.
  await goToInsn(page, insn + 1);
  await expect(registers(page).locator('.frame.current tr[data-reg=R0] td.raw')).toHaveText(r0);
  await expect(registers(page).locator('.frame.call')).toHaveCount(0);
});

test('a bpf-to-bpf call: the arguments, the callee entered, R0 at its return', async ({ openApp }, info) => {
  const page = await openApp(trace);
  await pickProgram(page, 'subprog_calls');
  const log = readFileSync(join(ROOT, SUBPROG_LOG), 'utf8').split('\n');
  const callAt = log.findIndex((l) => /^\d+: \(85\) call pc\+3$/.test(l));
  const insn = Number(/^(\d+):/.exec(log[callAt])![1]);
  await goToInsn(page, insn);
  const box = registers(page).locator('.frame.call');
  await expect(box.locator('.frame-head')).toContainText('call pc+3');
  await expect(box.locator('tr.arg[data-reg=R1] td.raw')).toHaveText(printedBefore(log, callAt, 'R1'));
  await expect(box.locator('tr.arg[data-reg=R2] td.raw')).toHaveText(printedBefore(log, callAt, 'R2'));
  await expect(box.locator('tr.ret td.status')).toContainText("callee's exit");
  await registers(page).screenshot({ path: info.outputPath('call-subprog-registers.png') });
  // The return step: R0 as the callee returned it (`to caller at N:` then ` R0=...`).
  const toCaller = log.findIndex((l, i) => i > callAt && /^to caller at \d+:$/.test(l));
  const r0 = regsInState(log[toCaller + 1].trim()).R0;
  for (let i = 0; i < 40; i++) {
    await page.keyboard.press('ArrowDown');
    await expect(step(page)).toHaveAttribute('data-ready', await step(page).textContent() ?? '');
    if ((await box.locator('tr.ret td.raw').count()) > 0) break;
  }
  await expect(box.locator('tr.ret[data-reg=R0] td.raw')).toHaveText(r0);
  await expect(box.locator('tr.arg[data-reg=R1] td.raw')).toHaveText(printedBefore(log, callAt, 'R1'));
  await registers(page).screenshot({ path: info.outputPath('call-return-registers.png') });
});
