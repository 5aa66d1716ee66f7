import type { LinkedProgram } from './link';
import type { RawInsn } from './insn/raw';
import type { Btf } from './btf/types';
import { findAllByName } from './btf/lookup';

/**
 * The loader's relocations on a linked program (libbpf's bpf_program__relocate
 * for RELO_LD64 / RELO_DATA / RELO_EXTERN_*): map references become the map's
 * fd, global data references the data map's fd (the offset is already in the
 * second slot), kfunc calls the kfunc's BTF id with the fd_array index of the
 * BTF it lives in, ksym variables their BTF id. Pure: the kernel's answers
 * (fds, ids) come in as data.
 */

export const BPF_PSEUDO_MAP_FD = 1;
export const BPF_PSEUDO_MAP_VALUE = 2;
export const BPF_PSEUDO_BTF_ID = 3;
export const BPF_PSEUDO_KFUNC_CALL = 2;

/** An extern resolved against kernel BTF (or not). */
export interface ResolvedExtern {
  name: string;
  kind: 'kfunc' | 'ksym';
  weak: boolean;
  /** BTF id in `btfObj`; undefined when not found. */
  btfId?: number;
  /** 'vmlinux' or the module name. */
  btfObj?: string;
  /** fd_array index for kfuncs in modules (0: vmlinux). */
  fdIndex: number;
  /** For module ksym variables: the module BTF fd, written into the second slot. */
  btfObjFd?: number;
  /**
   * A typeless ksym (`extern const void NAME __ksym`): resolved through
   * /proc/kallsyms, not BTF. `addr` is what the ld_imm64 gets (0 for a weak
   * one kallsyms lacks); `decision` says so in words.
   */
  typeless?: { addr?: bigint; decision: string };
  error?: string;
  /** The errno libbpf 1.1 fails the object with when this extern is not resolved (EINVAL unless said). */
  errno?: number;
}

export interface RelocTargets {
  /** `.maps` variable name → map fd. */
  maps: ReadonlyMap<string, number>;
  /** ELF data section name → its map's fd. */
  dataMaps: ReadonlyMap<string, number>;
  externs: ReadonlyMap<string, ResolvedExtern>;
  /** The .kconfig map and where each `__kconfig` extern sits in it. */
  kconfig?: { fd: number; offsets: ReadonlyMap<string, number> };
}

export interface AppliedRelocation {
  insnIdx: number;
  kind: 'map' | 'map_value' | 'kfunc' | 'ksym' | 'kconfig';
  symbol: string;
  target: string;
  /** The number written; a typeless ksym's address as the signed 64-bit value SQLite stores (the hex is in `target`). */
  value: number | bigint;
}

export interface RelocateResult {
  insns: RawInsn[];
  applied: AppliedRelocation[];
  /** Why the program cannot be loaded (a missing map or extern); empty when it can. */
  errors: string[];
}

