import { closeSync, constants, existsSync, openSync } from 'node:fs';
import path from 'node:path';
import { HOSTROOT_TAG, SCRATCH_TAG } from './init-script';

/** How the guest's CPU runs: hardware virtualisation, or qemu's software emulation. */
export type Accel = 'kvm' | 'tcg';

export interface QemuConfig {
  accel: Accel;
  vmlinuz: string;
  initrd: string;
  /** Host folder the guest writes to (tag `scratch`). */
  scratch: string;
  /** Where the serial console goes. */
  consoleLog: string;
  memoryMiB?: number;
  cpus?: number;
}

/** Candidates for the qemu binary, first found wins. */
export const QEMU_BINARIES = ['/usr/bin/qemu-system-x86_64', '/usr/local/bin/qemu-system-x86_64'];

export function findQemu(): string | undefined {
  if (process.env.BPFSCOPE_QEMU) return process.env.BPFSCOPE_QEMU;
  return QEMU_BINARIES.find((p) => existsSync(p));
}

/** Whether /dev/kvm can be opened for reading and writing (it may still fail to run a guest: nested KVM). */
export function kvmOpens(): boolean {
  try {
    closeSync(openSync('/dev/kvm', constants.O_RDWR));
    return true;
  } catch {
    return false;
  }
}

/**
 * The accelerators to try, in order. KVM first where /dev/kvm opens (a nested
 * KVM may still refuse the guest, so TCG follows it); BPFSCOPE_VM_ACCEL
 * forces one.
 */
export function accelCandidates(env: NodeJS.ProcessEnv = process.env, kvm = kvmOpens()): Accel[] {
  const forced = env.BPFSCOPE_VM_ACCEL;
  if (forced === 'kvm' || forced === 'tcg') return [forced];
  return kvm ? ['kvm', 'tcg'] : ['tcg'];
}

/**
 * The guest kernel's command line. panic=-1: a panic reboots at once, and
 * -no-reboot turns that into an exit.
 *
 * Under TCG, `tsc=unstable`: otherwise the guest marks sched_clock stable
 * about 2 s into boot, which patches the static branch at the top of
 * sched_clock_cpu() while the other vCPU runs it from its timer interrupt.
 * Multi-threaded TCG does not always see that cross-modified code coherently,
 * and the guest dies of "Oops: int3" in sched_clock_cpu (seen on a CI
 * machine with 6.12). A TSC known unstable from the start never flips that
 * branch; time then comes from the HPET/ACPI PM timer, which TCG emulates
 * cheaply. KVM guests use kvm-clock and need none of this.
 */
export function kernelCommandLine(accel: Accel): string {
  return ['console=ttyS0', 'panic=-1', 'oops=panic', 'loglevel=4', ...(accel === 'tcg' ? ['tsc=unstable'] : []), 'rdinit=/init'].join(' ');
}

/**
 * qemu's arguments for one boot: no disk, no network device, no display;
 * the host's root shared read-only over 9p and the scratch folder writable.
 * `multidevs=remap` because the host's root spans several filesystems
 * (/proc, /sys, /tmp…), whose inode numbers would otherwise collide.
 */
export function qemuArgs(c: QemuConfig): string[] {
  const cpu = c.accel === 'kvm' ? ['-accel', 'kvm', '-cpu', 'host'] : ['-accel', 'tcg,thread=multi', '-cpu', 'max'];
  return [
    ...cpu,
    '-smp', String(c.cpus ?? 2),
    '-m', String(c.memoryMiB ?? 3072),
    '-nodefaults', '-no-user-config', '-display', 'none', '-vga', 'none', '-no-reboot',
    '-serial', `file:${c.consoleLog}`,
    '-kernel', c.vmlinuz,
    '-initrd', c.initrd,
    '-append', kernelCommandLine(c.accel),
    '-virtfs', `local,path=/,mount_tag=${HOSTROOT_TAG},security_model=none,readonly=on,multidevs=remap`,
    '-virtfs', `local,path=${path.resolve(c.scratch)},mount_tag=${SCRATCH_TAG},security_model=none,multidevs=remap`,
  ];
}
