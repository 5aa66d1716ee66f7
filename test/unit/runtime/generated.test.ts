import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runSession } from '../../../main/runtime/session';
import { kernelSkipReason, kernelTitle } from '../../helpers/kernel';
import { PROGS_DIR, refLoad } from '../../helpers/ref';
import { genPacket, genProgram } from './genprog';
import { comparableMaps, loadExample } from './helpers';

/**
 * Generated variants: random 64/32-bit arithmetic (div/mod by zero, signed
 * division, shifts, sign extension, byte swaps, signed and unsigned compares)
 * compiled by clang-19 for ISA v4 and run on random packets here and in the
 * kernel. Same return value, same .bss bytes.
 */
const work = mkdtempSync(path.join(os.tmpdir(), 'bpfscope-gen-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const SEEDS = Array.from({ length: 12 }, (_, i) => 1000 + i * 7919);

describe.skipIf(!!kernelSkipReason())(kernelTitle('generated ALU/JMP programs vs BPF_PROG_TEST_RUN'), () => {
  for (const seed of SEEDS) {
    it(`seed ${seed}`, async () => {
      const src = path.join(work, `gen${seed}.bpf.c`);
      const obj = path.join(work, `gen${seed}.bpf.o`);
      writeFileSync(src, genProgram(seed));
      execFileSync('clang-19', ['-g', '-O2', '-target', 'bpf', '-mcpu=v4', '-Wno-everything', `-I${PROGS_DIR}`, '-c', src, '-o', obj]);
      for (const pseed of [seed, seed + 1, seed + 2]) {
        const data = genPacket(pseed);
        const ref = await refLoad(obj, 'gen', { run: true, dumpMaps: true, data });
        expect(ref.verdict, ref.log.slice(-500)).toBe('accepted');
        const ours = runSession(loadExample(obj, 'gen'), { input: { data } });
        expect(ours.runs[0].fault).toBeUndefined();
        expect(ours.retval).toBe(ref.retval);
        const cmp = comparableMaps(ours.maps, ref.maps ?? {});
        expect(cmp.ours).toEqual(cmp.theirs);
        expect(Object.keys(cmp.theirs)).toContain('gen1000.bss'.replace('1000', String(seed)).slice(0, 15));
      }
    });
  }
});
