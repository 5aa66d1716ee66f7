import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BpfscopeError } from '../errors';
import { writeTraceAtomically } from '../trace/atomic';
import { writeRecordedKernel } from '../trace/kernel';
import type { KernelImage } from './images';
import { runInVm, shellQuote } from './run';

/**
 * `bpfscope record --kernel IMAGE`: the recorder runs inside a VM booted on
 * IMAGE (the same bpfscope, from the host's files), writes the trace into the
 * shared scratch folder, and the trace is moved over the target only when
 * the recorder succeeded, so a failed boot never costs the user a trace.
 */
export interface VmRecordOptions {
  image: KernelImage;
  /** `record`'s arguments without --kernel and -o; paths in them already absolute. */
  recordArgs: string[];
  output: string;
  /** --progress: status lines become JSON events on stdout, as the rest of the recorder's. */
  progress: boolean;
}

const REPO_ROOT = path.resolve(import.meta.dirname, '../..');

export async function recordInVm(o: VmRecordOptions): Promise<number> {
  const status = (line: string): void => {
    if (o.progress) process.stdout.write(JSON.stringify({ event: 'vm', message: line }) + '\n');
    else process.stderr.write(`bpfscope record: ${line}\n`);
  };
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'bpfscope-vm-'));
  try {
    const guestTrace = path.join(scratch, 'out.trace');
    // SQLite's WAL needs shared memory the 9p share cannot map: the guest
    // records onto its RAM overlay and copies the finished trace out.
    const inGuest = path.join(os.tmpdir(), `bpfscope-guest-${process.pid}`, 'out.trace');
    const record = [process.execPath, path.join(REPO_ROOT, 'main/bin.mjs'), 'record', ...o.recordArgs, '-o', inGuest].map(shellQuote).join(' ');
    const r = await runInVm({
      image: o.image,
      command: ['/bin/sh', '-c', `mkdir -p ${shellQuote(path.dirname(inGuest))} && ${record} && cp ${shellQuote(inGuest)} ${shellQuote(guestTrace)}`],
      cwd: process.cwd(),
      scratch,
      onStdout: (c) => process.stdout.write(c),
      onStderr: (c) => process.stderr.write(c),
      onStatus: status,
    });
    const how = r.accel === 'kvm' ? 'KVM' : 'TCG';
    status(`${r.release} booted in ${(r.bootMs / 1000).toFixed(1)} s under ${how}; recorder exited ${r.exitCode} after ${(r.totalMs / 1000).toFixed(1)} s in all`);
    if (r.exitCode !== 0) return r.exitCode;
    if (!existsSync(guestTrace)) throw new BpfscopeError(`the recorder in the VM on ${r.release} exited 0 but wrote no trace`);
    // The guest's recorder already named its kernel; add how it ran, in a copy
    // next to the target that is renamed over it: the old trace stays whole until the new one is.
    await writeTraceAtomically(o.output, { copyOf: guestTrace }, (db) =>
      writeRecordedKernel(db, { release: r.release, version: r.version, where: `vm (${how})` }),
    );
    return 0;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
