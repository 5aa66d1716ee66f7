import os from 'node:os';
import { existsSync, readFileSync } from 'node:fs';

/**
 * Why kernel-backed tests cannot run here, or undefined when they can.
 * Tests that need the kernel use `describe.skipIf(...)` with this reason in
 * their title, so a user without privileges sees why they were skipped.
 */
export function kernelSkipReason(): string | undefined {
  if (process.platform !== 'linux') return 'not Linux';
  if (!existsSync('/sys/kernel/btf/vmlinux')) return 'no /sys/kernel/btf/vmlinux';
  const status = readFileSync('/proc/self/status', 'utf8');
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(status);
  const caps = m ? BigInt(`0x${m[1]}`) : 0n;
  const CAP_SYS_ADMIN = 21n;
  const CAP_BPF = 39n;
  const has = (bit: bigint): boolean => ((caps >> bit) & 1n) === 1n;
  if (!has(CAP_BPF) && !has(CAP_SYS_ADMIN)) return 'needs CAP_BPF or root (run the tests as root)';
  return undefined;
}

/**
 * Set by `npm run test:kernels` (test/kernels/matrix.ts): kernel-backed test
 * titles then name the kernel they ran on, which is also how the matrix picks
 * exactly these tests out of the suite (vitest -t).
 */
export const MATRIX_ENV = 'BPFSCOPE_KERNEL_MATRIX';

/**
 * A kernel test's own timeout, for the host: in the matrix (where a VM under
 * TCG runs the same work 3-6 times slower) four times as long. Vitest's
 * --testTimeout, which the matrix raises, does not reach a test that names
 * its own.
 */
export function kernelTimeout(ms: number): number {
  return process.env[MATRIX_ENV] ? ms * 4 : ms;
}

/** The suffix kernel-backed titles carry in the matrix: ` (kernel 6.12.100+deb12-amd64)`. */
export const matrixSuffix = (release: string): string => ` (kernel ${release})`;

/** A title suffix that says whether the kernel tests ran, and if not, why. */
export function kernelTitle(title: string): string {
  const reason = kernelSkipReason();
  if (reason) return `${title} [skipped: ${reason}]`;
  return process.env[MATRIX_ENV] ? title + matrixSuffix(os.release()) : title;
}
