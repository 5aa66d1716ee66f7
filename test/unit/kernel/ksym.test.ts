import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compileBpf } from '../../helpers/bpfcc';
import { kernelSkipReason, kernelTitle } from '../../helpers/kernel';
import { ensureVmlinuxHeader, PROGS_DIR, refLoad } from '../../helpers/ref';
import { withSkipReason } from '../../helpers/support';
import { readKallsyms } from '../../../main/kernel/kallsyms';
import { recordObject } from '../../../main/kernel/record';
import { hex64 } from '../../../main/object/kallsyms';
import { createTrace } from '../../../main/trace/db';
import { loadReport, readProgramLog } from '../../../main/trace/load';
import { libbpfLoad } from './libbpf-refusal';

/**
 * Typeless __ksym externs against libbpf 1.1 on this kernel: the address
 * bpfscope's loader writes is the one /proc/kallsyms lists and the one
 * libbpf writes (the program stores it in .bss); a strong name kallsyms
 * lacks and a name it lists at two addresses fail the object before the
 * kernel sees a program, with libbpf's errno (ESRCH, EINVAL). Where
 * kallsyms shows this process only zeros, the address checks skip, saying so.
 */
const work = mkdtempSync(path.join(os.tmpdir(), 'bpfscope-f-ksym-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const hidden = kernelSkipReason() ? undefined : readKallsyms(new Set()).addressesHidden;
const hiddenReason = hidden ? '/proc/kallsyms shows every address as 0 to this process (not root, or kernel.kptr_restrict)' : undefined;

/** The address kallsyms lists for a name, read the plain way (first whitespace-separated fields). */
function kallsymsAddress(name: string): bigint | undefined {
  for (const line of readFileSync('/proc/kallsyms', 'utf8').split('\n')) {
    const f = line.split(/\s+/);
    if (f[2] === name) return BigInt(`0x${f[0]}`);
  }
  return undefined;
}

/**
 * A name kallsyms lists at two different addresses (static functions of the
 * same name in two files) that is a C identifier bpfscope.h and vmlinux.h
 * do not declare, or undefined.
 */
function ambiguousName(): string | undefined {
  const at = new Map<string, Set<string>>();
  for (const line of readFileSync('/proc/kallsyms', 'utf8').split('\n')) {
    const f = line.split(/\s+/);
    if (f.length < 3 || !/^[A-Za-z][A-Za-z0-9_]*$/.test(f[2])) continue;
    const s = at.get(f[2]) ?? new Set<string>();
    s.add(f[0]);
    at.set(f[2], s);
  }
  const headers = readFileSync(ensureVmlinuxHeader(), 'utf8') + readFileSync(path.join(PROGS_DIR, 'bpfscope.h'), 'utf8');
  for (const [name, addrs] of at) {
    if (addrs.size < 2 || name.length < 6) continue;
    if (!new RegExp(`\\b${name}\\b`).test(headers)) return name;
  }
  return undefined;
}

describe.skipIf(!!kernelSkipReason())(kernelTitle('typeless ksyms vs libbpf'), () => {
  it.skipIf(!!hiddenReason)(withSkipReason("ksym.bpf.o: the address written is kallsyms' and libbpf's, recorded in the trace", hiddenReason), async () => {
    const obj = path.join(PROGS_DIR, 'ksym.bpf.o');
    const db = createTrace(path.join(work, 'ksym.trace'));
    try {
      const [o] = await recordObject(db, obj, { logLevel: 2, run: true });
      const ref = await refLoad(obj, 'ksym_addrs', { logLevel: 2, run: true, dumpMaps: true });
      const addr = kallsymsAddress('bpf_prog_put');
      expect(addr).toBeDefined();
      expect([o.verdict, o.retval]).toEqual(['accepted', 3]);
      expect([ref.verdict, ref.retval]).toEqual(['accepted', 3]);
      const r = loadReport(db, o.programId);
      const decision = `kallsyms ${hex64(addr!)} (T bpf_prog_put)`;
      expect(r.externs.map((e) => [e.name, e.kind, e.weak, e.btfId, e.value, e.error])).toEqual([
        ['bpf_prog_put', 'ksym', false, null, decision, null],
        ['bpfscope_not_a_kernel_symbol', 'ksym', true, null, 'weak, not in kallsyms: 0', null],
      ]);
      expect(r.relocations.filter((x) => x.kind === 'ksym').map((x) => [x.insnIdx, x.symbol, x.target])).toEqual([
        [2, 'bpf_prog_put', decision],
        [11, 'bpfscope_not_a_kernel_symbol', 'weak, not in kallsyms: 0'],
      ]);
      // The kernel prints the constant it was given: the same in both logs, unmasked.
      const log = readProgramLog(db, o.programId)!.toString('utf8');
      expect(log).toContain(`2: (18) r2 = 0x${addr!.toString(16)}`);
      expect(ref.log).toContain(`2: (18) r2 = 0x${addr!.toString(16)}`);
      // What the program stored: the address as the kernel ran it, in both loaders' .bss.
      const le = Buffer.alloc(8);
      le.writeBigUInt64LE(addr!);
      const ours = db.prepare("SELECT lower(hex(m.value)) AS v FROM test_run_maps m JOIN test_runs t ON t.id = m.run_id WHERE t.program_id = ? AND m.map = 'ksym.bss'").get(o.programId) as { v: string };
      expect(ours.v).toBe(le.toString('hex'));
      expect(ref.maps?.['ksym.bss']).toEqual([{ key: '00000000', value: le.toString('hex') }]);
    } finally {
      db.close();
    }
  });

  it('a strong typeless ksym kallsyms lacks: every program refused with ESRCH before loading, as libbpf', async () => {
    const obj = compileBpf(work, 'ksym_missing', `#include "bpfscope.h"
extern const void bpfscope_no_such_symbol_zz __ksym;
__u64 seen;
SEC("tc") int uses_it(struct __sk_buff *skb) { seen = (__u64)&bpfscope_no_such_symbol_zz; return 0; }
SEC("tc") int does_not(struct __sk_buff *skb) { return 1; }
char LICENSE[] SEC("license") = "GPL";
`);
    const db = createTrace(path.join(work, 'missing.trace'));
    try {
      const outcomes = await recordObject(db, obj, { logLevel: 2 });
      for (const o of outcomes) {
        const ref = await libbpfLoad(obj, o.program);
        expect([ref.verdict, ref.errno, ref.logSize]).toEqual(['rejected', 3, 0]);
        expect(ref.stderr).toContain("extern 'bpfscope_no_such_symbol_zz' (strong): not resolved");
        expect([o.program, o.verdict, o.errno, o.logBytes]).toEqual([o.program, 'rejected', 3, 0]);
        expect(o.error).toContain("extern 'bpfscope_no_such_symbol_zz' (strong): not resolved");
      }
      const ext = db.prepare('SELECT name, value, error FROM load_externs').all() as { name: string; value: string; error: string }[];
      expect(ext).toEqual([{ name: 'bpfscope_no_such_symbol_zz', value: 'not in kallsyms', error: expect.stringContaining('no program of the object can be loaded') }]);
    } finally {
      db.close();
    }
  });

  const dup = kernelSkipReason() ? undefined : ambiguousName();
  const dupReason = dup ? undefined : 'kallsyms lists no C-identifier name at two addresses that vmlinux.h does not declare';
  it.skipIf(!dup)(withSkipReason(`a name kallsyms lists at two addresses${dup ? ` (${dup})` : ''}: refused with EINVAL, weak or not, as libbpf`, dupReason), async () => {
    const obj = compileBpf(work, 'ksym_dup', `#include "bpfscope.h"
extern const void ${dup} __ksym __weak;
SEC("tc") int dup_addr(struct __sk_buff *skb) { return (__u64)&${dup} != 0; }
char LICENSE[] SEC("license") = "GPL";
`);
    const db = createTrace(path.join(work, 'dup.trace'));
    try {
      const [o] = await recordObject(db, obj, { logLevel: 2 });
      const ref = await libbpfLoad(obj, 'dup_addr');
      expect([ref.verdict, ref.errno, ref.logSize]).toEqual(['rejected', 22, 0]);
      expect(ref.stderr).toContain(`extern (ksym) '${dup}': resolution is ambiguous`);
      expect([o.verdict, o.errno, o.logBytes]).toEqual(['rejected', 22, 0]);
      expect(o.error).toContain(`extern (ksym) '${dup}': resolution is ambiguous: 0x`);
    } finally {
      db.close();
    }
  });
});
