/**
 * An insn whose `;` state the kernel could not print on the insn's own line
 * (something else was printed in between: `SCC enter (1)` on 6.18, the
 * mark_precise backtracking lines, or, on older kernels, nothing at all but
 * the full state before every insn) has its state on the next line of its
 * own, `N: R7=0`, labelled with the insn the verifier goes on to. The insn's
 * step must show that state: the state after the insn, as every other insn
 * step does, not the one before it with R7 not init.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createTrace } from '../../../main/trace/db';
import { writeVerifierLog } from '../../../main/trace/verifier';
import { readLogLines, readSteps, stateAtStep } from '../../../main/trace/verifierRead';
import { lexLine } from '../../../main/verifier/lexer';

const DIR = path.resolve(__dirname, '../../fixtures/logs');
/** Every committed log this kernel's and the older kernels' VMs printed (the top folder and one folder per kernel). */
const logs = [
  ...readdirSync(DIR).filter((f) => f.endsWith('.log')),
  ...readdirSync(DIR).filter((d) => statSync(path.join(DIR, d)).isDirectory()).flatMap((d) => readdirSync(path.join(DIR, d)).filter((f) => f.endsWith('.log')).map((f) => `${d}/${f}`)),
].sort();
const tmp = mkdtempSync(path.join(os.tmpdir(), 'bpfscope-cutoff-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let n = 0;
async function load(file: string) {
  const db = createTrace(path.join(tmp, `${n++}.trace`));
  const pid = Number(db.prepare("INSERT INTO programs(name, origin, created_at) VALUES ('p', 'import', 'now')").run().lastInsertRowid);
  const s = await writeVerifierLog(db, pid, readFileSync(path.join(DIR, file), 'utf8'), { checkpointEvery: 7 });
  return { db, pid, steps: readSteps(db, pid, 0, s.steps) };
}

describe('an insn whose state is printed on a line of its own', () => {
  it('has such insns in the fixtures (else the test below checks nothing)', async () => {
    let cut = 0;
    for (const f of logs.filter((l) => !l.includes('level1'))) {
      const { db, pid, steps } = await load(f);
      for (const st of steps) {
        const l = lexLine(readLogLines(db, pid, st.line, 1)[0].text);
        if (st.kind === 'insn' && l.kind === 'insn' && l.delta === null && steps[st.step + 1]?.kind === 'state') cut++;
      }
      db.close();
    }
    expect(cut).toBeGreaterThan(10);
  });

  for (const f of logs.filter((l) => !l.includes('level1'))) {
    it(`${f}: the insn's step shows the state that line prints (the state after the insn)`, async () => {
      const { db, pid, steps } = await load(f);
      for (const st of steps) {
        const next = steps[st.step + 1];
        if (st.kind !== 'insn' || next?.kind !== 'state' || next.frame !== st.frame) continue;
        const l = lexLine(readLogLines(db, pid, st.line, 1)[0].text);
        if (l.kind !== 'insn' || l.delta !== null) continue;
        const at = stateAtStep(db, pid, st.step);
        const line = stateAtStep(db, pid, next.step);
        expect(at.frames, `${f} step ${st.step} insn ${st.insn} (${l.text}) against the line of step ${next.step}`).toEqual(line.frames);
        expect(at.refs).toEqual(line.refs);
      }
      db.close();
    });
  }

  it('compute.count_bytes (6.18, `SCC enter` between `r7 = 0` and its state): the insn step has R7=0', async () => {
    const { db, pid, steps } = await load('compute.count_bytes.log');
    const st = steps.find((s) => s.kind === 'insn' && /^r7 = 0$/.test((lexLine(readLogLines(db, pid, s.line, 1)[0].text) as { text?: string }).text ?? ''));
    expect(st, 'the fixture has the r7 = 0 insn').toBeDefined();
    const at = stateAtStep(db, pid, st!.step);
    expect(at.frames[at.frames.length - 1].regs.R7?.raw).toBe('0');
    // ...and the step before it did not have R7 yet: the value comes from this insn.
    const before = stateAtStep(db, pid, st!.step - 1);
    expect(before.frames[before.frames.length - 1].regs.R7).toBeUndefined();
    db.close();
  });
});
