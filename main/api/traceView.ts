import { BpfscopeError } from '../errors';
import { errorLines } from '../trace/errorLines';
import { readRecordedKernel } from '../trace/kernel';
import { parseObject } from '../object/object';
import { findAllByName } from '../object/btf/lookup';
import type { Btf } from '../object/btf/types';
import { objNewZeroedRanges, structLayout, type StructLayout as ObjLayout } from '../object/layout';
import { openTrace, type TraceDb } from '../trace/db';
import { damageWarning, firstProblem } from '../trace/health';
import { needsAnalysis } from './analyzeRecorded';
import { listAllocEvents, listRuns, type RuntimeRunRow } from '../trace/runtime';
import {
  insnVisitCounts,
  listRefs,
  logInfo,
  readLogLines,
  readSteps,
  refLifetime,
  stateAtStep,
  stepCount,
  stepsForInsn,
  errorsAndWarnings,
} from '../trace/verifierRead';
import { lexLine } from '../verifier/lexer';
import { whyAt, type WhyResult } from '../trace/whyRead';
import { RunView } from './runView';
import type {
  AllocEvent,
  RunResult,
  InsnRow,
  LayoutField,
  LogLine,
  PathInfo,
  PathWindow,
  ProgramSummary,
  RefLifetime,
  SearchHit,
  StepRow,
  StepState,
  StructLayout,
  TraceInfo,
} from './contract';

/**
 * One open trace, read-only, answering the views' questions with helper
 * D's verifier readers (main/trace/verifierRead.ts), helper A's struct
 * layouts (main/object/layout.ts) over the object bytes stored in the
 * trace, and helper E's runtime tables. Small per-program caches keep
 * stepping cheap: the previous state (for "what changed"), the step→line
 * index used to label log lines, the listing.
 */
const STATE_CACHE = 64;
const SEARCH_CHUNK = 4096;
const LAST_WRITE_BUDGET = 4000;

export class TraceView {
  private states = new Map<string, StepState>();
  private listings = new Map<number, InsnRow[]>();
  private btfs = new Map<number, Btf | null>();
  private errorLines = new Map<number, Set<number>>();
  /** Concrete runs (origin 'run' with a register trace), by program id. */
  private runs = new Map<number, RunView>();
  private scanned = false;

  private constructor(
    readonly path: string,
    private db: TraceDb,
  ) {
  }

  static open(path: string): TraceView {
    return new TraceView(path, openTrace(path, { readonly: true }));
  }

  close(): void {
    this.db.close();
  }

  /** The connection, for readers that take two traces at once (compare). */
  database(): TraceDb {
    return this.db;
  }

  /**
   * True when a recorded program's raw log still needs the analysis the views
   * read (analyzeRecorded.ts). Never for a damaged trace: writing into it could
   * lose what is still readable.
   */
  needsAnalysis(): boolean {
    return damageWarning(this.db) === undefined && needsAnalysis(this.db);
  }

  /** The first problem the checks on open found, or undefined when the trace is sound. */
  damage(): string | undefined {
    return firstProblem(this.db);
  }

  private hasTable(name: string): boolean {
    return !!this.db.prepare("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?").get(name);
  }

  info(): Omit<TraceInfo, 'traceId'> {
    const rows = this.db
      .prepare(
        `SELECT id, name, section, prog_type, origin, verdict, errno, error, processed_insns, verification_time_us
         FROM programs ORDER BY id`,
      )
      .all() as ProgramRow[];
    const hasLog = this.hasTable('verifier_logs');
    const hasTrace = this.hasTable('runtime_insn_steps');
    const programs: ProgramSummary[] = [];
    const unreadable: string[] = [];
    for (const r of rows) {
      const summary = this.salvage(() => this.programSummary(r, hasLog, hasTrace), () => unreadable.push(r.name));
      if (summary) programs.push(summary);
    }
    const hasRuntime =
      this.salvage(() => this.hasTable('runtime_events') && !!this.db.prepare('SELECT 1 FROM runtime_events LIMIT 1').get()) ?? false;
    this.scanned = true;
    const kernel = readRecordedKernel(this.db);
    let damage = damageWarning(this.db);
    if (damage && unreadable.length) damage += `; unreadable: ${unreadable.join(', ')}`;
    return { path: this.path, programs, hasRuntime, ...(kernel ? { kernel } : {}), ...(damage ? { damage } : {}) };
  }

