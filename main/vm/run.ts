import { spawn } from 'node:child_process';
import { closeSync, existsSync, fstatSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BpfscopeError } from '../errors';
import type { KernelImage } from './images';
import { buildInitramfs } from './initramfs';
import { GUEST_FILES } from './init-script';
import { type Accel, accelCandidates, findQemu, qemuArgs } from './qemu';

/**
 * Runs one command as root inside a VM booted on a kernel image, with the
 * host's files visible (read-only, under a RAM overlay) and one scratch
 * folder shared writable. This is the only place that starts qemu.
 */
export interface VmRunOptions {
  image: KernelImage;
  /** argv of the command, run from `cwd` inside the guest. */
  command: string[];
  cwd: string;
  /** Variables exported in the guest; the default is this process's environment. */
  env?: Record<string, string | undefined>;
  /** The scratch folder; a new one under the system temp folder by default, removed afterwards. */
  scratch?: string;
  onStdout?: (chunk: Buffer) => void;
  onStderr?: (chunk: Buffer) => void;
  /** Progress lines: booting, which accelerator. */
  onStatus?: (line: string) => void;
  /** Kill the VM after this long (default 60 minutes). */
  timeoutMs?: number;
  memoryMiB?: number;
}

export interface VmRunResult {
  exitCode: number;
  accel: Accel;
  /** The guest's `uname -r` and `uname -v`. */
  release: string;
  version: string;
  /** Milliseconds from starting qemu to the guest's command starting, and to the end. */
  bootMs: number;
  totalMs: number;
  /** The scratch folder (kept when the caller gave it). */
  scratch: string;
}

/** `'it'\''s'`: one word for sh, whatever it holds. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The guest's cmd.sh: cd, the environment, then exec the command. */
export function commandScript(command: string[], cwd: string, env: Record<string, string | undefined>): string {
  const lines = ['# written by bpfscope: run in the guest as root', `cd ${shellQuote(cwd)} || exit 125`];
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(k) || ['PWD', 'OLDPWD', 'SHLVL', '_'].includes(k)) continue;
    lines.push(`export ${k}=${shellQuote(v)}`);
  }
  lines.push(`exec ${command.map(shellQuote).join(' ')}`);
  return lines.join('\n') + '\n';
}

/** Copies what a growing file gained since the last call. */
class Follower {
  private offset = 0;
  constructor(
    private readonly file: string,
    private readonly sink?: (chunk: Buffer) => void,
  ) {}

  poll(): void {
    if (!this.sink || !existsSync(this.file)) return;
    const fd = openSync(this.file, 'r');
    try {
      const size = fstatSync(fd).size;
      while (this.offset < size) {
        const buf = Buffer.alloc(Math.min(size - this.offset, 1 << 20));
        const n = readSync(fd, buf, 0, buf.length, this.offset);
        if (n <= 0) break;
        this.offset += n;
        this.sink(buf.subarray(0, n));
      }
    } finally {
      closeSync(fd);
    }
  }
}

/** Whether the serial console shows the guest kernel's panic. */
export function guestPanicked(consoleLog: string): boolean {
  return existsSync(consoleLog) && /Kernel panic - not syncing/.test(readFileSync(consoleLog, 'latin1'));
}

function tail(file: string, lines = 25): string {
  if (!existsSync(file)) return '';
  return readFileSync(file, 'utf8').replace(/\r/g, '').trimEnd().split('\n').slice(-lines).join('\n');
}

