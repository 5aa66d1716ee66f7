/**
 * `bpfscope why` against the running kernel: every example object of
 * resources/progs/manifest.json recorded here (bpfscope record, level 2),
 * then for each program (1) the provenance of every register of every frame
 * at every step answers, ending where its value starts, and (2) for every
 * backtracking run the kernel printed (mark_precise), each insn at which its
 * masks changed is in the chains of the registers and slots it set out to
 * make precise.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { kernelSkipReason, kernelTitle } from '../../helpers/kernel';
import { bpfscope } from '../../helpers/cli';
import { preciseAgainstChains } from '../../helpers/precise';
import { REPO_ROOT } from '../../helpers/ref';
import { openTrace } from '../../../main/trace/db';
import { stateAtStep, stepCount } from '../../../main/trace/verifierRead';
import { whyAt } from '../../../main/trace/whyRead';

const manifest = JSON.parse(readFileSync(path.join(REPO_ROOT, 'resources/progs/manifest.json'), 'utf8')) as { programs: { object: string }[] };
const objects = [...new Set(manifest.programs.map((p) => p.object))].sort();
const tmp = mkdtempSync(path.join(os.tmpdir(), 'bpfscope-why-kernel-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe.skipIf(!!kernelSkipReason())(kernelTitle('why on the examples recorded on this kernel'), () => {
  let runs = 0;
  let insns = 0;
  let skipped = 0;
  it.for(objects)('%s', async (object, ctx) => {
    const trace = path.join(tmp, `${object}.trace`);
    const rec = await bpfscope(['record', path.join(REPO_ROOT, 'resources/progs', object), '-o', trace]);
    expect(rec.code, rec.stderr).toBe(0);
    const db = openTrace(trace, { readonly: true });
    try {
      const progs = db.prepare('SELECT p.id, p.name FROM programs p JOIN verifier_logs v ON v.program_id = p.id').all() as { id: number; name: string }[];
      if (progs.length === 0) {
        // An older kernel refuses the object before any verifier runs (6.1: no bpf_obj_new and the other
        // kfuncs): each program's run says why, and there is no walk to ask about.
        const errors = db.prepare('SELECT name, error FROM programs').all() as { name: string; error: string | null }[];
        expect(errors.length, rec.stdout).toBeGreaterThan(0);
        for (const e of errors) expect(e.error, e.name).toBeTruthy();
        skipped++;
        ctx.skip(`kernel ${os.release()} verified none of its programs: ${errors[0].error}`);
      }
      for (const p of progs) {
        const n = stepCount(db, p.id);
        for (let s = 0; s < n; s++) {
          for (const f of stateAtStep(db, p.id, s).frames) {
            for (let r = 0; r <= 10; r++) {
              const w = whyAt(db, p.id, s, `frame${f.frame}:R${r}`);
              expect(w.links.some((l) => l.origin !== undefined), `${p.name} step ${s} frame${f.frame}:R${r}`).toBe(true);
            }
          }
        }
        const pr = preciseAgainstChains(db, p.id);
        expect(pr.missing, p.name).toEqual([]);
        runs += pr.runs;
        insns += pr.insns;
      }
    } finally {
      db.close();
    }
  });

  it('the kernel backtracked through insns the chains were checked against', (ctx) => {
    // On a kernel that verifies only the objects without precise scalars (6.1 refuses the allocator ones) there may be none.
    if (runs === 0 && skipped > 0) ctx.skip(`kernel ${os.release()} refused ${skipped} of the objects; the others printed no backtracking`);
    expect(runs).toBeGreaterThan(0);
    expect(insns).toBeGreaterThan(0);
  });
});
