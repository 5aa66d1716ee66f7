import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compileBpf } from '../../helpers/bpfcc';
import { kernelSkipReason, kernelTitle } from '../../helpers/kernel';
import { PROGS_DIR, refLoad } from '../../helpers/ref';
// The trace's schema first (main/trace/load and the recorder import it in a cycle).
import { createTrace, type TraceDb } from '../../../main/trace/db';
import { missingStructOps, objectUnsupported } from '../../helpers/support';
import { expectRefusedAsLibbpf, libbpfLoad } from './libbpf-refusal';
import { BpfscopeError } from '../../../main/errors';
import { recordObject, type ProgramOutcome } from '../../../main/kernel/record';
import { vmlinuxBtf } from '../../../main/kernel/vmlinux';
import { findAllByName } from '../../../main/object/btf/lookup';
import { parseObject } from '../../../main/object/object';
import { structOpsSlot, structOpsVariables } from '../../../main/object/struct-ops';
import { readProgramLog } from '../../../main/trace/load';
import { lexLine } from '../../../main/verifier/lexer';

/**
 * struct_ops programs through bpfscope's loader: the object's .struct_ops
 * variables (which member points at which program), the attach_btf_id and
 * expected_attach_type the load sends (the kernel's struct and member index),
 * each against libbpf 1.1 (refload) on the same object.
 */
