import { BpfscopeError } from '../errors';
import { linkProgram } from '../object/link';
import { programListing } from '../object/insn/listing';
import { parseObject } from '../object/object';
import type { TraceDb } from '../trace/db';
import { readRecordedKernel } from '../trace/kernel';
import { listAllocEvents, listObjects, listRuns, readInsnTrace, readRuntimeMaps, type RuntimeRunRow } from '../trace/runtime';
import type { AllocEvent, InsnRow, RunResult, StepState } from './contract';

/**
 * A concrete run (`bpfscope run --trace-insns`, a programs row of origin
 * 'run') seen through the same questions as a verification: steps, the
 * state at a step, the listing with visit counts, the step that last wrote
 * a register. Step k of the app is the k-th instruction executed in the
 * traced run (helper E's 1-based trace step k+1): its insn and the registers
 * after it, as a verifier step is an insn and the state after it.
 * Reads only through main/trace/runtime.ts.
 */
const CHUNK = 16_384;
const REGS = ['R0', 'R1', 'R2', 'R3', 'R4', 'R5', 'R6', 'R7', 'R8', 'R9', 'R10'];

export class RunView {
  /** insn of every step, read once (4 bytes a step). */
  private insns: Int32Array | null = null;
  private changedMasks: Uint16Array | null = null;
  private listingRows: InsnRow[] | null = null;
  /** A run session is written in one transaction: its rows do not change once there. */
  private runRows: RuntimeRunRow[] | null = null;

  constructor(
    private db: TraceDb,
    private path: string,
    readonly id: number,
  ) {}

  private runs(): RuntimeRunRow[] {
    this.runRows ??= listRuns(this.db, this.id);
    return this.runRows;
  }

  /** The run the trace holds registers for: helper E traces the last run of a --repeat. */
  tracedRun(): number {
    const runs = this.runs();
    return runs.length ? runs[runs.length - 1].run : 0;
  }

  /** Does this programs row hold a concrete trace at all? */
  static hasTrace(db: TraceDb, id: number): boolean {
    return readInsnTrace(db, id, 1, 1).length > 0;
  }

  private load(): { insns: Int32Array; changed: Uint16Array } {
    if (this.insns && this.changedMasks) return { insns: this.insns, changed: this.changedMasks };
    const insns: number[] = [];
    const changed: number[] = [];
    for (let from = 1; ; from += CHUNK) {
      const rows = readInsnTrace(this.db, this.id, from, CHUNK);
      for (const r of rows) {
        insns.push(r.insn);
        changed.push(r.changed.reduce((m, reg) => m | (1 << reg), 0));
      }
      if (rows.length < CHUNK) break;
    }
    this.insns = Int32Array.from(insns);
    this.changedMasks = Uint16Array.from(changed);
    return { insns: this.insns, changed: this.changedMasks };
  }

  insnOf(step: number): number {
    return this.load().insns[step];
  }

  steps(): number {
    return this.load().insns.length;
  }

  stateAt(step: number): StepState {
    const total = this.steps();
    if (step >= total) throw new BpfscopeError(`no step ${step}: the run has ${total} steps`, this.path);
    const row = readInsnTrace(this.db, this.id, step + 1, 1)[0];
    if (!row) throw new BpfscopeError(`the concrete trace has no step ${step + 1}`, this.path);
    const text = this.listing().find((r) => r.insn === row.insn)?.text ?? '';
    // The faulting insn did not complete, so the trace ends before it: the last step carries the fault.
    const fault = this.runs().find((r) => r.fault && Math.min(total - 1, r.fault.step - 1) === step)?.fault;
    return {
      step,
      line: 0,
      insn: row.insn,
      frame: 0,
      kind: 'insn',
      path: 0,
      frames: [],
      refs: [],
      lockHeld: false,
      ...(fault ? { error: `fault at insn ${fault.insn}: ${fault.kind}: ${fault.message}` } : {}),
      text,
      changed: row.changed.map((r) => REGS[r]),
      concrete: { run: this.tracedRun(), regs: row.regs, changed: row.changed },
    };
  }

