import { basename } from 'node:path';
import { BpfscopeError } from '../errors';
import type { TraceDb } from '../trace/db';
import { StateCursor } from '../trace/verifierCursor';
import { logInfo, readLogLines, readStepColumns, stepCount, type StepColumns } from '../trace/verifierRead';
import { alignWalks, type Alignment, type PathLink } from './align';
import { DiffScanner, type Difference, type StateSource } from './scan';
import { compareStats, type ProgramStats, type StatsComparison } from './stats';

/**
 * `bpfscope compare` over two trace files: the edge that reads the traces
 * (trace/ readers) and hands the pure parts (stats.ts, align.ts, scan.ts)
 * their inputs. The CLI and the API session both use it.
 */

export interface TraceSide {
  db: TraceDb;
  /** The file, for messages. */
  file: string;
}

/** Every program of a trace with what its log's closing lines said. */
export function readProgramStats(db: TraceDb): ProgramStats[] {
  const rows = db.prepare(`SELECT p.id, p.name, o.path, p.verdict, p.error, p.processed_insns, p.total_states, p.peak_states, p.stack_depth
      FROM programs p LEFT JOIN objects o ON o.id = p.object_id ORDER BY p.id`).all() as {
    id: number; name: string; path: string | null; verdict: 'accepted' | 'rejected' | null; error: string | null;
    processed_insns: number | null; total_states: number | null; peak_states: number | null; stack_depth: string | null;
  }[];
  return rows.map((r) => ({
    id: r.id, program: r.name, object: r.path ? basename(r.path) : '', verdict: r.verdict, error: r.error,
    processedInsns: r.processed_insns, totalStates: r.total_states, peakStates: r.peak_states, stackDepth: r.stack_depth,
  }));
}

export function compareTraceStats(a: TraceDb, b: TraceDb): StatsComparison {
  return compareStats(readProgramStats(a), readProgramStats(b));
}

interface LogBlockRow {
  block: number;
  first_line: number;
  line_count: number;
  data: Buffer;
}

/**
 * The first 1-based log line where the two programs' logs differ
 * (Infinity: none). Blocks are compared as stored first (the same log
 * written by the same writer is the same bytes), then line by line.
 */
export function firstDifferentLine(a: TraceDb, pa: number, b: TraceDb, pb: number): number {
  const q = 'SELECT block, first_line, line_count, data FROM verifier_log_blocks WHERE program_id = ? ORDER BY block';
  const ia = a.prepare(q).iterate(pa) as IterableIterator<LogBlockRow>;
  const ib = b.prepare(q).iterate(pb) as IterableIterator<LogBlockRow>;
  try {
    for (;;) {
      const x = ia.next();
      const y = ib.next();
      if (x.done || y.done) {
        if (x.done && y.done) return Infinity;
        return (x.done ? y.value : x.value).first_line;
      }
      const ra = x.value;
      const rb = y.value;
      if (ra.first_line !== rb.first_line) return Math.min(ra.first_line, rb.first_line);
      if (ra.line_count === rb.line_count && ra.data.equals(rb.data)) continue;
      const la = readLogLines(a, pa, ra.first_line, ra.line_count);
      const lb = readLogLines(b, pb, rb.first_line, rb.line_count);
      for (let i = 0; i < Math.max(la.length, lb.length); i++) {
        if (la[i]?.text !== lb[i]?.text) return ra.first_line + i;
      }
    }
  } finally {
    ia.return?.();
    ib.return?.();
  }
}

/** Steps 0..n-1 of both logs come from the same lines: n (a step's state depends only on the lines up to it). */
function identicalSteps(ca: StepColumns, cb: StepColumns, line: number): number {
  const n = Math.min(ca.line.length, cb.line.length);
  let lo = 0;
  let hi = n;
  // line[] grows with the step: the first step whose line is at or past the first different one.
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ca.line[mid] < line) lo = mid + 1;
    else hi = mid;
  }
  let k = lo;
  while (k > 0 && (ca.line[k - 1] !== cb.line[k - 1] || ca.insn[k - 1] !== cb.insn[k - 1])) k--;
  return k;
}

export interface ComparisonSummary {
  stepsA: number;
  stepsB: number;
  /** Aligned pairs (see align.ts), and how many steps have no partner on the other side. */
  pairs: number;
  paired: number;
  onlyA: number;
  onlyB: number;
  /** Leading steps both logs print alike (their states are equal without comparing them). */
  identicalSteps: number;
}

