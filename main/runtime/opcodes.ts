/**
 * The opcode fields the interpreter switches on. The ISA's names live once,
 * in the decoder (main/object/insn/opcode.ts); this module adds what only the
 * machine needs: atomic op names as the interpreter groups them and the
 * kernel's run-time limits.
 */
export {
  BPF_LD,
  BPF_LDX,
  BPF_ST,
  BPF_STX,
  BPF_ALU,
  BPF_JMP,
  BPF_JMP32,
  BPF_ALU64,
  BPF_PSEUDO_CALL,
  BPF_PSEUDO_KFUNC_CALL,
  BPF_PSEUDO_MAP_FD,
  BPF_PSEUDO_MAP_VALUE,
  BPF_PSEUDO_BTF_ID,
  BPF_PSEUDO_FUNC,
  BPF_PSEUDO_MAP_IDX,
  BPF_PSEUDO_MAP_IDX_VALUE,
  BPF_FETCH,
  BPF_XCHG,
  BPF_CMPXCHG,
  BPF_LOAD_ACQ,
  BPF_STORE_REL,
} from '../object/insn/opcode';

/** imm of BPF_ATOMIC without the fetch bit: the ALU op it applies. */
export const BPF_ATOMIC_ADD = 0x00;
export const BPF_ATOMIC_OR = 0x40;
export const BPF_ATOMIC_AND = 0x50;
export const BPF_ATOMIC_XOR = 0xa0;

export const MAX_BPF_STACK = 512;
export const MAX_CALL_FRAMES = 8;
/** may_goto's per-frame budget (BPF_MAX_LOOPS in include/linux/bpf.h). */
export const BPF_MAX_LOOPS = 8 * 1024 * 1024;
