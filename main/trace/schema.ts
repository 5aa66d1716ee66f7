/**
 * The trace file's tables. Each part is owned by the module that writes it;
 * `createTrace` runs them all in order, in one transaction, for a new file.
 * Tables are keyed by `program_id` so that one trace holds many programs
 * (one per program of a recorded object, or one per imported log).
 */
export interface SchemaPart {
  name: string;
  ddl: string;
}

/**
 * The trace file format version. Bump it when a table changes shape; readers
 * refuse newer files with a sentence instead of misreading them.
 */
export const SCHEMA_VERSION = 1;

/** The core: metadata, the objects a trace was made from, and one row per program. */
const core: SchemaPart = {
  name: 'core',
  ddl: `
    CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    -- The .bpf.o itself, so a trace replays on a machine that does not have it:
    -- BTF, instructions and line info are read from these bytes.
    CREATE TABLE IF NOT EXISTS objects (
      id INTEGER PRIMARY KEY,
      path TEXT NOT NULL,
      sha256 TEXT NOT NULL,
      bytes BLOB NOT NULL
    );
    CREATE TABLE IF NOT EXISTS programs (
      id INTEGER PRIMARY KEY,
      object_id INTEGER REFERENCES objects(id),
      name TEXT NOT NULL,
      section TEXT,
      prog_type TEXT,
      origin TEXT NOT NULL,              -- 'record' | 'import' | 'run'
      verdict TEXT,                      -- 'accepted' | 'rejected' | NULL when not known (imported log cut short)
      errno INTEGER,
      error TEXT,                        -- the kernel's closing error line(s), or the loader's sentence
      log_level INTEGER,
      processed_insns INTEGER,
      max_states_per_insn INTEGER,
      total_states INTEGER,
      peak_states INTEGER,
      mark_read INTEGER,
      verification_time_us INTEGER,
      stack_depth TEXT,                  -- as printed: '8' or '8+16' with subprograms
      insns BLOB,                        -- the instructions as loaded (after relocation)
      created_at TEXT NOT NULL
    );
  `,
};

import { loadSchema } from './loadSchema';
import { verifierSchema } from './verifierSchema';
import { runtimeSchema } from './runtimeSchema';

export const schemaParts: SchemaPart[] = [core, loadSchema, verifierSchema, runtimeSchema];