  /**
   * On a trace the checks found damaged, a part that cannot be read is left
   * out (`lost` is told) and the rest is served; on a sound trace an error is
   * an error.
   */
  private salvage<T>(fn: () => T, lost?: () => void): T | undefined {
    try {
      return fn();
    } catch (err) {
      if (damageWarning(this.db) === undefined) throw err;
      lost?.();
      return undefined;
    }
  }

  private programSummary(r: ProgramRow, hasLog: boolean, hasTrace: boolean): ProgramSummary | undefined {
    const log = hasLog ? logInfo(this.db, r.id) : undefined;
    const named = { id: r.id, name: r.name, section: r.section, progType: r.prog_type, origin: r.origin };
    // A run with a register trace (--trace-insns) is steppable as a program of its own;
    // a run without one shows its events in the lifetimes of the program it ran.
    if (!log && r.origin === 'run' && hasTrace && RunView.hasTrace(this.db, r.id)) {
      const run = this.runs.get(r.id) ?? new RunView(this.db, this.path, r.id);
      this.runs.set(r.id, run);
      const last = runSummary(this.db, r.id);
      return {
        ...named,
        verdict: last?.fault ? 'faulted' : 'ran',
        errno: null,
        ...errorLines(last?.fault ? `${last.fault.kind}: ${last.fault.message} (insn ${last.fault.insn})` : null),
        processedInsns: null,
        verificationTimeUs: null,
        steps: run.steps(),
        lines: 0,
      };
    }
    if (!log) return undefined;
    return {
      ...named,
      verdict: r.verdict,
      errno: r.errno,
      ...errorLines(r.error),
      processedInsns: r.processed_insns,
      verificationTimeUs: r.verification_time_us,
      steps: log.stepCount,
      lines: log.lineCount,
    };
  }

  /** The concrete run behind a program id, or undefined for a verified program. */
  private run(id: number): RunView | undefined {
    if (!this.scanned) this.info();
    return this.runs.get(id);
  }

  runResult(id: number): RunResult {
    const run = this.run(id);
    if (!run) throw new BpfscopeError(`program ${id} is not a concrete run (bpfscope run --trace-insns)`, this.path);
    return run.result();
  }

  private program(id: number): ProgramSummary {
    const p = this.info().programs.find((x) => x.id === id);
    if (!p) throw new BpfscopeError(`no program ${id} with a verifier log in this trace`, this.path);
    return p;
  }

  private steps(id: number): number {
    return stepCount(this.db, id);
  }

  // ---- raw log

