import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { formatRegex, KERNEL_DIAGS, matchKernelDiag } from '../../../main/verifier/diagnostics';
import { lexLine } from '../../../main/verifier/lexer';
import { LogAnalyzer, type LogMessage } from '../../../main/verifier/analyze';
import { LogCheck } from '../../../main/verifier/logCheck';
import { recordObject } from '../../../main/kernel/record';
import { createTrace } from '../../../main/trace/db';
import { readProgramLog } from '../../../main/trace/load';
import { readSteps } from '../../../main/trace/verifierRead';
import { compileBpf } from '../../helpers/bpfcc';
import { kernelSkipReason, kernelTitle } from '../../helpers/kernel';
import { objectUnsupported } from '../../helpers/support';
import { PROGS_DIR } from '../../helpers/ref';

/** A line as the kernel prints the format: each conversion replaced by a value of its kind. */
function sample(format: string): string {
  let n = 0;
  return format.replace(/%(l{0,2}[diux]|s)/g, (_, c: string) => {
    n++;
    if (c === 's') return n % 2 ? 'task_struct' : 'STRUCT';
    if (c.endsWith('x')) return 'ff0';
    return String(n + 1);
  });
}

function analyze(lines: string[]): { a: LogAnalyzer; messages: LogMessage[] } {
  const messages: LogMessage[] = [];
  const a = new LogAnalyzer({ step() {}, checkpoint() {}, message: (m) => messages.push(m), markPrecise() {}, liveRegs() {} });
  lines.forEach((text, i) => a.feedLine({ no: i + 1, text, cut: false }));
  a.finish();
  return { a, messages };
}

const STATS = 'processed 5 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0';

