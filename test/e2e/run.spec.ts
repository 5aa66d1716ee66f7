import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from '@playwright/test';
import { openTrace } from '../../main/trace/db';
import { listAllocEvents, readInsnTrace } from '../../main/trace/runtime';
import { cli, expect, ROOT, test } from './fixtures';

/**
 * A concrete run in the app: `bpfscope run --trace-insns` stores the
 * registers after every instruction; the app steps through them with the
 * same keys and views as a verification. What it shows is checked against
 * the stored trace (helper E's reader) and `bpfscope run --json`.
 */
interface RunJson {
  retval: number;
  events: { seq: number; run: number; step: number; insn: number; kind: string; object: number; owner: string | null }[];
  objects: { id: number; freeSeq: number | null }[];
}

const OBJ = join(ROOT, 'resources/progs/list.bpf.o');
let dir = '';
let trace = '';
let json: RunJson;
let programId = 0;
let steps: { step: number; insn: number; regs: string[]; changed: number[] }[] = [];

test.beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'bpfscope-e2e-run-'));
  trace = join(dir, 'run.trace');
  cli('run', OBJ, '-p', 'list_mixed', '--trace-insns', '--free-maps', '-o', trace);
  json = JSON.parse(cli('run', OBJ, '-p', 'list_mixed', '--free-maps', '--json')) as RunJson;
  const db = openTrace(trace, { readonly: true });
  programId = (db.prepare("SELECT id FROM programs WHERE origin = 'run'").get() as { id: number }).id;
  steps = readInsnTrace(db, programId, 1, 1_000_000);
  // The stored events are the ones --json prints (same program, same input, deterministic).
  expect(listAllocEvents(db, programId).map((e) => [e.seq, e.kind, e.object, e.step])).toEqual(json.events.map((e) => [e.seq, e.kind, e.object, e.step]));
  db.close();
});
test.afterAll(() => rmSync(dir, { recursive: true, force: true }));

const step = (page: Page) => page.getByLabel('Current step');
const region = (page: Page, name: string) => page.getByRole('region', { name, exact: true });
const hex16 = (v: string): string => '0x' + BigInt(v).toString(16).padStart(16, '0');

test('a concrete run steps like a verification: insn and registers after it equal the stored trace', async ({ openApp }) => {
  // Every step of the run times 11 registers times 3 checks: over 60 s on a loaded 2-core machine.
  test.setTimeout(240_000);
  const page = await openApp(trace);
  await expect(page.getByLabel('Program').locator('option')).toHaveCount(1);
  await expect(page.getByLabel('Program').locator('option').first()).toContainText('list_mixed — concrete run');
  await expect(page.locator('#step-total')).toHaveText(` / ${steps.length}`);
  // The listing is the instructions (no verifier log), executions counted by the run.
  const listing = region(page, 'Listing').getByLabel('Instructions');
  await expect(listing).toBeVisible();
  await page.keyboard.press('Home');
  const regs = region(page, 'Registers');
  for (let s = 0; s < steps.length; s++) {
    if (s > 0) await page.keyboard.press(s % 2 ? 'j' : 'ArrowDown');
    await expect(step(page)).toHaveAttribute('data-ready', String(s));
    const row = steps[s];
    await expect(page.locator('#step-where')).toContainText(`insn ${row.insn} `);
    await expect(listing.locator('.vrow[aria-current=step] .ln')).toHaveText(`${row.insn}:`);
    for (let r = 0; r < 11; r++) {
      const tr = regs.locator(`tr[data-reg=R${r}]`);
      await expect(tr.locator('td.hex')).toHaveText(hex16(row.regs[r]));
      await expect(tr.locator('td.dec')).toHaveText(BigInt(row.regs[r]).toString());
      await expect(tr).toHaveClass(row.changed.includes(r) ? /changed/ : /^(?!.*changed)/);
    }
  }
  // The last instruction is the exit: R0 is what `bpfscope run --json` returned.
  expect(BigInt(steps[steps.length - 1].regs[0])).toBe(BigInt(json.retval));
  await expect(region(page, 'References').locator('[data-run="0"] .retval')).toHaveText(`retval ${json.retval}`);
  // Clicking R8 goes to the step whose instruction last wrote it.
  await page.keyboard.press('Home');
  await page.getByLabel('Go to').fill('40');
  await page.getByLabel('Go to').press('Enter');
  await expect(step(page)).toHaveAttribute('data-ready', '40');
  await regs.locator('tr[data-reg=R8]').click();
  const writer = [...steps.keys()].filter((s) => s <= 40 && steps[s].changed.includes(8)).pop()!;
  await expect(step(page)).toHaveText(String(writer));
  // n: the next execution of the same insn (list_mixed's loop runs its body 4 times).
  const insn = steps[writer].insn;
  const again = steps.findIndex((r, s) => s > writer && r.insn === insn);
  if (again >= 0) {
    await page.keyboard.press('n');
    await expect(step(page)).toHaveText(String(again));
  }
});

test('a concrete run\'s object lifetimes: a lane per object, the events of `run --json` on the step axis, owners over time', async ({ openApp }, info) => {
  const page = await openApp(trace);
  const lifetimes = region(page, 'Object lifetimes');
  const byObject = new Map<number, RunJson['events']>();
  for (const e of json.events) byObject.set(e.object, [...(byObject.get(e.object) ?? []), e]);
  expect(byObject.size).toBe(json.objects.length);
  for (const [obj, evs] of byObject) {
    const lane = lifetimes.locator(`g.lane.obj[data-object="${obj}"]`);
    await expect(lane).toHaveCount(1);
    const marks = lane.locator('path.mark');
    await expect(marks).toHaveCount(evs.length);
    expect(await marks.evaluateAll((ms) => ms.map((m) => m.getAttribute('data-kind')))).toEqual(evs.map((e) => e.kind));
    // One owner segment per event that leaves the object owned and is followed by another.
    const owners = evs.slice(0, -1).map((e) => e.owner).filter((o): o is string => o !== null);
    expect(await lane.locator('g.owner').evaluateAll((gs) => gs.map((g) => g.getAttribute('data-owner')))).toEqual(owners);
  }
  // After --free-maps no object is alive; the map free is drawn after the last step.
  expect(json.objects.every((o) => o.freeSeq !== null)).toBe(true);
  await expect(region(page, 'References').locator('tr.alive')).toHaveCount(0);
  // A mark is a step of the run: clicking a push goes to the step of that insn.
  const push = json.events.find((e) => e.kind.startsWith('push'))!;
  await lifetimes.locator(`g.lane.obj[data-object="${push.object}"] path.mark[data-seq="${push.seq}"]`).click();
  await expect(step(page)).toHaveText(String(push.step - 1));
  await expect(page.locator('#step-where')).toContainText(`insn ${push.insn} `);
  await expect(step(page)).toHaveAttribute('data-ready', String(push.step - 1));
  // Run result: each object's owner at this step is the owner after its last event up to here.
  for (const o of json.objects) {
    const upTo = json.events.filter((e) => e.object === o.id && e.run === 0 && e.step <= push.step);
    const want = upTo.length ? (upTo[upTo.length - 1].owner ?? 'freed') : '';
    await expect(region(page, 'References').locator(`tr[data-object="${o.id}"] td.now`)).toHaveAttribute('data-owner', want);
  }
  expect(push.owner).toMatch(/^list /);
  await expect(region(page, 'References').locator(`tr[data-object="${push.object}"] td.now`)).toHaveText(push.owner!);
  await page.screenshot({ path: info.outputPath('run.png') });
});
