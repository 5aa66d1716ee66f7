import { promisify } from 'node:util';
import { errorLines } from './errorLines';
import { readRecordedKernel } from './kernel';
import zlib from 'node:zlib';
import type { TraceDb } from './db';

export interface MapRow {
  objectId: number;
  programId?: number;
  name: string;
  section?: string;
  kind: string;
  mapType: number;
  mapTypeName?: string;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  mapFlags: number;
  btfKeyTypeId?: number;
  btfValueTypeId?: number;
  initial?: Uint8Array;
  frozen: boolean;
  errno?: number;
  error?: string;
  note?: string;
}

export function insertMap(db: TraceDb, m: MapRow): number {
  const r = db
    .prepare(
      `INSERT INTO load_maps(object_id, program_id, name, section, kind, map_type, map_type_name, key_size, value_size, max_entries,
        map_flags, btf_key_type_id, btf_value_type_id, initial, frozen, errno, error, note)
       VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
    )
    .run(
      m.objectId, m.programId ?? null, m.name, m.section ?? null, m.kind, m.mapType, m.mapTypeName ?? null, m.keySize, m.valueSize,
      m.maxEntries, m.mapFlags, m.btfKeyTypeId ?? null, m.btfValueTypeId ?? null,
      m.initial ? Buffer.from(m.initial) : null, m.frozen ? 1 : 0, m.errno ?? null, m.error ?? null, m.note ?? null,
    );
  return Number(r.lastInsertRowid);
}

export interface RelocationRow {
  insnIdx: number;
  kind: string;
  symbol?: string;
  target?: string;
  value?: number | bigint;
}

export function insertRelocations(db: TraceDb, programId: number, rows: readonly RelocationRow[]): void {
  const st = db.prepare('INSERT INTO load_relocations(program_id, insn_idx, kind, symbol, target, value) VALUES (?,?,?,?,?,?)');
  for (const r of rows) st.run(programId, r.insnIdx, r.kind, r.symbol ?? null, r.target ?? null, r.value ?? null);
}

export interface CoreReloRow {
  insnIdx: number;
  kind: string;
  localTypeId: number;
  localType: string;
  accessStr: string;
  localSpec: string;
  localValue?: number;
  value?: number;
  poisoned: boolean;
  error?: string;
  chosen?: number;
  candidates: { target: string; typeId: number; typeName: string; matched: boolean; detail: string; value?: number }[];
}

export function insertCoreRelos(db: TraceDb, programId: number, rows: readonly CoreReloRow[]): void {
  const st = db.prepare(
    `INSERT INTO load_core_relos(program_id, insn_idx, kind, local_type_id, local_type, access_str, local_spec, local_value, value, poisoned, error)
     VALUES (?,?,?,?,?,?,?,?,?,?,?)`,
  );
  const cand = db.prepare(
    'INSERT INTO load_core_candidates(relo_id, target, type_id, type_name, matched, chosen, detail, value) VALUES (?,?,?,?,?,?,?,?)',
  );
  for (const r of rows) {
    const id = st.run(
      programId, r.insnIdx, r.kind, r.localTypeId, r.localType, r.accessStr, r.localSpec, r.localValue ?? null,
      r.value ?? null, r.poisoned ? 1 : 0, r.error ?? null,
    ).lastInsertRowid;
    r.candidates.forEach((c, i) =>
      cand.run(id, c.target, c.typeId, c.typeName, c.matched ? 1 : 0, i === r.chosen ? 1 : 0, c.detail, c.value ?? null),
    );
  }
}

export interface ExternRow {
  objectId: number;
  name: string;
  kind: 'kfunc' | 'ksym' | 'kconfig';
  weak: boolean;
  btfId?: number;
  btfObj?: string;
  value?: string;
  error?: string;
}

export function insertExtern(db: TraceDb, e: ExternRow): void {
  db.prepare('INSERT INTO load_externs(object_id, name, kind, weak, btf_id, btf_obj, value, error) VALUES (?,?,?,?,?,?,?,?)').run(
    e.objectId, e.name, e.kind, e.weak ? 1 : 0, e.btfId ?? null, e.btfObj ?? null, e.value ?? null, e.error ?? null,
  );
}

const deflateRaw = promisify(zlib.deflateRaw);

/**
 * Store a raw log. Level-2 logs compress about 10:1; deflate runs on libuv's
 * thread pool, so the caller can parse the same log meanwhile.
 */
export interface LineInfoRow {
  insnIdx: number;
  file: string;
  lineNum: number;
  col: number;
  line: string;
}

export function insertLineInfo(db: TraceDb, programId: number, rows: readonly LineInfoRow[]): void {
  const st = db.prepare('INSERT OR REPLACE INTO load_line_info(program_id, insn_idx, file, line_num, col, line) VALUES (?,?,?,?,?,?)');
  for (const r of rows) st.run(programId, r.insnIdx, r.file, r.lineNum, r.col, r.line);
}

export interface FunctionRow {
  name: string;
  section: string;
  start: number;
  insnCount: number;
  btfFuncId?: number;
}

export function insertFunctions(db: TraceDb, programId: number, rows: readonly FunctionRow[]): void {
  const st = db.prepare('INSERT OR REPLACE INTO load_functions(program_id, name, section, start, insn_count, btf_func_id) VALUES (?,?,?,?,?,?)');
  for (const r of rows) st.run(programId, r.name, r.section, r.start, r.insnCount, r.btfFuncId ?? null);
}

export function insertBtf(db: TraceDb, objectId: number, bytes: Uint8Array, fixes: readonly string[], loaded: boolean, error?: string): void {
  db.prepare('INSERT OR REPLACE INTO load_btf(object_id, bytes, fixes, loaded, error) VALUES (?,?,?,?,?)').run(
    objectId, Buffer.from(bytes), JSON.stringify(fixes), loaded ? 1 : 0, error ?? null,
  );
}

export function insertWarning(db: TraceDb, objectId: number, text: string): void {
  db.prepare('INSERT INTO load_warnings(object_id, text) VALUES (?, ?)').run(objectId, text);
}

export async function insertProgramLog(db: TraceDb, programId: number, log: Uint8Array, logSizes: readonly number[]): Promise<void> {
  const packed = await deflateRaw(log, { level: 1 });
  db.prepare('INSERT OR REPLACE INTO program_logs(program_id, encoding, size, log, log_sizes) VALUES (?,?,?,?,?)').run(
    programId, 'deflate-raw', log.byteLength, packed, JSON.stringify(logSizes),
  );
}

/**
 * A raw log compressed while it arrives: the recorder feeds it the chunks it
 * hands the verifier analysis during the load, so that storing a 40 MB log
 * afterwards costs only the last chunk's compression (was 40-90 ms after
 * the kernel returned). `finish` gives what insertPackedProgramLog stores.
 */
export class StreamingLogPacker {
  private readonly z = zlib.createDeflateRaw({ level: 1 });
  private readonly out: Buffer[] = [];
  private readonly ended: Promise<void>;
  private size = 0;
  constructor() {
    this.z.on('data', (b: Buffer) => this.out.push(b));
    this.ended = new Promise((resolve, reject) => {
      this.z.on('end', resolve);
      this.z.on('error', reject);
    });
  }
  write(chunk: Uint8Array): void {
    this.size += chunk.byteLength;
    this.z.write(chunk);
  }
  async finish(): Promise<{ size: number; packed: Buffer }> {
    this.z.end();
    await this.ended;
    return { size: this.size, packed: Buffer.concat(this.out) };
  }
  /** Drop what was fed (the log it saw was not the final one). */
  discard(): void {
    this.z.on('error', () => {});
    this.z.destroy();
  }
}

export function insertPackedProgramLog(db: TraceDb, programId: number, size: number, packed: Uint8Array, logSizes: readonly number[]): void {
  db.prepare('INSERT OR REPLACE INTO program_logs(program_id, encoding, size, log, log_sizes) VALUES (?,?,?,?,?)').run(
    programId, 'deflate-raw', size, packed, JSON.stringify(logSizes),
  );
}

/** The stored raw log, byte for byte, or undefined when the program has none. */
export function readProgramLog(db: TraceDb, programId: number): Buffer | undefined {
  const row = db.prepare('SELECT encoding, log FROM program_logs WHERE program_id = ?').get(programId) as { encoding: string; log: Buffer } | undefined;
  if (!row) return undefined;
  return row.encoding === 'deflate-raw' ? zlib.inflateRawSync(row.log) : row.log;
}

export interface TestRunRow {
  repeat: number;
  retval?: number;
  durationNs?: number;
  dataIn?: Uint8Array;
  ctxIn?: Uint8Array;
  dataOut?: Uint8Array;
  errno?: number;
  error?: string;
  maps: { map: string; key: Uint8Array; value: Uint8Array }[];
}

export function insertTestRun(db: TraceDb, programId: number, r: TestRunRow): number {
  const buf = (b?: Uint8Array): Buffer | null => (b ? Buffer.from(b) : null);
  const id = Number(
    db
      .prepare(
        'INSERT INTO test_runs(program_id, repeat, retval, duration_ns, data_in, ctx_in, data_out, errno, error) VALUES (?,?,?,?,?,?,?,?,?)',
      )
      .run(programId, r.repeat, r.retval ?? null, r.durationNs ?? null, buf(r.dataIn), buf(r.ctxIn), buf(r.dataOut), r.errno ?? null, r.error ?? null)
      .lastInsertRowid,
  );
  const st = db.prepare('INSERT INTO test_run_maps(run_id, map, key, value) VALUES (?,?,?,?)');
  for (const m of r.maps) st.run(id, m.map, Buffer.from(m.key), Buffer.from(m.value));
  return id;
}

/** One row per program for `bpfscope runs`. */
export interface RunSummary {
  program: string;
  verdict: 'accepted' | 'rejected' | null;
  errno: number | null;
  /** The final error line: the kernel's last line (or the loader's sentence); null when none. */
  error: string | null;
  /** Every error line in order, the final one last (see errorLines). */
  errors: string[];
  processedInsns: number | null;
  retval?: number;
  /** `uname -r` of the kernel that gave the verdict, when the trace was recorded (not imported). */
  kernel?: string;
}

export function runSummaries(db: TraceDb): RunSummary[] {
  const kernel = readRecordedKernel(db);
  const hasRuns = db.prepare("SELECT 1 FROM sqlite_master WHERE type='table' AND name='test_runs'").get();
  const rows = db
    .prepare(
      `SELECT p.id, p.name, p.verdict, p.errno, p.error, p.processed_insns,
        ${hasRuns ? '(SELECT retval FROM test_runs t WHERE t.program_id = p.id ORDER BY t.id DESC LIMIT 1)' : 'NULL'} AS retval
       FROM programs p ORDER BY p.id`,
    )
    .all() as { name: string; verdict: 'accepted' | 'rejected' | null; errno: number | null; error: string | null; processed_insns: number | null; retval: number | null }[];
  return rows.map((r) => {
    const s: RunSummary = { program: r.name, verdict: r.verdict, errno: r.errno, ...errorLines(r.error), processedInsns: r.processed_insns };
    if (r.retval !== null) s.retval = r.retval;
    if (kernel) s.kernel = kernel.release;
    return s;
  });
}

/** Everything the loader decided for one program, for the app's "how was this loaded" view. */
export interface LoadReport {
  maps: { name: string; section: string | null; kind: string; mapType: string | null; keySize: number; valueSize: number; maxEntries: number; mapFlags: number; frozen: boolean; btfValueTypeId: number | null; errno: number | null; error: string | null; note: string | null }[];
  relocations: { insnIdx: number; kind: string; symbol: string | null; target: string | null; value: number | null }[];
  core: {
    insnIdx: number; kind: string; localType: string; accessStr: string; localSpec: string; localValue: number | null; value: number | null; poisoned: boolean; error: string | null;
    candidates: { target: string; typeId: number; typeName: string; matched: boolean; chosen: boolean; detail: string; value: number | null }[];
  }[];
  externs: { name: string; kind: string; weak: boolean; btfId: number | null; btfObj: string | null; value: string | null; error: string | null }[];
  functions: { name: string; section: string; start: number; insnCount: number; btfFuncId: number | null }[];
  warnings: string[];
  btfFixes: string[];
}

export function loadReport(db: TraceDb, programId: number): LoadReport {
  const objectId = (db.prepare('SELECT object_id FROM programs WHERE id = ?').get(programId) as { object_id: number | null } | undefined)?.object_id ?? null;
  type Row = Record<string, unknown>;
  const all = (sql: string, ...args: unknown[]): Row[] => db.prepare(sql).all(...args) as Row[];
  const maps = all('SELECT * FROM load_maps WHERE program_id = ? ORDER BY id', programId).map((m) => ({
    name: m.name as string, section: m.section as string | null, kind: m.kind as string, mapType: m.map_type_name as string | null,
    keySize: m.key_size as number, valueSize: m.value_size as number, maxEntries: m.max_entries as number, mapFlags: m.map_flags as number,
    frozen: m.frozen === 1, btfValueTypeId: m.btf_value_type_id as number | null, errno: m.errno as number | null, error: m.error as string | null, note: m.note as string | null,
  }));
  const relocations = all('SELECT insn_idx, kind, symbol, target, value FROM load_relocations WHERE program_id = ? ORDER BY insn_idx, id', programId).map((r) => ({
    insnIdx: r.insn_idx as number, kind: r.kind as string, symbol: r.symbol as string | null, target: r.target as string | null, value: r.value as number | null,
  }));
  const core = all('SELECT * FROM load_core_relos WHERE program_id = ? ORDER BY insn_idx, id', programId).map((c) => ({
    insnIdx: c.insn_idx as number, kind: c.kind as string, localType: c.local_type as string, accessStr: c.access_str as string, localSpec: c.local_spec as string,
    localValue: c.local_value as number | null, value: c.value as number | null, poisoned: c.poisoned === 1, error: c.error as string | null,
    candidates: all('SELECT * FROM load_core_candidates WHERE relo_id = ? ORDER BY rowid', c.id).map((k) => ({
      target: k.target as string, typeId: k.type_id as number, typeName: k.type_name as string, matched: k.matched === 1, chosen: k.chosen === 1,
      detail: k.detail as string, value: k.value as number | null,
    })),
  }));
  const externs = objectId === null ? [] : all('SELECT * FROM load_externs WHERE object_id = ? ORDER BY id', objectId).map((e) => ({
    name: e.name as string, kind: e.kind as string, weak: e.weak === 1, btfId: e.btf_id as number | null, btfObj: e.btf_obj as string | null,
    value: e.value as string | null, error: e.error as string | null,
  }));
  const functions = all('SELECT * FROM load_functions WHERE program_id = ? ORDER BY start', programId).map((f) => ({
    name: f.name as string, section: f.section as string, start: f.start as number, insnCount: f.insn_count as number, btfFuncId: f.btf_func_id as number | null,
  }));
  const warnings = objectId === null ? [] : all('SELECT text FROM load_warnings WHERE object_id = ?', objectId).map((w) => w.text as string);
  const btf = objectId === null ? undefined : (db.prepare('SELECT fixes FROM load_btf WHERE object_id = ?').get(objectId) as { fixes: string } | undefined);
  return { maps, relocations, core, externs, functions, warnings, btfFixes: btf ? (JSON.parse(btf.fixes) as string[]) : [] };
}
