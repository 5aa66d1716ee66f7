import Database from 'better-sqlite3';
import { closeSync, existsSync, fsyncSync, openSync, readdirSync, readSync, realpathSync, renameSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { BpfscopeError } from '../errors';
import { createTrace, foreignDatabase, openTrace, type TraceDb } from './db';

/**
 * Writing a trace so that a kill at any moment leaves either the old file or
 * the new one, complete: everything is written into a temporary file in the
 * target's folder (a rename across file systems is a copy, not atomic), the
 * WAL is checkpointed into it and the connection closed, and only then is it
 * renamed over the target. `record`, `import` and `record --kernel` all write
 * through here.
 */

/** Where the new trace starts from. */
export type TraceStart =
  /** An empty trace: the target, if any, is replaced (record). */
  | 'empty'
  /** A copy of the target when it exists, else empty: the write adds to it (import). */
  | 'target'
  /** A copy of another trace (record --kernel: the trace the VM wrote). */
  | { copyOf: string };

const SQLITE_MAGIC = 'SQLite format 3\0';
/** The files SQLite keeps beside a database. */
const COMPANIONS = ['-wal', '-shm', '-journal'];
/** `.NAME.PID.tmp`: hidden, and not ending in .trace, so no dialog or listing offers it as a trace. */
const TEMP = /^\.(.+)\.(\d+)\.tmp(?:-wal|-shm|-journal)?$/;

export function tempPathFor(target: string, pid = process.pid): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.${pid}.tmp`);
}

/**
 * Run `write` on a trace that becomes `target` only when `write` and the
 * checkpoint are done. On an error (or SIGINT/SIGTERM) the temporary file is
 * removed and the target is as it was; a SIGKILL leaves a temporary file,
 * which the next write to the same target removes (see removeStaleTemps).
 */
export async function writeTraceAtomically<T>(target: string, start: TraceStart, write: (db: TraceDb) => T | Promise<T>): Promise<T> {
  const dest = resolveTarget(target);
  if (start !== 'target') refuseNonTrace(dest, target);
  removeStaleTemps(dest);
  const tmp = tempPathFor(dest);
  removeWithCompanions(tmp);
  const onSignal = (sig: NodeJS.Signals): void => {
    removeWithCompanions(tmp);
    process.kill(process.pid, sig);
  };
  // `once`: the handler is gone when it re-raises, so the signal then ends the process as it would have.
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    seed(tmp, dest, start, target);
    const result = await writeAndClose(tmp, target, write);
    syncFile(tmp);
    replace(tmp, dest, target);
    return result;
  } catch (err) {
    removeWithCompanions(tmp);
    throw err;
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}

/** The target as an absolute path, a symbolic link followed (the link stays, the file it names is replaced). */
function resolveTarget(target: string): string {
  const abs = path.resolve(target);
  let real = abs;
  try {
    real = realpathSync(abs);
  } catch {
    // Not there yet: its folder must be.
    if (!existsSync(path.dirname(abs))) throw new BpfscopeError(`no such folder ${path.dirname(abs)} to write the trace in`, target);
  }
  if (existsSync(real) && statSync(real).isDirectory()) throw new BpfscopeError('is a directory, not a trace file', target);
  // Renaming over a device would replace it: as root, `-o /dev/null` once turned /dev/null into a regular file.
  if (existsSync(real) && !statSync(real).isFile()) throw new BpfscopeError('is not a regular file (a device, pipe or socket); a trace is written to a file', target);
  return real;
}

/**
 * The checks on a target made before any work (booting a VM, loading programs):
 * a folder that exists, no directory, no file of another kind in the way.
 */
export function checkReplaceable(target: string): void {
  refuseNonTrace(resolveTarget(target), target);
}

/** Replacing is for traces: a non-empty file of another kind (a typo in -o) is left alone. */
function refuseNonTrace(dest: string, shown: string): void {
  if (!existsSync(dest) || statSync(dest).size === 0) return;
  if (readHead(dest) !== SQLITE_MAGIC) {
    throw new BpfscopeError('exists and is not a bpfscope trace (not an SQLite file): not replacing it', shown, { offset: 0 });
  }
  const why = foreignDatabase(dest);
  if (why) throw new BpfscopeError(`exists and is ${why}: not replacing it`, shown);
}

function seed(tmp: string, dest: string, start: TraceStart, shown: string): void {
  let from: string | undefined;
  if (start === 'target') from = existsSync(dest) && statSync(dest).size > 0 ? dest : undefined;
  else if (start !== 'empty') from = start.copyOf;
  if (from === undefined) return;
  // openTrace says what is wrong with a file that is no trace; VACUUM INTO copies a consistent
  // snapshot, what is still in the source's WAL included, without writing to the source.
  const src = named(from === dest ? shown : from, () => openTrace(from, { readonly: true }));
  try {
    src.prepare('VACUUM INTO ?').run(tmp);
  } catch (err) {
    throw new BpfscopeError(`cannot copy the trace to add to it: ${err instanceof Error ? err.message : String(err)}`, from === dest ? shown : from);
  } finally {
    src.close();
  }
}

/** `fn`'s BpfscopeError names the file as the user wrote it (relative, or the link), not as resolved. */
function named<T>(shown: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof BpfscopeError && err.file !== shown) throw new BpfscopeError(err.message, shown, err.where);
    throw err;
  }
}

async function writeAndClose<T>(tmp: string, shown: string, write: (db: TraceDb) => T | Promise<T>): Promise<T> {
  // A folder that cannot be written is the target's problem, not the hidden file's.
  const db = named(shown, () => createTrace(tmp));
  try {
    const result = await write(db);
    // Everything into the main file: the rename moves that file alone.
    db.pragma('wal_checkpoint(TRUNCATE)');
    return result;
  } finally {
    db.close();
  }
}

/**
 * The new file over the old. A WAL or journal the old trace left beside it
 * would be applied to the new file by the next reader (SQLite matches them by
 * name only), so they go first; what an old WAL still held is checkpointed
 * into the old file before, so a kill between the two steps leaves it whole.
 */
function replace(tmp: string, dest: string, shown: string): void {
  try {
    if (nonEmpty(`${dest}-wal`) || nonEmpty(`${dest}-journal`)) settleOld(dest);
    for (const c of COMPANIONS) rmSync(dest + c, { force: true });
    renameSync(tmp, dest);
  } catch (err) {
    throw new BpfscopeError(`cannot write the trace: ${err instanceof Error ? err.message : String(err)}`, shown);
  }
  syncDir(path.dirname(dest));
}

/** Checkpoint (or roll back a hot journal of) the old file; one that cannot be opened is being replaced anyway. */
function settleOld(dest: string): void {
  try {
    const db = new Database(dest, { fileMustExist: true });
    try {
      db.pragma('wal_checkpoint(TRUNCATE)');
    } finally {
      db.close();
    }
  } catch {
    // Not a database, or damaged: the new trace replaces it.
  }
}

/**
 * Temporary files of earlier writes to this target whose process is gone (a
 * SIGKILL, a power cut). One of a live process is its write in progress and
 * is left alone.
 */
export function removeStaleTemps(dest: string): string[] {
  const dir = path.dirname(dest);
  const base = path.basename(dest);
  const removed: string[] = [];
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return removed;
  }
  for (const name of names) {
    const m = TEMP.exec(name);
    if (!m || m[1] !== base) continue;
    const pid = Number(m[2]);
    if (pid !== process.pid && alive(pid)) continue;
    rmSync(path.join(dir, name), { force: true });
    removed.push(name);
  }
  return removed;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: there is such a process, another user's.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function removeWithCompanions(file: string): void {
  for (const f of [file, ...COMPANIONS.map((c) => file + c)]) rmSync(f, { force: true });
}

function nonEmpty(file: string): boolean {
  try {
    return statSync(file).size > 0;
  } catch {
    return false;
  }
}

function readHead(file: string): string {
  const fd = openSync(file, 'r');
  try {
    const head = Buffer.alloc(16);
    return head.subarray(0, readSync(fd, head, 0, 16, 0)).toString('latin1');
  } finally {
    closeSync(fd);
  }
}

/** The new file's bytes on disk before the rename makes it the trace (else a power cut could leave a renamed, empty file). */
function syncFile(file: string): void {
  const fd = openSync(file, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function syncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Some file systems refuse fsync on a directory; the rename is done either way.
  }
}
