import type { TraceDb } from './db';

/**
 * What the readers keep decoded per connection and program (step blocks,
 * inflated log blocks, the log's summary row), in a module of its own so
 * that the writer can drop it when it re-imports a program's log.
 */
export interface ProgramCache {
  info?: unknown;
  steps: Map<number, Int32Array>;
  log: Map<number, unknown>;
  /** Callee prototypes from the program's object (call steps name their arguments). */
  protos?: unknown;
}

const caches = new WeakMap<TraceDb, Map<number, ProgramCache>>();

export function programCache(db: TraceDb, programId: number): ProgramCache {
  let byProgram = caches.get(db);
  if (!byProgram) caches.set(db, (byProgram = new Map()));
  let c = byProgram.get(programId);
  if (!c) byProgram.set(programId, (c = { steps: new Map(), log: new Map() }));
  return c;
}

/** The program's log is being (re)written: nothing decoded from the old one may be served. */
export function forgetProgram(db: TraceDb, programId: number): void {
  caches.get(db)?.delete(programId);
}
