import { readFileSync } from 'node:fs';
import type { BpfProgram } from '../object/object';
import type { TestRunRow } from '../trace/load';
import { lookupElem, mapKeys } from './map-ops';
import type { CreatedMap } from './maps';
import { BpfSyscallError, errnoName, strerror } from './syscall';
import { testRun, testRunInputs } from './test-run';

/**
 * `--run`: BPF_PROG_TEST_RUN of an accepted program, then every map's
 * contents (BPF_MAP_GET_NEXT_KEY + LOOKUP; per-CPU values hold one 8-byte
 * aligned slot per possible CPU, as the kernel returns them).
 */
export interface RunInputs {
  data?: Uint8Array;
  ctx?: Uint8Array;
  repeat?: number;
}


function possibleCpus(): number {
  try {
    const text = readFileSync('/sys/devices/system/cpu/possible', 'utf8').trim();
    let n = 0;
    for (const part of text.split(',')) {
      const [a, b] = part.split('-').map(Number);
      n += b === undefined ? 1 : b - a + 1;
    }
    return n;
  } catch {
    return 1;
  }
}

const PERCPU_TYPES = new Set([5, 6, 10, 21]);
/** Perf event arrays, ring buffers, queues/stacks; prog arrays and maps of maps (a lookup gives a per-load id, as refload skips them). */
const NOT_ITERABLE = new Set([4, 27, 31, 22, 23, 3, 12, 13]);
const MAX_DUMP_ENTRIES = 4096;

export function runAndDump(progFd: number, prog: BpfProgram, maps: CreatedMap[], opts: RunInputs): TestRunRow {
  const { data: dataIn, ctx: ctxIn } = testRunInputs(prog.progType, opts.data, opts.ctx);
  // Syscall programs run once, take no repeat count and write their context back in place (kernel/bpf/syscall.c's rules).
  const syscallProg = prog.progType === 'syscall';
  const r = testRun({
    progFd,
    dataIn,
    ctxIn,
    repeat: syscallProg ? 0 : (opts.repeat ?? 1),
    dataOutSize: dataIn ? dataIn.length + 4096 : undefined,
    ctxOutSize: syscallProg ? 0 : undefined,
    ctxWriteBack: syscallProg,
  });
  const dumped: { map: string; key: Uint8Array; value: Uint8Array }[] = [];
  for (const m of maps) {
    if (m.fd === undefined || NOT_ITERABLE.has(m.attrs.mapType)) continue;
    const valueSize = PERCPU_TYPES.has(m.attrs.mapType) ? Math.ceil(m.attrs.valueSize / 8) * 8 * possibleCpus() : m.attrs.valueSize;
    try {
      for (const key of mapKeys(m.fd, m.attrs.keySize, MAX_DUMP_ENTRIES)) {
        const value = lookupElem(m.fd, key, valueSize);
        if (value) dumped.push({ map: m.name, key, value });
      }
    } catch (err) {
      if (!(err instanceof BpfSyscallError)) throw err;
    }
  }
  return {
    repeat: syscallProg ? 1 : (opts.repeat ?? 1),
    retval: r.retval,
    durationNs: r.durationNs,
    dataIn,
    ctxIn,
    // A syscall program's output is its context as the run left it (what refload reports as data_out too).
    dataOut: syscallProg ? r.ctxOut : r.dataOut,
    errno: r.errno,
    error: r.ok ? undefined : `BPF_PROG_TEST_RUN failed: ${errnoName(r.errno ?? 0)} (${strerror(r.errno ?? 0)})`,
    maps: dumped,
  };
}

