import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

/**
 * Runs once before the unit tests. Tests that compile BPF C include
 * resources/progs/vmlinux.h, which is generated from this kernel's BTF and not
 * committed: make it here, once, rather than racing to make it from several
 * test files at a time. Where bpftool or the kernel's BTF is missing, the
 * tests that need a compiler skip or fail with their own reason.
 */
export default function setup(): void {
  const progs = path.resolve(import.meta.dirname, '../../resources/progs');
  if (existsSync(path.join(progs, 'vmlinux.h'))) return;
  if (!existsSync('/sys/kernel/btf/vmlinux')) return;
  try {
    execFileSync('make', ['-s', '-C', progs, 'vmlinux.h'], { stdio: 'pipe' });
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    process.stderr.write(`global setup: could not generate resources/progs/vmlinux.h: ${msg}\n`);
  }
}
