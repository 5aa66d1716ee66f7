import { createTrace } from '../trace/db';
import { readProgramLog } from '../trace/load';
import { writeVerifierLog } from '../trace/verifier';

/**
 * A trace written by `bpfscope record` holds each program's raw verifier
 * log (program_logs) but not yet its analysis (the verifier_* tables that
 * `bpfscope import` fills). The views need the analysis, so the app runs the
 * same writer over the stored log once, in place, for every program that has
 * a raw log and no analysis. Returns the number of programs analysed.
 *
 * In place rather than through trace/atomic.ts (a copy of a trace of
 * hundreds of MB on every first open): writeVerifierLog's last transaction
 * is the one that inserts the program's verifier_logs row, so a program whose
 * analysis was cut short by a kill has none and is analysed again next time,
 * from a clean start (clearProgram), while the recorded log is never touched.
 */
export async function analyzeRecordedLogs(path: string): Promise<number> {
  const db = createTrace(path);
  try {
    const has = (t: string): boolean => !!db.prepare("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?").get(t);
    if (!has('program_logs') || !has('verifier_logs')) return 0;
    const missing = db
      .prepare(
        `SELECT l.program_id id FROM program_logs l
         WHERE NOT EXISTS (SELECT 1 FROM verifier_logs v WHERE v.program_id = l.program_id) ORDER BY l.program_id`,
      )
      .all() as { id: number }[];
    for (const { id } of missing) {
      const log = readProgramLog(db, id);
      if (log) await writeVerifierLog(db, id, log.toString('utf8'));
    }
    return missing.length;
  } finally {
    db.close();
  }
}

/** True when the trace has programs whose raw log was not analysed yet (cheap, read-only). */
export function needsAnalysis(db: import('../trace/db').TraceDb): boolean {
  const has = (t: string): boolean => !!db.prepare("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?").get(t);
  if (!has('program_logs')) return false;
  if (!has('verifier_logs')) return true;
  return !!db
    .prepare('SELECT 1 FROM program_logs l WHERE NOT EXISTS (SELECT 1 FROM verifier_logs v WHERE v.program_id = l.program_id) LIMIT 1')
    .get();
}
