import { existsSync, readFileSync, statSync } from 'node:fs';
import { release } from 'node:os';
import { buildAttr, PROG_LOAD_ATTR } from './attr';
import { Arena, bpfTry, closeFd, errnoName } from './syscall';

/** What the recorder needs from this machine, and what it found. */
export interface ProbeReport {
  kernelRelease: string;
  arch: string;
  /** bpf(2) answered (a trivial socket filter loaded, or the error it gave). */
  bpfSyscall: { reachable: boolean; errno?: number; errnoName?: string };
  caps: { CAP_SYS_ADMIN: boolean; CAP_PERFMON: boolean; CAP_BPF: boolean; CAP_NET_ADMIN: boolean };
  /** /proc/sys/kernel/unprivileged_bpf_disabled (0, 1 or 2), when readable. */
  unprivilegedBpfDisabled?: number;
  vmlinuxBtf: { present: boolean; size?: number };
  /** Can this process record (load programs with a verifier log)? */
  canRecord: boolean;
  /** One sentence: what is missing and how to run the recorder with it; undefined when nothing is. */
  problem?: string;
}

const CAP_BITS = { CAP_NET_ADMIN: 12n, CAP_SYS_ADMIN: 21n, CAP_PERFMON: 38n, CAP_BPF: 39n } as const;

/** Effective capabilities from the `CapEff:` line of /proc/self/status. */
export function parseCapEff(status: string): ProbeReport['caps'] {
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(status);
  const caps = m ? BigInt(`0x${m[1]}`) : 0n;
  const has = (bit: bigint): boolean => ((caps >> bit) & 1n) === 1n;
  return {
    CAP_SYS_ADMIN: has(CAP_BITS.CAP_SYS_ADMIN),
    CAP_PERFMON: has(CAP_BITS.CAP_PERFMON),
    CAP_BPF: has(CAP_BITS.CAP_BPF),
    CAP_NET_ADMIN: has(CAP_BITS.CAP_NET_ADMIN),
  };
}

/** Load `r0 = 0; exit` as a socket filter: the cheapest proof that bpf(2) works for us. */
function trySyscall(): ProbeReport['bpfSyscall'] {
  const arena = new Arena();
  try {
    const insns = arena.alloc(16);
    insns.view.setUint8(0, 0xb7); // mov64 r0, 0
    insns.view.setUint8(8, 0x95); // exit
    const attr = buildAttr(arena, PROG_LOAD_ATTR, {
      prog_type: 1, // BPF_PROG_TYPE_SOCKET_FILTER
      insn_cnt: 2,
      insns,
      license: arena.cstring('GPL'),
    });
    const r = bpfTry('PROG_LOAD', attr);
    if (r.ok) {
      closeFd(r.ret);
      return { reachable: true };
    }
    return { reachable: false, errno: r.errno, errnoName: errnoName(r.errno) };
  } finally {
    arena.free();
  }
}

/** Everything the recorder checks before it starts; never throws. */
export function probe(): ProbeReport {
  const caps = parseCapEff(safeRead('/proc/self/status') ?? '');
  const unpriv = safeRead('/proc/sys/kernel/unprivileged_bpf_disabled');
  const vmlinux = '/sys/kernel/btf/vmlinux';
  const vmlinuxBtf = existsSync(vmlinux) ? { present: true, size: statSync(vmlinux).size } : { present: false };
  const bpfSyscall = trySyscall();
  // Loading programs with a full verifier log, kfuncs and map special fields
  // needs CAP_BPF (plus CAP_PERFMON for pointer leaks / CAP_NET_ADMIN for
  // networking types) or CAP_SYS_ADMIN, which implies them all.
  const privileged = caps.CAP_SYS_ADMIN || (caps.CAP_BPF && caps.CAP_PERFMON);
  let problem: string | undefined;
  if (!bpfSyscall.reachable && bpfSyscall.errno === 38 /* ENOSYS */) {
    problem = `this kernel (${release()}) has no bpf(2) system call (CONFIG_BPF_SYSCALL is off); record on a kernel built with it, then open the trace here`;
  } else if (!privileged) {
    const missing = caps.CAP_BPF ? 'CAP_PERFMON' : 'CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN)';
    problem = `recording needs ${missing}, which this process lacks; run the recorder as root: 'sudo npx bpfscope record OBJ -o TRACE' (or 'pkexec' from the app), or give it the capabilities with 'sudo setcap cap_bpf,cap_perfmon,cap_net_admin+ep' on the node binary`;
  } else if (!bpfSyscall.reachable) {
    problem = `bpf(2) refused a trivial program with ${bpfSyscall.errnoName} although the capabilities are present (a seccomp or LSM policy?); run the recorder outside that sandbox`;
  } else if (!vmlinuxBtf.present) {
    problem = `${vmlinux} is missing (kernel built without CONFIG_DEBUG_INFO_BTF): programs load, but kfuncs and CO-RE relocations cannot be resolved`;
  }
  return {
    kernelRelease: release(),
    arch: process.arch,
    bpfSyscall,
    caps,
    unprivilegedBpfDisabled: unpriv === undefined ? undefined : Number(unpriv.trim()),
    vmlinuxBtf,
    canRecord: bpfSyscall.reachable && privileged,
    problem,
  };
}

function safeRead(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}
