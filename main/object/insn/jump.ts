import type { RawInsn } from './raw';
import type { Insn, InsnNames } from './types';
import {
  BPF_CALL,
  BPF_EXIT,
  BPF_JA,
  BPF_JCOND,
  BPF_JMP,
  BPF_JMP32,
  BPF_MAY_GOTO,
  BPF_X,
  insnClass,
  insnOp,
  insnSrc,
  orNull,
  signed,
} from './opcode';
import { decodeCall, printCall } from './call';

/** Jump mnemonics by op >> 4 (0xe is JCOND, only may_goto is defined; 0xf is nothing). */
const JMP_OPS: readonly (string | undefined)[] = [
  'ja', 'jeq', 'jgt', 'jge', 'jset', 'jne', 'jsgt', 'jsge', 'call', 'exit', 'jlt', 'jle', 'jslt', 'jsle',
];
/** The comparison the kernel prints (bpf_jmp_string). */
const JMP_OPERATORS: readonly (string | undefined)[] = [
  'jmp', '==', '>', '>=', '&', '!=', 's>', 's>=', 'call', 'exit', '<', '<=', 's<', 's<=',
];

const isMayGoto = (r: RawInsn): boolean => r.code === (BPF_JMP | BPF_JCOND) && r.src === BPF_MAY_GOTO;

export function decodeJump(r: RawInsn): Pick<Insn, 'kind' | 'op' | 'is32' | 'useReg' | 'target'> {
  const is32 = insnClass(r.code) === BPF_JMP32;
  const op = insnOp(r.code);
  if (op === BPF_CALL) return decodeCall(r);
  if (r.code === (BPF_JMP | BPF_EXIT)) return { kind: 'exit', op: 'exit' };
  if (r.code === (BPF_JMP | BPF_JA)) return { kind: 'jump', op: 'ja', target: r.idx + r.off + 1 };
  if (r.code === (BPF_JMP32 | BPF_JA)) return { kind: 'jump', op: 'gotol', target: r.idx + r.imm + 1 };
  if (isMayGoto(r)) return { kind: 'jump', op: 'may_goto', target: r.idx + r.off + 1 };
  const name = JMP_OPS[op >> 4];
  // JA with a register or the 32-bit class, EXIT in JMP32, other JCOND sources: not defined.
  if (name === undefined || op === BPF_JA || op === BPF_EXIT || op === BPF_JCOND) {
    return { kind: 'invalid', op: name ?? 'jcond', is32 };
  }
  return { kind: 'jump', op: name, is32, useReg: insnSrc(r.code) === BPF_X, target: r.idx + r.off + 1 };
}

/** Text after `(code) ` for JMP and JMP32 (kernel 6.18's forms: no gotox yet). */
export function printJump(r: RawInsn, names?: InsnNames): string {
  const op = insnOp(r.code);
  if (op === BPF_CALL) return printCall(r, names);
  if (r.code === (BPF_JMP | BPF_JA)) return `goto pc${signed(r.off)}`;
  if (isMayGoto(r)) return `may_goto pc${signed(r.off)}`;
  if (r.code === (BPF_JMP32 | BPF_JA)) return `gotol pc${signed(r.imm)}`;
  if (r.code === (BPF_JMP | BPF_EXIT)) return 'exit';
  const p = insnClass(r.code) === BPF_JMP32 ? 'w' : 'r';
  const cmp = orNull(JMP_OPERATORS[op >> 4]);
  if (insnSrc(r.code) === BPF_X) return `if ${p}${r.dst} ${cmp} ${p}${r.src} goto pc${signed(r.off)}`;
  return `if ${p}${r.dst} ${cmp} 0x${(r.imm >>> 0).toString(16)} goto pc${signed(r.off)}`;
}
