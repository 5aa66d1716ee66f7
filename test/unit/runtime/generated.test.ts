import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { recordObject } from '../../../main/kernel/record';
import { runSession } from '../../../main/runtime/session';
import { createTrace } from '../../../main/trace/db';
import { readProgramLog } from '../../../main/trace/load';
import { kernelSkipReason, kernelTitle } from '../../helpers/kernel';
import { PROGS_DIR, refLoad } from '../../helpers/ref';
import { genPacket, genProgram } from './genprog';
import { comparableMaps, loadExample } from './helpers';
import { isaTitle, kernelIsa, refusalLine } from './kernel-probes';

/**
 * Generated variants: random 64/32-bit arithmetic (div/mod by zero, signed
 * division, shifts, sign extension, byte swaps, signed and unsigned compares)
 * compiled by clang-19 for ISA v4 and run on random packets here and in the
 * kernel. Same return value, same .bss bytes. On a kernel that refuses cpu v4
 * instructions (probed: 6.1 says `unknown opcode d7`), the programs are
 * generated and compiled for cpu v3, and the title says so.
 */
const work = mkdtempSync(path.join(os.tmpdir(), 'bpfscope-gen-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const SEEDS = Array.from({ length: 12 }, (_, i) => 1000 + i * 7919);
const isa = await kernelIsa();
const mcpu = isa?.mcpu ?? 'v4';

describe.skipIf(!!kernelSkipReason())(kernelTitle(`generated ALU/JMP programs${isaTitle(isa)} vs BPF_PROG_TEST_RUN`), () => {
  for (const seed of SEEDS) {
    it(`seed ${seed}`, async () => {
      const src = path.join(work, `gen${seed}.bpf.c`);
      const obj = path.join(work, `gen${seed}.bpf.o`);
      writeFileSync(src, genProgram(seed, 40, mcpu));
      execFileSync('clang-19', ['-g', '-O2', '-target', 'bpf', `-mcpu=${mcpu}`, '-Wno-everything', `-I${PROGS_DIR}`, '-c', src, '-o', obj]);
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

describe.skipIf(!!kernelSkipReason())(kernelTitle('a generated cpu v4 program, recorded'), () => {
  it(`bpfscope's recording gets the verdict, errno and log line libbpf gets${isa?.v4Refused ? ` (${isa.v4Refused})` : ' (the kernel takes cpu v4)'}`, async () => {
    const seed = SEEDS[0];
    const src = path.join(work, `rec${seed}.bpf.c`);
    const obj = path.join(work, `rec${seed}.bpf.o`);
    writeFileSync(src, genProgram(seed, 40, 'v4'));
    execFileSync('clang-19', ['-g', '-O2', '-target', 'bpf', '-mcpu=v4', '-Wno-everything', `-I${PROGS_DIR}`, '-c', src, '-o', obj]);
    const ref = await refLoad(obj, 'gen', { logLevel: 1 });
    expect(ref.verdict).toBe(isa?.v4Refused ? 'rejected' : 'accepted');
    const db = createTrace(path.join(work, `rec${seed}.trace`));
    const [o] = await recordObject(db, obj, { logLevel: 1 });
    expect(o.verdict).toBe(ref.verdict);
    expect(o.errno ?? 0).toBe(ref.errno);
    const log = readProgramLog(db, o.programId)!.toString('utf8');
    expect(refusalLine(log)).toBe(refusalLine(ref.log));
    if (isa?.v4Refused) expect(isa.v4Refused).toContain(refusalLine(log));
    db.close();
  });
});
