import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { kernelSkipReason, kernelTitle } from '../../helpers/kernel';
import { FIXTURE_LOGS_DIR, PROGS_DIR, refLoad } from '../../helpers/ref';
import { createTrace } from '../../../main/trace/db';
import { writeVerifierLog } from '../../../main/trace/verifier';
import { readLogLines, readSteps, stateAtStep } from '../../../main/trace/verifierRead';
import { lexLine } from '../../../main/verifier/lexer';
import { parseStateText } from '../../../main/verifier/stateText';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'bpfscope-vkernel-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Every example program with a fixture log: OBJECT.PROGRAM.log. */
const programs = readdirSync(FIXTURE_LOGS_DIR)
  .filter((f) => /^[a-z_]+\.[a-z_0-9]+\.log$/.test(f))
  .map((f) => f.split('.').slice(0, 2) as [string, string]);

describe.skipIf(!!kernelSkipReason())(kernelTitle('fresh logs from this kernel'), () => {
  for (const [obj, prog] of programs) {
    it(`${obj}/${prog}: the log printed now reconstructs with no mismatch and matches the verdict`, async () => {
      const r = await refLoad(`${obj}.bpf.o`, prog, { logLevel: 2 });
      const db = createTrace(path.join(tmp, `${obj}.${prog}.trace`));
      const pid = Number(db.prepare("INSERT INTO programs(name, origin, created_at) VALUES (?, 'import', 'now')").run(prog).lastInsertRowid);
      const s = await writeVerifierLog(db, pid, r.log, { checkpointEvery: 9 });
      expect(s.mismatches).toBe(0);
      expect(s.unknownItems).toBe(0);
      expect(s.verdict).toBe(r.verdict === 'accepted' ? 'accepted' : 'rejected');
      for (const st of readSteps(db, pid, 0, s.steps)) {
        const line = lexLine(readLogLines(db, pid, st.line, 1)[0].text);
        if (line.kind !== 'insn' || line.delta === null) continue;
        const state = stateAtStep(db, pid, st.step);
        let frame = 0;
        for (const item of parseStateText(line.delta)) {
          if (item.kind === 'frame') frame = item.frame;
          if (item.kind === 'reg') expect(state.frames[frame].regs[`R${item.reg}`]?.raw).toBe(item.raw);
        }
      }
      db.close();
    });
  }
  it('has example programs', () => {
    expect(programs.length).toBeGreaterThan(10);
    expect(PROGS_DIR).toBeTruthy();
  });
});
