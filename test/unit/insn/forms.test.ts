import { describe, expect, it } from 'vitest';
import { kernelSkipReason, kernelTitle } from '../../helpers/kernel';
import { decodeInsns, printInsn, disassemble } from '../../../main/object/insn/instruction';
import type { RawInsn } from '../../../main/object/insn/raw';
import { FORMS, type Form } from './forms';
import { kernelLoad, kernelLog, liveRegsTable } from './rawload';
import { parseLogInsns } from './kernel-log';
import { withSkipReason } from '../../helpers/support';
import os from 'node:os';

const toRaw = (form: Form, base: number): RawInsn[] =>
  form.slots.map(([code, dst, src, off, imm], i) => ({ idx: base + i, code, dst, src, off, imm }));

describe('instruction forms print as disasm.c formats them', () => {
  for (const form of FORMS) {
    it(form.text, () => {
      const slots = decodeInsns(toRaw(form, 0));
      expect(printInsn(slots[0], slots[1])).toBe(form.text);
    });
  }
});

/**
 * Forms laid out one after another, then a bpf-to-bpf call and a callback
 * pointer into a subprogram: the program, the text expected at each form's
 * first index, and which form starts there.
 */
function formsProgram(forms: readonly Form[] = FORMS.filter((x) => x.kernel !== false), opts: { walk?: boolean } = {}): { prog: RawInsn[]; expected: Map<number, string>; formAt: Map<number, Form> } {
    const prog: RawInsn[] = [];
    const expected = new Map<number, string>();
    const formAt = new Map<number, Form>();
    // For a walk: the registers the forms use start as scalars (r1 is ctx on entry, and
    // `r1 *= 7` on it is refused), r6 keeps ctx for the legacy packet loads, the stack slot
    // the loads read is written.
    if (opts.walk) {
      for (const [dst, src, code, imm] of [[6, 1, 0xbf, 0], [1, 0, 0xb7, 1], [2, 0, 0xb7, 2], [7, 0, 0xb7, 0], [0, 0, 0xb7, 0]]) prog.push({ idx: prog.length, code, dst, src, off: 0, imm });
      prog.push({ idx: prog.length, code: 0x7b, dst: 10, src: 1, off: -8, imm: 0 });
    }
    for (const form of forms) {
      expected.set(prog.length, form.text);
      formAt.set(prog.length, form);
      prog.push(...toRaw(form, prog.length));
    }
    if (opts.walk) {
      // No call scaffolding: a callback pointer needs BTF func_info, which this load has not.
      prog.push({ idx: prog.length, code: 0xb7, dst: 0, src: 0, off: 0, imm: 0 });
      prog.push({ idx: prog.length, code: 0x95, dst: 0, src: 0, off: 0, imm: 0 });
      return { prog, expected, formAt };
    }
    // A call and a callback pointer into a subprogram placed after the main program's exit.
    const callIdx = prog.length;
    prog.push({ idx: callIdx, code: 0x85, dst: 0, src: 1, off: 0, imm: 0 });
    const funcIdx = prog.length;
    prog.push({ idx: funcIdx, code: 0x18, dst: 2, src: 4, off: 0, imm: 0 });
    prog.push({ idx: funcIdx + 1, code: 0, dst: 0, src: 0, off: 0, imm: 0 });
    prog.push({ idx: prog.length, code: 0xb7, dst: 0, src: 0, off: 0, imm: 0 });
    prog.push({ idx: prog.length, code: 0x95, dst: 0, src: 0, off: 0, imm: 0 });
    const sub = prog.length;
    prog.push({ idx: sub, code: 0xb7, dst: 0, src: 0, off: 0, imm: 0 });
    prog.push({ idx: sub + 1, code: 0x95, dst: 0, src: 0, off: 0, imm: 0 });
    prog[callIdx].imm = sub - callIdx - 1;
    prog[funcIdx].imm = sub - funcIdx - 1;
    expected.set(callIdx, `(85) call pc+${sub - callIdx - 1}`);
    expected.set(funcIdx, `(18) r2 = 0x${(sub - funcIdx - 1).toString(16)}`);
    return { prog, expected, formAt };
}

/**
 * The forms program with every form this kernel refuses taken out, so that
 * its walk (`IDX: (OP) TEXT` lines, the only listing a kernel before 6.15
 * prints) goes through the rest: load; when the kernel names an opcode it
 * does not know (before its walk), drop the forms of that opcode; when the
 * walk stops, drop the form of the last instruction it printed; again until
 * the kernel takes the program. `dropped` says why each went.
 */
