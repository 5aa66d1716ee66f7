/**
 * What the logs of 6.1 and 6.12 (test/fixtures/logs/6.1, 6.12: real kernels
 * in a VM) showed the reconstruction had wrong, one root cause per test, on
 * short excerpts of those logs (the register values are theirs, trimmed).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createTrace, type TraceDb } from '../../../main/trace/db';
import { writeVerifierLog, type LogSummary } from '../../../main/trace/verifier';
import { errorsAndWarnings, readSteps, stateAtStep, type StepState } from '../../../main/trace/verifierRead';
import { lexLine } from '../../../main/verifier/lexer';
import { clobberSlot, slotsOf } from '../../../main/verifier/stackAccess';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'bpfscope-older-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let n = 0;
async function load(text: string): Promise<{ db: TraceDb; pid: number; s: LogSummary; warnings: string[] }> {
  const db = createTrace(path.join(tmp, `t${n++}.trace`));
  const pid = Number(db.prepare("INSERT INTO programs(name, origin, created_at) VALUES ('p', 'import', 'now')").run().lastInsertRowid);
  const s = await writeVerifierLog(db, pid, text, { checkpointEvery: 3 });
  const warnings = errorsAndWarnings(db, pid).filter((m) => m.severity === 'warning' || m.severity === 'unknown').map((m) => m.text);
  return { db, pid, s, warnings };
}

/** The state after the instruction line of `insn` (its n-th visit). */
function atInsn(db: TraceDb, pid: number, insn: number, nth = 0): StepState {
  const steps = readSteps(db, pid, 0, 100000).filter((st) => st.insn === insn && st.kind === 'insn');
  return stateAtStep(db, pid, steps[nth].step);
}

const lines = (...l: string[]): string => `${l.join('\n')}\n`;

describe('6.1: a static callback whose argument is neither a scalar nor ctx', () => {
  // btf_check_func_arg_match (btf.c, 6.1) prints this when bpf_loop's callback
  // takes a pointer (callback_ctx): the subprog is marked unreliable, verification goes on.
  const log = lines(
    'func#0 @0',
    'func#1 @14',
    '0: R1=ctx(off=0,imm=0) R10=fp0',
    '0: (b7) r2 = 5                        ; R2_w=5',
    '1: (7b) *(u64 *)(r10 -8) = r2         ; R2_w=5 R10=fp0 fp-8_w=5',
    '5: (bf) r3 = r10                      ; R3_w=fp0 R10=fp0',
    '6: (07) r3 += -8                      ; R3_w=fp-8',
    '7: (18) r2 = 0x6                      ; R2_w=func(off=0,imm=0)',
    '9: (b7) r4 = 0                        ; R4_w=0',
    '10: (85) call bpf_loop#181',
    'reg type unsupported for arg#1 function fold_step#54',
    'caller:',
    ' R10=fp0 fp-8_w=5',
    'callee:',
    ' frame1: R1=scalar() R2_w=fp-8 R10=fp0 cb',
    '14: frame1: R1_w=scalar() R2_w=fp-8 R10=fp0 cb',
    '18: (b7) r0 = 0                       ; frame1: R0_w=0 cb',
    '19: (95) exit',
    'returning from callee:',
    ' frame1: R0_w=0 R1_w=scalar() R2_w=fp-8 R10=fp0 cb',
    'to caller at 11:',
    ' R0_w=scalar() R10=fp0 fp-8_w=5',
    '',
    'from 19 to 11: R0=scalar() R10=fp0 fp-8=5',
    '11: (79) r0 = *(u64 *)(r10 -8)        ; R0_w=5 R10=fp0',
    '13: (95) exit',
    'processed 19 insns (limit 1000000) max_states_per_insn 0 total_states 1 peak_states 1 mark_read 1',
  );

  it('is an informational line, not an unknown one', async () => {
    expect(lexLine('reg type unsupported for arg#1 function fold_step#54')).toMatchObject({
      kind: 'diag', text: 'reg type unsupported for arg#1 function fold_step#54', diag: { where: ['btf.c btf_check_func_arg_match'] },
    });
    // A kfunc's argument of that kind is the same format (the load then fails: the line is the error).
    expect(lexLine('reg type unsupported for arg#0 kernel function bpf_foo#123').kind).toBe('diag');
    const { db, pid, s, warnings } = await load(log);
    expect(warnings).toEqual([]);
    expect([s.unknownLines, s.verdict, s.errors]).toEqual([0, 'accepted', []]);
    const info = db.prepare("SELECT text FROM verifier_messages WHERE program_id = ? AND severity = 'info'").all(pid) as { text: string }[];
    expect(info.map((m) => m.text)).toContain('reg type unsupported for arg#1 function fold_step#54');
    db.close();
  });

  it('is part of the error when verification stops after it (a global function)', async () => {
    const { s } = await load(lines(
      'func#0 @0',
      '0: R1=ctx(off=0,imm=0) R10=fp0',
      '0: (bf) r1 = r10                      ; R1_w=fp0 R10=fp0',
      '1: (85) call pc+2',
      'reg type unsupported for arg#0 function glob#3',
      'Caller passes invalid args into func#1',
      'processed 2 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0',
    ));
    expect(s.verdict).toBe('rejected');
    expect(s.errors).toEqual(['reg type unsupported for arg#0 function glob#3', 'Caller passes invalid args into func#1']);
    expect(s.unknownLines).toBe(0);
  });
});

