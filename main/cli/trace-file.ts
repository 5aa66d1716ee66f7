import { traceError } from '../trace/damage';
import { openTrace, type TraceDb } from '../trace/db';
import { damageWarning, firstProblem } from '../trace/health';

/**
 * How every CLI command reads a trace: opened with the checks (a file that
 * is no trace is refused with a sentence), a damaged one read with a warning
 * on stderr, and whatever the readers throw on it turned into a sentence
 * naming the file (see trace/damage.ts) instead of SQLite's message.
 */
export async function readTrace<T>(command: string, path: string, fn: (db: TraceDb) => T | Promise<T>): Promise<T> {
  const db = openTrace(path);
  try {
    const result = await fn(db);
    // After the output, and only when the command could read what it needed: a failure is its own one sentence.
    const warning = damageWarning(db);
    if (warning) process.stderr.write(`bpfscope ${command}: warning: ${path}: ${warning}\n`);
    return result;
  } catch (err) {
    throw traceError(err, path, firstProblem(db));
  } finally {
    db.close();
  }
}
