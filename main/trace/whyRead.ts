import type Database from 'better-sqlite3';
import type { TraceDb } from './db';
import { BpfscopeError } from '../errors';
import { STEP_BLOCK, STEP_FIELDS } from './verifier';
import {
  logInfo, machineAtStep, markPreciseEvents, readLogLines, stepBlockFields, stepCount, stepsForInsn,
} from './verifierRead';
import { lexLine } from '../verifier/lexer';
import { STEP_KINDS, type MachineState, type StepKind } from '../verifier/reconstruct';
import { stackPointerOf } from '../verifier/stackAccess';
import { parseEffect, type Effect } from '../provenance/effect';
import { locName, parseLoc, type Loc } from '../provenance/location';
import { preciseRuns } from '../provenance/precise';
import { provenance, type ChainSources, type Link, type PathStart, type StepSource } from '../provenance/walk';

/**
 * `bpfscope why` and the app's chain: the provenance walk (main/provenance)
 * over a trace's steps, paths and log lines. Everything is computed on
 * demand from what the import stored: the step rows (read a block at a
 * time), the path table, one log line per distinct insn for its text, and
 * the reconstructed state only at the few steps whose insn goes through a
 * pointer (is it a stack pointer, into which frame) or starts a value.
 */

export interface KernelPrecise {
  /** The `mark_precise:` lines printed after the step (the kernel's backtracking), as printed. */
  lines: { line: number; text: string }[];
  /** Per backtracking run: what it set out to make precise, and the insns where its masks changed. */
  runs: {
    frame: number;
    regs: string[];
    stack: string[];
    /** Whether the run is about the location asked for. */
    concerns: boolean;
    defs: { insn: number; frame: number; inChain: boolean }[];
    gaveUp: boolean;
  }[];
}

export interface WhyResult {
  programId: number;
  step: number;
  /** The location as asked, named in its own frame (`R3`, `fp-8`), and that frame. */
  loc: string;
  frame: number;
  /** Its value after the step, the kernel's text; null when not initialised. */
  value: string | null;
  /** Newest first: the step itself (when it wrote the location), back to where each part of the value starts. */
  links: Link[];
  /** Steps the walk went through. */
  walked: number;
  kernel: KernelPrecise;
}

interface ProgramWhy {
  steps: DbSteps;
  /** Paths as the walk reaches them (a loop's trace has tens of thousands; a walk visits a few). */
  paths: Map<number, PathStart | undefined>;
  pathStmt: Database.Statement<unknown[]>;
  insns: Map<number, { effect: Effect; text: string }>;
  states: Map<number, MachineState>;
}

const STATES_KEPT = 512;
const cache = new WeakMap<TraceDb, Map<number, ProgramWhy>>();

/** Step fields straight from the decoded blocks: a walk reads three or four per step. */
class DbSteps implements StepSource {
  private block = -1;
  private data: Int32Array | undefined;

  constructor(private db: TraceDb, private programId: number, readonly count: number) {}

  private last = -1;
  private at = 0;

  /** A walk asks for three or four fields of the same step in a row: its offset is found once. */
  private field(step: number, k: number): number {
    if (step !== this.last) {
      const b = (step / STEP_BLOCK) | 0;
      if (b !== this.block) {
        this.data = stepBlockFields(this.db, this.programId, b);
        this.block = b;
      }
      this.at = (step - b * STEP_BLOCK) * STEP_FIELDS;
      if (!this.data || this.at + STEP_FIELDS > this.data.length) {
        this.last = -1;
        throw new BpfscopeError(`step ${step} of program ${this.programId} is missing from the trace`);
      }
      this.last = step;
    }
    return (this.data as Int32Array)[this.at + k];
  }

  line(step: number): number {
    return this.field(step, 0);
  }
  insn(step: number): number {
    return this.field(step, 1);
  }
  frame(step: number): number {
    return this.field(step, 2);
  }
  kind(step: number): StepKind {
    return STEP_KINDS[this.field(step, 3)] ?? 'state';
  }
  path(step: number): number {
    return this.field(step, 4);
  }
}

function program(db: TraceDb, programId: number): ProgramWhy {
  let byProgram = cache.get(db);
  if (!byProgram) cache.set(db, (byProgram = new Map()));
  let p = byProgram.get(programId);
  if (!p) {
    const pathStmt = db.prepare(`SELECT start_step start, pushed_step pushed, from_insn fromInsn FROM verifier_paths
      WHERE program_id = ? AND path = ?`);
    p = { steps: new DbSteps(db, programId, stepCount(db, programId)), paths: new Map(), pathStmt, insns: new Map(), states: new Map() };
    byProgram.set(programId, p);
  }
  return p;
}

