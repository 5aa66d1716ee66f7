/**
 * Log formats of other kernels. 6.1 and 6.12 are real logs, printed by
 * Debian's 6.1.0-50 and 6.12.100 kernels in a VM (test/fixtures/logs/6.1,
 * 6.12; every one of them is also checked state by state in kernels.test.ts).
 * 5.15, 6.6 and the 7.x blocks are still written by hand, from
 * kernel/bpf/verifier.c and log.c of those versions (print_verifier_state,
 * print_liveness, the `;` deltas of print_insn_state from 5.17, the merged
 * range keys of print_scalar_ranges from 6.7), because no image of those
 * kernels can be installed here.
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

/** Real logs of other kernels (test/ref/capture-logs.ts --kernel). */
const REAL = path.resolve(__dirname, '../../fixtures/logs');

async function loadReal(kernel: string, name: string): Promise<{ db: TraceDb; pid: number; s: LogSummary }> {
  const db = createTrace(path.join(tmp, `real-${kernel}-${name}.trace`));
  const pid = Number(db.prepare("INSERT INTO programs(name, origin, created_at) VALUES ('p', 'import', 'now')").run().lastInsertRowid);
  const s = await writeVerifierLog(db, pid, readFileSync(path.join(REAL, kernel, `${name}.log`), 'utf8'), { checkpointEvery: 5 });
  expect([s.mismatches, s.unknownLines, s.unknownItems]).toEqual([0, 0, 0]);
  return { db, pid, s };
}

/** The state after the instruction line of `insn` (its n-th visit). */
function atInsn(db: TraceDb, pid: number, insn: number, nth = 0): StepState {
  const steps = readSteps(db, pid, 0, 100000).filter((st) => st.insn === insn && st.kind === 'insn');
  return stateAtStep(db, pid, steps[nth].step);
}

describe('logs of older kernels', () => {
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

  it('6.1 (real: compute.loop_callback on 6.1.0-50): legacy range keys, a bpf_loop callback frame and its return', async () => {
    const { db, pid, s } = await loadReal('6.1', 'compute.loop_callback');
    expect(s.verdict).toBe('accepted');
    expect(logInfo(db, pid)?.rangeStyle).toBe('legacy');
    // 6.1 prints each range key on its own: umin=4,umax=19 with the 32-bit ones left implied.
    const r1 = atInsn(db, pid, 4).frames[0].regs.R1;
    expect(r1.raw).toBe('scalar(umin=4,umax=19,var_off=(0x0; 0x1f))');
    expect([r1.umin, r1.umax, r1.smin, r1.smax, r1.umin32, r1.umax32, r1.varOff]).toEqual(['4', '19', '4', '19', 4, 19, { value: '0x0', mask: '0x1f' }]);
    // The callback runs in frame 1, its R2 pointing at the caller's fp-8.
    const inCb = atInsn(db, pid, 16);
    expect([inCb.frames.length, inCb.frame]).toEqual([2, 1]);
    expect([inCb.frames[1].regs.R2.raw, inCb.frames[1].regs.R2.off]).toEqual(['fp-8', -8]);
    const steps = readSteps(db, pid, 0, 1000);
    expect(steps.filter((x) => x.kind === 'call').map((x) => [x.insn, x.frame])).toEqual([[10, 1]]);
    const ret = steps.find((x) => x.kind === 'return')!;
    expect(ret.insn).toBe(11);
    expect(stateAtStep(db, pid, ret.step).frames.length).toBe(1);
    // Back in the caller the callee wrote acc through the pointer: fp-8 is misc bytes.
    expect(atInsn(db, pid, 11).frames[0].stack['-8'].raw).toBe('mmmmmmmm');
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

  it('6.12 (real: list.list_push on 6.12.100): merged range keys, three objects, the lock, pushes that leave non-owning refs', async () => {
    const { db, pid, s } = await loadReal('6.12', 'list.list_push');
    expect(s.verdict).toBe('accepted');
    expect(logInfo(db, pid)?.rangeStyle).toBe('modern');
    // smin=0,smax=umax=0xffffffff: one value for two keys, the 32-bit ones implied.
    const r9 = atInsn(db, pid, 12).frames[0].regs.R9;
    expect([r9.smin, r9.smax, r9.umin, r9.umax, r9.smin32, r9.smax32, r9.umin32, r9.umax32]).toEqual(['0', '4294967295', '0', '4294967295', -2147483648, 2147483647, 0, 4294967295]);
    expect(listRefs(db, pid).map((r) => [r.refObjId, r.func, r.acquireInsn])).toEqual([[3, 'bpf_obj_new_impl', 16], [6, 'bpf_obj_new_impl', 27], [8, 'bpf_obj_new_impl', 40]]);
    expect(atInsn(db, pid, 47).lockHeld).toBe(false);
    expect(atInsn(db, pid, 60).lockHeld).toBe(true);
    // bpf_list_push_front(.., &a->node) at 66: a's registers become non-owning, the others stay owned.
    const pushed = atInsn(db, pid, 67).frames[0];
    expect([pushed.regs.R8.raw, pushed.regs.R8.nonOwnRef, pushed.regs.R9.raw]).toEqual(['ptr_elem(non_own_ref,off=16)', true, 'ptr_elem(ref_obj_id=6)']);
    // The third object, spilled to fp-16, becomes non-owning in its slot too.
    const third = atInsn(db, pid, 79).frames[0].stack['-16'];
    expect([third.kind, third.raw, third.value?.nonOwnRef]).toEqual(['spill', 'ptr_elem(non_own_ref)', true]);
    expect(refLifetime(db, pid, 8).events.map((e) => [e.kind, e.insn])).toEqual([['acquired', 40], ['released', 41], ['non_owning', 79]]);
    expect(listPaths(db, pid).map((p) => [p.fromInsn, p.toInsn, p.end])).toEqual([[null, null, 'exit'], [29, 32, 'exit'], [41, 51, 'exit'], [18, 82, 'safe'], [11, 82, 'safe']]);
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
    const log = readFileSync(path.join(REAL, '6.12', 'list.list_push.log'), 'utf8');
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
      expect(s.steps).toBe(98);
      expect(s.verdict).toBe('accepted');
      // The veristat table's data row is the one line no wrapper rule knows: kept and flagged, never state.
      expect(s.unknownLines).toBe(name === 'veristat' ? 1 : 0);
      expect(s.mismatches).toBe(0);
      db.close();
    }
  });
});