const work = mkdtempSync(path.join(os.tmpdir(), 'bpfscope-struct-ops-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const EXAMPLE = path.join(PROGS_DIR, 'struct_ops.bpf.o');
const parse = (file: string): ReturnType<typeof parseObject> => parseObject(new Uint8Array(readFileSync(file)), file);

/** Without vmlinux.h: a local bpf_dummy_ops whose members are in another order than the kernel's, and one the kernel lacks. */
const LOCAL_OPS = `#define SEC(n) __attribute__((section(n), used))
typedef unsigned long long u64;
struct bpf_dummy_ops { int (*test_2)(void *, int, unsigned short, char, unsigned long); int (*test_1)(void *); MORE };
/* Reads the 5th argument: test_2 has it, test_1 (kernel member 0) does not, so the member index matters. */
SEC("struct_ops/second") int second(u64 *ctx) { return (int)ctx[4]; }
SEC("struct_ops/first") int first(u64 *ctx) { return 1; }
SEC("struct_ops/other") int other(u64 *ctx) { return 2; }
SEC(SECTION) struct bpf_dummy_ops ops = { .test_2 = (void *)second, .test_1 = (void *)first INIT };
char LICENSE[] SEC("license") = "GPL";
`;
const localOps = (name: string, section: string, more = '', init = ''): string =>
  compileBpf(work, name, LOCAL_OPS.replace('MORE', more).replace('SECTION', JSON.stringify(section)).replace('INIT', init));

describe('object model: struct_ops variables', () => {
  it('struct_ops.bpf.o: dummy_ops of bpf_dummy_ops, test_1 and test_2 at members 0 and 1', () => {
    const vars = structOpsVariables(parse(EXAMPLE));
    expect(vars).toEqual([
      {
        name: 'dummy_ops', section: '.struct_ops', typeName: 'bpf_dummy_ops', size: 24, memberNames: ['test_1', 'test_2', 'test_sleepable'],
        members: [{ index: 0, name: 'test_1', offset: 0, program: 'test_1' }, { index: 1, name: 'test_2', offset: 8, program: 'test_2' }],
      },
    ]);
    expect(structOpsSlot(vars, 'test_2')?.member.name).toBe('test_2');
    expect(structOpsSlot(vars, 'nope')).toBeUndefined();
  });

  it('.struct_ops.link too; the local index is the local struct\'s; members the initializer leaves unset are absent', () => {
    const vars = structOpsVariables(parse(localOps('link_ops', '.struct_ops.link', 'int (*unset)(void *);')));
    expect(vars.map((v) => [v.name, v.section, v.typeName, v.members.map((m) => [m.index, m.name, m.program])])).toEqual([
      ['ops', '.struct_ops.link', 'bpf_dummy_ops', [[0, 'test_2', 'second'], [1, 'test_1', 'first']]],
    ]);
  });

  it('refuses a member pointing at a program that is not struct_ops, naming the file and the byte', () => {
    const obj = compileBpf(work, 'not_st', `#include "bpfscope.h"
SEC("tc") int cls(struct __sk_buff *skb) { return 0; }
SEC(".struct_ops") struct bpf_dummy_ops ops = { .test_1 = (void *)cls };
char LICENSE[] SEC("license") = "GPL";
`);
    const o = parse(obj);
    expect(() => structOpsVariables(o)).toThrow(BpfscopeError);
    expect(() => structOpsVariables(o)).toThrow(`${obj}: .struct_ops at byte 0: member 'test_1' of 'ops' points at 'cls', a sched_cls program, not struct_ops`);
  });

  it('an object without struct_ops sections has no variables', () => {
    expect(structOpsVariables(parse(path.join(PROGS_DIR, 'tail_call.bpf.o')))).toEqual([]);
  });
});

type Row = { kind: string; symbol: string; target: string; value: number | null };
type Msg = { severity: string; text: string };
const messages = (db: TraceDb, programId: number): Msg[] =>
  db.prepare('SELECT severity, text FROM verifier_messages WHERE program_id = ? ORDER BY line').all(programId) as Msg[];

async function record(db: TraceDb, obj: string, program: string): Promise<{ o: ProgramOutcome; rows: Row[] }> {
  const [o] = await recordObject(db, obj, { programs: [program], logLevel: 2 });
  const rows = db.prepare("SELECT kind, symbol, target, value FROM load_relocations WHERE program_id = ? AND kind = 'struct_ops'").all(o.programId) as Row[];
  return { o, rows };
}

describe.skipIf(!!kernelSkipReason())(kernelTitle('struct_ops programs vs libbpf'), () => {
  const dummy = kernelSkipReason() ? undefined : findAllByName(vmlinuxBtf(), 'bpf_dummy_ops', 'STRUCT')[0];
  const noDummy = dummy ? undefined : 'this kernel has no bpf_dummy_ops';
  // struct_ops.bpf.o is built against the host's vmlinux.h: an older kernel's bpf_dummy_ops may lack one of its
  // members (6.1 has no test_sleepable), and libbpf 1.1 then refuses the object while bpfscope loads the programs
  // of the members the kernel has (the 'member the kernel's struct lacks' test below): nothing to compare with.
  const exampleGap = noDummy ?? (kernelSkipReason() ? undefined : objectUnsupported(EXAMPLE));

  it.skipIf(!!exampleGap)(`struct_ops.bpf.o: the trace names the kernel struct and member; verdict and log equal libbpf's${exampleGap ? ` [skipped: ${exampleGap}]` : ''}`, async () => {
    const db = createTrace(path.join(work, 'example.trace'));
    try {
      for (const [program, idx] of [['test_1', 0], ['test_2', 1]] as const) {
        const { o, rows } = await record(db, EXAMPLE, program);
        const ref = await refLoad(EXAMPLE, program, { logLevel: 2 });
        expect([o.verdict, o.errno ?? 0]).toEqual([ref.verdict, ref.errno]);
        expect(readProgramLog(db, o.programId)?.toString('utf8')).toBe(ref.log);
        expect(rows).toEqual([{ kind: 'struct_ops', symbol: `dummy_ops.${program}`, target: `vmlinux STRUCT 'bpf_dummy_ops' [${dummy!.id}] member ${idx} '${program}'`, value: idx }]);
        // btf_ctx_access names the type of test_2's pointer argument: a diagnostic, not an unknown line.
        const msgs = messages(db, o.programId);
        expect(msgs.filter((m) => m.severity === 'unknown')).toEqual([]);
        if (program === 'test_2') {
          const line = msgs.find((m) => /^func 'test_2' arg0 has btf_id \d+ type STRUCT 'bpf_dummy_ops_state'$/.test(m.text));
          expect(line?.severity).toBe('info');
          expect(lexLine(line!.text).kind).toBe('diag');
        }
      }
    } finally {
      db.close();
    }
  });

  it.skipIf(!!exampleGap)(`BPF_PROG_TEST_RUN with --ctx as one u64 per argument (the dummy ops' test run, state NULL): test_1's constant; test_2 refused${exampleGap ? ` [skipped: ${exampleGap}]` : ''}`, async () => {
    const db = createTrace(path.join(work, 'run.trace'));
    const u64s = (...v: bigint[]): Uint8Array => new Uint8Array(new BigUint64Array(v).buffer);
    try {
      const [one] = await recordObject(db, EXAMPLE, { programs: ['test_1'], logLevel: 1, run: true, ctx: u64s(0n) });
      expect([one.verdict, one.retval]).toEqual(['accepted', 0x5a]);
      // test_2's state argument is not marked nullable in the kernel (test_1's is): 6.18 refuses its test
      // run with EINVAL even with the right ctx size, so the manifest runs neither (the examples run on a packet).
      const [two] = await recordObject(db, EXAMPLE, { programs: ['test_2'], logLevel: 1, run: true, ctx: u64s(0n, BigInt.asUintN(64, -7n), 0x10005n, 0x1ffn, 100n) });
      expect([two.verdict, two.retval]).toEqual(['accepted', undefined]);
      const run = db.prepare('SELECT errno, error FROM test_runs WHERE program_id = ?').get(two.programId);
      expect(run).toEqual({ errno: 22, error: 'BPF_PROG_TEST_RUN failed: EINVAL (Invalid argument)' });
    } finally {
      db.close();
    }
  });

  it.skipIf(!!noDummy)(`a local struct in another member order: the kernel's index by name, as libbpf${noDummy ? ` [skipped: ${noDummy}]` : ''}`, async () => {
    const obj = localOps('reordered', '.struct_ops');
    const db = createTrace(path.join(work, 'reordered.trace'));
    try {
      const { o, rows } = await record(db, obj, 'second');
      const ref = await refLoad(obj, 'second', { logLevel: 2 });
      expect([o.verdict, o.errno ?? 0]).toEqual(['accepted', 0]);
      expect([ref.verdict, ref.errno]).toEqual(['accepted', 0]);
      expect(rows.map((r) => r.value)).toEqual([1]);
    } finally {
      db.close();
    }
  });

  it.skipIf(!!noDummy)(`a member the kernel's struct lacks: that program refused with libbpf's EOPNOTSUPP, the other members' programs still load${noDummy ? ` [skipped: ${noDummy}]` : ''}`, async () => {
    const obj = localOps('no_member', '.struct_ops', 'int (*absent_member)(void *);', ', .absent_member = (void *)other');
    const db = createTrace(path.join(work, 'no_member.trace'));
    try {
      const { o, rows } = await record(db, obj, 'other');
      const ref = await libbpfLoad(obj, 'other');
      expect(ref.stderr).toMatch(/Cannot find member absent_member in kernel BTF/);
      expect([o.verdict, o.errno]).toEqual([ref.verdict, ref.errno]);
      expect(o.error).toBe("program 'other' implements bpf_dummy_ops.absent_member (.struct_ops variable 'ops'), but vmlinux BTF has no member 'absent_member' in struct 'bpf_dummy_ops'");
      expect(rows).toEqual([{ kind: 'struct_ops', symbol: 'ops.absent_member', target: "no member 'absent_member' in struct 'bpf_dummy_ops' in vmlinux", value: null }]);
      expect(readProgramLog(db, o.programId)?.length ?? 0).toBe(0);
      // libbpf refuses the whole object; bpfscope records the verdict of the programs it can load.
      const first = await record(db, obj, 'first');
      expect([first.o.verdict, first.rows.map((r) => r.value)]).toEqual(['accepted', [0]]);
    } finally {
      db.close();
    }
  });

  it.skipIf(!!exampleGap)(`a load from an argument the member lacks: the kernel's two error lines, as libbpf gets them${exampleGap ? ` [skipped: ${exampleGap}]` : ''}`, async () => {
    const obj = compileBpf(work, 'fifth_arg', `#include "bpfscope.h"
SEC("struct_ops/t") int t(unsigned long long *ctx) { return (int)ctx[4]; }
SEC(".struct_ops") struct bpf_dummy_ops ops = { .test_1 = (void *)t };
char LICENSE[] SEC("license") = "GPL";
`);
    const db = createTrace(path.join(work, 'fifth.trace'));
    try {
      const { o } = await record(db, obj, 't');
      const ref = await refLoad(obj, 't', { logLevel: 2 });
      expect([o.verdict, o.errno]).toEqual([ref.verdict, ref.errno]);
      expect(o.verdict).toBe('rejected');
      expect(readProgramLog(db, o.programId)?.toString('utf8')).toBe(ref.log);
      const errs = messages(db, o.programId).filter((m) => m.severity !== 'info');
      expect(errs.map((m) => m.severity)).toEqual(['error', 'error']);
      expect(errs[0].text).toMatch(/^func 'test_1' doesn't have \d+-th argument$/);
      expect(lexLine(errs[0].text).kind).toBe('diag');
      expect(o.error).toBe(`${errs[0].text}\n${errs[1].text}`);
      expect(errs[1].text).toBe('invalid bpf_context access off=32 size=8');
    } finally {
      db.close();
    }
  });

  it('a struct vmlinux lacks: refused as libbpf refuses it (ENOENT, the struct named, no log); a program no variable points at: the errno, not a log line', async () => {
    const obj = compileBpf(work, 'absent_struct', `#include "bpfscope.h"
struct bpfscope_absent_ops { int (*run)(unsigned long long *ctx); };
SEC("struct_ops/run") int run(unsigned long long *ctx) { return 1; }
SEC("struct_ops/lonely") int lonely(unsigned long long *ctx) { return 3; }
SEC(".struct_ops") struct bpfscope_absent_ops absent = { .run = (void *)run };
char LICENSE[] SEC("license") = "GPL";
`);
    expect(missingStructOps(obj)).toEqual(['bpfscope_absent_ops']);
    const db = createTrace(path.join(work, 'absent.trace'));
    try {
      const { o } = await record(db, obj, 'run');
      await expectRefusedAsLibbpf(db, o, obj);
      // No struct named: the kernel refuses with ENOTSUPP after a log of `func#0 @0` and the stats,
      // none of which is an error line; the error is the errno's text and why.
      const lonely = await record(db, obj, 'lonely');
      expect([lonely.o.verdict, lonely.o.errno, lonely.rows]).toEqual(['rejected', 524, []]);
      expect(readProgramLog(db, lonely.o.programId)?.toString('utf8')).toMatch(/^func#0 @0\n/);
      // 6.18 prints no error line, so the error is the errno's text; 6.1 prints 'attach_btf_id 0 is not a supported struct'.
      const why = ": no .struct_ops variable of the object points at 'lonely', so the load named no kernel struct for it (nor does libbpf's)";
      expect([
        `BPF_PROG_LOAD failed: ENOTSUPP (Operation not supported)${why}`,
        `attach_btf_id 0 is not a supported struct${why}`,
      ]).toContain(lonely.o.error);
    } finally {
      db.close();
    }
  });
});