describe('a NULL check refines every copy of the pointer, printed or not', () => {
  // 6.12, percpu_count: r7 = r0 copies map_value_or_null(id=1); the check at 10
  // prints R7 only, yet R0 is non-NULL too (mark_ptr_or_null_regs), as the
  // full state of `from 12 to 25` shows. The same holds for 6.18's logs.
  const log = lines(
    'func#0 @0',
    '0: R1=ctx() R10=fp0',
    '5: (18) r1 = 0xff2bfacc3ca4d800       ; R1_w=map_ptr(map=pcpu_stash,ks=4,vs=8)',
    '7: (85) call bpf_map_lookup_elem#1    ; R0_w=map_value_or_null(id=1,map=pcpu_stash,ks=4,vs=8)',
    '8: (bf) r7 = r0                       ; R0_w=map_value_or_null(id=1,map=pcpu_stash,ks=4,vs=8) R7_w=map_value_or_null(id=1,map=pcpu_stash,ks=4,vs=8)',
    '9: (7b) *(u64 *)(r10 -16) = r0        ; R0_w=map_value_or_null(id=1,map=pcpu_stash,ks=4,vs=8) R10=fp0 fp-16_w=map_value_or_null(id=1,map=pcpu_stash,ks=4,vs=8)',
    '10: (15) if r7 == 0x0 goto pc+28      ; R7_w=map_value(map=pcpu_stash,ks=4,vs=8)',
    '11: (79) r1 = *(u64 *)(r7 +0)         ; R1=percpu_rcu_ptr_or_null_pcpu_val(id=2) R7=map_value(map=pcpu_stash,ks=4,vs=8)',
    '12: (55) if r1 != 0x0 goto pc+12      ; R1=0',
    '13: (b4) w0 = 0                       ; R0_w=0',
    '14: (95) exit',
    '',
    'from 12 to 25: R0=map_value(map=pcpu_stash,ks=4,vs=8) R1=percpu_rcu_ptr_pcpu_val() R7=map_value(map=pcpu_stash,ks=4,vs=8) R10=fp0 fp-16=map_value(map=pcpu_stash,ks=4,vs=8)',
    '25: (b4) w0 = 1                       ; R0_w=1',
    '26: (95) exit',
    '',
    'from 10 to 39: R0=0 R7=0 R10=fp0 fp-16=0',
    '39: (95) exit',
    'processed 12 insns (limit 1000000) max_states_per_insn 0 total_states 1 peak_states 1 mark_read 0',
  );

  it('R0 and the spilled copy become map_value on the non-NULL side; the NULL side prints 0 for all of them', async () => {
    const { db, pid, s, warnings } = await load(log);
    expect(warnings).toEqual([]);
    expect(s.mismatches).toBe(0);
    const st = atInsn(db, pid, 10).frames[0];
    expect(st.regs.R0.raw).toBe('map_value(map=pcpu_stash,ks=4,vs=8)');
    expect(st.regs.R0.live).toBe('w');
    expect(st.stack['-16'].raw).toBe('map_value(map=pcpu_stash,ks=4,vs=8)');
    // A pointer of another id is left alone: R1 at 12 is checked on its own.
    expect(atInsn(db, pid, 12).frames[0].regs.R0.raw).toBe('map_value(map=pcpu_stash,ks=4,vs=8)');
    db.close();
  });
});

