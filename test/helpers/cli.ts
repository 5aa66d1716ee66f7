import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from './ref';
import { main } from '../../main/cli/index';

const run = promisify(execFile);

/** Runs the CLI the way a user does after set-up (`npx bpfscope …` runs main/bin.mjs): its exit code and output. */
export async function bpfscope(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run('node', [path.join(REPO_ROOT, 'main/bin.mjs'), ...args], { cwd: REPO_ROOT });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** Runs the CLI in this process (no child to start, so fast enough for many calls): its exit code and what it wrote. */
export async function bpfscopeInProcess(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const ow = process.stdout.write.bind(process.stdout);
  const ew = process.stderr.write.bind(process.stderr);
  // A command that waits for its write to be flushed (`log` writes a whole log and awaits the callback) gets the callback called.
  const capture = (add: (s: string) => void) =>
    ((s: string | Uint8Array, a?: unknown, b?: unknown) => {
      add(typeof s === 'string' ? s : Buffer.from(s).toString('utf8'));
      const cb = typeof a === 'function' ? a : typeof b === 'function' ? b : undefined;
      if (cb) queueMicrotask(() => (cb as (e?: Error | null) => void)(null));
      return true;
    }) as typeof process.stdout.write;
  process.stdout.write = capture((s) => (out += s));
  process.stderr.write = capture((s) => (err += s));
  try {
    return { code: await main(args), out, err };
  } finally {
    process.stdout.write = ow;
    process.stderr.write = ew;
  }
}
