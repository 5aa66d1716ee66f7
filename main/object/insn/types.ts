import type { RawInsn } from './raw';
import type { InsnClass } from './opcode';

/** What an instruction does, one value per printed form family. */
export type InsnKind =
  | 'alu' // dst op= src/imm, neg, mov, movsx
  | 'endian' // be16/le32/bswap64
  | 'addr_space_cast'
  | 'percpu_addr' // verifier-internal: dst = &(void __percpu *)(src)
  | 'jump' // conditional and unconditional (ja, gotol, may_goto)
  | 'call'
  | 'exit'
  | 'ld_imm64'
  | 'ld_abs'
  | 'ld_ind'
  | 'load' // LDX MEM / MEMSX
  | 'store' // ST / STX MEM
  | 'atomic'
  | 'nospec'
  | 'invalid'; // the kernel prints BUG_xx for these

/**
 * A decoded instruction: the raw slot plus the meaning of its fields.
 * Mnemonics follow the kernel's names (BPF_ADD → 'add', BPF_JSGT → 'jsgt').
 */
export interface Insn extends RawInsn {
  cls: InsnClass;
  kind: InsnKind;
  /**
   * alu: add sub mul div sdiv or and lsh rsh neg mod smod xor mov movsx arsh;
   * endian: be le bswap; jump: ja gotol may_goto jeq jgt jge jset jne jsgt jsge jlt jle jslt jsle;
   * call: helper kfunc pseudo (bpf-to-bpf) unknown; atomic: add and or xor fetch_add fetch_and
   * fetch_or fetch_xor xchg cmpxchg load_acquire store_release; load/store: mem memsx;
   * ld_imm64: the pseudo source name (imm, map_fd, map_value, btf_id, func, map_idx, map_idx_value).
   */
  op: string;
  /** ALU and JMP32: true when the operation is on the low 32 bits (w registers). */
  is32?: boolean;
  /** ALU/JMP: the second operand is src_reg (BPF_X) rather than imm (BPF_K). */
  useReg?: boolean;
  /** Memory access size in bytes (loads, stores, atomics, ld_abs/ind), or the endian/movsx width in bits for those. */
  size?: number;
  /** Jumps (and bpf-to-bpf calls, func pointers): the target instruction index. */
  target?: number;
}

/**
 * Names the printer cannot know from the instruction alone: the kernel's
 * print_bpf_insn takes callbacks for the same reason (cb_call, cb_imm).
 */
export interface InsnNames {
  /**
   * Called for calls the helper table does not name (kfuncs, unknown ids),
   * as the verifier's cb_call. `id` replaces the printed `#imm` (the kfunc's
   * BTF id once the loader knows it); `id: null` prints the name without `#`.
   */
  call?(insn: RawInsn): { name: string; id?: number | null } | undefined;
  /** Text for an ld_imm64 value (map names, resolved addresses); undefined prints `0x%llx`. */
  imm?(insn: RawInsn, value: bigint): string | undefined;
}
