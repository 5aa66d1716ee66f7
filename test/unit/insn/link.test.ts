import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { kernelSkipReason, kernelTitle } from '../../helpers/kernel';
import { objectUnsupported, withSkipReason } from '../../helpers/support';
import { examplePrograms, normalizeLog, refLoad } from '../../helpers/ref';
import { parseObject } from '../../../main/object/object';
import { parseBtf } from '../../../main/object/btf/parse';
import { linkProgram } from '../../../main/object/link';
import { kfuncIdsFromBtf } from '../../../main/object/insn/listing';
import { BPF_PSEUDO_CALL, BPF_PSEUDO_FUNC } from '../../../main/object/insn/opcode';
import { kernelLogLinked } from './rawload';

/**
 * Properties the kernel enforces on what it is given (check_btf_func,
 * check_btf_line, check_subprogs in verifier.c): func_info has one record
 * per function at its first instruction, line_info starts at 0, increases
 * strictly and has a record at each function's start, and every call or
 * callback pointer lands on a function start. The instruction text itself is
 * compared with the kernel's log in disasm.test.ts.
 */
describe('linked programs satisfy the kernel\'s layout rules', () => {
  const objects = new Map<string, ReturnType<typeof parseObject>>();
  for (const p of examplePrograms()) {
    it(`${p.object} ${p.program}`, () => {
      let obj = objects.get(p.objectPath);
      if (!obj) objects.set(p.objectPath, (obj = parseObject(new Uint8Array(readFileSync(p.objectPath)), p.objectPath)));
      const l = linkProgram(obj, p.program);
      const starts = l.functions.map((f) => f.start);
      expect(starts[0]).toBe(0);
      expect(l.functions.reduce((n, f) => n + f.insnCount, 0)).toBe(l.insns.length);
      expect(l.funcInfo.map((f) => f.insnIdx)).toEqual(starts);
      const lines = l.lineInfo.map((x) => x.linkedIdx);
      expect(lines[0]).toBe(0);
      for (let i = 1; i < lines.length; i++) expect(lines[i]).toBeGreaterThan(lines[i - 1]);
      for (const s of starts) expect(lines).toContain(s);
      l.insns.forEach((insn, i) => expect(insn.idx).toBe(i));
      for (const insn of l.insns) {
        const call = insn.code === 0x85 && insn.src === BPF_PSEUDO_CALL;
        const func = insn.code === 0x18 && insn.src === BPF_PSEUDO_FUNC;
        if (call || func) expect(starts).toContain(insn.idx + insn.imm + 1);
      }
      for (const r of l.relocations) expect(r.insnIdx).toBeLessThan(l.insns.length);
    });
  }

  it('appends in libbpf order: first call first, depth first, each function once', () => {
    const p = examplePrograms().find((x) => x.program === 'subprog_calls');
    expect(p).toBeDefined();
    const obj = parseObject(new Uint8Array(readFileSync(p!.objectPath)), p!.objectPath);
    const l = linkProgram(obj, 'subprog_calls');
    expect(l.functions.map((f) => f.name)).toEqual(['subprog_calls', 'mix', 'clamp_global']);
  });
});

/**
 * The linker's output loaded as it is (instructions, the object's BTF, our
 * func_info and line_info; kfunc ids resolved from vmlinux BTF) gives the
 * same verifier log as libbpf's load of the same program: same instructions,
 * same subprogram layout, same source lines, same verdict. Programs that use
 * maps or global data need map fds, which is the loader's part: they are
 * covered by disasm.test.ts only.
 */
describe.skipIf(!!kernelSkipReason())(kernelTitle('linked programs load like libbpf loads them'), () => {
  const candidates = examplePrograms()
    .map((p) => {
      const obj = parseObject(new Uint8Array(readFileSync(p.objectPath)), p.objectPath);
      return { p, obj, linked: linkProgram(obj, p.program) };
    })
    .filter(({ linked }) => !linked.relocations.some((r) => r.kind === 'map' || r.kind === 'data' || r.kind === 'extern'))
    // rawload loads every program as sched_cls; a struct_ops program is verified against its kernel
    // struct's member, which only the loader names (test/unit/kernel/struct-ops.test.ts compares those logs with libbpf's).
    .filter(({ obj, p }) => obj.programs.find((x) => x.name === p.program)?.progType !== 'struct_ops');

  it('covers the programs with subprograms, callbacks and kfuncs', () => {
    expect(candidates.length).toBeGreaterThanOrEqual(8);
    expect(candidates.some(({ linked }) => linked.functions.length > 2)).toBe(true);
    expect(candidates.some(({ linked }) => linked.insns.some((i) => i.code === 0x18 && i.src === BPF_PSEUDO_FUNC))).toBe(true);
  });

  let kfuncIds: ((name: string) => number | undefined) | undefined;
  for (const { p, obj, linked } of candidates) {
    // libbpf refuses every program of an object with a kfunc the kernel lacks, so there
    // is no libbpf load to compare with (progs.test.ts checks that refusal, libbpf's and ours).
    const reason = kernelSkipReason() ? undefined : objectUnsupported(p.objectPath);
    it.skipIf(!!reason)(withSkipReason(`${p.object} ${p.program}`, reason), async () => {
      kfuncIds ??= kfuncIdsFromBtf(parseBtf(new Uint8Array(readFileSync('/sys/kernel/btf/vmlinux'))));
      for (const r of linked.relocations) {
        if (r.kind !== 'kfunc') continue;
        const id = kfuncIds(r.name);
        expect(id, r.name).toBeDefined();
        linked.insns[r.insnIdx].imm = id!;
      }
      const ours = normalizeLog(kernelLogLinked(linked, p.objectPath, obj.btf!));
      const ref = normalizeLog((await refLoad(p.objectPath, p.program)).log);
      expect(ours.split('\n')).toEqual(ref.split('\n'));
    });
  }
});
