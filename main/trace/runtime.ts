import type { AllocEvent, AllocObject } from '../runtime/events';
import type { MapDump, SessionReport } from '../runtime/session';
import type { TraceDb } from './db';
import { runtimeSchema } from './runtimeSchema';

/** A full register checkpoint is stored every this many traced steps. */
export const RUNTIME_CHECKPOINT_EVERY = 1024;

/** Store a session's results under `programId` (a programs row with origin 'run'). */
export function writeRunSession(db: TraceDb, programId: number, report: SessionReport): void {
  // A trace recorded before these tables existed gets them now (IF NOT EXISTS).
  db.exec(runtimeSchema.ddl);
  db.transaction(() => {
    const runs = db.prepare(
      `INSERT INTO runtime_runs(program_id, run, retval, r0, steps, fault_kind, fault_message, fault_insn, fault_step, fault_regs, data_out, printk)
       VALUES (?,?,?,?,?,?,?,?,?,?,?,?)`,
    );
    for (const r of report.runs) {
      runs.run(programId, r.run, r.retval, r.r0, r.steps, r.fault?.kind ?? null, r.fault?.message ?? null, r.fault?.insn ?? null, r.fault?.step ?? null, r.fault ? JSON.stringify(r.fault.regs) : null, r.dataOut ?? null, JSON.stringify(r.printk));
    }
    const objs = db.prepare(
      `INSERT INTO runtime_objects(program_id, id, type, type_id, size, unit_size, addr, percpu, new_seq, free_seq, freed_by) VALUES (?,?,?,?,?,?,?,?,?,?,?)`,
    );
    for (const o of report.objects) objs.run(programId, o.id, o.type, o.typeId, o.size, o.unitSize, o.addr, o.percpu ? 1 : 0, o.newSeq, o.freeSeq, o.freedBy);
    const evs = db.prepare(
      `INSERT INTO runtime_events(program_id, seq, run, step, insn, kind, object, type, size, owner, detail) VALUES (?,?,?,?,?,?,?,?,?,?,?)`,
    );
    for (const e of report.events) evs.run(programId, e.seq, e.run, e.step, e.insn, e.kind, e.object, e.type, e.size, e.owner, e.detail ?? null);
    const maps = db.prepare('INSERT INTO runtime_maps(program_id, name, dump) VALUES (?,?,?)');
    for (const [name, dump] of Object.entries(report.maps)) maps.run(programId, name, JSON.stringify(dump));
    if (report.trace && report.traceStart) writeInsnTrace(db, programId, report.traceStart, report.trace);
  })();
}

function writeInsnTrace(db: TraceDb, programId: number, start: { lo: number[]; hi: number[] }, steps: NonNullable<SessionReport['trace']>): void {
  const lo = Int32Array.from(start.lo);
  const hi = Int32Array.from(start.hi);
  const cp = db.prepare('INSERT INTO runtime_reg_checkpoints(program_id, step, regs) VALUES (?,?,?)');
  const put = db.prepare('INSERT INTO runtime_insn_steps(program_id, step, insn, changed) VALUES (?,?,?,?)');
  cp.run(programId, 0, packRegs(lo, hi));
  for (const s of steps) {
    const buf = Buffer.alloc(9 * s.changed.length);
    s.changed.forEach(([r, l, h], i) => {
      buf.writeUInt8(r, i * 9);
      buf.writeInt32LE(l, i * 9 + 1);
      buf.writeInt32LE(h, i * 9 + 5);
      lo[r] = l;
      hi[r] = h;
    });
    put.run(programId, s.step, s.insn, buf);
    if (s.step % RUNTIME_CHECKPOINT_EVERY === 0) cp.run(programId, s.step, packRegs(lo, hi));
  }
}

function packRegs(lo: Int32Array, hi: Int32Array): Buffer {
  const b = Buffer.alloc(88);
  for (let r = 0; r < 11; r++) {
    b.writeInt32LE(lo[r], r * 8);
    b.writeInt32LE(hi[r], r * 8 + 4);
  }
  return b;
}

export interface RuntimeRunRow {
  run: number;
  retval: number | null;
  r0: string | null;
  steps: number;
  fault: { kind: string; message: string; insn: number; step: number; regs: string[] } | null;
  dataOut: string | null;
  printk: string[];
}

export function listRuns(db: TraceDb, programId: number): RuntimeRunRow[] {
  const rows = db.prepare('SELECT * FROM runtime_runs WHERE program_id = ? ORDER BY run').all(programId) as Record<string, unknown>[];
  return rows.map((r) => ({
    run: r.run as number,
    retval: r.retval as number | null,
    r0: r.r0 as string | null,
    steps: r.steps as number,
    fault: r.fault_kind
      ? { kind: r.fault_kind as string, message: r.fault_message as string, insn: r.fault_insn as number, step: r.fault_step as number, regs: JSON.parse(r.fault_regs as string) as string[] }
      : null,
    dataOut: r.data_out as string | null,
    printk: JSON.parse((r.printk as string) ?? '[]') as string[],
  }));
}

