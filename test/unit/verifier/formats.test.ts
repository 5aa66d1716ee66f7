/**
 * Logs written by hand in the formats of 5.15, 6.1, 6.6 and 6.12 (from
 * kernel/bpf/verifier.c and log.c of those versions: print_verifier_state,
 * print_liveness, the `;` deltas of print_insn_state from 5.17, the merged
 * range keys of print_scalar_ranges from 6.7, `mark_precise:` from 6.3).
 */
import { readFileSync, rmSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createTrace, type TraceDb } from '../../../main/trace/db';
import { writeVerifierLog, type LogSummary } from '../../../main/trace/verifier';
import {
  insnVisitCounts, listPaths, listRefs, liveRegsTable, logInfo, readSteps, refLifetime, stateAtStep, type StepState,
} from '../../../main/trace/verifierRead';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'bpfscope-formats-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function load(name: string): Promise<{ db: TraceDb; pid: number; s: LogSummary }> {
  const db = createTrace(path.join(tmp, `${name}.trace`));
  const pid = Number(db.prepare("INSERT INTO programs(name, origin, created_at) VALUES ('p', 'import', 'now')").run().lastInsertRowid);
  const s = await writeVerifierLog(db, pid, readFileSync(path.join(__dirname, 'logs', `${name}.log`), 'utf8'), { checkpointEvery: 5 });
  expect(s.mismatches).toBe(0);
  expect(s.unknownLines).toBe(0);
  expect(s.unknownItems).toBe(0);
  return { db, pid, s };
}

/** The state after the instruction line of `insn` (its n-th visit). */
function atInsn(db: TraceDb, pid: number, insn: number, nth = 0): StepState {
  const steps = readSteps(db, pid, 0, 100000).filter((st) => st.insn === insn && st.kind === 'insn');
  return stateAtStep(db, pid, steps[nth].step);
}

describe('hand-written logs of older kernels', () => {
  it('5.15: full states before each insn, inv scalars, legacy omitted keys, paths without from-lines', async () => {
    const { db, pid, s } = await load('v5.15');
    expect(s.verdict).toBe('accepted');
    expect(logInfo(db, pid)?.rangeStyle).toBe('legacy');
    // 5.15 prints the state before an insn on its own line: the step of `10:` carries it.
    const st = readSteps(db, pid, 0, 1000).find((x) => x.kind === 'state' && x.insn === 10);
    const r6 = stateAtStep(db, pid, st!.step).frames[0].regs.R6;
    expect(r6.raw).toBe('inv(id=0,umax_value=255,var_off=(0x0; 0xff))');
    expect([r6.type, r6.smin, r6.smax, r6.umin, r6.umax]).toEqual(['scalar', '0', '255', '0', '255']);
    expect([r6.smin32, r6.smax32, r6.umin32, r6.umax32]).toEqual([0, 255, 0, 255]);
    expect(r6.live).toBe('w');
    const st3 = readSteps(db, pid, 0, 1000).find((x) => x.kind === 'state' && x.insn === 3);
    const r1 = stateAtStep(db, pid, st3!.step).frames[0].regs.R1;
    expect([r1.raw, r1.precise, r1.smin]).toEqual(['invP0', true, '0']);
    const paths = listPaths(db, pid);
    expect(paths.map((p) => [p.fromInsn, p.toInsn, p.end])).toEqual([[null, null, 'exit'], [8, 13, 'exit']]);
    const ptr = stateAtStep(db, pid, st!.step).frames[0].regs.R0;
    expect([ptr.baseType, ptr.off, ptr.ks, ptr.vs, ptr.attrs.imm]).toEqual(['map_value', 0, 4, 8, '0']);
    db.close();
  });

  it('6.1: deltas after ;, scalar() with s32/u32 keys, a bpf-to-bpf call and return', async () => {
    const { db, pid } = await load('v6.1');
    const after = atInsn(db, pid, 15);
    expect(after.frames.length).toBe(2);
    expect(after.frame).toBe(1);
    const r0 = after.frames[1].regs.R0;
    expect([r0.umax, r0.smin, r0.smax, r0.umax32, r0.varOff]).toEqual(['255', '0', '255', 255, { value: '0x0', mask: '0xff' }]);
    // The caller keeps R6 and the stack while the callee runs.
    expect(after.frames[0].regs.R6.raw).toBe('scalar(id=2,umax=4294967295,var_off=(0x0; 0xffffffff))');
    expect(after.frames[0].regs.R1).toBeUndefined();
    const steps = readSteps(db, pid, 0, 1000);
    expect(steps.filter((x) => x.kind === 'call').length).toBe(1);
    const ret = steps.find((x) => x.kind === 'return')!;
    expect(ret.insn).toBe(11);
    expect(stateAtStep(db, pid, ret.step).frames.length).toBe(1);
    const paths = listPaths(db, pid);
    expect(paths.map((p) => p.end)).toEqual(['exit', 'safe']);
    db.close();
  });

  it('6.6: a libbpf-wrapped log, bpf_obj_new with off=0/imm=0 printed, drop, and the NULL branch', async () => {
    const { db, pid, s } = await load('v6.6');
    expect(s.wrappedProgram).toBe('new_drop');
    const refs = listRefs(db, pid);
    expect(refs.map((r) => [r.refObjId, r.func, r.acquireInsn])).toEqual([[2, 'bpf_obj_new_impl', 4]]);
    const kinds = refLifetime(db, pid, 2).events.map((e) => [e.kind, e.insn, e.path]);
    expect(kinds).toEqual([['acquired', 4, 0], ['dropped', 11, 0], ['null_branch', 12, 1]]);
    // bpf_obj_drop takes every copy of the pointer with it.
    const dropped = atInsn(db, pid, 11);
    expect(dropped.frames[0].regs.R7.raw).toBe('scalar()');
    expect(dropped.refs).toEqual([]);
    const before = atInsn(db, pid, 10);
    expect(before.refs).toEqual([{ refObjId: 2, acquireInsn: 4, func: 'bpf_obj_new_impl' }]);
    db.close();
  });

  it('6.12: merged range keys, liveness suffixes, a spilled pointer, the lock, a push that leaves a non-owning ref', async () => {
    const { db, pid } = await load('v6.12');
    const r1 = atInsn(db, pid, 7).frames[0].regs.R1;
    expect([r1.smin, r1.smax, r1.umin, r1.umax, r1.smin32, r1.smax32, r1.umin32, r1.umax32]).toEqual(['0', '255', '0', '255', 0, 255, 0, 255]);
    const spilled = atInsn(db, pid, 13).frames[0].stack['-8'];
    expect([spilled.kind, spilled.value?.refObjId, spilled.value?.pointee, spilled.live]).toEqual(['spill', 2, 'elem', '']);
    expect(atInsn(db, pid, 9).frames[0].stack['-8'].live).toBe('w');
    expect(atInsn(db, pid, 12).lockHeld).toBe(true);
    expect(atInsn(db, pid, 22).lockHeld).toBe(false);
    const pushed = atInsn(db, pid, 19);
    expect(pushed.frames[0].stack['-8'].raw).toBe('ptr_elem(non_own_ref)');
    expect(pushed.frames[0].stack['-8'].value?.nonOwnRef).toBe(true);
    // The unlock invalidates non-owning references.
    expect(atInsn(db, pid, 22).frames[0].stack['-8'].raw).toBe('scalar()');
    expect(refLifetime(db, pid, 2).events.map((e) => e.kind)).toEqual(['acquired', 'non_owning', 'null_branch']);
    db.close();
  });
});

