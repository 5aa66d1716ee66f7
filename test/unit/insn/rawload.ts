import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeRaw, type RawInsn } from '../../../main/object/insn/raw';

let binary: string | undefined;

/** Builds test/unit/insn/rawload.c once per test file (gcc + libbpf). */
function rawloadBinary(): string {
  if (binary) return binary;
  const out = join(mkdtempSync(join(tmpdir(), 'bpfscope-rawload-')), 'rawload');
  execFileSync('gcc', ['-O1', '-o', out, fileURLToPath(new URL('./rawload.c', import.meta.url)), '-lbpf']);
  binary = out;
  return out;
}

/** Loads raw slots as a program of `type` and returns the kernel's level-2 log (accepted or not). */
export function kernelLog(slots: readonly RawInsn[], type: 'sched_cls' | 'socket_filter' | 'xdp' = 'sched_cls'): string {
  const r = spawnSync(rawloadBinary(), [type], { input: encodeRaw(slots), maxBuffer: 1 << 26 });
  if (r.status === 2 || r.status === null) throw new Error(`rawload failed: ${r.stderr.toString()}`);
  return r.stdout.toString();
}

/**
 * The `Live regs before insn:` table of a 6.18 log: every instruction once,
 * printed by print_bpf_insn, even when verification fails later.
 */
export function liveRegsTable(log: string): Map<number, string> {
  const out = new Map<number, string>();
  let inside = false;
  for (const line of log.split('\n')) {
    if (line === 'Live regs before insn:') {
      inside = true;
      continue;
    }
    if (!inside) continue;
    const m = /^\s+(\d+): [0-9.]{10} (.*)$/.exec(line);
    if (!m) break;
    out.set(Number(m[1]), m[2]);
  }
  return out;
}
