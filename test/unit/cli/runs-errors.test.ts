import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import type { TraceInfo } from '../../../main/api/contract';
import { createHandlers } from '../../../main/api/handlers';
import { errorLines } from '../../../main/trace/errorLines';
import { bpfscopeInProcess } from '../../helpers/cli';
import { REPO_ROOT } from '../../helpers/ref';

/**
 * `runs` and the app keep the kernel's final error line apart from the lines
 * before it (issue 11): `error` is the final line, `errors` every error line
 * in order. The log is the one 6.18 printed for a call of a global function
 * `int glob(void *p)` (test/unit/verifier/diagnostics.test.ts makes the
 * kernel print it): two error lines, the second the final one.
 */
const LOG = `func#0 @0
func#1 @4
0: R1=ctx() R10=fp0
; SEC("tc") int global_void(struct __sk_buff *skb) { long x = 0; return glob(&x); } @ diag.bpf.c:24
0: (bf) r1 = r10                      ; R1=fp0 R10=fp0
1: (07) r1 += -8                      ; R1=fp-8
2: (85) call pc+1
arg#0 reference type('UNKNOWN ') size cannot be determined: -22
Caller passes invalid args into func#1 ('glob')
verification time 162 usec
stack depth 0+0
processed 3 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0
`;
const FIRST = "arg#0 reference type('UNKNOWN ') size cannot be determined: -22";
const FINAL = "Caller passes invalid args into func#1 ('glob')";

const work = mkdtempSync(path.join(os.tmpdir(), 'bpfscope-runs-errors-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface RunJson { program: string; error: string | null; errors: string[] }

async function runsJson(trace: string): Promise<RunJson[]> {
  const r = await bpfscopeInProcess(['runs', trace, '--json']);
  expect(r.code, r.err).toBe(0);
  return JSON.parse(r.out) as RunJson[];
}

describe('runs: the final error line apart from the others', () => {
  const trace = path.join(work, 'glob.trace');
  const log = path.join(work, 'glob.log');

  it('--json: error is the final line, errors every line in order', async () => {
    writeFileSync(log, LOG);
    expect((await bpfscopeInProcess(['import', log, '-p', 'global_void', '-o', trace])).code).toBe(0);
    expect(await runsJson(trace)).toEqual([expect.objectContaining({ program: 'global_void', error: FINAL, errors: [FIRST, FINAL] })]);
  });

  it('the table shows the final line, the earlier ones after it', async () => {
    const r = await bpfscopeInProcess(['runs', trace]);
    const row = r.out.split('\n').find((l) => l.startsWith('global_void'))!;
    expect(row).toContain(`${FINAL} (after: ${FIRST})`);
    expect(row.indexOf(FINAL)).toBeLessThan(row.indexOf(FIRST));
  });

  it('an accepted program has no error and no error lines; a single line is both', async () => {
    expect(errorLines(null)).toEqual({ error: null, errors: [] });
    expect(errorLines('R0 !read_ok')).toEqual({ error: 'R0 !read_ok', errors: ['R0 !read_ok'] });
    expect(errorLines(`${FIRST}\n${FINAL}`)).toEqual({ error: FINAL, errors: [FIRST, FINAL] });
  });

  it('a trace written before the split opens the same way (the committed example trace, and a joined error row)', async () => {
    const old = path.join(work, 'example.trace');
    copyFileSync(path.join(REPO_ROOT, 'resources/example.trace'), old);
    const rows = await runsJson(old);
    expect(rows.length).toBeGreaterThan(0);
    for (const r of rows) expect(r.errors.length > 0 ? r.errors[r.errors.length - 1] : null).toBe(r.error);
    // The stored column is the joined lines, as every earlier version wrote it.
    const db = new Database(old);
    db.prepare('UPDATE programs SET verdict = ?, error = ? WHERE id = (SELECT min(id) FROM programs)').run('rejected', `${FIRST}\n${FINAL}`);
    db.close();
    expect((await runsJson(old))[0]).toMatchObject({ error: FINAL, errors: [FIRST, FINAL] });
  });

  it("the app's program list gets the same: error final, errors in order", async () => {
    const h = createHandlers();
    try {
      const info = (await h.dispatch('trace:open', [trace])) as TraceInfo;
      expect(info.programs.map((p) => [p.name, p.error, p.errors])).toEqual([['global_void', FINAL, [FIRST, FINAL]]]);
    } finally {
      h.close();
    }
  });
});