describe('newer kernels', () => {
  it('7.x: bare bpf_obj_new, the leak, and the Reason / Causal path / Suggestion blocks', async () => {
    const { db, pid, s } = await load('v7');
    expect(s.verdict).toBe('rejected');
    expect(s.errors).toEqual([
      'Unreleased reference id=2 alloc_insn=4',
      'BPF_EXIT instruction in main prog would lead to reference leak',
      'Reason: the object allocated at insn 4 is still referenced by the program at exit',
      'Causal path: 4 -> 5 -> 6 -> 7 -> 8 -> 9',
      'Suggestion: release it with bpf_obj_drop() or hand it to a collection before returning',
    ]);
    expect(listRefs(db, pid).map((r) => [r.refObjId, r.func])).toEqual([[2, 'bpf_obj_new']]);
    expect(refLifetime(db, pid, 2).events.map((e) => e.kind)).toEqual(['acquired', 'leak']);
    const last = stateAtStep(db, pid, s.steps - 1);
    expect(last.error).toMatch(/^Unreleased reference id=2 alloc_insn=4\n/);
    expect(last.refs.map((r) => r.refObjId)).toEqual([2]);
    const prog = db.prepare('SELECT verdict, error, processed_insns, verification_time_us, stack_depth FROM programs WHERE id = ?').get(pid);
    expect(prog).toEqual({ verdict: 'rejected', error: s.errors.join('\n'), processed_insns: 9, verification_time_us: 98, stack_depth: '0' });
    expect(listPaths(db, pid).map((p) => p.end)).toEqual(['error']);
    expect(liveRegsTable(db, pid).slice(0, 2)).toEqual([{ insn: 0, live: '.1........' }, { insn: 1, live: '......6...' }]);
    expect(insnVisitCounts(db, pid).map((v) => v.insn)).toEqual([0, 1, 3, 4, 5, 6, 7, 8, 9]);
    db.close();
  });
});

describe('wrappers', () => {
  it('veristat -v and selftest wrappers are recognised, not flagged', async () => {
    const log = readFileSync(path.join(__dirname, 'logs', 'v6.12.log'), 'utf8');
    const veristat = [
      "Processing 'list.bpf.o'...",
      'PROCESSING list.bpf.o/push, DURATION US: 120, VERDICT: success, VERIFIER LOG:',
      log.trimEnd(),
      'File        Program  Verdict  Duration (us)  Insns  States  Peak states',
      '----------  -------  -------  -------------  -----  ------  -----------',
      'list.bpf.o  push     success            120     24       2            2',
      '----------  -------  -------  -------------  -----  ------  -----------',
      'Done. Processed 1 files, 0 programs. Skipped 0 files, 0 programs.',
    ].join('\n');
    const selftest = ['VERIFIER LOG:', '=============', log.trimEnd(), '============='].join('\n');
    for (const [name, text] of [['veristat', veristat], ['selftest', selftest]]) {
      const db = createTrace(path.join(tmp, `${name}.trace`));
      const pid = Number(db.prepare("INSERT INTO programs(name, origin, created_at) VALUES ('p', 'import', 'now')").run().lastInsertRowid);
      const s = await writeVerifierLog(db, pid, text);
      expect(s.steps).toBe(25);
      expect(s.verdict).toBe('accepted');
      // The veristat table's data row is the one line no wrapper rule knows: kept and flagged, never state.
      expect(s.unknownLines).toBe(name === 'veristat' ? 1 : 0);
      expect(s.mismatches).toBe(0);
      db.close();
    }
  });
});
