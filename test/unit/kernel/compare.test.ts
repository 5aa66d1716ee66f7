/**
 * bpfscope compare against the running kernel (issue 12): two builds of one
 * program compiled here with clang-19, recorded with `bpfscope record`,
 * compared: the first differing step is the one worked out by hand from the
 * two listings (the first step of the walk at an insn where they differ);
 * every example program recorded and compared with itself shows no
 * difference; the table's counts are the kernel's own closing lines.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ProgramComparison } from '../../../main/compare/traceCompare';
import { parseObject } from '../../../main/object/object';
import { openTrace } from '../../../main/trace/db';
import { readStepColumns } from '../../../main/trace/verifierRead';
import { STEP_KINDS } from '../../../main/verifier/reconstruct';
import { compileBpf } from '../../helpers/bpfcc';
import { bpfscope, bpfscopeInProcess } from '../../helpers/cli';
import { kernelSkipReason, kernelTitle } from '../../helpers/kernel';
import { ensureVmlinuxHeader, examplePrograms } from '../../helpers/ref';

const work = mkdtempSync(path.join(os.tmpdir(), 'bpfscope-compare-kernel-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** One source, two builds: K is the only difference (`#define` as -DK= would give it). */
const source = (k: number): string => `#include "bpfscope.h"
#define K ${k}

SEC("tc")
int cmp_prog(struct __sk_buff *skb)
{
	__u32 len = skb->len;
	__u64 x = skb->mark;

	if (len > 100)
		x = (x & 0xff) * K;
	else
		x = x + 7;
	return x & 0xffff;
}
`;

/** The instructions of a program as the object holds them, by slot index (the kernel's insn index). */
function slots(obj: string, prog: string): string[] {
  const o = parseObject(new Uint8Array(readFileSync(obj)), obj);
  const p = o.programs.find((x) => x.name === prog);
  if (!p) throw new Error(`no ${prog} in ${obj}`);
  const out: string[] = [];
  for (const i of p.insns) out[i.idx] = `${i.code}/${i.dst}/${i.src}/${i.off}/${i.imm}/${i.imm64 ?? ''}`;
  return Array.from(out, (x) => x ?? '');
}

describe.skipIf(kernelSkipReason())(kernelTitle('compare on this kernel'), () => {
  it('two builds differing in one constant: compare names the first step of the walk at an insn where the listings differ', async () => {
    ensureVmlinuxHeader();
    const objA = compileBpf(work, 'cmp_a', source(3));
    const objB = compileBpf(work, 'cmp_b', source(5));
    const la = slots(objA, 'cmp_prog');
    const lb = slots(objB, 'cmp_prog');
    expect(la.length).toBe(lb.length);
    const differing = new Set(la.flatMap((s, i) => (s === lb[i] ? [] : [i])));
    expect(differing.size).toBeGreaterThan(0);
    const ta = path.join(work, 'a.trace');
    const tb = path.join(work, 'b.trace');
    for (const [o, t] of [[objA, ta], [objB, tb]]) {
      const r = await bpfscope(['record', o, '-o', t]);
      expect(r.code, r.stderr).toBe(0);
    }
    // By hand: the first instruction step of A's walk at a differing insn (the states after it must differ).
    const db = openTrace(ta, { readonly: true });
    const pid = (db.prepare("SELECT id FROM programs WHERE name = 'cmp_prog'").get() as { id: number }).id;
    const cols = readStepColumns(db, pid);
    db.close();
    const INSN = STEP_KINDS.indexOf('insn');
    let expected = -1;
    for (let s = 0; s < cols.insn.length && expected < 0; s++) if (cols.kind[s] === INSN && differing.has(cols.insn[s])) expected = s;
    expect(expected).toBeGreaterThanOrEqual(0);
    const r = await bpfscope(['compare', ta, tb, '-p', 'cmp_prog', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.program.first.kind).toBe('state');
    expect(out.program.first.aStep).toBe(expected);
    expect(out.program.first.insn).toBe(cols.insn[expected]);
    expect(out.program.first.locations.length).toBeGreaterThan(0);
    // The text output names the same step.
    const text = await bpfscope(['compare', ta, tb, '-p', 'cmp_prog']);
    expect(text.stdout).toContain(`first difference at insn ${cols.insn[expected]} (A step ${expected}, B step ${out.program.first.bStep}`);
  });

  const objects = [...new Set(examplePrograms().map((p) => p.objectPath))];
  for (const obj of objects) {
    it(`${path.basename(obj)}: every program recorded and compared with itself shows no difference (every state compared); the table holds the kernel's own counts`, async () => {
      const t = path.join(work, `${path.basename(obj, '.bpf.o')}.trace`);
      const rec = await bpfscope(['record', obj, '-o', t]);
      expect(rec.code, rec.stderr).toBe(0);
      const cmp = await bpfscopeInProcess(['compare', t, t, '--json']);
      expect(cmp.code, cmp.err).toBe(0);
      const table = JSON.parse(cmp.out).programs;
      expect(table.onlyInA).toEqual([]);
      for (const row of table.rows) {
        const log = (await bpfscopeInProcess(['log', t, '-p', row.program])).out;
        const done = /^processed (\d+) insns \(limit \d+\) max_states_per_insn \d+ total_states (\d+) peak_states (\d+) mark_read \d+$/m.exec(log);
        const stack = /^stack depth (\S+)$/m.exec(log);
        // A program the kernel saw ends its log with these lines (one refused before the kernel has no log).
        if (log.trim()) expect(done, `${obj} ${row.program}: the log's closing line`).not.toBeNull();
        if (done) {
          expect([row.processedInsns.a, row.totalStates.a, row.peakStates.a], `${obj} ${row.program}`).toEqual([Number(done[1]), Number(done[2]), Number(done[3])]);
          expect(row.processedInsns.diff).toBe(0);
        }
        if (stack) expect(row.a.stackDepth, `${obj} ${row.program}`).toBe(stack[1]);
        const db = openTrace(t, { readonly: true });
        try {
          const hasLog = db.prepare('SELECT 1 FROM verifier_logs WHERE program_id = ?').get(row.a.id);
          if (!hasLog) continue;
          const side = { db, file: t, programId: row.a.id };
          expect(new ProgramComparison(side, side, { compareIdentical: true }).next(0), `${obj} ${row.program}`).toBeNull();
        } finally {
          db.close();
        }
      }
    }, 180_000);
  }
});