describe('a helper that reads stack memory clobbers it through 6.13, unprinted', () => {
  // 6.12, kptr_stash: the key `0` stored at fp-4 (fp-8=0000????) is read by
  // bpf_map_lookup_elem; check_stack_range_initialized turns the zero bytes to
  // misc, and only the full state of a later `from` line shows it.
  const head = [
    'func#0 @0',
    '0: R1=ctx() R10=fp0',
    '1: (b4) w1 = 0                        ; R1_w=0',
    '2: (63) *(u32 *)(r10 -4) = r1',
    '3: R1_w=0 R10=fp0 fp-8=0000????',
    '3: (bf) r2 = r10                      ; R2_w=fp0 R10=fp0',
    '4: (07) r2 += -4                      ; R2_w=fp-4',
    '5: (18) r1 = 0xff2bfacc3ca4d800       ; R1_w=map_ptr(map=stash,ks=4,vs=16)',
    '7: (85) call bpf_map_lookup_elem#1    ; R0_w=map_value_or_null(id=1,map=stash,ks=4,vs=16)',
    '8: (bf) r6 = r0                       ; R0_w=map_value_or_null(id=1,map=stash,ks=4,vs=16) R6_w=map_value_or_null(id=1,map=stash,ks=4,vs=16)',
    '9: (b4) w0 = 2                        ; R0_w=2',
    '10: (15) if r6 == 0x0 goto pc+22      ; R6_w=map_value(map=stash,ks=4,vs=16)',
    '11: (b4) w0 = 0                       ; R0_w=0',
    '12: (15) if r0 == 0x0 goto pc+20      ; R0_w=0',
    '13: (95) exit',
    '',
  ];
  const tail = 'processed 14 insns (limit 1000000) max_states_per_insn 0 total_states 2 peak_states 2 mark_read 1';

  it('6.12: the key bytes are misc after the call; the first full state that shows them settles the rule', async () => {
    const { db, pid, s, warnings } = await load(lines(...head,
      'from 12 to 33: R0=0 R6=map_value(map=stash,ks=4,vs=16) R10=fp0 fp-8=mmmm????',
      '33: (95) exit',
      '',
      'from 10 to 33: R0_w=2 R6_w=0 R10=fp0 fp-8=mmmm????',
      '33: (95) exit',
      tail,
    ));
    expect(warnings).toEqual([]);
    expect(s.mismatches).toBe(0);
    // Before any full state said so, the 6.7-6.13 rule (the log has liveness suffixes) is shown.
    expect(atInsn(db, pid, 7).frames[0].stack['-8'].raw).toBe('mmmm????');
    expect(atInsn(db, pid, 3).frames[0].stack['-8'].raw).toBe('0000????');
    db.close();
  });

  it('6.14 (suffixes, no live-regs table): a full state that shows the bytes kept settles the other rule, pushed branches too', async () => {
    const { db, pid, s, warnings } = await load(lines(...head,
      'from 12 to 33: R0=0 R6=map_value(map=stash,ks=4,vs=16) R10=fp0 fp-8=0000????',
      '33: (95) exit',
      '',
      // Pushed at 10, before the rule was known: it takes it too.
      'from 10 to 33: R0_w=2 R6_w=0 R10=fp0 fp-8=0000????',
      '33: (95) exit',
      tail,
    ));
    expect(warnings).toEqual([]);
    expect(s.mismatches).toBe(0);
    // After the step that told, a replay shows the kept bytes.
    expect(atInsn(db, pid, 33, 1).frames[0].stack['-8'].raw).toBe('0000????');
    db.close();
  });

  it('a printed state that fits neither value is a mismatch', async () => {
    const { s, warnings } = await load(lines(...head,
      'from 12 to 33: R0=0 R6=map_value(map=stash,ks=4,vs=16) R10=fp0 fp-8=00000000',
      '33: (95) exit',
      tail,
    ));
    expect(s.mismatches).toBe(1);
    expect(warnings[0]).toContain('fp-8: reconstructed mmmm???? printed 00000000');
  });

  it('6.15+ (the live-regs table, no suffixes): read-only arguments keep their slots', async () => {
    const log = lines(
      'func#0 @0',
      'Live regs before insn:',
      '      0: .1........ (b4) w1 = 0',
      '0: R1=ctx() R10=fp0',
      '1: (b4) w1 = 0                        ; R1=0',
      '2: (63) *(u32 *)(r10 -4) = r1         ; R1=0 R10=fp0 fp-8=0000????',
      '3: (bf) r2 = r10                      ; R2=fp0 R10=fp0',
      '4: (07) r2 += -4                      ; R2=fp-4',
      '5: (18) r1 = 0xff2bfacc3ca4d800       ; R1=map_ptr(map=stash,ks=4,vs=16)',
      '7: (85) call bpf_map_lookup_elem#1    ; R0=map_value_or_null(id=1,map=stash,ks=4,vs=16)',
      '8: (15) if r0 == 0x0 goto pc+1        ; R0=map_value(map=stash,ks=4,vs=16)',
      '9: (95) exit',
      '',
      'from 8 to 10: R0=0 R10=fp0 fp-8=0000????',
      '10: (95) exit',
      'processed 10 insns (limit 1000000) max_states_per_insn 0 total_states 1 peak_states 1 mark_read 0',
    );
    const { db, pid, s } = await load(log);
    expect(s.mismatches).toBe(0);
    expect(atInsn(db, pid, 7).frames[0].stack['-8'].raw).toBe('0000????');
    db.close();
  });

  it('6.1: a spilled constant passed as a map value becomes misc bytes', async () => {
    // 6.1, count_bytes: `one = 1` spilled at fp-16, passed as the value of bpf_map_update_elem.
    const { db, pid, s, warnings } = await load(lines(
      'func#0 @0',
      '0: R1=ctx(off=0,imm=0) R10=fp0',
      '0: (b7) r2 = 1                        ; R2_w=1',
      '1: (7b) *(u64 *)(r10 -16) = r2        ; R2_w=1 R10=fp0 fp-16_w=1',
      '2: (63) *(u32 *)(r10 -28) = r2        ; R2_w=1 R10=fp0 fp-32=mmmm????',
      '3: (bf) r2 = r10                      ; R2_w=fp0 R10=fp0',
      '4: (07) r2 += -28                     ; R2_w=fp-28',
      '5: (bf) r3 = r10                      ; R3_w=fp0 R10=fp0',
      '6: (07) r3 += -16                     ; R3_w=fp-16',
      '7: (18) r1 = 0xff1ee53d6662dc00       ; R1_w=map_ptr(off=0,ks=4,vs=8,imm=0)',
      '9: (b7) r4 = 0                        ; R4_w=0',
      '10: (85) call bpf_map_update_elem#2   ; R0_w=scalar()',
      '11: (15) if r0 == 0x0 goto pc+1       ; R0_w=0',
      '12: (95) exit',
      '',
      'from 11 to 13: R0_w=scalar() R10=fp0 fp-16=mmmmmmmm fp-32=mmmm????',
      '13: (95) exit',
      'processed 12 insns (limit 1000000) max_states_per_insn 0 total_states 1 peak_states 1 mark_read 0',
    ));
    expect(warnings).toEqual([]);
    expect(s.mismatches).toBe(0);
    expect(atInsn(db, pid, 10).frames[0].stack['-16'].raw).toBe('mmmmmmmm');
    db.close();
  });
});

