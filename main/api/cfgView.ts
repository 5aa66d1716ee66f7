import { BpfscopeError } from '../errors';
import { buildCfg, type Cfg } from '../cfg/blocks';
import { flowFromLog, flowFromSlots, type FlowInsn } from '../cfg/flow';
import { cfgGraph, type CfgGraph, type CfgPath } from '../cfg/graph';
import { historyRanges, PathMarker, WalkCounter, type WalkPath } from '../cfg/walk';
import { disassemble, decodeInsns } from '../object/insn/instruction';
import { linkedNames, linkProgram } from '../object/link';
import { parseObject } from '../object/object';
import type { TraceDb } from '../trace/db';
import { insnVisitCounts, listPaths, readLogLines, readStep, readSteps, stepCount } from '../trace/verifierRead';
import { lexLine } from '../verifier/lexer';

/** Steps (and log lines) read at a time on a pass over the whole walk. */
const CHUNK = 65_536;
/** The history a `cfg:path` follows back at most (a 1.8 M-step loop's is nearly all of it). */
export const HISTORY_STEPS = 400_000;

/**
 * The CFG of one verified program of a trace: its instructions from the
 * object the trace holds (linked as it was loaded) when they agree with the
 * log, else from the texts the log printed; the verifier's walk read from
 * the step rows. The graph is built once; the history to a step is read per
 * call (the app asks for it at every cursor move).
 */
export class CfgView {
  private cfg: Cfg;
  private insns: FlowInsn[];
  private source: 'object' | 'log';
  private names = new Map<number, string>();
  private paths = new Map<number, WalkPath>();
  private graphJson: CfgGraph | null = null;

  constructor(
    private readonly db: TraceDb,
    private readonly programId: number,
  ) {
    const { texts, funcStarts } = logTexts(db, programId);
    const logged = flowFromLog([...texts].sort((a, b) => a[0] - b[0]).map(([insn, text]) => ({ insn, text })));
    const fromObject = this.objectFlow(texts);
    this.source = fromObject ? 'object' : 'log';
    this.insns = fromObject ?? logged;
    if (this.insns.length === 0) throw new BpfscopeError(`program ${programId} has no instructions in its log or object: no CFG`);
    for (const [start] of this.names) funcStarts.push(start);
    this.cfg = buildCfg(this.insns, funcStarts);
    for (const p of listPaths(db, programId)) this.paths.set(p.path, { startStep: p.startStep, fromInsn: p.fromInsn, pushedStep: p.pushedStep });
  }

  /**
   * The linked program from the object stored with the log, when every
   * instruction the log printed has the same opcode there: a log recorded
   * from another build of the object falls back to the log's own texts.
   */
  private objectFlow(logText: ReadonlyMap<number, string>): FlowInsn[] | null {
    const row = this.db
      .prepare('SELECT p.name, o.path, o.bytes FROM programs p JOIN objects o ON o.id = p.object_id WHERE p.id = ?')
      .get(this.programId) as { name: string; path: string; bytes: Buffer | null } | undefined;
    if (!row?.bytes) return null;
    let linked;
    try {
      linked = linkProgram(parseObject(new Uint8Array(row.bytes), row.path), row.name);
    } catch {
      // Not linkable here (a damaged object, a program this linker refuses): the log still has the texts.
      return null;
    }
    const slots = decodeInsns(linked.insns);
    for (const [idx, text] of logText) {
      const code = /^\(([0-9a-f]{2})\)/.exec(text);
      if (code && slots[idx]?.code !== parseInt(code[1], 16)) return null;
    }
    const printed = new Map(disassemble(linked.insns, linkedNames(linked)).map((l) => [l.idx, l.text]));
    for (const f of linked.functions) this.names.set(f.start, f.name);
    // The kernel's own text where the log printed one (it names addresses and kfunc ids), the object's elsewhere.
    return flowFromSlots(slots, (idx) => logText.get(idx) || printed.get(idx) || '');
  }

  graph(): CfgGraph {
    if (this.graphJson) return this.graphJson;
    const n = stepCount(this.db, this.programId);
    const counter = new WalkCounter(this.cfg, (p) => this.paths.get(p));
    for (let from = 0; from < n; from += CHUNK) counter.feed(readSteps(this.db, this.programId, from, CHUNK));
    const visits = new Map(insnVisitCounts(this.db, this.programId).map((r) => [r.insn, r.visits]));
    const verdict = (this.db.prepare('SELECT verdict FROM programs WHERE id = ?').get(this.programId) as { verdict: string | null } | undefined)
      ?.verdict;
    const failing = verdict === 'rejected' && n > 0 ? this.pathAt(n - 1) : null;
    this.graphJson = cfgGraph(this.cfg, this.insns, {
      source: this.source,
      visits,
      totals: counter.totals,
      funcName: (start) => this.names.get(start),
      failing: failing && { step: failing.step, blocks: failing.blocks, edges: failing.edges, current: failing.current },
    });
    return this.graphJson;
  }

  /** The blocks and edges of the history that led to `step`: its path, back through the branches that pushed it. */
  pathAt(step: number): CfgPath {
    const n = stepCount(this.db, this.programId);
    if (step >= n) throw new BpfscopeError(`no step ${step}: the program has ${n} steps`);
    const pathAt = (s: number): number => readStep(this.db, this.programId, s)?.path ?? -1;
    let ranges = historyRanges(step, pathAt, (p) => this.paths.get(p));
    // Keep the newest HISTORY_STEPS steps.
    let budget = HISTORY_STEPS;
    let truncated = false;
    const kept: [number, number][] = [];
    for (let i = ranges.length - 1; i >= 0 && budget > 0; i--) {
      const [a, b] = ranges[i];
      const from = Math.max(a, b - budget + 1);
      if (from > a) truncated = true;
      kept.push([from, b]);
      budget -= b - from + 1;
    }
    if (kept.length < ranges.length) truncated = true;
    ranges = kept.reverse();
    const marker = new PathMarker(this.cfg);
    for (const [a, b] of ranges) {
      for (let from = a; from <= b; from += CHUNK) {
        const rows = readSteps(this.db, this.programId, from, Math.min(CHUNK, b - from + 1));
        marker.feed(rows.map((r) => r.insn));
      }
    }
    return { step, truncated, ...marker.result() };
  }
}

/**
 * Each instruction's text as the log printed it, in one pass over the log:
 * the first `insn: (op) text` line of each (its first visit), a liveness
 * row's text before that (what verifierListing gives, without its query
 * per instruction: 2.3 of the 3 s of a 100,000-instruction program's CFG),
 * and the `func#N @insn` lines that start the subprograms.
 */
export function logTexts(db: TraceDb, programId: number): { texts: Map<number, string>; funcStarts: number[] } {
  const live = new Map<number, string>();
  const printed = new Map<number, string>();
  const funcStarts: number[] = [];
  for (let from = 1; ; from += CHUNK) {
    const lines = readLogLines(db, programId, from, CHUNK);
    for (const l of lines) {
      const lx = lexLine(l.text);
      if (lx.kind === 'liveRow' && !live.has(lx.insn)) live.set(lx.insn, lx.text);
      else if (lx.kind === 'insn' && !printed.has(lx.insn)) printed.set(lx.insn, `(${lx.opcode}) ${lx.text}`);
      else if (lx.kind === 'func') funcStarts.push(lx.insn);
    }
    if (lines.length < CHUNK) break;
  }
  for (const [insn, text] of live) printed.set(insn, text);
  return { texts: printed, funcStarts };
}
