import { mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ProgramComparison } from '../../main/compare/traceCompare';
import { openTrace, type TraceDb } from '../../main/trace/db';
import { realTrace, splicedTrace } from './ui.bench';

export const title = 'compare: two traces of the 1.8 M-step loop log aligned and scanned to the first difference (target < 5000 ms)';

const TARGET_MS = 5000;

function programOf(db: TraceDb): number {
  return (db.prepare('SELECT program_id FROM verifier_logs ORDER BY program_id LIMIT 1').get() as { program_id: number }).program_id;
}

/** Open both, align, scan to the first difference: what `bpfscope compare A B -p bench_loop` does. */
function measure(fa: string, fb: string, compareIdentical: boolean): { setup: number; scan: number; first: number | null; paired: number; steps: number } {
  const a = openTrace(fa, { readonly: true });
  const b = openTrace(fb, { readonly: true });
  try {
    const t0 = performance.now();
    const c = new ProgramComparison({ db: a, file: fa, programId: programOf(a) }, { db: b, file: fb, programId: programOf(b) }, { compareIdentical });
    const t1 = performance.now();
    const d = c.next(0);
    const t2 = performance.now();
    const s = c.summary();
    return { setup: t1 - t0, scan: t2 - t1, first: d?.aStep ?? null, paired: s.paired, steps: Math.max(s.stepsA, s.stepsB) };
  } finally {
    a.close();
    b.close();
  }
}

export async function run(): Promise<void> {
  mkdirSync(path.join(os.tmpdir(), 'bpfscope-bench-ui'), { recursive: true });
  const real = await realTrace();
  const spliced = await splicedTrace(real);
  const line = (label: string, r: ReturnType<typeof measure>, target: boolean): string => {
    const total = r.setup + r.scan;
    const verdict = target ? ` (target < ${TARGET_MS} ms): ${total < TARGET_MS ? 'met' : 'NOT met'}` : '';
    return `   ${label}: ${r.steps.toLocaleString('en')} steps, ${r.paired.toLocaleString('en')} paired; align ${r.setup.toFixed(0)} ms + scan ${r.scan.toFixed(0)} ms = ${total.toFixed(0)} ms${verdict}; first difference at A step ${r.first ?? 'none'}\n`;
  };
  const self = measure(spliced, spliced, false);
  process.stdout.write(line('the 1.8 M-step trace with itself', self, true));
  const grown = measure(real, spliced, false);
  process.stdout.write(line('recorded (344 k steps) against spliced (1.8 M)', grown, true));
  // The worst case: every state compared (as when the logs differ from their first line on).
  const full = measure(spliced, spliced, true);
  process.stdout.write(line('worst case, the 1.8 M-step trace with itself, every state compared', full, false));
  process.stdout.write(`     … ${((full.scan * 1000) / full.steps).toFixed(1)} µs per aligned step (two states replayed and compared)\n`);
  if (self.setup + self.scan >= TARGET_MS || grown.setup + grown.scan >= TARGET_MS) throw new Error('a compare target was not met (see the figures above)');
  if (self.first !== null || full.first !== null) throw new Error('a trace compared with itself reported a difference');
}
