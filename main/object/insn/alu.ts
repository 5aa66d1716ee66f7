import type { RawInsn } from './raw';
import type { Insn } from './types';
import {
  BPF_ADDR_PERCPU,
  BPF_ADDR_SPACE_CAST,
  BPF_ALU,
  BPF_ALU64,
  BPF_DIV,
  BPF_END,
  BPF_MOD,
  BPF_MOV,
  BPF_NEG,
  BPF_TO_BE,
  BPF_X,
  hex2,
  insnClass,
  insnOp,
  insnSrc,
  orNull,
} from './opcode';

/** ALU op mnemonics by op >> 4 (0xe and 0xf are not operations). */
const ALU_OPS: readonly (string | undefined)[] = [
  'add', 'sub', 'mul', 'div', 'or', 'and', 'lsh', 'rsh', 'neg', 'mod', 'xor', 'mov', 'arsh', 'end',
];
/** The operator the kernel prints (bpf_alu_string). */
const ALU_OPERATORS: readonly (string | undefined)[] = [
  '+=', '-=', '*=', '/=', '|=', '&=', '<<=', '>>=', 'neg', '%=', '^=', '=', 's>>=', 'endian',
];

/** sdiv/smod: DIV or MOD with off = 1 (v4). */
const isSdivSmod = (r: RawInsn): boolean => (insnOp(r.code) === BPF_DIV || insnOp(r.code) === BPF_MOD) && r.off === 1;
/** movsx: MOV with off 8, 16 or 32 (v4). */
const isMovsx = (r: RawInsn): boolean => insnOp(r.code) === BPF_MOV && (r.off === 8 || r.off === 16 || r.off === 32);
const isAddrSpaceCast = (r: RawInsn): boolean => r.code === (BPF_ALU64 | BPF_MOV | BPF_X) && r.off === BPF_ADDR_SPACE_CAST;
const isPercpuAddr = (r: RawInsn): boolean => r.code === (BPF_ALU64 | BPF_MOV | BPF_X) && r.off === BPF_ADDR_PERCPU;

export function decodeAlu(r: RawInsn): Pick<Insn, 'kind' | 'op' | 'is32' | 'useReg' | 'size'> {
  const is32 = insnClass(r.code) === BPF_ALU;
  const op = insnOp(r.code);
  const useReg = insnSrc(r.code) === BPF_X;
  if (op === BPF_END) {
    // ALU64 | END is the unconditional bswap (v4); ALU | END is be/le by the source bit.
    const name = is32 ? (insnSrc(r.code) === BPF_TO_BE ? 'be' : 'le') : 'bswap';
    return { kind: 'endian', op: name, is32, size: r.imm };
  }
  if (isAddrSpaceCast(r)) return { kind: 'addr_space_cast', op: 'addr_space_cast', is32, useReg };
  if (isPercpuAddr(r)) return { kind: 'percpu_addr', op: 'percpu_addr', is32, useReg };
  const base = ALU_OPS[op >> 4];
  if (base === undefined) return { kind: 'invalid', op: `alu_${hex2(op)}`, is32, useReg };
  if (useReg && isMovsx(r)) return { kind: 'alu', op: 'movsx', is32, useReg, size: r.off };
  if (isSdivSmod(r)) return { kind: 'alu', op: `s${base}`, is32, useReg };
  return { kind: 'alu', op: base, is32, useReg };
}

/** Text after `(code) ` for ALU and ALU64, in the kernel's print_bpf_insn format. */
export function printAlu(r: RawInsn): string {
  const is32 = insnClass(r.code) === BPF_ALU;
  const p = is32 ? 'w' : 'r';
  const op = insnOp(r.code);
  if (op === BPF_END) {
    if (!is32) return `r${r.dst} = bswap${r.imm} r${r.dst}`;
    return `r${r.dst} = ${insnSrc(r.code) === BPF_TO_BE ? 'be' : 'le'}${r.imm} r${r.dst}`;
  }
  if (op === BPF_NEG) return `${p}${r.dst} = -${p}${r.dst}`;
  if (isAddrSpaceCast(r)) return `r${r.dst} = addr_space_cast(r${r.src}, ${r.imm >>> 16}, ${r.imm & 0xffff})`;
  if (isPercpuAddr(r)) return `r${r.dst} = &(void __percpu *)(r${r.src})`;
  const operator = isSdivSmod(r) ? (op === BPF_DIV ? 's/=' : 's%=') : orNull(ALU_OPERATORS[op >> 4]);
  if (insnSrc(r.code) === BPF_X) {
    const sx = isMovsx(r) ? `(s${r.off})` : '';
    return `${p}${r.dst} ${operator} ${sx}${p}${r.src}`;
  }
  return `${p}${r.dst} ${operator} ${r.imm}`;
}
