import Database from 'better-sqlite3';
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { BpfscopeError } from '../errors';
import { damagedTrace, isSqliteError, readingTrace, traceError } from './damage';
import { checkVersion, health, notATrace, openChecked, readVersion, tableNames } from './health';
import { schemaParts, SCHEMA_VERSION } from './schema';

export type TraceDb = Database.Database;

export { SCHEMA_VERSION } from './schema';
const SQLITE_MAGIC = 'SQLite format 3\0';

/** Create a new trace file (or open one for appending), with every table. */
export function createTrace(path: string): TraceDb {
  const st = statSync(path, { throwIfNoEntry: false });
  if (st?.isFile() && st.size > 0) refuseForeign(path);
  const db = openDb(path, false);
  const version = readVersion(db);
  if (version === undefined) {
    db.transaction(() => {
      for (const part of schemaParts) db.exec(part.ddl);
      const put = db.prepare('INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)');
      put.run('schema_version', String(SCHEMA_VERSION));
      put.run('created_at', new Date().toISOString());
    })();
  } else {
    checkVersion(path, version);
  }
  return db;
}

/**
 * Another program's SQLite database (a typo in -o) is neither written into
 * nor replaced: our tables, and even the switch to WAL, would change a file
 * that is not ours. Checked on a read-only connection, before anything is
 * written; the reason why it is no trace, or undefined for a trace.
 */
export function foreignDatabase(path: string): string | undefined {
  let db: TraceDb;
  try {
    db = openDb(path, true);
  } catch {
    return undefined; // Not readable as SQLite at all: the caller's own checks say what it is.
  }
  try {
    return readVersion(db) === undefined && tableNames(db).length > 0 ? notATrace(db, path).message : undefined;
  } finally {
    db.close();
  }
}

function refuseForeign(path: string): void {
  const why = foreignDatabase(path);
  if (why) throw new BpfscopeError(`${why}: not writing a trace into it`, path);
}

/**
 * Open an existing trace for reading, checked (see health.ts openChecked): a
 * file that is no trace is refused with a sentence naming it; a damaged
 * trace opens with its problems noted (damageWarning) unless nothing of it
 * can be read.
 */
export function openTrace(path: string, opts: { readonly?: boolean; quickCheck?: boolean } = {}): TraceDb {
  if (!existsSync(path)) throw new BpfscopeError('no such trace file', path);
  if (statSync(path).isDirectory()) throw new BpfscopeError('is a directory, not a trace file', path);
  const head = readHead(path);
  if (head.subarray(0, 16).toString('latin1') !== SQLITE_MAGIC) {
    throw new BpfscopeError('not a bpfscope trace (not an SQLite file)', path, { offset: 0 });
  }
  const cut = truncation(path, head);
  const readonly = opts.readonly ?? true;
  const db = readingTrace(path, () => openDb(path, readonly));
  try {
    if (cut !== undefined && readonly) readPastTheCut(db);
    health.set(db, openChecked(db, path, cut, opts.quickCheck ?? true));
  } catch (err) {
    db.close();
    // Nothing of it reads: a truncated file says so rather than SQLite's "malformed".
    throw cut !== undefined && isSqliteError(err) ? damagedTrace(path, cut) : traceError(err, path);
  }
  return db;
}

/**
 * SQLite refuses a file shorter than its header's page count outright
 * (SQLITE_CORRUPT on the first read) unless the schema is "writable", which
 * needs better-sqlite3's defensive mode off. On a read-only connection that
 * changes nothing but this: the pages before the cut are read, so what a
 * truncated copy still holds is shown.
 */
function readPastTheCut(db: TraceDb): void {
  db.unsafeMode(true);
  db.pragma('writable_schema = ON');
}

/** The file's 100-byte SQLite header (fewer bytes when the file is shorter), without reading a large trace whole. */
function readHead(path: string): Buffer {
  const fd = openSync(path, 'r');
  try {
    const head = Buffer.alloc(100);
    return head.subarray(0, readSync(fd, head, 0, 100, 0));
  } finally {
    closeSync(fd);
  }
}

/**
 * `truncated: N of the M bytes its header counts` when the file is shorter
 * than its SQLite header says. The header's page count is only trusted when
 * it is valid (offset 92 equals the change counter at 24) and no WAL file
 * may hold newer pages.
 */
function truncation(path: string, head: Buffer): string | undefined {
  if (head.length < 100 || existsSync(`${path}-wal`)) return undefined;
  const pageSize = head.readUInt16BE(16) === 1 ? 65536 : head.readUInt16BE(16);
  const pages = head.readUInt32BE(28);
  if (head.readUInt32BE(92) !== head.readUInt32BE(24) || pages === 0) return undefined;
  const size = statSync(path).size;
  const want = pages * pageSize;
  return size < want ? `truncated: ${size} of the ${want} bytes its header counts` : undefined;
}

function openDb(path: string, readonly: boolean): TraceDb {
  let db: TraceDb;
  try {
    db = new Database(path, { readonly, fileMustExist: readonly });
  } catch (err) {
    const mapped = traceError(err, path);
    if (mapped instanceof BpfscopeError) throw mapped;
    throw new BpfscopeError(`cannot open trace: ${err instanceof Error ? err.message : String(err)}`, path);
  }
  if (!readonly) {
    // WAL: a recorder can append while the app reads; NORMAL sync is safe with WAL.
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
  }
  db.pragma('foreign_keys = ON');
  return db;
}

export function setMeta(db: TraceDb, key: string, value: string): void {
  db.prepare('INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)').run(key, value);
}

export function getMeta(db: TraceDb, key: string): string | undefined {
  const row = db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined;
  return row?.value;
}