/** Every allocator event of a program's runs, in order. */
export function listAllocEvents(db: TraceDb, programId: number): AllocEvent[] {
  const rows = db.prepare('SELECT * FROM runtime_events WHERE program_id = ? ORDER BY seq').all(programId) as Record<string, unknown>[];
  return rows.map((r) => {
    const e: AllocEvent = {
      seq: r.seq as number,
      run: r.run as number,
      step: r.step as number,
      insn: r.insn as number,
      kind: r.kind as AllocEvent['kind'],
      object: r.object as number,
      type: r.type as string,
      size: r.size as number,
      owner: r.owner as string | null,
    };
    if (r.detail !== null) e.detail = r.detail as string;
    return e;
  });
}

/** Every object allocated in a program's runs, with its life span (freeSeq null: alive at the end). */
export function listObjects(db: TraceDb, programId: number): AllocObject[] {
  const rows = db.prepare('SELECT * FROM runtime_objects WHERE program_id = ? ORDER BY id').all(programId) as Record<string, unknown>[];
  const events = listAllocEvents(db, programId);
  const lastOwner = new Map<number, string | null>();
  const refcount = new Map<number, number>();
  for (const e of events) {
    lastOwner.set(e.object, e.owner);
    const m = e.detail && /\brefcount (\d+)$/.exec(e.detail);
    if (m) refcount.set(e.object, Number(m[1]));
  }
  return rows.map((r) => ({
    id: r.id as number,
    type: r.type as string,
    typeId: r.type_id as number,
    size: r.size as number,
    unitSize: r.unit_size as number,
    addr: r.addr as string,
    percpu: r.percpu === 1,
    newSeq: r.new_seq as number,
    freeSeq: r.free_seq as number | null,
    freedBy: r.freed_by as string | null,
    refcount: r.free_seq !== null ? 0 : refcount.get(r.id as number) ?? 1,
    owner: lastOwner.get(r.id as number) ?? null,
  }));
}

export function readRuntimeMaps(db: TraceDb, programId: number): Record<string, MapDump> {
  const rows = db.prepare('SELECT name, dump FROM runtime_maps WHERE program_id = ? ORDER BY name').all(programId) as { name: string; dump: string }[];
  return Object.fromEntries(rows.map((r) => [r.name, JSON.parse(r.dump) as MapDump]));
}

export interface InsnTraceRow {
  /** 1-based step: the registers after this instruction ran. */
  step: number;
  insn: number;
  /** R0..R10 as hex (0x...). */
  regs: string[];
  /** Registers this instruction changed. */
  changed: number[];
}

/** A window of the concrete trace: `count` steps from step `from` (1-based), full registers each. */
export function readInsnTrace(db: TraceDb, programId: number, from: number, count: number): InsnTraceRow[] {
  const cp = db
    .prepare('SELECT step, regs FROM runtime_reg_checkpoints WHERE program_id = ? AND step < ? ORDER BY step DESC LIMIT 1')
    .get(programId, Math.max(1, from)) as { step: number; regs: Buffer } | undefined;
  if (!cp) return [];
  const lo = new Int32Array(11);
  const hi = new Int32Array(11);
  for (let r = 0; r < 11; r++) {
    lo[r] = cp.regs.readInt32LE(r * 8);
    hi[r] = cp.regs.readInt32LE(r * 8 + 4);
  }
  const rows = db
    .prepare('SELECT step, insn, changed FROM runtime_insn_steps WHERE program_id = ? AND step > ? AND step < ? ORDER BY step')
    .all(programId, cp.step, from + count) as { step: number; insn: number; changed: Buffer }[];
  const out: InsnTraceRow[] = [];
  for (const row of rows) {
    const changed: number[] = [];
    for (let i = 0; i + 9 <= row.changed.length; i += 9) {
      const r = row.changed.readUInt8(i);
      lo[r] = row.changed.readInt32LE(i + 1);
      hi[r] = row.changed.readInt32LE(i + 5);
      changed.push(r);
    }
    if (row.step >= from) {
      const regs: string[] = [];
      for (let r = 0; r < 11; r++) regs.push('0x' + ((BigInt(hi[r] >>> 0) << 32n) | BigInt(lo[r] >>> 0)).toString(16));
      out.push({ step: row.step, insn: row.insn, regs, changed });
    }
  }
  return out;
}
