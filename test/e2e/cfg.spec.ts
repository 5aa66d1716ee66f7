import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Page } from '@playwright/test';
import type { CfgGraph, CfgPath } from '../../main/api/contract';
import { cli, expect, importTrace, test } from './fixtures';

/**
 * The CFG view as a person uses it: open it (the CFG button, or c), see the
 * blocks (as many as `bpfscope cfg --json` has), click one to go to its
 * first visit, step with the keys and watch the highlight follow. On the
 * real logs of subprog.c's subprog_calls (three subprograms linked by
 * calls) and reject_leak.c's leak_on_branch (rejected: the failing path).
 */
let trace = '';
test.beforeAll(() => {
  trace = importTrace('cfg', [
    ['test/fixtures/logs/subprog.subprog_calls.log', 'resources/progs/subprog.bpf.o', 'subprog_calls'],
    ['test/fixtures/logs/reject_leak.leak_on_branch.log', 'resources/progs/reject_leak.bpf.o', 'leak_on_branch'],
  ]);
});
test.afterAll(() => rmSync(dirname(trace), { recursive: true, force: true }));

const graphOf = (prog: string): CfgGraph => JSON.parse(cli('cfg', trace, '-p', prog, '--json')) as CfgGraph;
const step = (page: Page) => page.getByLabel('Current step');
const cfg = (page: Page) => page.getByRole('region', { name: 'CFG', exact: true });

async function pick(page: Page, name: string): Promise<void> {
  const picker = page.getByLabel('Program', { exact: true });
  const value = await picker.locator('option', { hasText: name }).getAttribute('value');
  await picker.selectOption(value!);
  await expect(step(page)).toHaveAttribute('data-ready', /\d+/);
}

/** The insn of the cursor's step, as the bar shows it. */
async function cursorInsn(page: Page): Promise<number> {
  await expect(page.locator('#step-where')).toContainText('insn ');
  return Number(/insn (\d+)/.exec((await page.locator('#step-where').textContent()) ?? '')![1]);
}

const blockOf = (g: CfgGraph, insn: number): number => g.blocks.find((b) => b.insns.includes(insn))!.id;

