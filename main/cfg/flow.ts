import type { Slot } from '../object/insn/instruction';

/**
 * What one instruction does to control flow, the only thing the CFG needs
 * to know about it. Built from the object's decoded instructions when the
 * trace holds the object, else from the instruction texts the verifier log
 * printed (an imported log): both give the same answer for an instruction.
 */
export type FlowKind =
  /** Goes on to the next instruction (ALU, loads, stores, helper and kfunc calls). */
  | 'next'
  /** Unconditional jump: `goto`, `gotol`. */
  | 'goto'
  /** Conditional jump (`if … goto`, `may_goto`): the target or the next instruction. */
  | 'cond'
  | 'exit'
  /** A bpf-to-bpf call (`call pc+N`): the callee runs, then the next instruction. */
  | 'call';

export interface FlowInsn {
  idx: number;
  /** Instruction slots it takes: 2 for an ld_imm64. */
  slots: 1 | 2;
  /** `(bf) r1 = r6` as the kernel prints it, '' when unknown. */
  text: string;
  flow: FlowKind;
  /** goto/cond: the jump target; call: the callee's first instruction. */
  target?: number;
  /** An ld_imm64 of a function's address (a callback for bpf_loop, timers…): that function's first instruction. */
  funcRef?: number;
}

/** Flow of a program decoded from its bytes (the linked program the kernel was given). */
export function flowFromSlots(slots: readonly Slot[], text: (idx: number) => string = () => ''): FlowInsn[] {
  const out: FlowInsn[] = [];
  for (const s of slots) {
    if (s.kind === 'ld_imm64_tail') continue;
    const f: FlowInsn = { idx: s.idx, slots: s.kind === 'ld_imm64' ? 2 : 1, text: text(s.idx), flow: 'next' };
    if (s.kind === 'exit') f.flow = 'exit';
    else if (s.kind === 'jump' && s.target !== undefined) {
      f.flow = s.op === 'ja' || s.op === 'gotol' ? 'goto' : 'cond';
      f.target = s.target;
    } else if (s.kind === 'call' && s.op === 'pseudo' && s.target !== undefined) {
      f.flow = 'call';
      f.target = s.target;
    } else if (s.kind === 'ld_imm64' && s.op === 'func' && s.target !== undefined) f.funcRef = s.target;
    out.push(f);
  }
  return out;
}

const OPCODE = /^\(([0-9a-f]{2})\) (.*)$/;
const PC_REL = /\bpc([+-]\d+)\b/;

/**
 * Flow of the instructions a verifier log printed (`(85) call pc+3`): the
 * opcode byte gives the class and operation, the `pc+N` the offset. Rows
 * the log has no text for are left out. A callback's ld_imm64 prints no
 * target: its start comes from the log's `func#N @I` lines (buildCfg's funcStarts).
 */
export function flowFromLog(rows: readonly { insn: number; text: string }[]): FlowInsn[] {
  const out: FlowInsn[] = [];
  for (const r of rows) {
    const m = OPCODE.exec(r.text);
    if (!m) continue;
    const code = parseInt(m[1], 16);
    const body = m[2];
    const f: FlowInsn = { idx: r.insn, slots: code === 0x18 ? 2 : 1, text: r.text, flow: 'next' };
    const cls = code & 0x07;
    if (cls === 0x05 || cls === 0x06) {
      const op = code & 0xf0;
      const rel = PC_REL.exec(body);
      const target = rel ? r.insn + Number(rel[1]) + 1 : undefined;
      if (op === 0x90) f.flow = 'exit';
      else if (op === 0x80) {
        // Helper and kfunc calls return to the next insn; only `call pc+N` enters a subprogram.
        if (target !== undefined && /^call pc[+-]/.test(body)) {
          f.flow = 'call';
          f.target = target;
        }
      } else if (target !== undefined) {
        f.flow = op === 0x00 ? 'goto' : 'cond';
        f.target = target;
      }
    }
    out.push(f);
  }
  return out;
}
