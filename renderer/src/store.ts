import type { ProgramSummary, StepState, TraceInfo } from '../../main/api/contract';
import { api } from './api';

/**
 * The cursor every view follows: which trace, which program, which step,
 * what is selected. Views subscribe to the events they draw from and call
 * the setters; nothing else is shared between views.
 */
export type StoreEvent = 'trace' | 'program' | 'step' | 'state' | 'selection' | 'error' | 'busy';

export interface Cursor {
  trace: TraceInfo | null;
  program: ProgramSummary | null;
  step: number;
  /** The state at `step`, once it arrived (null while loading). */
  state: StepState | null;
  /** A BTF type the user picked (a pointer register, or the type list), or the one the layout chose itself. */
  selectedType: string | null;
  /** selectedType was chosen by the layout view (follows the registers), not by the user. */
  typeAuto: boolean;
  error: string | null;
}

type Listener = () => void;

const STATE_CACHE = 256;

class Store {
  cursor: Cursor = { trace: null, program: null, step: 0, state: null, selectedType: null, typeAuto: false, error: null };
  private listeners = new Map<StoreEvent, Set<Listener>>();
  private cache = new Map<string, Promise<StepState>>();
  private stepSeq = 0;

  on(event: StoreEvent, fn: Listener): void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(fn);
  }

  private emit(event: StoreEvent): void {
    for (const fn of this.listeners.get(event) ?? []) {
      try {
        fn();
      } catch (err) {
        console.error(err);
      }
    }
  }

  /** Show a sentence in the banner: an error (default) or a note (help, nothing found). */
  fail(err: unknown, kind: 'error' | 'note' = 'error'): void {
    this.cursor.error = err instanceof Error ? err.message : String(err);
    this.noteKind = kind;
    this.emit('error');
  }

  noteKind: 'error' | 'note' = 'error';

  clearError(): void {
    this.cursor.error = null;
    this.emit('error');
  }

  async openTrace(info: TraceInfo): Promise<void> {
    this.cursor.trace = info;
    this.cache.clear();
    this.emit('trace');
    const saved = this.loadPosition(info.path);
    const program =
      info.programs.find((p) => p.id === saved?.programId) ??
      info.programs.find((p) => p.verdict === 'rejected') ??
      info.programs[0] ??
      null;
    await this.selectProgram(program, saved && program && saved.programId === program.id ? saved.step : 0);
  }

  async selectProgram(program: ProgramSummary | null, step = 0): Promise<void> {
    this.cursor.program = program;
    this.cursor.selectedType = null;
    this.cursor.state = null;
    // Ask for the state first: the views' own queries (listing, refs) queue behind it.
    if (program && program.steps > 0) void this.stateFor(Math.min(step, program.steps - 1)).catch(() => undefined);
    this.emit('program');
    if (program) await this.setStep(step);
  }

  get stepCount(): number {
    return this.cursor.program?.steps ?? 0;
  }

  stateFor(step: number): Promise<StepState> {
    const { trace, program } = this.cursor;
    if (!trace || !program) return Promise.reject(new Error('no program open'));
    const key = `${trace.traceId}:${program.id}:${step}`;
    let p = this.cache.get(key);
    if (!p) {
      p = api.stateAt(trace.traceId, program.id, step);
      p.catch(() => this.cache.delete(key));
      this.cache.set(key, p);
      if (this.cache.size > STATE_CACHE) this.cache.delete(this.cache.keys().next().value as string);
    }
    return p;
  }

  /** Move the cursor; the state follows asynchronously (the UI never waits for it). */
  async setStep(step: number): Promise<void> {
    const n = this.stepCount;
    if (n === 0) return;
    step = Math.max(0, Math.min(n - 1, Math.trunc(step)));
    const seq = ++this.stepSeq;
    this.cursor.step = step;
    this.emit('step');
    this.savePosition();
    try {
      const state = await this.stateFor(step);
      if (seq !== this.stepSeq) return;
      this.cursor.state = state;
      this.emit('state');
      // Stepping is mostly forward, then back: warm both neighbours.
      for (const s of [step + 1, step + 2, step + 3, step + 4, step - 1]) if (s >= 0 && s < n) void this.stateFor(s).catch(() => undefined);
    } catch (err) {
      if (seq === this.stepSeq) this.fail(err);
    }
  }

  selectType(name: string | null, auto = false): void {
    this.cursor.selectedType = name;
    this.cursor.typeAuto = auto;
    this.emit('selection');
  }

  private savePosition(): void {
    const { trace, program, step } = this.cursor;
    if (!trace || !program) return;
    try {
      localStorage.setItem(`bpfscope:pos:${trace.path}`, JSON.stringify({ programId: program.id, step }));
    } catch {
      // storage full or disabled: the position just does not survive a reload
    }
  }

  private loadPosition(path: string): { programId: number; step: number } | null {
    try {
      const v = JSON.parse(localStorage.getItem(`bpfscope:pos:${path}`) ?? 'null') as unknown;
      if (v && typeof v === 'object' && 'programId' in v && 'step' in v) return v as { programId: number; step: number };
    } catch {
      // ignore a corrupt entry
    }
    return null;
  }
}

export const store = new Store();
