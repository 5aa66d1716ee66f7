import Database from 'better-sqlite3';
import { existsSync, readFileSync } from 'node:fs';
import { BpfscopeError } from '../errors';
import { schemaParts } from './schema';

export type TraceDb = Database.Database;

/**
 * The trace file format version. Bump it when a table changes shape; readers
 * refuse newer files with a sentence instead of misreading them.
 */
export const SCHEMA_VERSION = 1;
const SQLITE_MAGIC = 'SQLite format 3\0';

/** Create a new trace file (or open one for appending), with every table. */
export function createTrace(path: string): TraceDb {
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

/** Open an existing trace for reading. */
export function openTrace(path: string, opts: { readonly?: boolean } = {}): TraceDb {
  if (!existsSync(path)) throw new BpfscopeError('no such trace file', path);
  const head = readFileSync(path).subarray(0, 16).toString('latin1');
  if (head !== SQLITE_MAGIC) throw new BpfscopeError('not a bpfscope trace (not an SQLite file)', path, { offset: 0 });
  const db = openDb(path, opts.readonly ?? true);
  const version = readVersion(db);
  if (version === undefined) {
    db.close();
    throw new BpfscopeError('not a bpfscope trace (no meta table)', path);
  }
  checkVersion(path, version);
  return db;
}

function openDb(path: string, readonly: boolean): TraceDb {
  let db: TraceDb;
  try {
    db = new Database(path, { readonly, fileMustExist: readonly });
  } catch (err) {
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

function readVersion(db: TraceDb): number | undefined {
  const hasMeta = db.prepare("SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'").get();
  if (!hasMeta) return undefined;
  const row = db.prepare("SELECT value FROM meta WHERE key='schema_version'").get() as { value: string } | undefined;
  return row ? Number(row.value) : undefined;
}

function checkVersion(path: string, version: number): void {
  if (version > SCHEMA_VERSION) {
    throw new BpfscopeError(
      `trace schema version ${version} is newer than this bpfscope understands (${SCHEMA_VERSION}); update bpfscope`,
      path,
    );
  }
}

export function setMeta(db: TraceDb, key: string, value: string): void {
  db.prepare('INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)').run(key, value);
}

export function getMeta(db: TraceDb, key: string): string | undefined {
  const row = db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined;
  return row?.value;
}
