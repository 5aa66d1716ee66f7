// Its own module, as verifierSchema and runtimeSchema are: schema.ts imports it, and
// load.ts reaches db.ts (and so schema.ts) through kernel.ts, so the DDL kept in load.ts
// made an import cycle in which a program that imported load.ts first got an undefined
// part in schemaParts (createTrace then failed on `part.ddl`).
import type { SchemaPart } from './schema';

/**
 * What the loader decided, as data: the maps it created, every relocation it
 * applied, the CO-RE candidates it weighed, the externs it resolved, the
 * complete raw verifier log per program, and test runs with the maps'
 * contents afterwards. Written by main/kernel/record.ts.
 */
export const loadSchema: SchemaPart = {
  name: 'load',
  ddl: `
    CREATE TABLE IF NOT EXISTS load_maps (
      id INTEGER PRIMARY KEY,
      object_id INTEGER REFERENCES objects(id),
      program_id INTEGER REFERENCES programs(id),  -- maps are created afresh for each program
      name TEXT NOT NULL,
      section TEXT,                      -- '.maps', '.data', '.rodata.str1.1', ...
      kind TEXT NOT NULL,                -- 'btf' (a .maps definition) | 'data' | 'rodata' | 'bss' | 'kconfig'
      map_type INTEGER NOT NULL,
      map_type_name TEXT,
      key_size INTEGER NOT NULL,
      value_size INTEGER NOT NULL,
      max_entries INTEGER NOT NULL,
      map_flags INTEGER NOT NULL,
      btf_key_type_id INTEGER,
      btf_value_type_id INTEGER,
      initial BLOB,                      -- initial contents for global data maps
      frozen INTEGER NOT NULL DEFAULT 0,
      errno INTEGER,                     -- set when BPF_MAP_CREATE failed
      error TEXT,
      note TEXT                          -- what the loader worked around (created without BTF)
    );
    CREATE TABLE IF NOT EXISTS load_relocations (
      id INTEGER PRIMARY KEY,
      program_id INTEGER REFERENCES programs(id),
      insn_idx INTEGER NOT NULL,         -- slot in the program as loaded
      kind TEXT NOT NULL,                -- 'map' | 'map_value' | 'subprog' | 'kfunc' | 'ksym' | 'core' | 'poison'
      symbol TEXT,                       -- the ELF symbol or map name it came from
      target TEXT,                       -- what it resolved to, in words
      value INTEGER                      -- the number written into the instruction
    );
    CREATE TABLE IF NOT EXISTS load_core_relos (
      id INTEGER PRIMARY KEY,
      program_id INTEGER REFERENCES programs(id),
      insn_idx INTEGER NOT NULL,
      kind TEXT NOT NULL,                -- FIELD_BYTE_OFFSET, TYPE_EXISTS, ...
      local_type_id INTEGER NOT NULL,
      local_type TEXT NOT NULL,
      access_str TEXT NOT NULL,
      local_spec TEXT NOT NULL,
      local_value INTEGER,
      value INTEGER,                     -- NULL when poisoned
      poisoned INTEGER NOT NULL,
      error TEXT
    );
    CREATE TABLE IF NOT EXISTS load_core_candidates (
      relo_id INTEGER NOT NULL REFERENCES load_core_relos(id),
      target TEXT NOT NULL,              -- 'vmlinux' or a module name
      type_id INTEGER NOT NULL,
      type_name TEXT NOT NULL,
      matched INTEGER NOT NULL,
      chosen INTEGER NOT NULL,
      detail TEXT NOT NULL,
      value INTEGER
    );
    CREATE TABLE IF NOT EXISTS load_externs (
      id INTEGER PRIMARY KEY,
      object_id INTEGER REFERENCES objects(id),
      name TEXT NOT NULL,
      kind TEXT NOT NULL,                -- 'kfunc' | 'ksym' | 'kconfig'
      weak INTEGER NOT NULL,
      btf_id INTEGER,                    -- in vmlinux or the module's BTF; NULL when unresolved
      btf_obj TEXT,                      -- 'vmlinux' or the module name
      value TEXT,                        -- kconfig: the value written, in words
      error TEXT
    );
    -- The verifier log exactly as the kernel wrote it (bpfscope log prints it back byte for byte).
    CREATE TABLE IF NOT EXISTS program_logs (
      program_id INTEGER PRIMARY KEY REFERENCES programs(id),
      encoding TEXT NOT NULL,            -- 'deflate-raw' (zlib deflateRaw of the bytes) | 'raw'
      size INTEGER NOT NULL,             -- bytes of the log itself
      log BLOB NOT NULL,
      log_sizes TEXT                     -- the buffer sizes tried, JSON
    );
    -- line_info as passed to the kernel: the source line of each instruction as loaded (after linking).
    CREATE TABLE IF NOT EXISTS load_line_info (
      program_id INTEGER NOT NULL REFERENCES programs(id),
      insn_idx INTEGER NOT NULL,
      file TEXT NOT NULL,
      line_num INTEGER NOT NULL,
      col INTEGER NOT NULL,
      line TEXT NOT NULL,
      PRIMARY KEY (program_id, insn_idx)
    ) WITHOUT ROWID;
    -- The functions of the program as loaded: the entry program, then each appended subprogram.
    CREATE TABLE IF NOT EXISTS load_functions (
      program_id INTEGER NOT NULL REFERENCES programs(id),
      name TEXT NOT NULL,
      section TEXT NOT NULL,
      start INTEGER NOT NULL,
      insn_count INTEGER NOT NULL,
      btf_func_id INTEGER,
      PRIMARY KEY (program_id, start)
    ) WITHOUT ROWID;
    -- The object's BTF as given to BPF_BTF_LOAD (after sanitizing) and what sanitizing changed.
    CREATE TABLE IF NOT EXISTS load_btf (
      object_id INTEGER PRIMARY KEY REFERENCES objects(id),
      bytes BLOB NOT NULL,
      fixes TEXT NOT NULL,               -- JSON array of sentences
      loaded INTEGER NOT NULL,           -- 1 when the kernel took it
      error TEXT
    );
    CREATE TABLE IF NOT EXISTS load_warnings (
      object_id INTEGER REFERENCES objects(id),
      text TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS test_runs (
      id INTEGER PRIMARY KEY,
      program_id INTEGER NOT NULL REFERENCES programs(id),
      repeat INTEGER NOT NULL,
      retval INTEGER,
      duration_ns INTEGER,
      data_in BLOB,
      ctx_in BLOB,
      data_out BLOB,
      errno INTEGER,
      error TEXT
    );
    CREATE TABLE IF NOT EXISTS test_run_maps (
      run_id INTEGER NOT NULL REFERENCES test_runs(id),
      map TEXT NOT NULL,
      key BLOB NOT NULL,
      value BLOB NOT NULL
    );
  `,
};