describe('the kernel diagnostics of argument checks and BTF struct walks (kernel/bpf/verifier.c, btf.c)', () => {
  // One test per format: the exact format from the 6.1/6.12 source (the table names file and function).
  for (const d of KERNEL_DIAGS) {
    it(`${d.where.join(', ')}: '${d.format}'`, () => {
      const line = sample(d.format);
      const x = lexLine(line);
      expect(x.kind, line).toBe('diag');
      if (x.kind !== 'diag') return;
      // The line is this format, or one at least as specific that also prints it.
      expect(formatRegex(x.diag.format).test(line), `${line} → ${x.diag.format}`).toBe(true);
      if (x.diag.format !== d.format) expect(formatRegex(d.format).test(line)).toBe(true);
    });
  }

  it('every format of the functions the parser must know is in the table', () => {
    const where = new Set(KERNEL_DIAGS.flatMap((d) => d.where.map((w) => w.split(' ')[1])));
    for (const f of [
      'check_kfunc_args', 'check_kfunc_call', 'process_kf_arg_ptr_to_btf_id', 'btf_check_func_arg_match', 'btf_prepare_func_args',
      'check_reg_type', 'get_kfunc_ptr_arg_type', '__process_kf_arg_ptr_to_graph_root', '__process_kf_arg_ptr_to_graph_node',
      'ref_set_non_owning', 'check_func_arg', 'btf_struct_access', 'btf_struct_walk',
    ]) expect(where.has(f), f).toBe(true);
    // No two formats are the same text (a format printed by several functions is one entry naming them all).
    expect(new Set(KERNEL_DIAGS.map((d) => d.format)).size).toBe(KERNEL_DIAGS.length);
  });

  it('real lines printed by 6.1 to 6.18 kernels (selftests, this machine)', () => {
    const cases: [string, string][] = [
      ["arg#0 reference type('UNKNOWN ') size cannot be determined: -22", 'check_kfunc_args'],
      ['reg type unsupported for arg#1 function fold_step#54', 'btf_check_func_arg_match'],
      ['reg type unsupported for arg#0 kernel function bpf_foo#123', 'btf_check_func_arg_match'],
      ['R1 type=scalar expected=fp, pkt, pkt_meta, map_key, map_value, mem, ringbuf_mem, buf, trusted_ptr_', 'check_reg_type'],
      ['arg#1 is ptr_or_null_ expected ptr_ or socket', 'check_kfunc_args'],
      ['bpf_spin_lock at off=0 must be held for bpf_list_head', '__process_kf_arg_ptr_to_graph_root'],
      ['bpf_list_node not found at offset=16', '__process_kf_arg_ptr_to_graph_root'],
      ['operation on bpf_list_head expects arg#1 bpf_list_node at offset=16 in struct node_data, but arg is at offset=0 in struct node_data', '__process_kf_arg_ptr_to_graph_node'],
      ['cannot access ptr member next with moff 0 in struct list_head with off 4 size 4', 'btf_struct_walk'],
      ["Caller passes invalid args into func#1 ('glob')", 'check_func_call'],
      ['Caller passes invalid args into func#1', 'check_func_call'],
      ['combined stack size of 2 calls is 544. Too large', 'check_max_stack_depth_subprog'],
      ["Global function main() doesn't return scalar. Only those are supported.", 'btf_prepare_func_args'],
      ['verifier internal error: ref_set_non_owning w/o active lock', 'ref_set_non_owning'],
      ['verifier bug: REG INVARIANTS VIOLATION (false_reg1): range bounds violation u64=[0x0, 0x1] s64=[0x0, 0x1]', 'verifier_bug'],
    ];
    for (const [line, check] of cases) {
      const d = matchKernelDiag(line);
      expect(d?.where.map((w) => w.split(' ')[1]), line).toContain(check);
    }
    // Not diagnostics: lines of other kinds, and prose that only starts like one.
    expect(matchKernelDiag('Func#1 (\'glob\') is global and assumed valid.')).toBeNull();
    expect(matchKernelDiag('R1 type=ctx')).toBeNull();
    expect(lexLine('Validating glob() func#1...').kind).toBe('validating');
  });

  it('is the error when the log ends in it, with or without the closing lines (the issue 11 import)', () => {
    const head = ['func#0 @0', '0: R1=ctx() R10=fp0', '0: (bf) r1 = r10                      ; R1=fp0 R10=fp0', '1: (85) call bpf_cast_to_kern_ctx#65300'];
    const err = "arg#0 reference type('UNKNOWN ') size cannot be determined: -22";
    for (const tail of [[STATS], []]) {
      const { a, messages } = analyze([...head, err, ...tail]);
      expect([a.verdict(), a.errors, a.unknownLines]).toEqual(['rejected', [err], 0]);
      // Attached to the call it checked: step 2 is insn 1 (steps: the state at 0, insn 0, insn 1).
      expect(messages.filter((m) => m.severity === 'error')).toEqual([{ severity: 'error', step: 2, line: 5, text: err }]);
    }
  });

  it('is a diagnostic when verification goes on after it (the main program or a static subprog marked unreliable)', () => {
    const { a, messages } = analyze([
      'func#0 @0',
      "arg#0 reference type('UNKNOWN ') size cannot be determined: -22",
      '0: R1=ctx() R10=fp0',
      '0: (b4) w0 = 0                        ; R0=0',
      '1: (95) exit',
      STATS,
    ]);
    expect([a.verdict(), a.errors, a.unknownLines]).toEqual(['accepted', [], 0]);
    expect(messages.filter((m) => m.severity !== 'info')).toEqual([]);
    expect(messages.map((m) => m.text)).toContain("arg#0 reference type('UNKNOWN ') size cannot be determined: -22");
  });

  it('a bare error line of this kind is a verifier log for import', () => {
    const c = new LogCheck();
    c.feed(Buffer.from('kernel function bpf_cgroup_release args#0 expected pointer to STRUCT cgroup but R1 has a pointer to STRUCT task_struct\n'));
    expect(c.finish()).toBeNull();
  });
});

/**
 * Which kinds this kernel prints in a test (6.18 here; each program is
 * compiled now and recorded with bpfscope's loader), and with which line:
 *
 * | program          | function                              | line                                                     |
 * |------------------|---------------------------------------|----------------------------------------------------------|
 * | void_ctx         | btf.c btf_prepare_func_args           | arg#0 reference type('UNKNOWN ') size cannot be determined: -22 (verification goes on) |
 * | global_void      | btf.c btf_prepare_func_args, check_func_call | the same, then Caller passes invalid args into func#1 ('glob') |
 * | kfunc_not_ctx    | check_kfunc_args                      | arg#0 expected pointer to ctx, but got fp                |
 * | trusted_null     | check_kfunc_args                      | Possibly NULL pointer passed to trusted arg0             |
 * | drop_stack       | check_kfunc_args                      | R1 must be referenced or trusted                         |
 * | obj_new_nonconst | check_kfunc_args                      | R1 must be a known constant                              |
 * | wrong_struct     | process_kf_arg_ptr_to_btf_id          | kernel function bpf_cgroup_release args#0 expected pointer to STRUCT cgroup but R1 has ... |
 * | release_twice    | get_kfunc_ptr_arg_type                | arg#0 pointer type STRUCT task_struct must point to scalar, or struct with scalar |
 * | helper_type      | check_reg_type                        | R1 type=ctx expected=map_ptr                             |
 * | walk_beyond      | btf.c btf_struct_walk                 | access beyond struct task_struct at off 100000 size 8    |
 * | reject_nolock    | __process_kf_arg_ptr_to_graph_root    | bpf_spin_lock at off=0 must be held for bpf_list_head    |
 *
 * The other formats are tested above on the format's own text.
 */
