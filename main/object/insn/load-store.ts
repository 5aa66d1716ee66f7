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
 * The whole text for LD, LDX, ST and STX: `(code) ...`, or `BUG_…` (the
 * kernel prints those without the opcode prefix). `next` is the second slot
 * of an ld_imm64.
 */
export function printLoadStore(r: RawInsn, next: RawInsn | undefined, names?: InsnNames): string {
  const cls = insnClass(r.code);
  const mode = insnMode(r.code);
  const type = LDST_TYPES[insnSize(r.code) >> 3];
  const p = `(${hex2(r.code)}) `;
  switch (cls) {
    case BPF_LD: {
      if (mode === BPF_ABS) return `${p}r0 = *(${type} *)skb[${r.imm}]`;
      if (mode === BPF_IND) return `${p}r0 = *(${type} *)skb[r${r.src} + ${r.imm}]`;
      if (isLdImm64(r)) {
        // From the two slots as the kernel reads them (imm64 may predate a relocation's patch).
        const value = next ? (BigInt(next.imm >>> 0) << 32n) | BigInt(r.imm >>> 0) : (r.imm64 ?? BigInt(r.imm >>> 0));
        const text = names?.imm?.(r, value) ?? `0x${value.toString(16)}`;
        return `${p}r${r.dst} = ${text}`;
      }
      return `BUG_ld_${hex2(r.code)}`;
    }
    case BPF_LDX: {
      if (mode !== BPF_MEM && mode !== BPF_MEMSX) return `BUG_ldx_${hex2(r.code)}`;
      const t = mode === BPF_MEM ? type : orNull(LDSX_TYPES[insnSize(r.code) >> 3]);
      return `${p}r${r.dst} = *(${t} *)(r${r.src} ${signed(r.off)})`;
    }
    case BPF_ST:
      if (mode === BPF_MEM) return `${p}*(${type} *)(r${r.dst} ${signed(r.off)}) = ${r.imm}`;
      if (mode === BPF_NOSPEC) return `${p}nospec`;
      return `BUG_st_${hex2(r.code)}`;
    default: {
      if (mode === BPF_MEM) return `${p}*(${type} *)(r${r.dst} ${signed(r.off)}) = r${r.src}`;
      const text = mode === BPF_ATOMIC ? printAtomic(r) : undefined;
      return text === undefined ? `BUG_${hex2(r.code)}` : p + text;
    }
  }
}
