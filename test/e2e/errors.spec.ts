import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, expect, test } from './fixtures';

/**
 * The verdict bar and the program list keep the kernel's final error line
 * apart from the lines before it (issue 11): the bar shows the final line,
 * its tooltip every error line in order with the final one marked. The log
 * is the one 6.18 printed for a call of `int glob(void *p)` (two error lines).
 */
const FIRST = "arg#0 reference type('UNKNOWN ') size cannot be determined: -22";
const FINAL = "Caller passes invalid args into func#1 ('glob')";
const LOG = [
  'func#0 @0', 'func#1 @4', '0: R1=ctx() R10=fp0',
  '0: (bf) r1 = r10                      ; R1=fp0 R10=fp0', '1: (07) r1 += -8                      ; R1=fp-8', '2: (85) call pc+1',
  FIRST, FINAL, 'verification time 162 usec', 'stack depth 0+0',
  'processed 3 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0', '',
].join('\n');

let dir = '';
let trace = '';
test.beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'bpfscope-e2e-errors-'));
  writeFileSync(join(dir, 'glob.log'), LOG);
  trace = join(dir, 'glob.trace');
  cli('import', join(dir, 'glob.log'), '-p', 'global_void', '-o', trace);
});
test.afterAll(() => rmSync(dir, { recursive: true, force: true }));

test('the final error line in the bar, every error line on hover', async ({ openApp }, info) => {
  const page = await openApp(trace);
  const verdict = page.locator('#verdict');
  await expect(verdict).toHaveText(`rejected: ${FINAL}`);
  await expect(verdict).toHaveAttribute('title', `${FIRST}\nfinal: ${FINAL}`);
  await expect(page.getByLabel('Program').locator('option').first()).toHaveAttribute('title', `${FIRST}\nfinal: ${FINAL}`);
  await page.screenshot({ path: info.outputPath('errors.png') });
});
