import type { SchemaPart } from './schema';

/**
 * Tables of concrete runs (bpfscope run): one row per run, every allocator
 * event and object, the maps after the runs, and with --trace-insns the
 * registers an instruction changed (plus a full register checkpoint every
 * RUNTIME_CHECKPOINT_EVERY steps, so a window of steps is read without
 * replaying the whole run). Keyed by programs.id (origin 'run').
 */
export const runtimeSchema: SchemaPart = {
  name: 'runtime',
  ddl: `
    CREATE TABLE IF NOT EXISTS runtime_runs (
      program_id INTEGER NOT NULL REFERENCES programs(id),
      run INTEGER NOT NULL,
      retval INTEGER,                    -- R0's lower 32 bits (NULL when the run faulted)
      r0 TEXT,
      steps INTEGER NOT NULL,
      fault_kind TEXT,
      fault_message TEXT,
      fault_insn INTEGER,
      fault_step INTEGER,
      fault_regs TEXT,                   -- JSON array of R0..R10 hex at the fault
      data_out TEXT,                     -- the packet after the run, hex
      printk TEXT,                       -- JSON array of bpf_trace_printk lines
      PRIMARY KEY (program_id, run)
    );
    CREATE TABLE IF NOT EXISTS runtime_objects (
      program_id INTEGER NOT NULL REFERENCES programs(id),
      id INTEGER NOT NULL,
      type TEXT NOT NULL,
      type_id INTEGER NOT NULL,
      size INTEGER NOT NULL,
      unit_size INTEGER NOT NULL,
      addr TEXT NOT NULL,
      percpu INTEGER NOT NULL,
      new_seq INTEGER NOT NULL,
      free_seq INTEGER,                  -- NULL: still alive at the end
      freed_by TEXT,
      PRIMARY KEY (program_id, id)
    );
    CREATE TABLE IF NOT EXISTS runtime_events (
      program_id INTEGER NOT NULL REFERENCES programs(id),
      seq INTEGER NOT NULL,
      run INTEGER NOT NULL,
      step INTEGER NOT NULL,
      insn INTEGER NOT NULL,             -- -1 outside the program (map free)
      kind TEXT NOT NULL,
      object INTEGER NOT NULL,
      type TEXT NOT NULL,
      size INTEGER NOT NULL,
      owner TEXT,
      detail TEXT,
      PRIMARY KEY (program_id, seq)
    );
    CREATE INDEX IF NOT EXISTS runtime_events_object ON runtime_events(program_id, object);
    CREATE TABLE IF NOT EXISTS runtime_maps (
      program_id INTEGER NOT NULL REFERENCES programs(id),
      name TEXT NOT NULL,
      dump TEXT NOT NULL,                -- JSON MapDump after the runs
      PRIMARY KEY (program_id, name)
    );
    CREATE TABLE IF NOT EXISTS runtime_insn_steps (
      program_id INTEGER NOT NULL REFERENCES programs(id),
      step INTEGER NOT NULL,             -- 1-based: the registers after the step-th instruction
      insn INTEGER NOT NULL,
      changed BLOB NOT NULL,             -- 9 bytes per changed register: reg u8, lo i32 LE, hi i32 LE
      PRIMARY KEY (program_id, step)
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS runtime_reg_checkpoints (
      program_id INTEGER NOT NULL REFERENCES programs(id),
      step INTEGER NOT NULL,             -- the registers after this step (0: before the first instruction)
      regs BLOB NOT NULL,                -- 11 x (lo i32 LE, hi i32 LE)
      PRIMARY KEY (program_id, step)
    ) WITHOUT ROWID;
  `,
};
