import os from 'node:os';
import { getMeta, setMeta, type TraceDb } from './db';

/**
 * The kernel a trace was recorded on. Verdicts, logs and kfunc ids belong to
 * one kernel build, so a trace says which: its release (`uname -r`), its
 * version line (`uname -v`, which names the build) and where it ran — this
 * machine, or a VM bpfscope booted (`record --kernel`) under KVM or TCG.
 */
export interface RecordedKernel {
  release: string;
  version: string;
  /** 'host', or 'vm (KVM)' / 'vm (TCG)' for `record --kernel`. */
  where: string;
}

const KEYS = { release: 'kernel_release', version: 'kernel_version', where: 'kernel_where' } as const;

/** Written by the recorder itself, so a recorder inside a VM names the guest's kernel. */
export function writeRecordedKernel(db: TraceDb, k: Partial<RecordedKernel> = {}): void {
  setMeta(db, KEYS.release, k.release ?? os.release());
  setMeta(db, KEYS.version, k.version ?? os.version());
  setMeta(db, KEYS.where, k.where ?? process.env.BPFSCOPE_RECORDED_IN ?? 'host');
}

/** Undefined for traces that hold only imported logs or runs in bpfscope's machine. */
export function readRecordedKernel(db: TraceDb): RecordedKernel | undefined {
  const release = getMeta(db, KEYS.release);
  if (release === undefined) return undefined;
  return { release, version: getMeta(db, KEYS.version) ?? '', where: getMeta(db, KEYS.where) ?? 'host' };
}

/** `6.12.100+deb12-amd64 (#1 SMP PREEMPT_DYNAMIC Debian 6.12.100-1~deb12u1, vm (TCG))`. */
export function describeKernel(k: RecordedKernel): string {
  const extra = [k.version, k.where === 'host' ? '' : k.where].filter((s) => s).join(', ');
  return extra ? `${k.release} (${extra})` : k.release;
}