export function relocateProgram(prog: LinkedProgram, insnsIn: readonly RawInsn[], t: RelocTargets): RelocateResult {
  const insns = insnsIn.map((i) => ({ ...i }));
  const applied: AppliedRelocation[] = [];
  const errors: string[] = [];
  for (const r of prog.relocations) {
    const insn = insns[r.insnIdx];
    switch (r.kind) {
      case 'map': {
        const fd = t.maps.get(r.map);
        if (fd === undefined) {
          errors.push(`instruction ${r.insnIdx} references map '${r.map}', which was not created`);
          break;
        }
        insn.src = BPF_PSEUDO_MAP_FD;
        insn.imm = fd;
        applied.push({ insnIdx: r.insnIdx, kind: 'map', symbol: r.map, target: `map '${r.map}' (fd ${fd})`, value: fd });
        break;
      }
      case 'data': {
        const fd = t.dataMaps.get(r.section);
        if (fd === undefined) {
          errors.push(`instruction ${r.insnIdx} references ${r.symbol} in ${r.section}, which has no map`);
          break;
        }
        insn.src = BPF_PSEUDO_MAP_VALUE;
        insn.imm = fd;
        if (insns[r.insnIdx + 1]) insns[r.insnIdx + 1].imm = r.offset;
        applied.push({ insnIdx: r.insnIdx, kind: 'map_value', symbol: r.symbol, target: `${r.section} + ${r.offset} (fd ${fd})`, value: r.offset });
        break;
      }
      case 'kfunc': {
        const e = t.externs.get(r.name);
        if (!e || e.btfId === undefined) {
          if (e?.weak || r.weak) {
            // A weak kfunc the kernel lacks: the call stays, with id 0; the verifier rejects it only if reachable.
            insn.imm = 0;
            insn.off = 0;
            applied.push({ insnIdx: r.insnIdx, kind: 'kfunc', symbol: r.name, target: 'weak, not in kernel BTF', value: 0 });
          } else {
            errors.push(e?.error ?? `extern kfunc '${r.name}' not found in kernel BTF`);
          }
          break;
        }
        insn.src = BPF_PSEUDO_KFUNC_CALL;
        insn.imm = e.btfId;
        insn.off = e.fdIndex;
        applied.push({ insnIdx: r.insnIdx, kind: 'kfunc', symbol: r.name, target: `${e.btfObj} [${e.btfId}]`, value: e.btfId });
        break;
      }
      case 'extern': {
        const kcOff = t.kconfig?.offsets.get(r.name);
        if (kcOff !== undefined && t.kconfig) {
          insn.src = BPF_PSEUDO_MAP_VALUE;
          insn.imm = t.kconfig.fd;
          if (insns[r.insnIdx + 1]) insns[r.insnIdx + 1].imm = kcOff;
          applied.push({ insnIdx: r.insnIdx, kind: 'kconfig', symbol: r.name, target: `.kconfig + ${kcOff} (fd ${t.kconfig.fd})`, value: kcOff });
          break;
        }
        const e = t.externs.get(r.name);
        if (e?.typeless) {
          // libbpf 1.1 writes a typeless ksym's address as a plain 64-bit constant (its
          // "typeless ksyms or unresolved typed ksyms" case): imm = low 32 bits, next.imm =
          // high 32 bits; src_reg stays the compiler's 0, so the kernel sees no pseudo load.
          if (e.typeless.addr === undefined) {
            errors.push(e.error ?? `extern '${r.name}' (strong): not resolved`);
            break;
          }
          const a = e.typeless.addr;
          writeImm64Constant(insns, r.insnIdx, a);
          applied.push({ insnIdx: r.insnIdx, kind: 'ksym', symbol: r.name, target: e.typeless.decision, value: BigInt.asIntN(64, a) });
          break;
        }
        if (!e || e.btfId === undefined) {
          if (r.weak) {
            // libbpf loads 0 for a weak ksym the kernel lacks.
            insn.src = 0;
            insn.imm = 0;
            if (insns[r.insnIdx + 1]) insns[r.insnIdx + 1].imm = 0;
            applied.push({ insnIdx: r.insnIdx, kind: 'ksym', symbol: r.name, target: 'weak, not in kernel BTF: 0', value: 0 });
          } else errors.push(e?.error ?? `extern '${r.name}' not found in kernel BTF`);
          break;
        }
        insn.src = BPF_PSEUDO_BTF_ID;
        insn.imm = e.btfId;
        if (insns[r.insnIdx + 1]) insns[r.insnIdx + 1].imm = e.btfObjFd ?? 0;
        applied.push({ insnIdx: r.insnIdx, kind: 'ksym', symbol: r.name, target: `${e.btfObj} [${e.btfId}]`, value: e.btfId });
        break;
      }
      default:
        break;
    }
  }
  return { insns, applied, errors };
}

/** Find an extern in one kernel BTF: a FUNC for kfuncs, a VAR for ksyms (libbpf's find_ksym_btf_id). */
export function findKernelSymbol(btf: Btf, name: string, kind: 'kfunc' | 'ksym'): number | undefined {
  const want = kind === 'kfunc' ? 'FUNC' : 'VAR';
  const own = btf.baseCount;
  return findAllByName(btf, name).find((x) => x.kind === want && x.id >= own)?.id;
}

/**
 * The kernel BTF a tracing/LSM/iterator program attaches to, named as libbpf
 * looks it up for `attach_btf_id`: fentry/fexit/fmod_ret → the FUNC itself,
 * tp_btf → the `btf_trace_NAME` typedef, lsm → `bpf_lsm_NAME`, iter →
 * `bpf_iter_NAME` (FUNCs). Undefined for programs that attach otherwise.
 */
export function attachTarget(expectedAttachType: string | undefined, attachTo: string | undefined): { name: string; kind: 'FUNC' | 'TYPEDEF' } | undefined {
  if (!attachTo) return undefined;
  switch (expectedAttachType) {
    case 'trace_fentry':
    case 'trace_fexit':
    case 'modify_return':
      return { name: attachTo, kind: 'FUNC' };
    case 'trace_raw_tp':
      return { name: `btf_trace_${attachTo}`, kind: 'TYPEDEF' };
    case 'lsm_mac':
    case 'lsm_cgroup':
      return { name: `bpf_lsm_${attachTo}`, kind: 'FUNC' };
    case 'trace_iter':
      return { name: `bpf_iter_${attachTo}`, kind: 'FUNC' };
    default:
      return undefined;
  }
}

/**
 * Make the ld_imm64 at `idx` a plain 64-bit constant (src_reg 0, imm = the
 * low 32 bits, the second slot's imm = the high 32 bits): how libbpf writes a
 * typeless ksym's address, for the kernel and for bpfscope's machine alike.
 */
export function writeImm64Constant(insns: RawInsn[], idx: number, value: bigint): void {
  const first = insns[idx];
  first.src = 0;
  first.imm = Number(BigInt.asIntN(32, value));
  first.imm64 = value;
  if (insns[idx + 1]) insns[idx + 1].imm = Number(BigInt.asIntN(32, value >> 32n));
}