function walkableForms(): { prog: RawInsn[]; expected: Map<number, string>; formAt: Map<number, Form>; log: string; dropped: string[]; stuck?: string } {
  let forms = FORMS.filter((x) => x.kernel !== false);
  const dropped: string[] = [];
  for (;;) {
    const built = formsProgram(forms, { walk: true });
    const { log, accepted } = kernelLoad(built.prog);
    if (accepted) return { ...built, log, dropped };
    const lines = log.trimEnd().split('\n');
    const reason = lines.filter((l) => !/^processed \d+ insns|^verification time|^stack depth|^max_states_per_insn/.test(l)).at(-1) ?? 'no log';
    const unknown = /unknown opcode ([0-9a-f]{2})/.exec(log);
    let gone: Form[] = [];
    const reserved = /^BPF_(LDX|STX|ST|LD|ALU|MOV|JMP|\w+) uses reserved fields$/.exec(reason);
    const walked = lines.some((l) => /^\d+: \(/.test(l));
    if (unknown) {
      gone = forms.filter((x) => x.slots[0][0] === parseInt(unknown[1], 16));
    } else if (reserved && !walked) {
      // Refused before the walk without an index (6.1: `BPF_LDX uses reserved fields` for
      // the sign-extending loads): the first form whose absence changes what the kernel says.
      const culprit = forms.find((x) => {
        const r = kernelLoad(formsProgram(forms.filter((y) => y !== x), { walk: true }).prog);
        return r.accepted || !r.log.includes(reason);
      });
      gone = culprit ? [culprit] : [];
    } else {
      const last = lines.map((l) => /^(\d+): \(/.exec(l)).filter((m) => m !== null).at(-1);
      let at = last ? Number(last[1]) : -1;
      while (at >= 0 && !built.formAt.has(at)) at--;
      const form = built.formAt.get(at);
      // Only a form whose instructions include the one the walk stopped at.
      if (form && last && Number(last[1]) < at + form.slots.length) gone = [form];
    }
    if (gone.length === 0) return { ...built, log, dropped, stuck: reason };
    for (const g of gone) dropped.push(`${g.text}: ${reason}`);
    forms = forms.filter((x) => !gone.includes(x));
  }
}

describe.skipIf(!!kernelSkipReason())(kernelTitle('instruction forms print as this kernel prints them'), () => {
  // The kernel prints every instruction once, reached or not, in the `Live regs before insn:`
  // table (6.15+); older kernels print only what their walk reaches, which stops at the first
  // form they refuse (6.1 has no v4 instructions). Whether this one prints the table: its own log.
  const log = kernelSkipReason() ? '' : kernelLog(formsProgram().prog);
  const noTable = kernelSkipReason() || liveRegsTable(log).size > 0 ? undefined : `kernel ${os.release()} prints no 'Live regs before insn:' table`;

  // A kernel that refuses a form before its walk (6.1: unknown v4 opcodes) prints no instruction at all.
  const noWalk = kernelSkipReason() || parseLogInsns(log).insns.size > 0
    ? undefined
    : `kernel ${os.release()} refuses the program before its walk: ${log.trim().split('\n').filter((l) => !/^processed \d+ insns/.test(l)).at(-1) ?? 'no log'}`;

  it.skipIf(!!noWalk)(withSkipReason('the instructions the kernel\'s walk printed read as ours', noWalk), () => {
    const { prog } = formsProgram();
    const ours = new Map(disassemble(decodeInsns(prog)).map((l) => [l.idx, l.text]));
    const walk = parseLogInsns(log).insns;
    expect(walk.size).toBeGreaterThan(0);
    for (const [idx, texts] of walk) for (const text of texts) expect({ idx, ours: ours.get(idx) }).toEqual({ idx, ours: text });
  });

  it.skipIf(!!noTable)(withSkipReason('every loadable form, the bpf-to-bpf call and the func pointer', noTable), () => {
    const { prog, expected } = formsProgram();
    const table = liveRegsTable(log);
    expect(table.size).toBeGreaterThan(expected.size);
    const ours = new Map(disassemble(decodeInsns(prog)).map((l) => [l.idx, l.text]));
    for (const [idx, text] of expected) {
      expect({ idx, kernel: table.get(idx) }).toEqual({ idx, kernel: text });
      expect({ idx, ours: ours.get(idx) }).toEqual({ idx, ours: text });
    }
    // Every line the kernel printed, including the fixed tail, is ours too.
    for (const [idx, text] of table) expect({ idx, ours: ours.get(idx) }).toEqual({ idx, ours: text });
  });

  // Every kernel prints its walk; the forms it refuses are taken out first (6.1: no v4 opcodes).
  const walkable = kernelSkipReason() ? undefined : walkableForms();
  const total = FORMS.filter((x) => x.kernel !== false).length;
  const title = walkable
    ? `the ${walkable.formAt.size} of ${total} loadable forms this kernel takes print as ours in its walk${walkable.dropped.length ? ` (${walkable.dropped.length} refused and left out, e.g. ${walkable.dropped[0]})` : ''}`
    : 'the loadable forms this kernel takes print as ours in its walk';
  // A kernel that refuses the program before its walk without naming the instruction, where
  // leaving out any one form does not help either (6.1: `BPF_LDX uses reserved fields` for
  // the four sign-extending loads at once), gives nothing to compare: a visible skip.
  const stuck = walkable?.stuck ? `kernel ${os.release()} refuses the forms program without naming a form: ${walkable.stuck}` : undefined;
  it.skipIf(!walkable || !!stuck)(withSkipReason(title, stuck), () => {
    const w = walkable!;
    // The walk's lines only: the live-regs table (6.15+) indents its lines.
    const walk = parseLogInsns(w.log.split('\n').filter((l) => !/^\s/.test(l)).join('\n')).insns;
    const ours = new Map(disassemble(decodeInsns(w.prog)).map((l) => [l.idx, l.text]));
    let seen = 0;
    for (const [idx, text] of w.expected) {
      const printed = walk.get(idx);
      if (!printed) continue; // a branch the verifier knew was never taken skips what it jumps over
      seen++;
      expect({ idx, kernel: [...printed] }).toEqual({ idx, kernel: [text] });
      expect({ idx, ours: ours.get(idx) }).toEqual({ idx, ours: text });
    }
    // The walk is the comparison: most forms must be in it, whatever this kernel refused.
    expect(seen).toBeGreaterThan(w.expected.size * 0.8);
  });
});
