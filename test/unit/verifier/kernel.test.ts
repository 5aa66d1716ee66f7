import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { kernelSkipReason, kernelTitle } from '../../helpers/kernel';
import { benchLoopObject, examplePrograms, PROGS_DIR, refLoad } from '../../helpers/ref';
import { missingKfuncs, objectUnsupported } from '../../helpers/support';
import { expectRefusedAsLibbpf } from '../kernel/libbpf-refusal';
import { readProgramLog } from '../../../main/trace/load';
import { recordObject } from '../../../main/kernel/record';
import { createTrace } from '../../../main/trace/db';
import { writeVerifierLog } from '../../../main/trace/verifier';
import { listPaths, readSteps } from '../../../main/trace/verifierRead';
import { expectPrintedStatesEqual } from '../../helpers/printed-states';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'bpfscope-vkernel-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Every example program (the manifest), loaded now on this kernel: the committed fixture logs are not involved. */
const programs = examplePrograms().map((p) => [p.object.replace(/\.bpf\.o$/, ''), p.program] as [string, string]);

describe.skipIf(!!kernelSkipReason())(kernelTitle('fresh logs from this kernel'), () => {
  for (const [obj, prog] of programs) {
    const objPath = path.join(PROGS_DIR, `${obj}.bpf.o`);
    const unsupported = kernelSkipReason() ? undefined : objectUnsupported(objPath);
    if (unsupported) {
      // libbpf refuses the object before the kernel sees it: there is no libbpf log to reconstruct.
      // bpfscope's recorder must refuse it the same way (verdict, errno, no log, naming what is missing),
      // except for a struct_ops member the kernel lacks, where bpfscope gives the kernel the programs whose
      // own member it has: then the log bpfscope recorded must reconstruct with no mismatch.
      it(`${obj}/${prog}: no libbpf log (${unsupported}): libbpf refuses it, bpfscope as expectRefusedAsLibbpf says`, async () => {
        const db = createTrace(path.join(tmp, `${obj}.${prog}.refused.trace`));
        try {
          const [o] = await recordObject(db, objPath, { programs: [prog], logLevel: 2 });
          await expectRefusedAsLibbpf(db, o, objPath);
          const log = readProgramLog(db, o.programId)?.toString('utf8') ?? '';
          if (missingKfuncs(objPath).length === 0 && log.length > 0) {
            const pid = Number(db.prepare("INSERT INTO programs(name, origin, created_at) VALUES (?, 'import', 'now')").run(prog).lastInsertRowid);
            const s = await writeVerifierLog(db, pid, log, { checkpointEvery: 9 });
            expect(s.mismatches).toBe(0);
            expect(s.unknownItems).toBe(0);
            expect(s.verdict).toBe(o.verdict === 'accepted' ? 'accepted' : 'rejected');
          }
        } finally {
          db.close();
        }
      });
      continue;
    }
    it(`${obj}/${prog}: the log printed now reconstructs with no mismatch and matches the verdict`, async () => {
      const r = await refLoad(objPath, prog, { logLevel: 2 });
      const db = createTrace(path.join(tmp, `${obj}.${prog}.trace`));
      const pid = Number(db.prepare("INSERT INTO programs(name, origin, created_at) VALUES (?, 'import', 'now')").run(prog).lastInsertRowid);
      const s = await writeVerifierLog(db, pid, r.log, { checkpointEvery: 9 });
      expect(s.mismatches).toBe(0);
      expect(s.unknownItems).toBe(0);
      expect(s.verdict).toBe(r.verdict === 'accepted' ? 'accepted' : 'rejected');
      expect(expectPrintedStatesEqual(db, pid, s.steps, `${obj}/${prog}`)).toBeGreaterThan(0);
      db.close();
    });
  }
  it('has example programs', () => {
    expect(programs.length).toBeGreaterThan(10);
    expect(PROGS_DIR).toBeTruthy();
  });
});

describe.skipIf(!!kernelSkipReason())(kernelTitle('a loop that pushes a branch every iteration'), () => {
  it('every resumed branch finds the step that pushed it, also past the newest 64 of one branch', async () => {
    // 300 iterations: the branch inside the loop body is pushed 300 times before the
    // verifier pops the first of them, far more than the states kept per branch.
    const obj = await benchLoopObject(300);
    const r = await refLoad(obj, 'bench_loop', { logLevel: 2 });
    expect(r.verdict).toBe('accepted');
    const db = createTrace(path.join(tmp, 'loop300.trace'));
    const pid = Number(db.prepare("INSERT INTO programs(name, origin, created_at) VALUES ('bench_loop', 'import', 'now')").run().lastInsertRowid);
    const s = await writeVerifierLog(db, pid, r.log);
    expect(s.mismatches).toBe(0);
    const paths = listPaths(db, pid);
    const resumed = paths.filter((p) => p.fromInsn !== null);
    expect(resumed.length).toBeGreaterThan(64);
    for (const p of resumed) {
      expect(p.pushedStep, `path ${p.path} from ${p.fromInsn} to ${p.toInsn}`).not.toBeNull();
      // The step that pushed it is the branch instruction named in its `from X to Y` line.
      expect(readSteps(db, pid, p.pushedStep!, 1)[0].insn).toBe(p.fromInsn);
      expect(p.pushedStep!).toBeLessThan(p.startStep);
    }
    db.close();
  });
});
