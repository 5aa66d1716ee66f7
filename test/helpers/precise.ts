import type { TraceDb } from '../../main/trace/db';
import { markPreciseEvents, readStep, stepCount } from '../../main/trace/verifierRead';
import { preciseRuns } from '../../main/provenance/precise';
import { whyAt } from '../../main/trace/whyRead';

/**
 * The kernel's backtracking against the provenance chains: for every run of
 * `mark_precise:` lines in a program's log, the insns where its masks
 * changed (what it followed back through) must all be in the chains of the
 * registers and slots it set out to make precise, asked at the step it was
 * printed after. Returns what is missing, as sentences, and how many runs
 * and insns were checked.
 */
export function preciseAgainstChains(db: TraceDb, pid: number): { missing: string[]; runs: number; insns: number } {
  const n = stepCount(db, pid);
  const events = n > 0 ? markPreciseEvents(db, pid, 0, n - 1) : [];
  const byStep = new Map<number, typeof events>();
  for (const e of events) {
    let list = byStep.get(e.step);
    if (!list) byStep.set(e.step, (list = []));
    list.push(e);
  }
  const missing: string[] = [];
  let runs = 0;
  let insns = 0;
  for (const [step, evs] of byStep) {
    if (!readStep(db, pid, step)) continue;
    for (const run of preciseRuns(evs.map((e) => e.event))) {
      if (run.defs.length === 0) continue;
      const locs = [...run.regs.map((r) => `frame${run.frame}:R${r}`), ...run.stack.map((o) => `frame${run.frame}:fp${o}`)];
      const inChain = new Set<number>();
      for (const loc of locs) for (const l of whyAt(db, pid, step, loc).links) inChain.add(l.insn);
      runs++;
      for (const d of run.defs) {
        insns++;
        if (!inChain.has(d.insn)) missing.push(`step ${step} (${locs.join(',')}): the kernel's masks changed at insn ${d.insn}, not in the chain`);
      }
    }
  }
  return { missing, runs, insns };
}
