import type { RawInsn } from './raw';
import type { Insn, InsnNames } from './types';
import { BPF_PSEUDO_CALL, BPF_PSEUDO_KFUNC_CALL, signed } from './opcode';
import { HELPER_NAMES } from './helper-ids';

/** The helper's name (`bpf_map_lookup_elem`) for an id of this kernel's enum bpf_func_id, or undefined. */
export function helperName(id: number): string | undefined {
  return id >= 0 && id < HELPER_NAMES.length ? HELPER_NAMES[id] : undefined;
}

/** The id of a helper by name (with or without the `bpf_` prefix), or undefined. */
export function helperId(name: string): number | undefined {
  const full = name.startsWith('bpf_') ? name : `bpf_${name}`;
  const i = HELPER_NAMES.indexOf(full);
  return i >= 0 ? i : undefined;
}

export function decodeCall(r: RawInsn): Pick<Insn, 'kind' | 'op' | 'target'> {
  if (r.src === 0) return { kind: 'call', op: 'helper' };
  if (r.src === BPF_PSEUDO_CALL) return { kind: 'call', op: 'pseudo', target: r.idx + r.imm + 1 };
  if (r.src === BPF_PSEUDO_KFUNC_CALL) return { kind: 'call', op: 'kfunc' };
  return { kind: 'call', op: 'unknown' };
}

/**
 * `call bpf_map_lookup_elem#1`, `call bpf_obj_new_impl#65232`, `call pc+5`:
 * a helper the table knows is named from it first, then the caller's names
 * (the kernel's cb_call, which names kfuncs from their BTF), then the
 * kernel's fallbacks (`kernel-function`, `unknown`).
 */
export function printCall(r: RawInsn, names?: InsnNames): string {
  const known = r.src === 0 ? helperName(r.imm) : undefined;
  const named = known === undefined ? names?.call?.(r) : undefined;
  if (r.src === BPF_PSEUDO_CALL) return `call pc${named ? named.name : signed(r.imm)}`;
  if (known !== undefined) return `call ${known}#${r.imm}`;
  if (named) {
    if (named.id === null) return `call ${named.name}`;
    return `call ${named.name}#${named.id ?? r.imm}`;
  }
  return `call ${r.src === BPF_PSEUDO_KFUNC_CALL ? 'kernel-function' : 'unknown'}#${r.imm}`;
}