/** A difference as the CLI and the API give it: the pure scan's, with both steps' log lines. */
export interface DifferenceJson extends Difference {
  aText: string | null;
  bText: string | null;
  aPath: number | null;
  bPath: number | null;
}

/** The path tree (a loop's log has 150,000 paths: only the columns the alignment needs). */
function pathLinks(db: TraceDb, programId: number): PathLink[] {
  const rows = db.prepare('SELECT path, parent_path, pushed_step, to_insn FROM verifier_paths WHERE program_id = ? ORDER BY path')
    .raw().all(programId) as [number, number | null, number | null, number | null][];
  return rows.map(([path, parentPath, pushedStep, toInsn]) => ({ path, parentPath, pushedStep, toInsn }));
}

function source(db: TraceDb, programId: number, cols: StepColumns): StateSource {
  const cursor = new StateCursor(db, programId, cols);
  return { state: (s) => cursor.state(s), style: logInfo(db, programId)?.rangeStyle ?? 'modern', kind: cols.kind, insn: cols.insn };
}

/** One program's two verifications, aligned, with the differences found on demand (scan.ts). */
export class ProgramComparison {
  readonly alignment: Alignment;
  private readonly scanner: DiffScanner;
  private readonly cols: [StepColumns, StepColumns];
  private readonly same: number;

  constructor(
    private readonly a: TraceSide & { programId: number },
    private readonly b: TraceSide & { programId: number },
    /** Compare every state, also where both logs are the same text (tests, and the benchmark's worst case). */
    opts: { compareIdentical?: boolean } = {},
  ) {
    for (const side of [a, b]) {
      if (!logInfo(side.db, side.programId)) throw new BpfscopeError(`program ${side.programId} has no verifier log to compare`, side.file);
    }
    const ca = readStepColumns(a.db, a.programId);
    const cb = readStepColumns(b.db, b.programId);
    this.cols = [ca, cb];
    this.same = opts.compareIdentical ? 0 : identicalSteps(ca, cb, firstDifferentLine(a.db, a.programId, b.db, b.programId));
    this.alignment = alignWalks({ ...ca, paths: pathLinks(a.db, a.programId) }, { ...cb, paths: pathLinks(b.db, b.programId) });
    this.scanner = new DiffScanner(this.alignment, source(a.db, a.programId, ca), source(b.db, b.programId, cb), { equalBefore: this.same });
  }

  summary(): ComparisonSummary {
    const al = this.alignment;
    return {
      stepsA: stepCount(this.a.db, this.a.programId), stepsB: stepCount(this.b.db, this.b.programId),
      pairs: al.length, paired: al.paired, onlyA: al.onlyA, onlyB: al.onlyB, identicalSteps: this.same,
    };
  }

  private json(d: Difference | null): DifferenceJson | null {
    if (!d) return null;
    const text = (side: TraceSide & { programId: number }, cols: StepColumns, step: number | null): string | null =>
      step === null ? null : (readLogLines(side.db, side.programId, cols.line[step], 1)[0]?.text ?? null);
    return {
      ...d,
      aText: text(this.a, this.cols[0], d.aStep), bText: text(this.b, this.cols[1], d.bStep),
      aPath: d.aStep === null ? null : this.cols[0].path[d.aStep], bPath: d.bStep === null ? null : this.cols[1].path[d.bStep],
    };
  }

  /** The first difference at pair `from` or after it. */
  next(from: number): DifferenceJson | null {
    return this.json(this.scanner.next(from - 1));
  }

  /** The last difference before pair `before`. */
  previous(before: number): DifferenceJson | null {
    return this.json(this.scanner.previous(before));
  }
}

/** A program of a trace by name (or id), for `compare -p`: one that has a verifier log. */
export function programByName(side: TraceSide, want: string): number {
  const rows = side.db.prepare('SELECT p.id, p.name FROM programs p JOIN verifier_logs v ON v.program_id = p.id ORDER BY p.id').all() as {
    id: number; name: string;
  }[];
  const hit = rows.find((r) => r.name === want) ?? rows.find((r) => String(r.id) === want);
  if (!hit) {
    const have = rows.length ? `have: ${rows.map((r) => r.name).join(', ')}` : 'it has no verifier log';
    throw new BpfscopeError(`no program '${want}' with a verifier log (${have})`, side.file);
  }
  return hit.id;
}
