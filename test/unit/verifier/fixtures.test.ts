import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createTrace } from '../../../main/trace/db';
import { writeVerifierLog } from '../../../main/trace/verifier';
import {
  errorsAndWarnings, listPaths, listRefs, markPreciseEvents, readLogLines, readSteps, refLifetime, stateAtStep, stepsForInsn,
} from '../../../main/trace/verifierRead';
import { expectPrintedStatesEqual } from '../../helpers/printed-states';

const DIR = path.resolve(__dirname, '../../fixtures/logs');
const logs = readdirSync(DIR).filter((f) => f.endsWith('.log')).sort();
const tmp = mkdtempSync(path.join(os.tmpdir(), 'bpfscope-verifier-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function newProgram(file: string): { db: ReturnType<typeof createTrace>; pid: number } {
  const db = createTrace(path.join(tmp, `${path.basename(file)}.trace`));
  const pid = Number(db.prepare("INSERT INTO programs(name, origin, created_at) VALUES ('p', 'import', 'now')").run().lastInsertRowid);
  return { db, pid };
}

describe('fixture logs printed by this kernel', () => {
  it('has fixture logs', () => {
    expect(logs.length).toBeGreaterThan(10);
  });
  for (const f of logs) {
    it(`${f}: no mismatches, no unknown state, deltas equal the raw state`, async () => {
      const text = readFileSync(path.join(DIR, f), 'utf8');
      const { db, pid } = newProgram(f);
      // A small checkpoint spacing makes most states come from replay.
      const s = await writeVerifierLog(db, pid, text, { checkpointEvery: 7 });
      expect(s.mismatches).toBe(0);
      expect(s.unknownItems).toBe(0);
      const unknown = errorsAndWarnings(db, pid).filter((m) => m.severity === 'unknown');
      // Unknown lines may exist but none may look like state.
      for (const u of unknown) expect(u.text).not.toMatch(/\bR\d+(_\w+)?=|fp-\d+=/);
      expect(s.warnings).toBe(0);
      const hasStats = /^processed \d+ insns/m.test(text);
      if (hasStats) expect(s.verdict).toBe(/^(Unreleased reference|R\d+ invalid|bpf_spin_lock at)/m.test(text) ? 'rejected' : 'accepted');
      expect(readSteps(db, pid, 0, s.steps).length).toBe(s.steps);
      const checked = expectPrintedStatesEqual(db, pid, s.steps, f);
      if (s.steps > 0) expect(checked).toBeGreaterThan(0);
      expect(listPaths(db, pid).length).toBe(s.paths);
      db.close();
    });
  }

  it('new_drop: the object from bpf_obj_new is acquired and dropped', async () => {
    const { db, pid } = newProgram('nd');
    await writeVerifierLog(db, pid, readFileSync(path.join(DIR, 'new_drop.new_drop.log'), 'utf8'));
    const refs = listRefs(db, pid).filter((r) => r.kind === 'object');
    expect(refs.length).toBeGreaterThan(0);
    const life = refLifetime(db, pid, refs[0].refObjId);
    expect(life.ref?.func).toMatch(/^bpf_obj_new/);
    expect(life.events.map((e) => e.kind)).toContain('dropped');
    // Backtracking after the bpf_obj_new call marks its size argument precise.
    const acquire = life.ref?.acquireStep ?? 0;
    const precise = markPreciseEvents(db, pid, 0, acquire);
    expect(precise.some((p) => p.event.kind === 'range')).toBe(true);
    expect(precise.some((p) => p.event.kind === 'before' && p.event.regs === 'r1')).toBe(true);
    for (const p of precise) expect(readLogLines(db, pid, p.line, 1)[0].text).toMatch(/^mark_precise: /);
    // The steps that visit the acquiring call are instruction lines of that insn.
    const visits = stepsForInsn(db, pid, life.ref?.acquireInsn ?? -1);
    expect(visits.length).toBeGreaterThan(0);
    for (const v of visits) expect(readSteps(db, pid, v, 1)[0].insn).toBe(life.ref?.acquireInsn);
    db.close();
  });

  it('leak_on_branch: the leak names the reference and ends the path with an error', async () => {
    const { db, pid } = newProgram('leak');
    const s = await writeVerifierLog(db, pid, readFileSync(path.join(DIR, 'reject_leak.leak_on_branch.log'), 'utf8'));
    expect(s.verdict).toBe('rejected');
    const life = refLifetime(db, pid, 2);
    expect(life.events.some((e) => e.kind === 'leak')).toBe(true);
    const paths = listPaths(db, pid);
    expect(paths[paths.length - 1].end).toBe('error');
    const last = stateAtStep(db, pid, s.steps - 1);
    expect(last.error).toMatch(/Unreleased reference id=2/);
    const prog = db.prepare('SELECT verdict, processed_insns FROM programs WHERE id = ?').get(pid) as { verdict: string; processed_insns: number };
    expect(prog.verdict).toBe('rejected');
    expect(prog.processed_insns).toBeGreaterThan(0);
    db.close();
  });

  it('list_push: the pushed node becomes non-owning, and the lock shows as held', async () => {
    const { db, pid } = newProgram('push');
    await writeVerifierLog(db, pid, readFileSync(path.join(DIR, 'list.list_push.log'), 'utf8'));
    const objs = listRefs(db, pid).filter((r) => r.kind === 'object');
    const kinds = objs.flatMap((r) => refLifetime(db, pid, r.refObjId).events.map((e) => e.kind));
    expect(kinds).toContain('non_owning');
    const steps = readSteps(db, pid, 0, 100000);
    const locked = steps.some((st) => stateAtStep(db, pid, st.step).lockHeld);
    expect(locked).toBe(true);
    db.close();
  });
});
