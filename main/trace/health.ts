import Database from 'better-sqlite3';
import { statSync } from 'node:fs';
import { BpfscopeError } from '../errors';
import { damageReason, damagedTrace, isSqliteError } from './damage';
import type { TraceDb } from './db';
import { schemaParts, SCHEMA_VERSION } from './schema';

/**
 * What a trace file's checks find: is it a bpfscope trace of a version this
 * bpfscope reads, are the tables the readers query there with their
 * columns, and do SQLite's own checks pass. A file that is no trace is
 * refused with a sentence; a damaged trace opens, with its problems kept
 * here, so that what can still be read is read and the user is told.
 */
export interface TraceHealth {
  /** One line per problem found: schema problems, then what SQLite's check said. Empty: sound. */
  problems: string[];
  /** The check on open looked at part of the file only (a large trace; see QUICK_CHECK_WHOLE_FILE). */
  partial: boolean;
}

export const health = new WeakMap<TraceDb, TraceHealth>();

/**
 * Above this size `quick_check` on open skips the bulk tables (blocks of log,
 * steps, checkpoints, register traces, raw logs, objects). It reads every
 * page into a new connection: measured on a busy 2-core machine, 110-130 ms
 * for a 6 MB trace (the 40 MB level-2 log of the bench loop, 2200
 * iterations), 1.1-2.1 s for 122 MB (340-560 ms when idle), so a GB trace
 * would take many seconds to open. Traces hold logs compressed (that 40 MB
 * log makes a 6 MB trace), so 64 MB covers all but giant ones. Over it the tables
 * the views index by (programs, paths, refs, messages...) are still checked
 * (6-7 ms for a 296 MB trace), and `bpfscope check` always checks the whole file.
 */
export const QUICK_CHECK_WHOLE_FILE = 64 * 1024 * 1024;
const BULK_TABLES = new Set([
  'verifier_log_blocks', 'verifier_step_blocks', 'verifier_checkpoints', 'verifier_insn_steps',
  'runtime_insn_steps', 'runtime_reg_checkpoints', 'program_logs', 'objects', 'load_btf',
]);
/** At most this many of SQLite's problem lines are kept (a half-truncated file has hundreds). */
const MAX_PROBLEMS = 20;
/** The tables without which a file is no readable trace at all. */
const REQUIRED_TABLES = ['meta', 'programs'];

/** The columns the current schema gives each table, from its own DDL run on an empty database (once). */
let expected: Map<string, string[]> | undefined;
function expectedColumns(): Map<string, string[]> {
  if (!expected) {
    const mem = new Database(':memory:');
    try {
      for (const part of schemaParts) mem.exec(part.ddl);
      expected = new Map(tableNames(mem).map((t) => [t, tableColumns(mem, t)]));
    } finally {
      mem.close();
    }
  }
  return expected;
}

