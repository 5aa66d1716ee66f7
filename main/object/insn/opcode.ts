/**
 * Opcode fields of `struct bpf_insn.code`, named as include/uapi/linux/bpf.h
 * and bpf_common.h name them. An opcode is class (low 3 bits), then for
 * ALU/JMP classes op (high 4 bits) and source (bit 3), for load/store
 * classes mode (high 3 bits) and size (bits 3-4).
 */

export const BPF_LD = 0x00;
export const BPF_LDX = 0x01;
export const BPF_ST = 0x02;
export const BPF_STX = 0x03;
export const BPF_ALU = 0x04;
export const BPF_JMP = 0x05;
export const BPF_JMP32 = 0x06;
export const BPF_ALU64 = 0x07;

export type InsnClass = 'ld' | 'ldx' | 'st' | 'stx' | 'alu' | 'jmp' | 'jmp32' | 'alu64';
/** Class names as the kernel's bpf_class_string[] spells them. */
export const CLASS_NAMES: readonly InsnClass[] = ['ld', 'ldx', 'st', 'stx', 'alu', 'jmp', 'jmp32', 'alu64'];

// Sizes (load/store classes).
export const BPF_W = 0x00;
export const BPF_H = 0x08;
export const BPF_B = 0x10;
export const BPF_DW = 0x18;

// Modes (load/store classes).
export const BPF_IMM = 0x00;
export const BPF_ABS = 0x20;
export const BPF_IND = 0x40;
export const BPF_MEM = 0x60;
/** Sign-extending load (v4). */
export const BPF_MEMSX = 0x80;
export const BPF_ATOMIC = 0xc0;
/** BPF_ST | 0xc0: the verifier's internal speculation barrier (no UAPI name). */
export const BPF_NOSPEC = 0xc0;

// Sources (ALU/JMP classes). For BPF_END the same bit selects be/le.
export const BPF_K = 0x00;
export const BPF_X = 0x08;
export const BPF_TO_LE = 0x00;
export const BPF_TO_BE = 0x08;

// ALU ops.
export const BPF_ADD = 0x00;
export const BPF_SUB = 0x10;
export const BPF_MUL = 0x20;
export const BPF_DIV = 0x30;
export const BPF_OR = 0x40;
export const BPF_AND = 0x50;
export const BPF_LSH = 0x60;
export const BPF_RSH = 0x70;
export const BPF_NEG = 0x80;
export const BPF_MOD = 0x90;
export const BPF_XOR = 0xa0;
export const BPF_MOV = 0xb0;
export const BPF_ARSH = 0xc0;
export const BPF_END = 0xd0;

// JMP ops.
export const BPF_JA = 0x00;
export const BPF_JEQ = 0x10;
export const BPF_JGT = 0x20;
export const BPF_JGE = 0x30;
export const BPF_JSET = 0x40;
export const BPF_JNE = 0x50;
export const BPF_JSGT = 0x60;
export const BPF_JSGE = 0x70;
export const BPF_CALL = 0x80;
export const BPF_EXIT = 0x90;
export const BPF_JLT = 0xa0;
export const BPF_JLE = 0xb0;
export const BPF_JSLT = 0xc0;
export const BPF_JSLE = 0xd0;
export const BPF_JCOND = 0xe0;

// Atomic operations (imm of BPF_STX | BPF_ATOMIC).
export const BPF_FETCH = 0x01;
export const BPF_XCHG = 0xe0 | BPF_FETCH;
export const BPF_CMPXCHG = 0xf0 | BPF_FETCH;
export const BPF_LOAD_ACQ = 0x100;
export const BPF_STORE_REL = 0x110;

// src_reg of ld_imm64.
export const BPF_PSEUDO_MAP_FD = 1;
export const BPF_PSEUDO_MAP_VALUE = 2;
export const BPF_PSEUDO_BTF_ID = 3;
export const BPF_PSEUDO_FUNC = 4;
export const BPF_PSEUDO_MAP_IDX = 5;
export const BPF_PSEUDO_MAP_IDX_VALUE = 6;

// src_reg of call.
export const BPF_PSEUDO_CALL = 1;
export const BPF_PSEUDO_KFUNC_CALL = 2;

// src_reg of BPF_JMP | BPF_JCOND.
export const BPF_MAY_GOTO = 0;

// off of ALU64 MOV X: address-space cast (arena) and the verifier-internal per-CPU address mov.
export const BPF_ADDR_SPACE_CAST = 1;
export const BPF_ADDR_PERCPU = -1;

export const insnClass = (code: number): number => code & 0x07;
export const insnOp = (code: number): number => code & 0xf0;
export const insnSrc = (code: number): number => code & 0x08;
export const insnMode = (code: number): number => code & 0xe0;
export const insnSize = (code: number): number => code & 0x18;

/** Bytes accessed for a load/store size field. */
export function sizeBytes(size: number): 1 | 2 | 4 | 8 {
  switch (size) {
    case BPF_B:
      return 1;
    case BPF_H:
      return 2;
    case BPF_W:
      return 4;
    default:
      return 8;
  }
}

/** The opcode as the kernel prints it in `(%02x)`. */
const HEX2: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
export const hex2 = (code: number): string => HEX2[code & 0xff];

/** C's `%+d`. */
export const signed = (n: number): string => (n < 0 ? `${n}` : `+${n}`);

/**
 * What printk prints for a NULL `%s` argument: the kernel's string tables
 * have holes (e.g. ALU op 0xe0), and a malformed instruction prints them.
 */
export const NULL_STR = '(null)';
export const orNull = (s: string | undefined): string => s ?? NULL_STR;

/** The C type the kernel prints for a load/store size, by size >> 3 (W, H, B, DW): bpf_ldst_string. */
export const LDST_TYPES: readonly string[] = ['u32', 'u16', 'u8', 'u64'];