export async function runInVm(o: VmRunOptions): Promise<VmRunResult> {
  const qemu = findQemu();
  if (!qemu) throw new BpfscopeError("booting a kernel needs qemu: install Debian's qemu-system-x86 (apt-get install qemu-system-x86)");
  if (!o.image.modulesDir) {
    throw new BpfscopeError(`kernel ${o.image.release} has no modules under /lib/modules/${o.image.release}; bpfscope needs its virtio, 9p and overlay modules`, o.image.vmlinuz);
  }
  const ownScratch = o.scratch === undefined;
  const scratch = o.scratch ?? mkdtempSync(path.join(os.tmpdir(), 'bpfscope-vm-'));
  const files = (name: string): string => path.join(scratch, name);
  try {
    writeFileSync(files('path'), scratch);
    writeFileSync(files(GUEST_FILES.command), commandScript(o.command, o.cwd, o.env ?? process.env));
    const initrd = files('initrd.img');
    writeFileSync(initrd, buildInitramfs({ modulesDir: o.image.modulesDir }));
    const tried: string[] = [];
    const attempts = accelCandidates().flatMap((accel) => [accel, accel]);
    for (const [i, accel] of attempts.entries()) {
      // Each accelerator gets a second boot, but only after a guest panic
      // (emulation races are rare and not repeatable); a qemu that cannot
      // start at all, such as nested KVM refusing the guest, goes on to the next.
      if (i % 2 === 1 && !guestPanicked(files(GUEST_FILES.console))) continue;
      if (i % 2 === 1) o.onStatus?.(`the ${o.image.release} guest panicked while booting; booting it again`);
      for (const f of [GUEST_FILES.booted, GUEST_FILES.stdout, GUEST_FILES.stderr, GUEST_FILES.rc, GUEST_FILES.console]) rmSync(files(f), { force: true });
      o.onStatus?.(`booting ${o.image.release} in qemu (${accel === 'kvm' ? 'KVM' : 'TCG, software emulation'})`);
      const started = Date.now();
      const args = qemuArgs({ accel, vmlinuz: o.image.vmlinuz, initrd, scratch, consoleLog: files(GUEST_FILES.console), memoryMiB: o.memoryMiB });
      const outcome = await runQemu(qemu, args, o, files, started);
      const booted = existsSync(files(GUEST_FILES.booted));
      if (!booted) {
        tried.push(`${accel}: ${outcome.qemuError || `qemu exited ${outcome.status}`}`);
        continue; // e.g. nested KVM that opens but cannot run the guest: try the next accelerator
      }
      const [release = '', version = ''] = readFileSync(files(GUEST_FILES.booted), 'utf8').split('\n');
      if (outcome.timedOut) {
        throw new BpfscopeError(`the VM on ${release} did not finish within ${Math.round((o.timeoutMs ?? 3_600_000) / 1000)} s; console:\n${tail(files(GUEST_FILES.console))}`);
      }
      if (!existsSync(files(GUEST_FILES.rc))) {
        throw new BpfscopeError(`the VM on ${release} stopped before the command finished; console:\n${tail(files(GUEST_FILES.console))}`);
      }
      const exitCode = Number(readFileSync(files(GUEST_FILES.rc), 'utf8').trim());
      return { exitCode, accel, release, version, bootMs: outcome.bootMs ?? 0, totalMs: Date.now() - started, scratch };
    }
    throw new BpfscopeError(`kernel ${o.image.release} did not boot (${tried.join('; ')}); console:\n${tail(files(GUEST_FILES.console))}`, o.image.vmlinuz);
  } finally {
    if (ownScratch) rmSync(scratch, { recursive: true, force: true });
  }
}

interface QemuOutcome {
  status: number | null;
  qemuError: string;
  timedOut: boolean;
  bootMs?: number;
}

function runQemu(qemu: string, args: string[], o: VmRunOptions, files: (n: string) => string, started: number): Promise<QemuOutcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(qemu, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let qemuError = '';
    child.stderr.on('data', (d: Buffer) => {
      qemuError = (qemuError + d.toString()).slice(-2000);
    });
    const out = new Follower(files(GUEST_FILES.stdout), o.onStdout);
    const err = new Follower(files(GUEST_FILES.stderr), o.onStderr);
    let bootMs: number | undefined;
    let timedOut = false;
    const poll = setInterval(() => {
      if (bootMs === undefined && existsSync(files(GUEST_FILES.booted))) bootMs = Date.now() - started;
      out.poll();
      err.poll();
    }, 200);
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, o.timeoutMs ?? 3_600_000);
    // The VM must not outlive us (Ctrl-C on the CLI, a test runner's kill).
    const killer = (): void => {
      child.kill('SIGKILL');
    };
    process.once('exit', killer);
    child.on('error', (e) => {
      clearInterval(poll);
      clearTimeout(timer);
      process.off('exit', killer);
      reject(new BpfscopeError(`cannot start ${qemu}: ${e.message}`));
    });
    child.on('close', (status) => {
      clearInterval(poll);
      clearTimeout(timer);
      process.off('exit', killer);
      out.poll();
      err.poll();
      if (bootMs === undefined && existsSync(files(GUEST_FILES.booted))) bootMs = Date.now() - started;
      resolve({ status, qemuError: qemuError.trim().split('\n').filter((l) => !/warning:/.test(l)).join(' ').trim(), timedOut, bootMs });
    });
  });
}