  /** The last step whose line is at or before `line` (binary search over the packed step rows). */
  private stepAtLine(id: number, line: number): number | null {
    let lo = 0;
    let hi = this.steps(id) - 1;
    let best: number | null = null;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const row = readSteps(this.db, id, mid, 1)[0];
      if (!row) break;
      if (row.line <= line) {
        best = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return best;
  }

  private errorLineSet(id: number): Set<number> {
    let s = this.errorLines.get(id);
    if (!s) {
      s = new Set(errorsAndWarnings(this.db, id).filter((m) => m.severity === 'error').map((m) => m.line));
      this.errorLines.set(id, s);
    }
    return s;
  }

  logLines(id: number, from: number, count: number): LogLine[] {
    if (this.run(id)) return [];
    const lines = readLogLines(this.db, id, from, count);
    if (lines.length === 0) return [];
    const errors = this.errorLineSet(id);
    let step = this.stepAtLine(id, lines[0].no);
    const total = this.steps(id);
    // Step rows after the first line, to move `step` forward as lines pass.
    const ahead = readSteps(this.db, id, (step ?? -1) + 1, lines.length + 1);
    let k = 0;
    return lines.map((l) => {
      while (k < ahead.length && ahead[k].line <= l.no) step = ahead[k++].step;
      const lx = lexLine(l.text);
      const insn = 'insn' in lx && typeof lx.insn === 'number' ? lx.insn : null;
      return {
        line: l.no,
        text: l.text,
        kind: lx.kind,
        step: step !== null && step < total ? step : null,
        insn,
        error: errors.has(l.no) || lx.kind === 'leak' || lx.kind === 'errorBlock',
      };
    });
  }

  search(id: number, query: string, regex: boolean, fromLine: number, backwards: boolean): SearchHit | null {
    if (this.run(id)) throw new BpfscopeError('a concrete run has no verifier log to search', this.path);
    let re: RegExp;
    try {
      re = regex ? new RegExp(query, 'i') : new RegExp(query.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'i');
    } catch (err) {
      throw new BpfscopeError(`bad regular expression: ${err instanceof Error ? err.message : String(err)}`);
    }
    const total = logInfo(this.db, id)?.lineCount ?? 0;
    const hit = (no: number): SearchHit => ({ line: no, step: this.stepAtLine(id, no) });
    if (!backwards) {
      for (let at = Math.max(1, fromLine); at <= total; at += SEARCH_CHUNK) {
        for (const l of readLogLines(this.db, id, at, SEARCH_CHUNK)) if (re.test(l.text)) return hit(l.no);
      }
    } else {
      for (let end = Math.min(total, fromLine); end >= 1; end -= SEARCH_CHUNK) {
        const start = Math.max(1, end - SEARCH_CHUNK + 1);
        const lines = readLogLines(this.db, id, start, end - start + 1);
        for (let i = lines.length - 1; i >= 0; i--) if (re.test(lines[i].text)) return hit(lines[i].no);
      }
    }
    return null;
  }

  // ---- steps

  stepRows(id: number, from: number, count: number): StepRow[] {
    const run = this.run(id);
    if (run) {
      const n = run.steps();
      const out: StepRow[] = [];
      for (let s = from; s < Math.min(n, from + count); s++) out.push({ step: s, line: 0, insn: run.insnOf(s), frame: 0, kind: 'insn', path: 0 });
      return out;
    }
    return readSteps(this.db, id, from, count);
  }

  stateAt(id: number, step: number): StepState {
    const run = this.run(id);
    if (run) return run.stateAt(step);
    const total = this.steps(id);
    if (step >= total) throw new BpfscopeError(`no step ${step}: the program has ${total} steps`, this.path);
    const key = `${id}:${step}`;
    const hit = this.states.get(key);
    if (hit) return hit;
    const base = stateAtStep(this.db, id, step);
    const text = readLogLines(this.db, id, base.line, 1)[0]?.text ?? '';
    const out: StepState = { ...base, text, changed: [] };
    if (step > 0) {
      const prev = this.states.get(`${id}:${step - 1}`) ?? this.rawState(id, step - 1);
      out.changed = changedSince(prev, out);
    }
    this.states.set(key, out);
    if (this.states.size > STATE_CACHE) this.states.delete(this.states.keys().next().value as string);
    return out;
  }

  private rawState(id: number, step: number): StepState {
    return { ...stateAtStep(this.db, id, step), text: '', changed: [] };
  }

  stepsForInsn(id: number, insn: number): number[] {
    const run = this.run(id);
    if (run) return run.stepsForInsn(insn);
    return stepsForInsn(this.db, id, insn);
  }

  /**
   * The step that last changed `reg` of `frame` on the way to `step`: walks
   * back along the verifier's own history of this state (the current path,
   * then the branch that pushed it, and so on), not through other paths that
   * merely come earlier in the log. Bounded: a register that has not changed
   * for LAST_WRITE_BUDGET steps of history answers null.
   */
  lastWrite(id: number, step: number, frame: number, reg: string): number | null {
    const run = this.run(id);
    if (run) return run.lastWrite(step, reg);
    const read = (st: StepState): string | undefined => {
      const f = st.frames.find((x) => x.frame === frame);
      if (!f) return undefined;
      return reg.startsWith('fp') ? f.stack[reg.slice(2)]?.raw : f.regs[reg]?.raw;
    };
    const pathStmt = this.db.prepare('SELECT start_step s, pushed_step p FROM verifier_paths WHERE program_id = ? AND path = ?');
    const now = read(this.stateAt(id, step));
    let cur = step;
    for (let budget = LAST_WRITE_BUDGET; budget > 0; budget--) {
      const row = readSteps(this.db, id, cur, 1)[0];
      if (!row) return null;
      const path = pathStmt.get(id, row.path) as { s: number; p: number | null } | undefined;
      const prev = path && cur <= path.s ? path.p : cur - 1;
      if (prev === null || prev < 0) return now === undefined ? null : cur;
      if (read(this.rawState(id, prev)) !== now) return cur;
      cur = prev;
    }
    return null;
  }

  /** The provenance chain of `loc` after `step` (main/trace/whyRead.ts). */
  why(id: number, step: number, loc: string): WhyResult {
    if (this.run(id)) throw new BpfscopeError('a concrete run has no verifier log: where a value came from is asked of a verified program', this.path);
    this.program(id);
    return whyAt(this.db, id, step, loc);
  }

  firstError(id: number): number | null {
    const run = this.run(id);
    if (run) return run.firstError();
    const m = errorsAndWarnings(this.db, id).find((x) => x.severity === 'error');
    if (!m) return null;
    return Math.max(0, m.step);
  }

  // ---- listing

  /** The instructions (verifierListing), cached; a concrete run's from its object. */
  listing(id: number): InsnRow[] {
    const run = this.run(id);
    if (run) return run.listing();
    const cached = this.listings.get(id);
    if (cached) return cached;
    const rows = verifierListing(this.db, id);
    this.listings.set(id, rows);
    return rows;
  }

  // ---- references and paths

  paths(id: number, from: number, count: number): PathWindow {
    if (this.run(id)) return { total: 0, from, paths: [] };
    const total = (this.db.prepare('SELECT count(*) n FROM verifier_paths WHERE program_id = ?').get(id) as { n: number }).n;
    const rows = this.db
      .prepare(
        `SELECT path, start_step startStep, start_line startLine, from_insn fromInsn, to_insn toInsn,
         pushed_step pushedStep, parent_path parentPath, end_step endStep, end_line endLine, end_insn endInsn,
         end_kind "end" FROM verifier_paths WHERE program_id = ? AND path >= ? ORDER BY path LIMIT ?`,
      )
      .all(id, from, count) as PathInfo[];
    return { total, from, paths: rows };
  }

  refs(id: number): RefLifetime[] {
    if (this.run(id)) return [];
    const out: RefLifetime[] = [];
    for (const r of listRefs(this.db, id)) {
      const life = refLifetime(this.db, id, r.refObjId);
      const events = life.events.filter((e) => e.kind !== 'acquired').map((e) => ({
        kind: e.kind,
        step: e.step,
        insn: e.insn,
        path: e.path,
        func: e.func,
      }));
      out.push({
        refObjId: r.refObjId,
        kind: r.kind,
        type: out.length < 200 ? this.refType(id, r.acquireStep, r.refObjId) : null,
        acquiredStep: r.acquireStep,
        acquiredInsn: r.acquireInsn,
        acquiredBy: r.func,
        events,
        leaked: events.some((e) => e.kind === 'leak'),
      });
    }
    return out;
  }

  /** The pointee of the register holding the reference just after it was acquired. */
  private refType(id: number, step: number, refObjId: number): string | null {
    const total = this.steps(id);
    for (let s = step; s < Math.min(total, step + 3); s++) {
      const st = this.rawState(id, s);
      for (const f of st.frames) {
        for (const r of Object.values(f.regs)) if (r.refObjId === refObjId && r.pointee) return r.pointee;
      }
    }
    return null;
  }

  // ---- struct layouts from the object stored in the trace

  private btf(id: number): Btf | null {
    if (this.btfs.has(id)) return this.btfs.get(id)!;
    const row = this.db
      .prepare('SELECT o.path, o.bytes FROM programs p JOIN objects o ON o.id = p.object_id WHERE p.id = ?')
      .get(id) as { path: string; bytes: Buffer } | undefined;
    let btf: Btf | null = null;
    if (row) {
      try {
        btf = parseObject(new Uint8Array(row.bytes), row.path).btf ?? null;
      } catch (err) {
        const why = err instanceof BpfscopeError ? err.describe() : String(err);
        throw new BpfscopeError(`the object stored in this trace is damaged: ${why}`, this.path);
      }
    }
    this.btfs.set(id, btf);
    return btf;
  }

  layoutTypes(id: number): string[] {
    const btf = this.btf(id);
    if (!btf) return [];
    const names = new Set<string>();
    const special = new Set<string>();
    for (const t of btf.types) {
      if ((t.kind === 'STRUCT' || t.kind === 'UNION') && t.name && !t.name.startsWith('bpf_') && !t.name.startsWith('__')) {
        names.add(t.name);
        try {
          if (objNewZeroedRanges(structLayout(btf, t.id)).length) special.add(t.name);
        } catch {
          // an unusual type: still listed
        }
      }
    }
    // Types with special fields (what bpf_obj_new allocates, what maps hold) first.
    return [...names].sort((a, b) => Number(special.has(b)) - Number(special.has(a)) || a.localeCompare(b));
  }

  layout(id: number, typeName: string): StructLayout {
    const btf = this.btf(id);
    if (!btf) throw new BpfscopeError('this trace holds no object with BTF (an imported log): no layouts', this.path);
    const hits = findAllByName(btf, typeName).filter((t) => t.kind === 'STRUCT' || t.kind === 'UNION');
    if (!hits.length) throw new BpfscopeError(`no struct or union '${typeName}' in the program's BTF`, this.path);
    const l = structLayout(btf, hits[0].id);
    const zeroed = objNewZeroedRanges(l);
    const fields: LayoutField[] = [];
    flatten(l, 0, 0, '', zeroed, fields);
    for (const h of l.holes) fields.push(gap('hole', h.offset, h.size));
    if (l.padding > 0) fields.push(gap('padding', l.size - l.padding, l.padding));
    fields.sort((a, b) => a.offset - b.offset || a.depth - b.depth);
    return { name: l.name, size: l.size, fields };
  }

  // ---- runtime allocator events (bpfscope run)

  allocEvents(id: number): AllocEvent[] {
    if (!this.hasTable('runtime_events')) return [];
    const run = this.run(id);
    if (run) return run.allocEvents();
    // Runs (bpfscope run) are their own programs rows (origin 'run', with their own
    // copy of the object): the program's runs are those of the same name and object bytes.
    const runs = this.db
      .prepare(
        `SELECT r.id FROM programs r LEFT JOIN objects ro ON ro.id = r.object_id
         WHERE r.id = ? OR (r.origin = 'run' AND r.name = (SELECT name FROM programs WHERE id = ?) AND
           ro.sha256 IS (SELECT o.sha256 FROM programs p LEFT JOIN objects o ON o.id = p.object_id WHERE p.id = ?))
         ORDER BY r.id`,
      )
      .all(id, id, id) as { id: number }[];
    const withEvents = runs.map((r) => ({ id: r.id, events: listAllocEvents(this.db, r.id) })).filter((r) => r.events.length > 0);
    const out: AllocEvent[] = [];
    let base = 0;
    withEvents.forEach((run, k) => {
      for (const e of run.events) {
        if (out.length >= 100_000) break;
        out.push({
          // One timeline over several recorded runs: their seq numbers follow each other.
          seq: base + e.seq,
          kind: e.kind,
          objectId: run.id * 1_000_000 + e.object,
          objectLabel: `${withEvents.length > 1 ? `run ${k + 1} ` : ''}object ${e.object} ${e.type}`,
          insn: e.insn >= 0 ? e.insn : null,
          step: e.step,
          detail: [e.type, e.owner ? `owner ${e.owner}` : '', e.detail ?? ''].filter(Boolean).join(' · '),
          owner: e.owner,
          run: e.run,
        });
      }
      base += run.events[run.events.length - 1].seq;
    });
    return out;
  }
}

/**
 * Instructions as the kernel printed them: the 6.18 `Live regs before insn`
 * table at the top of the log lists every insn (visited or not); each
 * visited insn's first visit gives its text on older kernels and the C
 * source line the log printed just before it. Reads a few lines per insn,
 * never the whole log. (TraceView.listing caches it; the CFG reads it too.)
 */
export function verifierListing(db: TraceDb, id: number): InsnRow[] {
  const visits = new Map(insnVisitCounts(db, id).map((r) => [r.insn, r.visits]));
  const text = new Map<number, string>();
  const source = new Map<number, string>();
  for (const l of readLogLines(db, id, 1, SEARCH_CHUNK)) {
    const lx = lexLine(l.text);
    if (lx.kind === 'liveRow' && !text.has(lx.insn)) text.set(lx.insn, lx.text);
  }
  for (const insn of visits.keys()) {
    const first = stepsForInsn(db, id, insn)[0];
    if (first === undefined) continue;
    const row = readSteps(db, id, first, 1)[0];
    if (!row) continue;
    const window = readLogLines(db, id, Math.max(1, row.line - 4), 8);
    let src: string | null = null;
    for (const l of window) {
      const lx = lexLine(l.text);
      if (lx.kind === 'source') src = l.text.replace(/^;\s*/, '');
      else if (lx.kind === 'insn') {
        if (lx.insn === insn && l.no >= row.line) {
          if (!text.has(insn)) text.set(insn, `(${lx.opcode}) ${lx.text}`);
          if (src !== null) source.set(insn, src);
          break;
        }
        src = null;
      }
    }
  }
  return [...new Set([...text.keys(), ...visits.keys()])]
    .sort((a, b) => a - b)
    .map((insn) => ({ insn, text: text.get(insn) ?? '', source: source.get(insn) ?? null, visits: visits.get(insn) ?? 0 }));
}

interface ProgramRow {
  id: number;
  name: string;
  section: string | null;
  prog_type: string | null;
  origin: string;
  verdict: string | null;
  errno: number | null;
  error: string | null;
  processed_insns: number | null;
  verification_time_us: number | null;
}

function runSummary(db: TraceDb, id: number): RuntimeRunRow | undefined {
  const runs = listRuns(db, id);
  return runs.find((r) => r.fault) ?? runs[runs.length - 1];
}

function gap(kind: 'hole' | 'padding', offset: number, size: number): LayoutField {
  return { name: kind, offset, size, bitOffset: null, bitSize: null, type: '', kind, special: null, tags: [], depth: 0, zeroedByObjNew: false };
}

function flatten(
  l: ObjLayout,
  base: number,
  depth: number,
  prefix: string,
  zeroed: { offset: number; size: number }[],
  out: LayoutField[],
): void {
  for (const m of l.members) {
    const offset = base + m.offset;
    const isZeroed = zeroed.some((z) => offset >= z.offset && offset + m.size <= z.offset + z.size);
    out.push({
      name: prefix + (m.name || '(anon)'),
      offset,
      size: m.size,
      bitOffset: m.bitSize !== undefined ? (m.bitOffset ?? 0) : null,
      bitSize: m.bitSize ?? null,
      type: m.type,
      kind: m.specialField ? 'special' : 'member',
      special: m.special ?? null,
      tags: m.tags ?? [],
      depth,
      zeroedByObjNew: isZeroed,
    });
    // Special structs are drawn whole; other nested structs show their members.
    if (m.nested && !m.specialField && depth < 4) flatten(m.nested, offset, depth + 1, `${prefix}${m.name ? m.name + '.' : ''}`, zeroed, out);
  }
}

/**
 * Registers and slots of the current frame whose raw text differs from the
 * previous step's on the same path. More than the kernel prints after ';'
 * (it prints the registers the insn scratched): a NULL check also changes
 * every register that shares the checked pointer's id; a call clears R1-R5.
 */
function changedSince(prev: StepState, cur: StepState): string[] {
  const a = prev.frames[prev.frames.length - 1];
  const b = cur.frames[cur.frames.length - 1];
  // The first step of a path follows another path's last step in the log: nothing to compare with.
  if (!a || !b || prev.path !== cur.path) return [];
  if (prev.frames.length !== cur.frames.length) return Object.keys(b.regs);
  const out: string[] = [];
  for (const [k, v] of Object.entries(b.regs)) if (a.regs[k]?.raw !== v.raw) out.push(k);
  // A register that held a value and holds none now: a call clobbered it (R1-R5).
  for (const k of Object.keys(a.regs)) if (!(k in b.regs)) out.push(k);
  for (const [k, v] of Object.entries(b.stack)) if (a.stack[k]?.raw !== v.raw) out.push(`fp${k}`);
  return out;
}
