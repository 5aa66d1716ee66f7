import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compileBpf } from '../../helpers/bpfcc';
import { kernelSkipReason, kernelTitle } from '../../helpers/kernel';
import { NOBODY_UID, planNobody, prepareNobody } from '../../helpers/nobody';
import { normalizeLog, PROGS_DIR, refLoad } from '../../helpers/ref';
import { createTrace } from '../../../main/trace/db';
import { recordObject, type ProgramOutcome, type RecordOptions } from '../../../main/kernel/record';
import { readProgramLog, runSummaries } from '../../../main/trace/load';
import { CORE_POISON_IMM } from '../../../main/object/core';
import { writeVerifierLog } from '../../../main/trace/verifier';
import { BpfscopeError } from '../../../main/errors';
import { Arena, bpfTry, closeFd } from '../../../main/kernel/syscall';
import { buildAttr, PROG_LOAD_ATTR, readU32 } from '../../../main/kernel/attr';
import { leakedBpfFds, objectUnsupported, openFds } from '../../helpers/support';
import { expectRefusedAsLibbpf } from './libbpf-refusal';

const work = mkdtempSync(path.join(os.tmpdir(), 'bpfscope-f-errors-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let traceNo = 0;

/** Record in this process, checking that every fd opened for it is closed again. */
async function record(obj: string, opts: RecordOptions = {}): Promise<{ outcomes: ProgramOutcome[]; db: ReturnType<typeof createTrace> }> {
  const db = createTrace(path.join(work, `t${traceNo++}.trace`));
  const before = openFds();
  const outcomes = await recordObject(db, obj, opts);
  expect(leakedBpfFds(before), 'fds left open after recording').toEqual([]);
  return { outcomes, db };
}

/**
 * Whether this kernel writes log_true_size (6.4+), asked of the kernel: a
 * 17-instruction program loaded at level 2 with a 128-byte log buffer, which
 * its log does not fit.
 */
function kernelReportsLogTrueSize(): boolean {
  const arena = new Arena();
  try {
    const insns = new Uint8Array(8 * 17);
    for (let i = 0; i < 16; i++) insns[i * 8] = 0xb7; // r0 = 0
    insns[16 * 8] = 0x95; // exit
    const log = arena.alloc(128);
    const attr = buildAttr(arena, PROG_LOAD_ATTR, {
      prog_type: 3, insn_cnt: 17, insns: arena.from(insns), license: arena.cstring('GPL'), log_level: 2, log_size: 128, log_buf: log,
    });
    const r = bpfTry('PROG_LOAD', attr);
    if (r.ok) closeFd(r.ret);
    return readU32(attr, PROG_LOAD_ATTR, 'log_true_size') > 128;
  } finally {
    arena.free();
  }
}

describe.skipIf(!!kernelSkipReason())(kernelTitle('loader errors and limits'), () => {
  it('a kfunc this kernel lacks: rejected before loading, with libbpf 1.1\'s errno, a sentence naming it', async () => {
    const obj = compileBpf(work, 'nokfunc', `#include "bpfscope.h"
extern void bpf_no_such_kfunc_here(struct __sk_buff *skb) __ksym;
SEC("tc") int calls_missing(struct __sk_buff *skb) { bpf_no_such_kfunc_here(skb); return 0; }
char LICENSE[] SEC("license") = "GPL";
`);
    const { outcomes, db } = await record(obj);
    expect(outcomes[0].verdict).toBe('rejected');
    expect(outcomes[0].errno).toBe(22);
    expect(outcomes[0].error).toMatch(/kfunc 'bpf_no_such_kfunc_here' is not in this kernel's BTF/);
    const ext = db.prepare('SELECT name, kind, btf_id, error FROM load_externs').all() as { name: string; kind: string; btf_id: number | null }[];
    expect(ext).toEqual([expect.objectContaining({ name: 'bpf_no_such_kfunc_here', kind: 'kfunc', btf_id: null })]);
    const ref = await refLoad(obj, 'calls_missing');
    expect(ref.verdict).toBe('rejected');
    expect(ref.errno).toBe(outcomes[0].errno);
    expect(ref.logSize).toBe(0); // neither loader got as far as the kernel
    db.close();
  });

  it('one kfunc this kernel lacks refuses every program of the object, those that do not call it too, as libbpf does', async () => {
    const obj = compileBpf(work, 'nokfunc2', `#include "bpfscope.h"
extern void bpf_no_such_kfunc_here(struct __sk_buff *skb) __ksym;
extern void bpf_no_such_kfunc_either(struct __sk_buff *skb) __ksym;
SEC("tc") int calls_missing(struct __sk_buff *skb) { bpf_no_such_kfunc_here(skb); bpf_no_such_kfunc_here(skb); bpf_no_such_kfunc_either(skb); return 0; }
SEC("tc") int calls_nothing(struct __sk_buff *skb) { return skb->len; }
char LICENSE[] SEC("license") = "GPL";
`);
    const { outcomes, db } = await record(obj, { run: true });
    expect(outcomes.map((o) => [o.program, o.verdict, o.errno])).toEqual([['calls_missing', 'rejected', 22], ['calls_nothing', 'rejected', 22]]);
    for (const o of outcomes) {
      // Each missing kfunc named once, in the order libbpf meets them (by name): libbpf names the first.
      // ("or modules" where the kernel has module BTF to look in.)
      expect(o.error).toMatch(
        /^extern kfunc 'bpf_no_such_kfunc_either' is not in this kernel's BTF \(vmlinux( or modules)?\), so no program of the object can be loaded; extern kfunc 'bpf_no_such_kfunc_here' is not in this kernel's BTF \(vmlinux( or modules)?\), so no program of the object can be loaded$/,
      );
      await expectRefusedAsLibbpf(db, o, obj);
    }
    expect(db.prepare('SELECT count(*) AS n FROM test_runs').get()).toEqual({ n: 0 });
    db.close();
  });

  const newDropMissing = objectUnsupported(path.join(PROGS_DIR, 'new_drop.bpf.o'));
  it(`kfunc externs resolve to the BTF ids vmlinux gives them${newDropMissing ? `, and stay unresolved where it has none: refused as libbpf refuses it (${newDropMissing})` : ''}`, async () => {
    const obj = path.join(PROGS_DIR, 'new_drop.bpf.o');
    const { outcomes, db } = await record(obj, { programs: ['new_drop'] });
    const ext = db.prepare("SELECT name, btf_id FROM load_externs WHERE kind = 'kfunc'").all() as { name: string; btf_id: number | null }[];
    const dump = execFileSync('bpftool', ['btf', 'dump', 'file', '/sys/kernel/btf/vmlinux'], { encoding: 'utf8', maxBuffer: 256 << 20 });
    let resolved = 0;
    for (const e of ext) {
      const m = new RegExp(`^\\[(\\d+)\\] FUNC '${e.name}'`, 'm').exec(dump);
      if (newDropMissing && !m) {
        expect(e.btf_id, e.name).toBeNull();
        continue;
      }
      expect(m, e.name).not.toBeNull();
      expect(e.btf_id).toBe(Number(m![1]));
      resolved++;
    }
    expect(ext.length).toBeGreaterThan(0);
    if (newDropMissing) await expectRefusedAsLibbpf(db, outcomes[0], obj);
    else {
      expect(outcomes[0].verdict).toBe('accepted');
      expect(resolved).toBe(ext.length);
    }
    db.close();
  });

  it('typed ksym variables resolve to their vmlinux VAR id; the kernel answers both loaders alike', async () => {
    const obj = compileBpf(work, 'ksym', `#include "bpfscope.h"
extern const struct rq runqueues __ksym;
extern const int bpf_no_such_ksym_var __ksym __weak;
SEC("tc") int rq_cpu(struct __sk_buff *skb) {
	struct rq *rq = (struct rq *)bpf_this_cpu_ptr(&runqueues);
	if (&bpf_no_such_ksym_var) return -1;
	return rq->cpu >= 0 ? 7 : 8;
}
char LICENSE[] SEC("license") = "GPL";
`);
    const { outcomes, db } = await record(obj, { logLevel: 2, run: true });
    const ext = db.prepare('SELECT name, kind, weak, btf_id FROM load_externs ORDER BY name').all();
    const dump = execFileSync('bpftool', ['btf', 'dump', 'file', '/sys/kernel/btf/vmlinux'], { encoding: 'utf8', maxBuffer: 256 << 20 });
    const varId = Number(/^\[(\d+)\] VAR 'runqueues'/m.exec(dump)![1]);
    expect(ext).toEqual([
      { name: 'bpf_no_such_ksym_var', kind: 'ksym', weak: 1, btf_id: null },
      { name: 'runqueues', kind: 'ksym', weak: 0, btf_id: varId },
    ]);
    const ref = await refLoad(obj, 'rq_cpu', { logLevel: 2, run: true });
    expect(outcomes[0].verdict).toBe(ref.verdict);
    expect(outcomes[0].errno ?? 0).toBe(ref.errno);
    expect(normalizeLog(readProgramLog(db, outcomes[0].programId)!.toString())).toBe(normalizeLog(ref.log));
    if (ref.verdict === 'accepted') expect(outcomes[0].retval).toBe(ref.retval);
    db.close();
  });

  it('__kconfig externs get the values libbpf gives them from the kernel config; a missing one fails as in libbpf', async () => {
    const obj = compileBpf(work, 'kconf', `#include "bpfscope.h"
extern unsigned int LINUX_KERNEL_VERSION __kconfig;
extern bool CONFIG_BPF_SYSCALL __kconfig;
extern int CONFIG_HZ __kconfig;
extern enum libbpf_tristate CONFIG_BPF_JIT __kconfig;
extern char CONFIG_LOCALVERSION[8] __kconfig;
extern bool CONFIG_NO_SUCH_OPTION_X __kconfig __weak;
__u64 out[8];
SEC("tc") int kc(struct __sk_buff *skb) {
	out[0] = LINUX_KERNEL_VERSION;
	out[1] = CONFIG_BPF_SYSCALL;
	out[2] = CONFIG_HZ;
	out[3] = CONFIG_BPF_JIT;
	out[4] = CONFIG_LOCALVERSION[1];
	out[5] = CONFIG_NO_SUCH_OPTION_X;
	return CONFIG_HZ;
}
char LICENSE[] SEC("license") = "GPL";
`);
    const { outcomes, db } = await record(obj, { logLevel: 2, run: true });
    const ref = await refLoad(obj, 'kc', { logLevel: 2, run: true, dumpMaps: true });
    expect(outcomes[0].verdict).toBe('accepted');
    expect(outcomes[0].retval).toBe(ref.retval);
    const ours = Object.fromEntries((db.prepare('SELECT map, lower(hex(value)) AS v FROM test_run_maps').all() as { map: string; v: string }[]).map((r) => [r.map, r.v]));
    expect(ours).toEqual(Object.fromEntries(Object.entries(ref.maps!).map(([k, v]) => [k, v[0].value])));
    expect(normalizeLog(readProgramLog(db, outcomes[0].programId)!.toString())).toBe(normalizeLog(ref.log));
    db.close();
    const bad = compileBpf(work, 'kconfbad', `#include "bpfscope.h"
extern bool CONFIG_NO_SUCH_OPTION_Y __kconfig;
SEC("tc") int kcbad(struct __sk_buff *skb) { return CONFIG_NO_SUCH_OPTION_Y; }
char LICENSE[] SEC("license") = "GPL";
`);
    const r2 = await record(bad);
    const ref2 = await refLoad(bad, 'kcbad');
    expect(r2.outcomes[0]).toMatchObject({ verdict: ref2.verdict, errno: ref2.errno, error: "extern (kcfg) 'CONFIG_NO_SUCH_OPTION_Y': not in the kernel config" });
    r2.db.close();
  });

  it('tracing programs get their attach BTF id; the kernel answers both loaders alike (EPERM for fentry here)', async () => {
    const obj = compileBpf(work, 'tracing', `#include "bpfscope.h"
#include <bpf/bpf_tracing.h>
SEC("fentry/do_unlinkat") int BPF_PROG(on_unlink, int dfd, struct filename *name) { return 0; }
SEC("tp_btf/sched_switch") int BPF_PROG(on_switch, bool preempt, struct task_struct *prev) { return 0; }
SEC("fentry/no_such_kernel_function_zz") int BPF_PROG(on_nothing) { return 0; }
char LICENSE[] SEC("license") = "GPL";
`);
    const { outcomes, db } = await record(obj, { logLevel: 2 });
    const dump = execFileSync('bpftool', ['btf', 'dump', 'file', '/sys/kernel/btf/vmlinux'], { encoding: 'utf8', maxBuffer: 256 << 20 });
    const attach = db.prepare("SELECT p.name, r.target FROM load_relocations r JOIN programs p ON p.id = r.program_id WHERE r.kind = 'attach' ORDER BY p.id").all() as { name: string; target: string }[];
    expect(attach[0].target).toContain(`[${/^\[(\d+)\] FUNC 'do_unlinkat'/m.exec(dump)![1]}]`);
    expect(attach[1].target).toContain(`[${/^\[(\d+)\] TYPEDEF 'btf_trace_sched_switch'/m.exec(dump)![1]}]`);
    for (const o of outcomes) {
      const ref = await refLoad(obj, o.program, { logLevel: 2 });
      expect([o.program, o.verdict, o.errno ?? 0]).toEqual([o.program, ref.verdict, ref.errno]);
      const log = readProgramLog(db, o.programId);
      expect(normalizeLog(log?.toString() ?? '')).toBe(normalizeLog(ref.log));
    }
    expect(outcomes.map((o) => o.verdict)).toContain('accepted');
    db.close();
  });

  it('a CO-RE relocation against a missing field: poisoned as libbpf does, rejected with the same log', async () => {
    const obj = compileBpf(work, 'corebad', `#include "bpfscope.h"
struct sk_buff___bad { int no_such_field; } __attribute__((preserve_access_index));
SEC("tc") int core_missing(struct __sk_buff *skb) {
	if (skb->len > 1000000) return 1;
	return bpf_core_field_offset(struct sk_buff___bad, no_such_field);
}
char LICENSE[] SEC("license") = "GPL";
`);
    const { outcomes, db } = await record(obj, { logLevel: 2 });
    expect(outcomes[0].verdict).toBe('rejected');
    const relos = db.prepare("SELECT kind, local_type, poisoned, value FROM load_core_relos WHERE local_type LIKE '%bad%'").all();
    expect(relos).toEqual([{ kind: 'FIELD_BYTE_OFFSET', local_type: 'struct sk_buff___bad', poisoned: 1, value: null }]);
    const cands = db.prepare('SELECT type_name, matched FROM load_core_candidates c JOIN load_core_relos r ON r.id = c.relo_id WHERE r.poisoned = 1').all();
    expect(cands).toContainEqual({ type_name: 'struct sk_buff', matched: 0 });
    const log = readProgramLog(db, outcomes[0].programId)!.toString();
    expect(log).toContain(`unknown#${CORE_POISON_IMM}`);
    expect(outcomes[0].error).toMatch(/CO-RE relocation FIELD_BYTE_OFFSET of struct sk_buff___bad\.no_such_field .* poisoned .*invalid func unknown#195896080/);
    const ref = await refLoad(obj, 'core_missing', { logLevel: 2 });
    expect(ref.verdict).toBe('rejected');
    expect(outcomes[0].errno).toBe(ref.errno);
    // libbpf rewrites the kernel's log on a poisoned relocation (fixup_log_failed_core_relo):
    // the call line becomes '<invalid CO-RE relocation>' and the error line its own
    // explanation. Undo exactly that rewrite; everything else must be the kernel's bytes.
    const unfixed = ref.log
      .replace(/^(\d+): <invalid CO-RE relocation>$/m, `$1: (85) call unknown#${CORE_POISON_IMM}`)
      .replace(/^failed to resolve CO-RE relocation .*$/m, `invalid func unknown#${CORE_POISON_IMM}`);
    expect(unfixed).not.toBe(ref.log);
    expect(normalizeLog(log)).toBe(normalizeLog(unfixed));
    db.close();
  });

  it('CO-RE values against vmlinux equal what libbpf computes (field offset/size/exists/signed/shifts, type and enum relocations)', async () => {
    const obj = compileBpf(work, 'corevals', `#include "bpfscope.h"
struct sk_buff___flv { unsigned int len; void *not_in_kernel; } __attribute__((preserve_access_index));
enum bpf_map_type___flv { BPF_MAP_TYPE_RINGBUF___flv = 1, BPF_MAP_TYPE_NOT_THERE___flv = 2 };
__u64 out[20];
SEC("tc") int core_values(struct __sk_buff *skb) {
	struct sk_buff *s = 0;
	struct task_struct *t = 0;
	out[0] = bpf_core_field_offset(struct task_struct, pid);
	out[1] = bpf_core_field_size(struct task_struct, comm);
	out[2] = bpf_core_field_exists(struct sk_buff___flv, not_in_kernel);
	out[3] = bpf_core_field_exists(struct sk_buff___flv, len);
	out[4] = bpf_core_field_offset(struct sk_buff___flv, len);
	out[5] = bpf_core_type_exists(struct task_struct);
	out[6] = bpf_core_type_size(struct sk_buff);
	out[7] = bpf_core_enum_value_exists(enum bpf_map_type___flv, BPF_MAP_TYPE_NOT_THERE___flv);
	out[8] = bpf_core_enum_value(enum bpf_map_type___flv, BPF_MAP_TYPE_RINGBUF___flv);
	out[9] = bpf_core_type_id_kernel(struct task_struct);
	out[10] = __builtin_preserve_field_info(t->pid, BPF_FIELD_SIGNED);
	out[11] = __builtin_preserve_field_info(s->pkt_type, BPF_FIELD_LSHIFT_U64);
	out[12] = __builtin_preserve_field_info(s->pkt_type, BPF_FIELD_RSHIFT_U64);
	out[13] = __builtin_preserve_field_info(s->pkt_type, BPF_FIELD_BYTE_OFFSET);
	out[14] = __builtin_preserve_field_info(s->pkt_type, BPF_FIELD_BYTE_SIZE);
	out[15] = bpf_core_field_offset(struct task_struct, se.vruntime);
	out[16] = bpf_core_type_exists(struct sk_buff___flv);
	out[17] = bpf_core_field_size(struct sk_buff, cb);
	out[18] = bpf_core_type_matches(struct task_struct);
	out[19] = bpf_core_type_matches(struct sk_buff___flv);
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
`);
    const { outcomes, db } = await record(obj, { logLevel: 2, run: true });
    expect(outcomes[0].verdict).toBe('accepted');
    const ours = db.prepare("SELECT hex(value) AS v FROM test_run_maps WHERE map LIKE '%.bss'").get() as { v: string };
    const ref = await refLoad(obj, 'core_values', { logLevel: 2, run: true, dumpMaps: true });
    const refBss = Object.entries(ref.maps ?? {}).find(([n]) => n.endsWith('.bss'))![1][0].value;
    expect(ours.v.toLowerCase()).toBe(refBss);
    // The values are not all zero: the relocations did something.
    const words = Buffer.from(refBss, 'hex');
    expect(words.readBigUInt64LE(0)).toBeGreaterThan(0n);
    expect(words.readBigUInt64LE(8 * 1)).toBe(16n);
    const log = readProgramLog(db, outcomes[0].programId)!.toString();
    expect(normalizeLog(log)).toBe(normalizeLog(ref.log));
    // Every relocation is recorded with its candidates.
    const n = db.prepare('SELECT count(*) AS n FROM load_core_relos WHERE program_id = ?').get(outcomes[0].programId) as { n: number };
    expect(n.n).toBeGreaterThanOrEqual(18);
    db.close();
  });

  it(`a log far over 16 MB: the buffer grows to ${kernelSkipReason() || kernelReportsLogTrueSize() ? 'what the kernel says it needs' : 'fit, doubling on ENOSPC (this kernel writes no log_true_size)'}; the log is whole and equals libbpf`, async () => {
    // 1400 iterations: ~26 MB of log on 6.18, ~19 MB on 6.1 (which prints shorter states; 1100 gave it 15 MB).
    const obj = path.join(work, 'loop1400.bpf.o');
    execFileSync('make', ['-s', '-C', PROGS_DIR, 'bench-loop', 'ITERS=1400', `OUT=${obj}`]);
    const { outcomes, db } = await record(obj, { logLevel: 2, initialLogSize: 1 << 20 });
    expect(outcomes[0].verdict).toBe('accepted');
    const row = db.prepare('SELECT log_sizes FROM program_logs WHERE program_id = ?').get(outcomes[0].programId) as { log_sizes: string } & { log: Buffer };
    row.log = readProgramLog(db, outcomes[0].programId)!;
    expect(row.log.length).toBeGreaterThan(16 << 20);
    // The verifier analysis saw the whole log too.
    const v = db.prepare('SELECT line_count FROM verifier_logs WHERE program_id = ?').get(outcomes[0].programId) as { line_count: number };
    const text = row.log.toString('utf8');
    expect(v.line_count).toBe(text.split('\n').length - (text.endsWith('\n') ? 1 : 0));
    const sizes = JSON.parse(row.log_sizes) as number[];
    if (kernelReportsLogTrueSize()) expect(sizes).toEqual([1 << 20, row.log.length + 1]); // log_true_size counts the NUL
    else {
      // Before 6.4 the kernel only fails with ENOSPC: the buffer doubles, as in libbpf, until the log fits.
      expect(sizes[0]).toBe(1 << 20);
      for (let i = 1; i < sizes.length; i++) expect(sizes[i]).toBe(sizes[i - 1] * 2);
      expect(sizes[sizes.length - 2]).toBeLessThanOrEqual(row.log.length + 1);
      expect(sizes[sizes.length - 1]).toBeGreaterThan(row.log.length);
    }
    const logPath = path.join(work, 'loop.ref.log');
    const ref = await refLoad(obj, 'bench_loop', { logLevel: 2, logOut: logPath });
    expect(ref.logSize).toBe(row.log.length);
    const refLog = (await import('node:fs')).readFileSync(logPath, 'utf8');
    expect(normalizeLog(row.log.toString('utf8')) === normalizeLog(refLog)).toBe(true);
    db.close();
  });

  it('the analysis streamed while the kernel wrote a 20 MB log equals the analysis of the finished log', async () => {
    const obj = path.join(work, 'loop1100s.bpf.o');
    execFileSync('make', ['-s', '-C', PROGS_DIR, 'bench-loop', 'ITERS=1100', `OUT=${obj}`]);
    const { outcomes, db } = await record(obj, { logLevel: 2 });
    expect(outcomes[0].logStreamed).toBe(true);
    const log = readProgramLog(db, outcomes[0].programId)!;
    const again = createTrace(path.join(work, 'whole.trace'));
    const pid = Number(again.prepare("INSERT INTO programs(name, origin, created_at) VALUES ('bench_loop', 'import', 'now')").run().lastInsertRowid);
    await writeVerifierLog(again, pid, log.toString('utf8'));
    const q = (d: typeof db, id: number) => ({
      log: d.prepare('SELECT line_count, step_count, unknown_lines, mismatches FROM verifier_logs WHERE program_id = ?').get(id),
      steps: (d.prepare('SELECT group_concat(hex(data), \'\') AS h FROM (SELECT data FROM verifier_step_blocks WHERE program_id = ? ORDER BY block)').get(id) as { h: string }).h,
      paths: d.prepare('SELECT count(*) AS n FROM verifier_paths WHERE program_id = ?').get(id),
    });
    expect(q(db, outcomes[0].programId)).toEqual(q(again, pid));
    again.close();
    db.close();
  });

  it('an object with 50 programs: each loaded on its own, all recorded', async () => {
    let src = '#include "bpfscope.h"\n';
    for (let i = 0; i < 50; i++) {
      src += `SEC("tc") int prog_${i}(struct __sk_buff *skb) { return skb->len ${i % 2 ? '+' : '^'} ${i}; }\n`;
    }
    src += 'SEC("tc") int bad_one(struct __sk_buff *skb) { return *(int *)(long)skb->data; }\n';
    src += 'char LICENSE[] SEC("license") = "GPL";\n';
    const obj = compileBpf(work, 'fifty', src);
    const { outcomes, db } = await record(obj, { logLevel: 1, run: true });
    expect(outcomes.length).toBe(51);
    const rows = runSummaries(db);
    expect(rows.filter((r) => r.verdict === 'accepted').length).toBe(50);
    expect(rows.find((r) => r.program === 'bad_one')).toMatchObject({ verdict: 'rejected', errno: 13 });
    // The default packet is 64 bytes: prog_i returns 64 + i or 64 ^ i.
    for (let i = 0; i < 50; i++) expect(rows.find((r) => r.program === `prog_${i}`)!.retval).toBe(i % 2 ? 64 + i : 64 ^ i);
    db.close();
  });

  it('a file that is not an object: one sentence naming the file, nothing left open', async () => {
    const bogus = path.join(work, 'bogus.o');
    writeFileSync(bogus, Buffer.from('\x7fELF but not really'));
    const db = createTrace(path.join(work, 'bogus.trace'));
    const before = openFds();
    await expect(recordObject(db, bogus)).rejects.toThrow(BpfscopeError);
    expect(leakedBpfFds(before)).toEqual([]);
    db.close();
  });

  // User 65534 runs the checkout itself where it can read it, else a readable copy of what
  // the recorder loads (a clone under /root, 0700, is unreadable to it: node would only print
  // its own MODULE_NOT_FOUND trace); where neither is possible the title says why it skipped.
  // The recording with capabilities needs a program this kernel loads: list_push, or parse_udp
  // where list.bpf.o's kfuncs are missing.
  const listMissing = objectUnsupported(path.join(PROGS_DIR, 'list.bpf.o'));
  const capsProg = listMissing ? { object: 'compute.bpf.o', program: 'parse_udp' } : { object: 'list.bpf.o', program: 'list_push' };
  const unprivObjects = [path.join(PROGS_DIR, 'new_drop.bpf.o'), path.join(PROGS_DIR, capsProg.object)];
  const nobody = planNobody(unprivObjects);
  const nobodyNote = nobody.skip
    ? ` [skipped: ${nobody.skip}]`
    : nobody.copyRepo || nobody.copyNode
      ? ` (from a readable copy: user ${NOBODY_UID} cannot read ${nobody.copyRepo ? 'this checkout' : 'node'})`
      : '';
  it.skipIf(!!nobody.skip)(`an unprivileged user gets one sentence saying what is missing and how to run the recorder${nobodyNote}${listMissing ? ` (${capsProg.program} in place of list_push: ${listMissing})` : ''}`, async () => {
    const as = prepareNobody(nobody, unprivObjects);
    try {
      const r = as.bpfscope(['record', as.object(unprivObjects[0]), '-o', path.join(as.work, 'x.trace')]);
      // stderr goes with every assertion on it, so an unexpected answer says what it was.
      expect(r.status, r.stderr).toBe(1);
      const lines = r.stderr.trim().split('\n');
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(/^bpfscope record: recording needs CAP_BPF and CAP_PERFMON \(or CAP_SYS_ADMIN\), which this process lacks; run the recorder as root: 'sudo /);
      expect(lines[0]).not.toMatch(/EPERM|errno/);
      const probe = as.bpfscope(['probe', '--json']);
      expect(probe.status, probe.stderr).toBe(1);
      const rep = JSON.parse(probe.stdout) as { canRecord: boolean; caps: Record<string, boolean>; bpfSyscall: { reachable: boolean } };
      expect(rep.canRecord).toBe(false);
      expect(rep.caps.CAP_BPF).toBe(false);
      expect(rep.bpfSyscall.reachable).toBe(false);
      // CAP_BPF alone: the sentence names what is still missing.
      const bpfOnly = as.bpfscope(['probe'], '+bpf');
      expect(bpfOnly.status, bpfOnly.stderr).toBe(1);
      expect(bpfOnly.stderr).toMatch(/^bpfscope probe: recording needs CAP_PERFMON, which this process lacks/);
      // CAP_BPF + CAP_PERFMON + CAP_NET_ADMIN: a normal user records without root.
      const ok = as.bpfscope(['record', as.object(unprivObjects[1]), '-p', capsProg.program, '-o', path.join(as.work, 'caps.trace'), '--run'], '+bpf,+perfmon,+net_admin');
      expect(ok.stderr).toBe('');
      const ref = await refLoad(capsProg.object, capsProg.program, { logLevel: 1, run: true });
      expect(ok.stdout).toMatch(new RegExp(`^${capsProg.program}: accepted, \\d+ insns processed, retval ${ref.retval}\\n$`));
      if (!listMissing) expect(ok.stdout).toMatch(/^list_push: accepted, \d+ insns processed, retval 3\n$/);
    } finally {
      as.cleanup();
    }
  });
});