function sources(db: TraceDb, programId: number): { src: ChainSources; state: (step: number) => MachineState } {
  const p = program(db, programId);
  const state = (step: number): MachineState => {
    let s = p.states.get(step);
    if (!s) {
      s = machineAtStep(db, programId, step).state;
      if (p.states.size >= STATES_KEPT) p.states.delete(p.states.keys().next().value as number);
      p.states.set(step, s);
    }
    return s;
  };
  const insnLine = (insn: number, line: number): { effect: Effect; text: string } | null => {
    const text = readLogLines(db, programId, line, 1)[0]?.text ?? '';
    const lx = lexLine(text);
    return lx.kind === 'insn' && lx.insn === insn ? { effect: parseEffect(lx.text, lx.opcode), text: lx.text } : null;
  };
  const src: ChainSources = {
    steps: p.steps,
    path(path) {
      if (p.paths.has(path)) return p.paths.get(path);
      const row = p.pathStmt.get(programId, path) as PathStart | undefined;
      if (p.paths.size >= 65536) p.paths.clear();
      p.paths.set(path, row);
      return row;
    },
    insn(insn, step) {
      let hit = p.insns.get(insn);
      if (hit) return hit;
      hit = (p.steps.kind(step) === 'insn' && p.steps.insn(step) === insn ? insnLine(insn, p.steps.line(step)) : null) ?? undefined;
      if (!hit) {
        const first = stepsForInsn(db, programId, insn)[0];
        hit = (first !== undefined ? insnLine(insn, p.steps.line(first)) : null) ?? { effect: { kind: 'none', text: '' }, text: '' };
      }
      p.insns.set(insn, hit);
      return hit;
    },
    value(step, loc) {
      const f = state(step).frames[loc.frame];
      if (!f) return null;
      return loc.kind === 'reg' ? (f.regs[loc.reg] ?? null) : (f.stack[String(loc.off)] ?? null);
    },
    stackPointer(step, frame, reg) {
      const f = state(step).frames[frame];
      const sp = stackPointerOf(f?.regs[reg]);
      if (!f || !sp) return null;
      return { frame: sp.frame ?? f.regFp?.[String(reg)] ?? frame, off: sp.off };
    },
    callArgs(step) {
      return state(step).call?.args ?? null;
    },
    rangeStyle: logInfo(db, programId)?.rangeStyle ?? 'modern',
  };
  return { src, state };
}

/**
 * The chain of `what` (`R3`, `fp-8`, `frame1:R2`, `fp[0]-8`) after `step`;
 * a location without a frame is in the step's frame. Errors are sentences
 * naming the step and location.
 */
export function whyAt(db: TraceDb, programId: number, step: number, what: string): WhyResult {
  const n = stepCount(db, programId);
  if (!Number.isInteger(step) || step < 0 || step >= n) {
    throw new BpfscopeError(`no step ${step}: the program has ${n} steps (0..${n - 1})`);
  }
  const { src, state } = sources(db, programId);
  const here = src.steps.frame(step);
  const loc = parseLoc(what, here);
  if (typeof loc === 'string') throw new BpfscopeError(`at step ${step}: ${loc}`);
  const frames = state(step).frames.length;
  if (loc.frame >= frames) {
    throw new BpfscopeError(`step ${step} has ${frames === 1 ? 'only frame 0' : `frames 0..${frames - 1}`}: no ${what} there`);
  }
  const chain = provenance(src, step, loc);
  return {
    programId, step, loc: locName(loc, loc.frame), frame: loc.frame,
    value: src.value(step, loc),
    links: chain.links,
    walked: chain.walked,
    kernel: kernelPrecise(db, programId, step, loc, chain.links),
  };
}

function kernelPrecise(db: TraceDb, programId: number, step: number, loc: Loc, links: Link[]): KernelPrecise {
  const events = markPreciseEvents(db, programId, step, step);
  if (events.length === 0) return { lines: [], runs: [] };
  const texts = new Map(readLogLines(db, programId, events[0].line, events[events.length - 1].line - events[0].line + 1).map((l) => [l.no, l.text]));
  const insns = new Set(links.map((l) => l.insn));
  return {
    lines: events.map((e) => ({ line: e.line, text: texts.get(e.line) ?? '' })),
    runs: preciseRuns(events.map((e) => e.event)).map((r) => ({
      frame: r.frame,
      regs: r.regs.map((x) => `R${x}`),
      stack: r.stack.map((x) => `fp${x}`),
      concerns: r.frame === loc.frame && (loc.kind === 'reg' ? r.regs.includes(loc.reg) : r.stack.includes(loc.off)),
      defs: r.defs.map((d) => ({ ...d, inChain: insns.has(d.insn) })),
      gaveUp: r.gaveUp,
    })),
  };
}