describe('clobberSlot', () => {
  const range = (...js: number[]): boolean[] => Array.from({ length: 8 }, (_, j) => js.includes(j));
  it('turns zero and invalid bytes in the range to misc, a spill in the range to misc bytes', () => {
    expect(clobberSlot('0000????', range(0, 1, 2, 3))).toBe('mmmm????');
    expect(clobberSlot(null, range(4, 5, 6, 7))).toBe('????mmmm');
    expect(clobberSlot('1', range(0, 1, 2, 3, 4, 5, 6, 7))).toBe('mmmmmmmm');
    expect(clobberSlot('map_value(map=m,ks=4,vs=8)', range(7))).toBe('mmmmmmmm');
    // A 4-byte spill under invalid bytes (6.3+ print): hit in the spill, the bytes out of the range stay invalid.
    expect(clobberSlot('????42', range(4, 5, 6, 7))).toBe('????mmmm');
    // Only the bytes above the spill: those become misc, the spill stays.
    expect(clobberSlot('????42', range(0, 1))).toBe('mm??42');
    expect(clobberSlot('dynptr_ringbuf(id=1)', range(0))).toBe('dynptr_ringbuf(id=1)');
  });
  it('a narrow spill printed like a full one (before 6.3) stays when only the bytes above it are read', () => {
    // 6.1, map_in_map: `*(u32 *)(r10 -8) = r1` spills 1 (printed fp-8=1), then a map lookup
    // with its key at fp-4 reads the other 4 bytes; the kernel still prints fp-8=1.
    expect(clobberSlot('1', range(0, 1, 2, 3), 4)).toBe('1');
    expect(clobberSlot('1', range(3, 4), 4)).toBe('mmmmmmmm');
    expect(clobberSlot('1', range(0, 1, 2, 3))).toBe('mmmmmmmm');
  });
  it('slotsOf maps byte offsets to the printed characters (character 0 is the highest address)', () => {
    expect(slotsOf(-4, 4)).toEqual([{ base: -8, inRange: range(0, 1, 2, 3) }]);
    expect(slotsOf(-12, 8).map((x) => [x.base, x.inRange])).toEqual([[-16, range(0, 1, 2, 3)], [-8, range(4, 5, 6, 7)]]);
  });
});

