import { describe, expect, it } from 'vitest';
import { kernelSkipReason, kernelTitle } from '../../helpers/kernel';
import { decodeInsns, printInsn, disassemble } from '../../../main/object/insn/instruction';
import type { RawInsn } from '../../../main/object/insn/raw';
import { FORMS, type Form } from './forms';
import { kernelLog, liveRegsTable } from './rawload';
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

/** Every loadable form, then a bpf-to-bpf call and a callback pointer into a subprogram: the program and the text of each. */
function formsProgram(): { prog: RawInsn[]; expected: Map<number, string> } {
    const prog: RawInsn[] = [];
    const expected = new Map<number, string>();
    for (const form of FORMS.filter((x) => x.kernel !== false)) {
      expected.set(prog.length, form.text);
      prog.push(...toRaw(form, prog.length));
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
    return { prog, expected };
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
});
