import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeRaw, type RawInsn } from '../../../main/object/insn/raw';
import type { Btf } from '../../../main/object/btf/types';
import type { LinkedProgram } from '../../../main/object/link';

const SOURCE = fileURLToPath(new URL('./rawload.c', import.meta.url));

/** Builds test/unit/insn/rawload.c (gcc + libbpf) once per source version, cached in the temp directory. */
function rawloadBinary(): string {
  const hash = createHash('sha256').update(readFileSync(SOURCE)).digest('hex').slice(0, 12);
  const dir = join(tmpdir(), `bpfscope-rawload-${hash}`);
  const bin = join(dir, 'rawload');
  if (existsSync(bin)) return bin;
  mkdirSync(dir, { recursive: true });
  const tmp = `${bin}.${process.pid}`;
  execFileSync('gcc', ['-O1', '-o', tmp, SOURCE, '-lbpf']);
  renameSync(tmp, bin); // atomic: parallel test files never run a half-written binary
  return bin;
}

type ProgType = 'sched_cls' | 'socket_filter' | 'xdp';

function runRawload(args: string[], slots: readonly RawInsn[]): string {
  const r = spawnSync(rawloadBinary(), args, { input: encodeRaw(slots), maxBuffer: 1 << 26 });
  if (r.status === 2 || r.status === null) throw new Error(`rawload failed: ${r.stderr.toString()}`);
  return r.stdout.toString();
}

/** Loads raw slots as a program of `type`: the kernel's level-2 log and whether it took the program. */
export function kernelLoad(slots: readonly RawInsn[], type: ProgType = 'sched_cls'): { log: string; accepted: boolean } {
  const r = spawnSync(rawloadBinary(), [type], { input: encodeRaw(slots), maxBuffer: 1 << 26 });
  if (r.status === 2 || r.status === null) throw new Error(`rawload failed: ${r.stderr.toString()}`);
  return { log: r.stdout.toString(), accepted: r.status === 0 };
}

/** Loads raw slots as a program of `type` and returns the kernel's level-2 log (accepted or not). */
export function kernelLog(slots: readonly RawInsn[], type: ProgType = 'sched_cls'): string {
  return runRawload([type], slots);
}

/**
 * Loads a linked program with its object's BTF and the linker's func_info and
 * line_info, as the kernel takes them (struct bpf_func_info / bpf_line_info,
 * string offsets into the object's BTF), and returns the level-2 log.
 */
export function kernelLogLinked(linked: LinkedProgram, objPath: string, btf: Btf, type: ProgType = 'sched_cls'): string {
  const offsets = new Map<string, number>();
  const dec = new TextDecoder();
  for (let i = 0; i < btf.strings.length; ) {
    const end = btf.strings.indexOf(0, i);
    const s = dec.decode(btf.strings.subarray(i, end));
    if (!offsets.has(s)) offsets.set(s, i);
    i = end + 1;
  }
  const off = (s: string): number => {
    const o = offsets.get(s);
    if (o === undefined) throw new Error(`string '${s}' is not in the object's BTF`);
    return o;
  };
  const fi = new DataView(new ArrayBuffer(linked.funcInfo.length * 8));
  linked.funcInfo.forEach((f, i) => {
    fi.setUint32(i * 8, f.insnIdx, true);
    fi.setUint32(i * 8 + 4, f.typeId, true);
  });
  const li = new DataView(new ArrayBuffer(linked.lineInfo.length * 16));
  linked.lineInfo.forEach((l, i) => {
    li.setUint32(i * 16, l.linkedIdx, true);
    li.setUint32(i * 16 + 4, off(l.fileName), true);
    li.setUint32(i * 16 + 8, off(l.line), true);
    li.setUint32(i * 16 + 12, ((l.lineNum << 10) | (l.column & 0x3ff)) >>> 0, true);
  });
  const dir = mkdtempSync(join(tmpdir(), 'bpfscope-linked-'));
  try {
    writeFileSync(join(dir, 'fi'), new Uint8Array(fi.buffer));
    writeFileSync(join(dir, 'li'), new Uint8Array(li.buffer));
    return runRawload([type, objPath, join(dir, 'fi'), join(dir, 'li')], linked.insns);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
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