describe('before 6.7 a pointer into the caller\'s stack prints as fp-8, like one into the callee\'s own', () => {
  // 6.1, loop_callback: bpf_loop passes &acc (the caller's fp-8) to the callback as R2,
  // printed `R2_w=fp-8` in frame1; the callback's store through it changes the
  // caller's slot, which only `to caller at 11:` prints. 6.12 prints `fp[0]-8`.
  const log = lines(
    'func#0 @0',
    'func#1 @14',
    '0: R1=ctx(off=0,imm=0) R10=fp0',
    '0: (b7) r2 = 5                        ; R2_w=5',
    '1: (7b) *(u64 *)(r10 -8) = r2         ; R2_w=5 R10=fp0 fp-8_w=5',
    '2: (61) r1 = *(u32 *)(r1 +0)          ; R1_w=scalar(umax=4294967295,var_off=(0x0; 0xffffffff))',
    '5: (bf) r3 = r10                      ; R3_w=fp0 R10=fp0',
    '6: (07) r3 += -8                      ; R3_w=fp-8',
    '7: (18) r2 = 0x6                      ; R2_w=func(off=0,imm=0)',
    '9: (b7) r4 = 0                        ; R4_w=0',
    '10: (85) call bpf_loop#181',
    'reg type unsupported for arg#1 function fold_step#54',
    'caller:',
    ' R10=fp0 fp-8_w=5',
    'callee:',
    ' frame1: R1=scalar() R2_w=fp-8 R10=fp0 cb',
    '14: frame1: R1_w=scalar() R2_w=fp-8 R10=fp0 cb',
    '14: (79) r3 = *(u64 *)(r2 +0)         ; frame1: R2_w=fp-8 R3_w=5 cb',
    '15: (27) r3 *= 33                     ; frame1: R3_w=165 cb',
    '16: (0f) r3 += r1                     ; frame1: R1_w=scalar() R3_w=scalar() cb',
    '17: (7b) *(u64 *)(r2 +0) = r3         ; frame1: R2_w=fp-8 R3_w=scalar() cb',
    '18: (b7) r0 = 0                       ; frame1: R0_w=0 cb',
    '19: (95) exit',
    'returning from callee:',
    ' frame1: R0_w=0 R1_w=scalar() R2_w=fp-8 R3_w=scalar() R10=fp0 cb',
    'to caller at 11:',
    ' R0_w=scalar() R10=fp0 fp-8_w=mmmmmmmm',
    '',
    'from 19 to 11: R0=scalar() R10=fp0 fp-8=mmmmmmmm',
    '11: (79) r0 = *(u64 *)(r10 -8)        ; R0_w=scalar() R10=fp0',
    '13: (95) exit',
    'processed 19 insns (limit 1000000) max_states_per_insn 0 total_states 1 peak_states 1 mark_read 1',
  );

  it('the store through R2 lands in frame 0, as 6.1 stores it (an unbounded scalar: misc bytes)', async () => {
    const { db, pid, s, warnings } = await load(log);
    expect(warnings).toEqual([]);
    expect(s.mismatches).toBe(0);
    const st = atInsn(db, pid, 17);
    expect(st.frames[0].stack['-8'].raw).toBe('mmmmmmmm');
    // The callee has no slot of its own at -8.
    expect(st.frames[1].stack['-8']).toBeUndefined();
    // Before the store, the caller's slot still holds the spilled 5.
    expect(atInsn(db, pid, 16).frames[0].stack['-8'].raw).toBe('5');
    db.close();
  });

  it('a pointer copied, moved and spilled keeps the frame it points into', async () => {
    const { db, pid, s, warnings } = await load(lines(
      'func#0 @0',
      'func#1 @8',
      '0: R1=ctx(off=0,imm=0) R10=fp0',
      '0: (b7) r2 = 7                        ; R2_w=7',
      '1: (7b) *(u64 *)(r10 -16) = r2        ; R2_w=7 R10=fp0 fp-16_w=7',
      '2: (bf) r1 = r10                      ; R1_w=fp0 R10=fp0',
      '3: (07) r1 += -16                     ; R1_w=fp-16',
      '4: (85) call pc+3',
      'caller:',
      ' R10=fp0 fp-16_w=7',
      'callee:',
      ' frame1: R1_w=fp-16 R10=fp0',
      '8: frame1: R1_w=fp-16 R10=fp0',
      '8: (7b) *(u64 *)(r10 -8) = r1         ; frame1: R1_w=fp-16 R10=fp0 fp-8_w=fp',
      '9: (79) r3 = *(u64 *)(r10 -8)         ; frame1: R3_w=fp-16 R10=fp0 fp-8_w=fp',
      '10: (bf) r4 = r3                      ; frame1: R3_w=fp-16 R4_w=fp-16',
      '11: (b7) r5 = 0                       ; frame1: R5_w=0',
      '12: (7b) *(u64 *)(r4 +0) = r5         ; frame1: R4_w=fp-16 R5_w=0',
      '13: (b7) r0 = 0                       ; frame1: R0_w=0',
      '14: (95) exit',
      'returning from callee:',
      ' frame1: R0_w=0 R1_w=fp-16 R3_w=fp-16 R4_w=fp-16 R5_w=0 R10=fp0 fp-8_w=fp',
      'to caller at 5:',
      ' R0_w=0 R10=fp0 fp-16_w=00000000',
      '',
      '5: (95) exit',
      'processed 14 insns (limit 1000000) max_states_per_insn 0 total_states 1 peak_states 1 mark_read 1',
    ));
    expect(warnings).toEqual([]);
    expect(s.mismatches).toBe(0);
    expect(atInsn(db, pid, 12).frames[0].stack['-16'].raw).toBe('00000000');
    expect(atInsn(db, pid, 12).frames[1].stack['-16']).toBeUndefined();
    db.close();
  });
});
