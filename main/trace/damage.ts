import Database from 'better-sqlite3';
import { BpfscopeError } from '../errors';

/**
 * What goes wrong when a trace file is damaged, in words a user can act on.
 * SQLite's own messages ("database disk image is malformed", "no such
 * column: value") name neither the file nor what it means for the trace, so
 * every reader error passes through `traceError` (the CLI's readTrace and
 * the API's dispatch call it) and comes out as one BpfscopeError sentence
 * naming the file.
 */

/** SQLite's error codes that mean the file's bytes are not what SQLite wrote. */
const DAMAGE_CODES = /^SQLITE_(CORRUPT|NOTADB|IOERR|TOOBIG|FORMAT|RANGE_CORRUPT)/;

export function isSqliteError(err: unknown): err is InstanceType<typeof Database.SqliteError> {
  return err instanceof Database.SqliteError;
}

/** The damage an SQLite error reveals, as a clause ("its pages are corrupt"), or undefined when it is no damage. */
export function damageReason(err: InstanceType<typeof Database.SqliteError>): string | undefined {
  const code = err.code;
  if (code === 'SQLITE_NOTADB') return 'its SQLite header is not valid';
  if (code === 'SQLITE_IOERR_SHORT_READ') return 'it is shorter than its pages say: truncated';
  if (code.startsWith('SQLITE_IOERR')) return 'reading it failed with an I/O error';
  if (code.startsWith('SQLITE_CORRUPT')) return 'its SQLite pages are corrupt';
  if (DAMAGE_CODES.test(code)) return `SQLite reports ${code}`;
  if (code === 'SQLITE_ERROR') {
    // A reader's query met a table or column the file lacks: its schema is not the one bpfscope wrote.
    const table = /no such table: (\S+)/.exec(err.message);
    if (table) return `it has no table ${table[1]}`;
    const column = /no such column: (\S+)/.exec(err.message);
    if (column) return `a table lacks the column ${column[1]}`;
    if (/malformed database schema/.test(err.message)) return 'its table definitions are corrupt';
  }
  return undefined;
}

/** What the damage sentence ends with: where to learn more (`bpfscope check` itself leaves it out). */
export const CHECK_HINT = "; 'bpfscope check' lists what is wrong";

/** `the trace is damaged (REASON)`: the sentence every reader error of a damaged trace becomes. */
export function damagedTrace(path: string | undefined, reason: string): BpfscopeError {
  return new BpfscopeError(`the trace is damaged (${reason})${CHECK_HINT}`, path);
}

/**
 * The error a reader call on the trace at `path` should throw for `err`:
 * a BpfscopeError gets the file; an SQLite error becomes the sentence saying
 * what is damaged (or that the file is locked). Any other error is a bug,
 * returned as it is so that the CLI reports it as an internal error, unless
 * the checks on open found the trace damaged (`damage`, the first problem):
 * then a row of a damaged page that holds what no writer wrote (a NULL, a
 * number for a text) is what the reader tripped on, and the sentence says so.
 */
export function traceError(err: unknown, path: string | undefined, damage?: string): unknown {
  if (err instanceof BpfscopeError) {
    return err.file !== undefined || path === undefined ? err : new BpfscopeError(err.message, path, err.where);
  }
  if (!isSqliteError(err)) {
    if (damage === undefined) return err;
    const why = err instanceof Error ? err.message : String(err);
    return new BpfscopeError(`the trace is damaged (${damage}) and reading stopped on it (${why})${CHECK_HINT}`, path);
  }
  const reason = damageReason(err);
  if (reason !== undefined) return damagedTrace(path, reason);
  if (err.code.startsWith('SQLITE_BUSY') || err.code.startsWith('SQLITE_LOCKED')) {
    return new BpfscopeError('the trace is locked by another process (SQLITE_BUSY); try again when it is done', path);
  }
  if (err.code.startsWith('SQLITE_CANTOPEN')) return new BpfscopeError('cannot open the trace (permission or folder missing)', path);
  if (err.code === 'SQLITE_NOMEM') return new BpfscopeError('out of memory reading the trace', path);
  return err;
}

/** Run `fn` on the trace at `path`, every error it throws turned by `traceError`. */
export function readingTrace<T>(path: string | undefined, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw traceError(err, path);
  }
}