export function tableNames(db: TraceDb): string[] {
  return (db.prepare("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all() as { name: string }[])
    .map((r) => r.name);
}

export function tableColumns(db: TraceDb, table: string): string[] {
  return (db.prepare('SELECT name FROM pragma_table_info(?)').all(table) as { name: string }[]).map((r) => r.name);
}

/** The schema version in `meta`, or undefined when the file has no bpfscope meta table (or no version in it). */
export function readVersion(db: TraceDb): number | undefined {
  const hasMeta = db.prepare("SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'").get();
  if (!hasMeta) return undefined;
  const cols = tableColumns(db, 'meta');
  if (!cols.includes('key') || !cols.includes('value')) return undefined;
  const row = db.prepare("SELECT value FROM meta WHERE key='schema_version'").get() as { value: unknown } | undefined;
  return row ? Number(row.value) : undefined;
}

export function checkVersion(path: string, version: number): void {
  if (!Number.isInteger(version) || version < 1) {
    throw damagedTrace(path, 'its schema_version in meta is not a version number');
  }
  if (version > SCHEMA_VERSION) {
    throw new BpfscopeError(
      `trace schema version ${version} is newer than this bpfscope understands (${SCHEMA_VERSION}); update bpfscope`,
      path,
    );
  }
}

/** Why a file with no usable meta table is no bpfscope trace, in a sentence. */
export function notATrace(db: TraceDb, path: string): BpfscopeError {
  const tables = tableNames(db);
  if (tables.length === 0) return new BpfscopeError('not a bpfscope trace (an SQLite database with no tables)', path);
  if (!tables.includes('meta')) {
    const some = tables.slice(0, 5).join(', ') + (tables.length > 5 ? `, … (${tables.length} tables)` : '');
    return new BpfscopeError(`not a bpfscope trace (an SQLite database with tables ${some} and no meta table)`, path);
  }
  const cols = tableColumns(db, 'meta');
  if (!cols.includes('key') || !cols.includes('value')) {
    return new BpfscopeError(`not a bpfscope trace (its meta table has the columns ${cols.join(', ')}, not key and value)`, path);
  }
  return new BpfscopeError('not a bpfscope trace (its meta table holds no schema_version)', path);
}

/**
 * The schema checks: every table bpfscope knows that the file has must hold
 * the columns the readers query. Tables written by newer code of the same
 * version may be absent (older traces lack some); meta and programs may not.
 */
function schemaProblems(db: TraceDb, path: string): string[] {
  const have = new Set(tableNames(db));
  for (const t of REQUIRED_TABLES) if (!have.has(t)) throw damagedTrace(path, `it has no table ${t}`);
  const out: string[] = [];
  for (const [table, cols] of expectedColumns()) {
    if (!have.has(table)) continue;
    const present = new Set(tableColumns(db, table));
    const missing = cols.filter((c) => !present.has(c));
    if (missing.length === 0) continue;
    if (REQUIRED_TABLES.includes(table)) throw damagedTrace(path, `its table ${table} lacks the columns ${missing.join(', ')}`);
    out.push(`table ${table} lacks the columns ${missing.join(', ')}`);
  }
  return out;
}

/**
 * SQLite's check of the b-trees (`quick_check`, or `integrity_check` which
 * also checks that indexes match their tables), its lines naming the table
 * instead of SQLite's root page number. A check that cannot even finish
 * (the damage stops it) is one problem saying so.
 */
export function sqliteCheck(db: TraceDb, kind: 'quick_check' | 'integrity_check', tables?: readonly string[]): string[] {
  const roots = rootNames(db);
  const run = (arg: string): string[] =>
    (db.prepare(`PRAGMA ${kind}(${arg})`).all() as Record<string, string>[]).map((r) => String(Object.values(r)[0]));
  // A check the damage stops (SQLITE_CORRUPT from the pragma itself) is run again table by table,
  // so the problem names the tables it is in.
  const perTable = (names: readonly string[]): string[] =>
    names.flatMap((t) => {
      try {
        return problemLines(run(`"${t.replace(/"/g, '""')}"`)).map((l) => `table ${t}: ${l}`);
      } catch (err) {
        if (!isSqliteError(err)) throw err;
        return [`table ${t}: SQLite's check stops: ${damageReason(err) ?? err.code}`];
      }
    });
  let lines: string[];
  try {
    lines = tables ? perTable(tables) : run(String(MAX_PROBLEMS * 5));
  } catch (err) {
    if (!isSqliteError(err)) throw err;
    lines = perTable(safeTableNames(db));
    if (problemLines(lines).length === 0) lines = [`SQLite's ${kind} stops: ${damageReason(err) ?? err.code}`];
  }
  return problemLines(lines).map((l) => l.replace(/\b(Tree|tree page) (\d+)\b/g, (m, _w: string, n: string) => (roots.has(Number(n)) ? `${m} (${roots.get(Number(n))})` : m)));
}

/** SQLite's result rows as one problem a line ('ok' and its "*** in database main ***" heading dropped). */
function problemLines(rows: readonly string[]): string[] {
  return rows.flatMap((r) => r.split('\n')).filter((l) => l && l !== 'ok' && !/^\*\*\* in database/.test(l));
}

function safeTableNames(db: TraceDb): string[] {
  try {
    return tableNames(db);
  } catch {
    return [];
  }
}

/** Root page → table or index name, to say which table a damaged tree belongs to. */
function rootNames(db: TraceDb): Map<number, string> {
  try {
    const rows = db.prepare('SELECT name, rootpage FROM sqlite_master WHERE rootpage > 0').all() as { name: string; rootpage: number }[];
    return new Map(rows.map((r) => [r.rootpage, r.name]));
  } catch {
    return new Map(); // the schema itself is unreadable: the lines keep SQLite's page numbers
  }
}

/**
 * The checks on open: refuses a file that is no bpfscope trace, or one of a
 * newer version, or one without meta/programs, with a sentence; returns the
 * problems of a trace that opens (schema, then `quick_check`, bounded).
 */
export function openChecked(db: TraceDb, path: string, truncated: string | undefined, quickCheck: boolean): TraceHealth {
  const version = readVersion(db);
  if (version === undefined) throw notATrace(db, path);
  checkVersion(path, version);
  const problems = truncated !== undefined ? [truncated] : [];
  problems.push(...schemaProblems(db, path));
  const partial = statSync(path).size > QUICK_CHECK_WHOLE_FILE;
  const tables = partial ? tableNames(db).filter((t) => !BULK_TABLES.has(t)) : undefined;
  if (quickCheck) problems.push(...sqliteCheck(db, 'quick_check', tables));
  return { problems: problems.slice(0, MAX_PROBLEMS), partial };
}

/** The full check of `bpfscope check` on a trace openTrace opened: what it found, then `integrity_check` over the whole file. */
export function fullCheck(db: TraceDb): string[] {
  return [...(health.get(db)?.problems ?? []), ...sqliteCheck(db, 'integrity_check')];
}

/** The first problem the checks on open found, or undefined for a sound trace (for traceError). */
export function firstProblem(db: TraceDb): string | undefined {
  return health.get(db)?.problems[0];
}

/** The warning a damaged trace that opened carries (CLI stderr, the app's banner), or undefined when it is sound. */
export function damageWarning(db: TraceDb): string | undefined {
  const h = health.get(db);
  if (!h || h.problems.length === 0) return undefined;
  const more = h.problems.length > 1 ? ` and ${h.problems.length - 1} more` : '';
  return `the trace is damaged (${h.problems[0]}${more}); what can be read is shown, 'bpfscope check' lists the problems`;
}
