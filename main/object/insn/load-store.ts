import type { RawInsn } from './raw';
import type { Insn, InsnNames } from './types';
import {
  BPF_ABS,
  BPF_ATOMIC,
  BPF_DW,
  BPF_IMM,
  BPF_IND,
  BPF_LD,
  BPF_LDX,
  BPF_MEM,
  BPF_MEMSX,
  BPF_NOSPEC,
  BPF_PSEUDO_BTF_ID,
  BPF_PSEUDO_FUNC,
  BPF_PSEUDO_MAP_FD,
  BPF_PSEUDO_MAP_IDX,
  BPF_PSEUDO_MAP_IDX_VALUE,
  BPF_PSEUDO_MAP_VALUE,
  BPF_ST,
  BPF_STX,
  LDST_TYPES,
  hex2,
  insnClass,
  insnMode,
  insnSize,
  orNull,
  signed,
  sizeBytes,
} from './opcode';
import { decodeAtomic, printAtomic } from './atomic';

/** bpf_ldsx_string, by size >> 3 (W, H, B; no DW form). */
const LDSX_TYPES: readonly (string | undefined)[] = ['s32', 's16', 's8', undefined];

/** ld_imm64 pseudo sources by src_reg. */
const LD_IMM64_SOURCES: readonly string[] = ['imm', 'map_fd', 'map_value', 'btf_id', 'func', 'map_idx', 'map_idx_value'];

/** Pseudo sources whose value is a kernel pointer once resolved (the kernel hides them without ptr-leak rights). */
export function isPointerLdImm64(r: RawInsn): boolean {
  return (
    r.src === BPF_PSEUDO_MAP_FD ||
    r.src === BPF_PSEUDO_MAP_VALUE ||
    r.src === BPF_PSEUDO_MAP_IDX ||
    r.src === BPF_PSEUDO_MAP_IDX_VALUE ||
    r.src === BPF_PSEUDO_BTF_ID
  );
}

export const isLdImm64 = (r: RawInsn): boolean => r.code === (BPF_LD | BPF_IMM | BPF_DW);

export function decodeLoadStore(r: RawInsn): Pick<Insn, 'kind' | 'op' | 'size' | 'target'> {
  const cls = insnClass(r.code);
  const mode = insnMode(r.code);
  const size = sizeBytes(insnSize(r.code));
  switch (cls) {
    case BPF_LD:
      if (mode === BPF_ABS) return { kind: 'ld_abs', op: 'abs', size };
      if (mode === BPF_IND) return { kind: 'ld_ind', op: 'ind', size };
      if (isLdImm64(r)) {
        const op = LD_IMM64_SOURCES[r.src] ?? `pseudo_${r.src}`;
        // A func pointer's imm is relative to the next slot, like a bpf-to-bpf call.
        return r.src === BPF_PSEUDO_FUNC ? { kind: 'ld_imm64', op, size: 8, target: r.idx + r.imm + 1 } : { kind: 'ld_imm64', op, size: 8 };
      }
      return { kind: 'invalid', op: 'ld' };
    case BPF_LDX:
      if (mode === BPF_MEM) return { kind: 'load', op: 'mem', size };
      if (mode === BPF_MEMSX && size !== 8) return { kind: 'load', op: 'memsx', size };
      return { kind: 'invalid', op: 'ldx' };
    case BPF_ST:
      if (mode === BPF_MEM) return { kind: 'store', op: 'mem', size };
      if (mode === BPF_NOSPEC) return { kind: 'nospec', op: 'nospec' };
      return { kind: 'invalid', op: 'st' };
    default: // BPF_STX
      if (mode === BPF_MEM) return { kind: 'store', op: 'mem', size };
      if (mode === BPF_ATOMIC) return decodeAtomic(r);
      return { kind: 'invalid', op: 'stx' };
  }
}

/**
 * Text after `(code) ` for LD, LDX, ST and STX, or the whole text for the
 * `BUG_…` forms (the kernel prints those without the opcode prefix).
 * `next` is the second slot of an ld_imm64.
 */
export function printLoadStore(r: RawInsn, next: RawInsn | undefined, names?: InsnNames): { text: string; bare?: boolean } {
  const cls = insnClass(r.code);
  const mode = insnMode(r.code);
  const type = LDST_TYPES[insnSize(r.code) >> 3];
  const bug = (prefix: string): { text: string; bare: boolean } => ({ text: `${prefix}${hex2(r.code)}`, bare: true });
  switch (cls) {
    case BPF_LD: {
      if (mode === BPF_ABS) return { text: `r0 = *(${type} *)skb[${r.imm}]` };
      if (mode === BPF_IND) return { text: `r0 = *(${type} *)skb[r${r.src} + ${r.imm}]` };
      if (isLdImm64(r)) {
        // From the two slots as the kernel reads them (imm64 may predate a relocation's patch).
        const value = next ? (BigInt(next.imm >>> 0) << 32n) | BigInt(r.imm >>> 0) : (r.imm64 ?? BigInt(r.imm >>> 0));
        const text = names?.imm?.(r, value) ?? `0x${value.toString(16)}`;
        return { text: `r${r.dst} = ${text}` };
      }
      return bug('BUG_ld_');
    }
    case BPF_LDX: {
      if (mode !== BPF_MEM && mode !== BPF_MEMSX) return bug('BUG_ldx_');
      const t = mode === BPF_MEM ? type : orNull(LDSX_TYPES[insnSize(r.code) >> 3]);
      return { text: `r${r.dst} = *(${t} *)(r${r.src} ${signed(r.off)})` };
    }
    case BPF_ST:
      if (mode === BPF_MEM) return { text: `*(${type} *)(r${r.dst} ${signed(r.off)}) = ${r.imm}` };
      if (mode === BPF_NOSPEC) return { text: 'nospec' };
      return bug('BUG_st_');
    default:
      if (mode === BPF_MEM) return { text: `*(${type} *)(r${r.dst} ${signed(r.off)}) = r${r.src}` };
      if (mode === BPF_ATOMIC) {
        const text = printAtomic(r);
        return text === undefined ? bug('BUG_') : { text };
      }
      return bug('BUG_');
  }
}