  stepsForInsn(insn: number): number[] {
    const { insns } = this.load();
    const out: number[] = [];
    for (let i = 0; i < insns.length; i++) if (insns[i] === insn) out.push(i);
    return out;
  }

  /** The step at or before `step` whose instruction wrote `reg`; null when no instruction did (an entry value). */
  lastWrite(step: number, reg: string): number | null {
    const r = REGS.indexOf(reg);
    if (r < 0) return null;
    const { changed } = this.load();
    for (let s = Math.min(step, changed.length - 1); s >= 0; s--) if (changed[s] & (1 << r)) return s;
    return null;
  }

  /** The step the run faulted at, if it did. */
  firstError(): number | null {
    const f = this.runs().find((r) => r.fault)?.fault;
    return f ? Math.max(0, Math.min(this.steps() - 1, f.step - 1)) : null;
  }

  /** The program's instructions as `bpfscope disasm` prints them (linked as libbpf links it), with visits in this run. */
  listing(): InsnRow[] {
    if (this.listingRows) return this.listingRows;
    const row = this.db
      .prepare('SELECT o.path, o.bytes, p.name FROM programs p JOIN objects o ON o.id = p.object_id WHERE p.id = ?')
      .get(this.id) as { path: string; bytes: Buffer; name: string } | undefined;
    if (!row) throw new BpfscopeError(`run ${this.id} has no object stored with it`, this.path);
    let entries;
    try {
      // Source lines read as the log of the kernel the trace was recorded on prints them.
      const kernelRelease = readRecordedKernel(this.db)?.release;
      entries = programListing(linkProgram(parseObject(new Uint8Array(row.bytes), row.path), row.name), undefined, { kernelRelease });
    } catch (err) {
      const why = err instanceof BpfscopeError ? err.describe() : String(err);
      throw new BpfscopeError(`the object stored with this run is damaged: ${why}`, this.path);
    }
    const visits = new Map<number, number>();
    for (const i of this.load().insns) visits.set(i, (visits.get(i) ?? 0) + 1);
    const faults = new Map<number, string>();
    for (const r of this.runs()) if (r.fault) faults.set(r.fault.insn, `run ${r.run}: ${r.fault.kind}: ${r.fault.message}`);
    const rows: InsnRow[] = [];
    let source: string | null = null;
    for (const e of entries) {
      if (e.type === 'source') source = e.text.replace(/^;\s*/, '');
      else {
        const row: InsnRow = { insn: e.idx, text: e.text.replace(/^\d+:\s*/, ''), source, visits: visits.get(e.idx) ?? 0 };
        const fault = faults.get(e.idx);
        if (fault) row.fault = fault;
        rows.push(row);
        source = null;
      }
    }
    this.listingRows = rows;
    return rows;
  }

  /**
   * Allocator events on this run's step axis: the traced run's events at
   * their step, earlier runs' before step 0 (-1), the map free after the
   * last step (`steps`).
   */
  allocEvents(): AllocEvent[] {
    const traced = this.tracedRun();
    const total = this.steps();
    return listAllocEvents(this.db, this.id).map((e) => ({
      seq: e.seq,
      kind: e.kind,
      objectId: e.object,
      objectLabel: `object ${e.object} ${e.type}`,
      insn: e.insn >= 0 ? e.insn : null,
      step: e.step,
      detail: [e.type, e.owner ? `owner ${e.owner}` : '', e.detail ?? ''].filter(Boolean).join(' · '),
      owner: e.owner,
      run: e.run,
      axisStep: e.run === traced ? Math.max(0, e.step - 1) : e.run < traced ? -1 : total,
    }));
  }

  result(): RunResult {
    return {
      tracedRun: this.tracedRun(),
      steps: this.steps(),
      runs: this.runs(),
      objects: listObjects(this.db, this.id),
      maps: readRuntimeMaps(this.db, this.id),
    };
  }
}
