import { describe, expect, it } from 'vitest';
import { testRunInputs } from '../../../main/kernel/test-run';
import { runSession } from '../../../main/runtime/session';
import { kernelSkipReason, kernelTitle } from '../../helpers/kernel';
import { DEFAULT_PACKET, examplePrograms, refLoad } from '../../helpers/ref';
import { objectUnsupported, withSkipReason } from '../../helpers/support';
import { comparableMaps, loadExample } from './helpers';

/**
 * Every example program that BPF_PROG_TEST_RUN runs: the kernel (through
 * libbpf, test/ref/refload) and bpfscope's machine on the same packet give
 * the same return value, output bytes and map bytes (special fields masked), for
 * one run and for three runs in a row on the same maps. An object whose
 * kfuncs the running kernel lacks (6.1: bpf_obj_new and the rest) cannot be
 * loaded there, so there is nothing to compare with: skipped, with the
 * missing kfuncs in the title (verifier/kernel.test.ts checks that bpfscope's
 * recorder refuses such objects as libbpf does). The machine gets the
 * externs the kernel loader gives the kernel, from this host (loadExample):
 * .kconfig values (externs.bpf.o) and typeless ksym addresses (ksym.bpf.o,
 * whose .bss then holds the same kallsyms address on both sides).
 */
const runnable = examplePrograms().filter((p) => p.run && p.expect === 'accepted');

describe.skipIf(!!kernelSkipReason())(kernelTitle('runtime vs BPF_PROG_TEST_RUN'), () => {
  it('has example programs to compare', () => {
    expect(runnable.length).toBeGreaterThan(10);
  });
  for (const p of runnable) {
    const unsupported = kernelSkipReason() ? undefined : objectUnsupported(p.objectPath);
    for (const repeat of [1, 3]) {
      it.skipIf(!!unsupported)(withSkipReason(`${p.object} ${p.program} x${repeat}`, unsupported), async () => {
        const ref = await refLoad(p.objectPath, p.program, { run: true, dumpMaps: true, repeat, data: DEFAULT_PACKET });
        expect(ref.verdict).toBe('accepted');
        // The same input rule as `record --run` and `run`: a syscall program gets the packet's bytes as its context.
        const prog = loadExample(p.objectPath, p.program);
        const ours = runSession(prog, { repeat, input: testRunInputs(prog.progType, DEFAULT_PACKET) });
        expect(ours.runs.map((r) => r.fault)).toEqual(ours.runs.map(() => undefined));
        // A program that reads bpf_obj_new bytes it never wrote (nested_drop's
        // count) gets whatever the kernel's reused allocator unit held: its
        // return value is not comparable, and the machine counts such reads.
        if (ours.uninitObjectReads === 0) expect(ours.retval).toBe(ref.retval);
        expect(ours.runs[ours.runs.length - 1].dataOut).toBe(Buffer.from(ref.dataOut ?? []).toString('hex'));
        const cmp = comparableMaps(ours.maps, ref.maps ?? {});
        expect(cmp.ours).toEqual(cmp.theirs);
      });
    }
  }
});
