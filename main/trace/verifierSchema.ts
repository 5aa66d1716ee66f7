import type { SchemaPart } from './schema';

/**
 * The verifier log in the trace file. Per program:
 * - the raw log in blocks of LOG_BLOCK lines, compressed (a window of lines is one or two reads);
 * - steps (one per instruction line or printed state) in blocks of STEP_BLOCK,
 *   packed as Int32 [line, insn, frame, kind, path] per step, compressed (the first
 *   traces hold them as they are: a block of exactly step_count * 20 bytes);
 * - blocks are brotli (quality 1); traces written before hold raw DEFLATE, which the readers still take;
 * - full-state checkpoints every CHECKPOINT_EVERY steps and at every path start.
 *   The deltas between checkpoints are the log lines themselves: the state at
 *   step N is the checkpoint at or before N plus a replay of the lines up to N's;
 * - per instruction, the steps that visit it; paths; references and their events;
 *   errors, warnings and unknown lines; the Live regs table (mark_precise events are
 *   decoded from the raw lines on demand: they are most of a big log);
 * - the stats lines go into the `programs` row.
 */
export const verifierSchema: SchemaPart = {
  name: 'verifier',
  ddl: `
    CREATE TABLE IF NOT EXISTS verifier_logs (
      program_id INTEGER PRIMARY KEY REFERENCES programs(id),
      line_count INTEGER NOT NULL,
      step_count INTEGER NOT NULL,
      unknown_lines INTEGER NOT NULL,
      unknown_items INTEGER NOT NULL,
      mismatches INTEGER NOT NULL,
      warnings INTEGER NOT NULL,
      cut_lines INTEGER NOT NULL,
      checkpoint_every INTEGER NOT NULL,
      wrapped_program TEXT,
      range_style TEXT NOT NULL DEFAULT 'modern'  -- 'legacy' (5.x-6.6 omitted keys) | 'modern'
    );
    CREATE TABLE IF NOT EXISTS verifier_log_blocks (
      program_id INTEGER NOT NULL, block INTEGER NOT NULL, first_line INTEGER NOT NULL,
      -- The lines joined by newlines (each ends with one), brotli: a 111 MB level-2 log takes about 3.5 MB.
      line_count INTEGER NOT NULL, data BLOB NOT NULL,
      PRIMARY KEY (program_id, block)
    ); -- a rowid table: in a WITHOUT ROWID one, a row over ~1000 bytes takes an overflow page of its own (the file doubled)
    CREATE TABLE IF NOT EXISTS verifier_step_blocks (
      program_id INTEGER NOT NULL, block INTEGER NOT NULL, first_step INTEGER NOT NULL,
      step_count INTEGER NOT NULL, data BLOB NOT NULL,
      PRIMARY KEY (program_id, block)
    ); -- a rowid table, as above
    CREATE TABLE IF NOT EXISTS verifier_checkpoints (
      program_id INTEGER NOT NULL, step INTEGER NOT NULL, line INTEGER NOT NULL, state TEXT NOT NULL,
      PRIMARY KEY (program_id, step)
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS verifier_insn_steps (
      program_id INTEGER NOT NULL, insn INTEGER NOT NULL, visits INTEGER NOT NULL, steps BLOB NOT NULL,
      PRIMARY KEY (program_id, insn)
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS verifier_paths (
      program_id INTEGER NOT NULL, path INTEGER NOT NULL, start_step INTEGER NOT NULL, start_line INTEGER NOT NULL,
      from_insn INTEGER, to_insn INTEGER, pushed_step INTEGER, parent_path INTEGER,
      end_step INTEGER, end_line INTEGER, end_insn INTEGER, end_kind TEXT NOT NULL,
      PRIMARY KEY (program_id, path)
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS verifier_refs (
      program_id INTEGER NOT NULL, ref_obj_id INTEGER NOT NULL, kind TEXT NOT NULL,
      acquire_step INTEGER NOT NULL, acquire_line INTEGER NOT NULL, acquire_insn INTEGER NOT NULL,
      func TEXT, path INTEGER NOT NULL,
      PRIMARY KEY (program_id, ref_obj_id)
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS verifier_ref_events (
      id INTEGER PRIMARY KEY, program_id INTEGER NOT NULL, ref_obj_id INTEGER NOT NULL, kind TEXT NOT NULL,
      step INTEGER NOT NULL, line INTEGER NOT NULL, insn INTEGER NOT NULL, path INTEGER NOT NULL, func TEXT
    );
    CREATE INDEX IF NOT EXISTS verifier_ref_events_ref ON verifier_ref_events(program_id, ref_obj_id);
    CREATE TABLE IF NOT EXISTS verifier_messages (
      id INTEGER PRIMARY KEY, program_id INTEGER NOT NULL, severity TEXT NOT NULL,
      step INTEGER NOT NULL, line INTEGER NOT NULL, text TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS verifier_messages_step ON verifier_messages(program_id, step);
    CREATE TABLE IF NOT EXISTS verifier_live_regs (
      program_id INTEGER NOT NULL, insn INTEGER NOT NULL, live TEXT NOT NULL,
      PRIMARY KEY (program_id, insn)
    ) WITHOUT ROWID;
  `,
};