test('the blocks of every subprogram, a click goes to the first visit, the keys move the highlight', async ({ openApp }, info) => {
  const g = graphOf('subprog_calls');
  expect(g.funcs.length).toBe(3);
  const page = await openApp(trace);
  await pick(page, 'subprog_calls');
  await page.getByRole('button', { name: 'CFG', exact: true }).click();
  const view = cfg(page);
  await expect(view).toHaveAttribute('data-state', 'ready');
  // One node per block (nothing is collapsed or culled on a program this size), one frame per subprogram.
  await expect(view.locator('g.cfg-node.block')).toHaveCount(g.blocks.length);
  await expect(view.locator('g.cfg-func')).toHaveCount(3);
  await expect(view.locator('.cfg-func-title')).toContainText(['subprog_calls', 'mix', 'clamp_global'].map((n) => new RegExp(n)));
  // Call edges link the subprograms.
  await expect(view.locator('path.cfg-edge.call')).toHaveCount(g.edges.filter((e) => e.kind === 'call').length);
  // Heat: the most visited block has the darkest fill.
  const hottest = g.blocks.reduce((a, b) => (b.visits > a.visits ? b : a));
  await expect(view.locator(`g.cfg-node[data-block="${hottest.id}"] rect`)).toHaveAttribute('data-heat', '9');

  // Step 0 is in the entry block.
  await expect(view).toHaveAttribute('data-current', String(blockOf(g, await cursorInsn(page))));
  await page.screenshot({ path: info.outputPath('cfg-subprog.png') });

  // A click on a block: the cursor goes to its first visit, and the block is the current one.
  const target = g.blocks.filter((b) => b.firstStep !== null && b.firstStep > 0).at(-1)!;
  await view.locator(`g.cfg-node[data-block="${target.id}"]`).click();
  await expect(step(page)).toHaveAttribute('data-ready', String(target.firstStep));
  await expect(view).toHaveAttribute('data-current', String(target.id));
  await expect(view.locator(`g.cfg-node[data-block="${target.id}"]`)).toHaveClass(/\bcur\b/);
  // The history to it is lit: the blocks and edges `cfg --step N` names.
  await expect(view).toHaveAttribute('data-path-step', String(target.firstStep));
  const path = JSON.parse(cli('cfg', trace, '-p', 'subprog_calls', '--json', '--step', String(target.firstStep))) as CfgPath;
  expect(path.blocks.length).toBeGreaterThan(1);
  const lit = view.locator('g.cfg-node.on-path');
  await expect(lit).toHaveCount(new Set(path.blocks).size);
  expect((await lit.evaluateAll((ns) => ns.map((n) => Number(n.getAttribute('data-block'))))).sort()).toEqual([...new Set(path.blocks)].sort());
  await expect(view.locator('path.cfg-edge.on-path')).toHaveCount(new Set(path.edges).size);

  // The step keys: back to 0, then forward until the block changes; the highlight is the new step's insn's block.
  await page.keyboard.press('Home');
  await expect(step(page)).toHaveAttribute('data-ready', '0');
  const first = blockOf(g, await cursorInsn(page));
  await expect(view).toHaveAttribute('data-current', String(first));
  let moved = false;
  for (let i = 1; i < 30 && !moved; i++) {
    await page.keyboard.press('j');
    await expect(step(page)).toHaveAttribute('data-ready', String(i));
    const b = blockOf(g, await cursorInsn(page));
    await expect(view).toHaveAttribute('data-current', String(b));
    await expect(view.locator(`g.cfg-node[data-block="${b}"]`)).toHaveClass(/\bcur\b/);
    moved = b !== first;
  }
  expect(moved).toBe(true);
  await expect(view.locator('g.cfg-node.cur')).toHaveCount(1);
  await page.screenshot({ path: info.outputPath('cfg-stepped.png') });

  // c closes it, c opens it again.
  await page.keyboard.press('c');
  await expect(view).toBeHidden();
  await page.keyboard.press('c');
  await expect(view).toBeVisible();
});

test('a rejected program: the failing path in red, pruned marks', async ({ openApp }, info) => {
  const g = graphOf('leak_on_branch');
  expect(g.failing).not.toBeNull();
  const page = await openApp(trace);
  await pick(page, 'leak_on_branch');
  await page.keyboard.press('c');
  const view = cfg(page);
  await expect(view).toHaveAttribute('data-state', 'ready');
  await expect(view.locator('g.cfg-node.block')).toHaveCount(g.blocks.length);
  await expect(view.locator('g.cfg-node.failing')).toHaveCount(new Set(g.failing!.blocks).size);
  await expect(view.locator('path.cfg-edge.failing')).toHaveCount(new Set(g.failing!.edges).size);
  await expect(view.locator('g.cfg-node.has-pruned')).toHaveCount(g.blocks.filter((b) => b.pruned > 0).length);
  await expect(view.locator('path.cfg-edge.pruned')).toHaveCount(g.edges.filter((e) => e.prunedAfter > 0).length);
  // e: the first error; its block is the current one and on the failing path.
  await page.keyboard.press('e');
  await expect(view.locator('g.cfg-node.cur')).toHaveClass(/failing/);
  // Zoom with the wheel: the transform changes, the nodes stay.
  const before = await view.locator('g.cfg-viewport').getAttribute('transform');
  await view.locator('svg.cfg-svg').hover();
  await page.mouse.wheel(0, -400);
  await expect.poll(() => view.locator('g.cfg-viewport').getAttribute('transform')).not.toBe(before);
  await page.keyboard.press('f');
  await page.screenshot({ path: info.outputPath('cfg-failing.png') });
});