const KERNEL_PRINTED: { program: string; check: string; final: RegExp; goesOn?: true }[] = [
  { program: 'void_ctx', check: 'btf_prepare_func_args', final: /^arg#0 reference type\('UNKNOWN '\) size cannot be determined: -22$/, goesOn: true },
  { program: 'global_void', check: 'check_func_call', final: /^Caller passes invalid args into func#1 \('glob'\)$/ },
  { program: 'kfunc_not_ctx', check: 'check_kfunc_args', final: /^arg#0 expected pointer to ctx, but got fp$/ },
  { program: 'trusted_null', check: 'check_kfunc_args', final: /^Possibly NULL pointer passed to trusted arg0$/ },
  { program: 'drop_stack', check: 'check_kfunc_args', final: /^R1 must be referenced or trusted$/ },
  { program: 'obj_new_nonconst', check: 'check_kfunc_args', final: /^R1 must be a known constant$/ },
  { program: 'wrong_struct', check: 'process_kf_arg_ptr_to_btf_id', final: /^kernel function bpf_cgroup_release args#0 expected pointer to STRUCT cgroup but R1 has a pointer to STRUCT task_struct$/ },
  { program: 'release_twice', check: 'get_kfunc_ptr_arg_type', final: /^arg#0 pointer type STRUCT task_struct must point to scalar, or struct with scalar$/ },
  { program: 'helper_type', check: 'check_reg_type', final: /^R1 type=ctx expected=map_ptr$/ },
  { program: 'walk_beyond', check: 'btf_struct_walk', final: /^access beyond struct task_struct at off 100000 size 8$/ },
];

const SOURCE = `#include "bpfscope.h"
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, int); __type(value, long); } arr SEC(".maps");
extern void *bpf_cast_to_kern_ctx(void *obj) __ksym;
extern struct task_struct *bpf_task_from_pid(s32 pid) __ksym;
extern void bpf_task_release(struct task_struct *p) __ksym;
extern void bpf_cgroup_release(struct cgroup *p) __ksym;

/* A main program whose argument is no ctx type: btf_prepare_func_args prints, the program is verified anyway. */
SEC("tc") int void_ctx(void *ctx) { return 0; }
SEC("tc") int kfunc_not_ctx(struct __sk_buff *skb) { long x = 0; bpf_cast_to_kern_ctx(&x); return 0; }
SEC("tc") int trusted_null(struct __sk_buff *skb) { struct task_struct *t = bpf_task_from_pid(1); bpf_task_release(t); return 0; }
SEC("tc") int wrong_struct(struct __sk_buff *skb) {
  struct task_struct *t = bpf_task_from_pid(1);
  if (!t) return 0;
  bpf_cgroup_release((struct cgroup *)t);
  return 0;
}
SEC("tc") int helper_type(struct __sk_buff *skb) { int k = 0; return bpf_map_lookup_elem((void *)skb, &k) != 0; }
SEC("tc") int walk_beyond(struct __sk_buff *skb) {
  struct task_struct *t = bpf_task_from_pid(1);
  long v;
  if (!t) return 0;
  v = *(volatile long *)((char *)t + 100000);
  bpf_task_release(t);
  return v;
}
SEC("tc") int drop_stack(struct __sk_buff *skb) { long x = 0; bpf_obj_drop_impl(&x, 0); return 0; }
SEC("tc") int release_twice(struct __sk_buff *skb) {
  struct task_struct *t = bpf_task_from_pid(1);
  if (!t) return 0;
  bpf_task_release(t);
  bpf_task_release(t);
  return 0;
}
SEC("tc") int obj_new_nonconst(struct __sk_buff *skb) { void *p = bpf_obj_new_impl(skb->len, 0); if (p) bpf_obj_drop_impl(p, 0); return 0; }
__noinline int glob(void *p) { return p != 0; }
SEC("tc") int global_void(struct __sk_buff *skb) { long x = 0; return glob(&x); }
char LICENSE[] SEC("license") = "GPL";
`;

describe.skipIf(!!kernelSkipReason())(kernelTitle('the kernel prints them: each line classified, none unknown'), () => {
  const work = mkdtempSync(path.join(os.tmpdir(), 'bpfscope-diag-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('programs rejected (or verified on) at an argument check or a struct walk', async (ctx) => {
    const obj = compileBpf(work, 'diag', SOURCE);
    // The kfuncs these checks are about (bpf_obj_new_impl, bpf_task_*) are not in every kernel (6.1).
    const unsupported = objectUnsupported(obj);
    if (unsupported) ctx.skip(unsupported);
    const db = createTrace(path.join(work, 'diag.trace'));
    try {
      const outcomes = await recordObject(db, obj, { logLevel: 2 });
      expect(db.prepare('SELECT text FROM load_warnings').all()).toEqual([]);
      for (const k of KERNEL_PRINTED) {
        const o = outcomes.find((x) => x.program === k.program)!;
        const log = readProgramLog(db, o.programId)!.toString('utf8');
        const line = log.split('\n').find((l) => k.final.test(l));
        expect(line, `${k.program}:\n${log}`).toBeDefined();
        const x = lexLine(line!);
        expect(x.kind === 'diag' ? x.diag.where.map((w) => w.split(' ')[1]) : x.kind, line).toContain(k.check);
        const unknown = db.prepare("SELECT count(*) AS n FROM verifier_messages WHERE program_id = ? AND severity = 'unknown'").get(o.programId);
        expect(unknown, k.program).toEqual({ n: 0 });
        if (k.goesOn) {
          expect(o.verdict).toBe('accepted');
          const info = db.prepare("SELECT text FROM verifier_messages WHERE program_id = ? AND severity = 'info'").all(o.programId) as { text: string }[];
          expect(info.map((m) => m.text)).toContain(line);
          continue;
        }
        expect(o.verdict, k.program).toBe('rejected');
        const errs = db.prepare("SELECT step, text FROM verifier_messages WHERE program_id = ? AND severity = 'error' ORDER BY line").all(o.programId) as { step: number; text: string }[];
        expect(errs[errs.length - 1].text).toBe(line);
        // Attached to the instruction it checked: a call (kfunc, helper, subprog) or the load of the struct walk.
        const [st] = readSteps(db, o.programId, errs[errs.length - 1].step, 1);
        const insnLine = log.split('\n').find((l) => l.startsWith(`${st.insn}: (`));
        expect(insnLine, k.program).toMatch(k.program === 'walk_beyond' ? /= \*\(u64 \*\)\(r\d+ [+-]\d+\)/ : /\(85\) call /);
        // Every error line of it is a kernel diagnostic, none an unknown line.
        for (const e of errs) expect(lexLine(e.text).kind, e.text).toBe('diag');
      }
    } finally {
      db.close();
    }
  });

  it('reject_nolock (the example object): bpf_spin_lock at off=0 must be held for bpf_list_head', async () => {
    const db = createTrace(path.join(work, 'nolock.trace'));
    try {
      const [o] = await recordObject(db, path.join(PROGS_DIR, 'reject_nolock.bpf.o'), { logLevel: 2 });
      // No log at all when the loader refuses it first (a kernel without the list kfuncs).
      const log = readProgramLog(db, o.programId)?.toString('utf8') ?? '';
      const line = log.split('\n').find((l) => l.startsWith('bpf_spin_lock at off='));
      if (!line) return expect(o.error ?? '', 'refused before the verifier (this kernel lacks a kfunc)').toMatch(/kfunc/);
      const x = lexLine(line);
      expect(x.kind === 'diag' ? x.diag.where : x.kind).toContain('verifier.c __process_kf_arg_ptr_to_graph_root');
      expect(db.prepare("SELECT count(*) AS n FROM verifier_messages WHERE program_id = ? AND severity = 'unknown'").get(o.programId)).toEqual({ n: 0 });
    } finally {
      db.close();
    }
  });
});
