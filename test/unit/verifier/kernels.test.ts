/**
 * Real verifier logs of other kernels: test/fixtures/logs/<major.minor>/,
 * captured by `npx tsx test/ref/capture-logs.ts --kernel 6.1|6.12` in a VM
 * booted on Debian's image of that kernel (libbpf's loader, level 2, every
 * example program). Pure: the logs are read, not reloaded, so this runs on
 * any machine. What each kernel printed must reconstruct exactly: no
 * mismatch, no unknown line or state item, the verdict the kernel gave, and
 * at every instruction line every register and slot the kernel printed equal
 * to bpfscope's state there.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { kernelFixtureDirs, readKernelFixtureIndex } from '../../ref/capture-logs';
import { examplePrograms } from '../../helpers/ref';
import { createTrace } from '../../../main/trace/db';
import { writeVerifierLog } from '../../../main/trace/verifier';
import { errorsAndWarnings, listPaths } from '../../../main/trace/verifierRead';
import { expectPrintedStatesEqual } from '../../helpers/printed-states';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'bpfscope-kernel-logs-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const dirs = kernelFixtureDirs();

describe('real logs of other kernels', () => {
  it('has the logs of 6.1 and 6.12', () => {
    expect(dirs.map((d) => path.basename(d))).toEqual(expect.arrayContaining(['6.1', '6.12']));
  });

  for (const dir of dirs) {
    const index = readKernelFixtureIndex(dir);
    const name = path.basename(dir);

    // The tests key on what the captured index holds: an example program added to the manifest
    // after the capture has no log of this kernel yet and is skipped, saying how to capture it.
    const captured = new Set(index.programs.map((p) => `${p.object} ${p.program}`));
    const uncaptured = examplePrograms().filter((p) => !captured.has(`${p.object} ${p.program}`));
    it(`${name}: the index holds only example programs, each once, on ${index.release}`, () => {
      expect(index.release.startsWith(`${name}.`)).toBe(true);
      const want = new Set(examplePrograms().map((p) => `${p.object} ${p.program}`));
      const keys = index.programs.map((p) => `${p.object} ${p.program}`);
      expect(keys.filter((k) => !want.has(k))).toEqual([]);
      expect(new Set(keys).size).toBe(keys.length);
      // A program without a log never reached the kernel: libbpf refused it
      // (6.1: the kfunc is not in the kernel's BTF). That is a rejection.
      for (const p of index.programs) if (!p.log) expect([p.verdict, p.logSize]).toEqual(['rejected', 0]);
    });
    for (const p of uncaptured) {
      it.skip(`${name}: ${p.object} ${p.program} has no log of ${index.release} yet: capture it with \`npx tsx test/ref/capture-logs.ts --kernel ${name}\``, () => {});
    }

    for (const p of index.programs.filter((e) => e.log)) {
      it(`${name}: ${p.program} (${p.verdict}) reconstructs with no mismatch and no unknown line`, async () => {
        const text = readFileSync(path.join(dir, p.log), 'utf8');
        const db = createTrace(path.join(tmp, `${name}.${p.program}.trace`));
        const pid = Number(db.prepare("INSERT INTO programs(name, origin, created_at) VALUES (?, 'import', 'now')").run(p.program).lastInsertRowid);
        // A small checkpoint spacing makes most states come from replay.
        const s = await writeVerifierLog(db, pid, text, { checkpointEvery: 7 });
        const unknown = errorsAndWarnings(db, pid).filter((m) => m.severity === 'unknown').map((m) => m.text);
        expect(unknown).toEqual([]);
        expect(s.unknownLines).toBe(0);
        expect(s.unknownItems).toBe(0);
        const warnings = errorsAndWarnings(db, pid).filter((m) => m.severity === 'warning').map((m) => m.text);
        expect(warnings).toEqual([]);
        expect(s.mismatches).toBe(0);
        expect(s.verdict).toBe(p.verdict);
        const checked = expectPrintedStatesEqual(db, pid, s.steps);
        expect(checked).toBeGreaterThan(0);
        expect(listPaths(db, pid).length).toBe(s.paths);
        db.close();
      });
    }
  }
});
