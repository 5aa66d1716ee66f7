import { resolve } from 'node:path';
import { BpfscopeError } from '../errors';
import { analyzeRecordedLogs } from './analyzeRecorded';
import type { TraceInfo } from './contract';
import { TraceView } from './traceView';
import { compareTraceStats, ProgramComparison } from '../compare/traceCompare';
import type { StatsComparison } from '../compare/stats';
import type { ProgramDifference } from './contract';
import { CfgView } from './cfgView';

/**
 * The traces a window has open. Ids are handed to the renderer; a path is
 * opened once and shared. Traces are read through read-only connections: the
 * app never changes what a trace recorded (a recorder may be appending to it
 * under WAL). The one write is the analysis of a recorded trace's raw logs
 * (see analyzeRecorded.ts), done once, before the first read.
 */
export class TraceSession {
  private byId = new Map<number, TraceView>();
  private byPath = new Map<string, Promise<number>>();
  private nextId = 1;
  /** Program comparisons (the alignment of two long logs costs a second or two): kept per pair of programs. */
  private comparisons = new Map<string, ProgramComparison>();
  /** CFGs (the walk over every step is read once per program, a second on the 1.8 M-step trace): kept per program, the last few. */
  private cfgs = new Map<string, CfgView>();

  async open(path: string): Promise<TraceInfo> {
    const abs = resolve(path);
    let pending = this.byPath.get(abs);
    if (!pending) {
      pending = this.load(abs);
      this.byPath.set(abs, pending);
      pending.catch(() => this.byPath.delete(abs));
    }
    const id = await pending;
    return { traceId: id, ...this.get(id).info() };
  }

  private async load(abs: string): Promise<number> {
    // The same checked open as the CLI's (trace/db.ts openTrace): a file that is
    // no trace is refused with its sentence, a damaged one opens with info().damage.
    let view = TraceView.open(abs);
    if (view.needsAnalysis()) {
      view.close();
      await analyzeRecordedLogs(abs);
      view = TraceView.open(abs);
    }
    const id = this.nextId++;
    this.byId.set(id, view);
    return id;
  }

  get(id: number): TraceView {
    const view = this.byId.get(id);
    if (!view) throw new BpfscopeError(`no open trace with id ${id} (reopen the file)`);
    return view;
  }

  /** The file behind a trace id, for error messages. */
  pathOf(id: unknown): string | undefined {
    return typeof id === 'number' ? this.byId.get(id)?.path : undefined;
  }

  /** The first problem the checks found in the trace behind an id (see trace/damage.ts traceError). */
  damageOf(id: unknown): string | undefined {
    return typeof id === 'number' ? this.byId.get(id)?.damage() : undefined;
  }

  compareStats(a: number, b: number): StatsComparison {
    return compareTraceStats(this.get(a).database(), this.get(b).database());
  }

  compareDifference(a: number, pa: number, b: number, pb: number, pair: number, direction: 'next' | 'previous'): ProgramDifference {
    const key = `${a}:${pa}:${b}:${pb}`;
    let c = this.comparisons.get(key);
    if (!c) {
      const va = this.get(a);
      const vb = this.get(b);
      c = new ProgramComparison({ db: va.database(), file: va.path, programId: pa }, { db: vb.database(), file: vb.path, programId: pb });
      if (this.comparisons.size >= 8) this.comparisons.delete(this.comparisons.keys().next().value as string);
      this.comparisons.set(key, c);
    }
    return { summary: c.summary(), difference: direction === 'next' ? c.next(pair) : c.previous(pair) };
  }

  /** The CFG of a verified program, built on first use; a concrete run has none. */
  cfg(t: number, p: number): CfgView {
    const key = `${t}:${p}`;
    let c = this.cfgs.get(key);
    if (c) {
      // Most recently used last: the oldest is the one dropped.
      this.cfgs.delete(key);
      this.cfgs.set(key, c);
      return c;
    }
    const view = this.get(t);
    const row = view.database().prepare('SELECT origin FROM programs WHERE id = ?').get(p) as { origin: string } | undefined;
    if (!row) throw new BpfscopeError(`no program ${p} in this trace`, view.path);
    if (row.origin === 'run') throw new BpfscopeError('a concrete run has no verifier walk: the CFG is drawn for a verified program', view.path);
    c = new CfgView(view.database(), p);
    if (this.cfgs.size >= 8) this.cfgs.delete(this.cfgs.keys().next().value as string);
    this.cfgs.set(key, c);
    return c;
  }

  closeAll(): void {
    this.comparisons.clear();
    this.cfgs.clear();
    for (const v of this.byId.values()) v.close();
    this.byId.clear();
    this.byPath.clear();
  }
}
