/**
 * The one API contract between the trace data (main process, or the browser
 * host) and the renderer. Main registers `handlers.ts` under these channel
 * names, the preload and the HTTP client both build the same object with
 * `makeApi`, so `Api` is typed end to end without a hand-written duplicate.
 *
 * Only plain JSON crosses this boundary: no bigint (64-bit bounds are decimal
 * strings, as the verifier reader gives them), no class instances.
 */
import type { RegValue } from '../verifier/regValue';
import type { CallJson, CallStatus, FrameJson, RefHeld, RegJson, SlotJson, StepState as TraceStepState } from '../trace/verifierRead';
import type { PathInfo } from '../verifier/analyze';
import type { AllocObject } from '../runtime/events';
import type { MapDump } from '../runtime/session';
import type { RuntimeRunRow } from '../trace/runtime';
import type { StatsComparison } from '../compare/stats';
import type { ComparisonSummary, DifferenceJson } from '../compare/traceCompare';
import type { CfgBlockJson, CfgEdgeJson, CfgFuncJson, CfgGraph, CfgPath } from '../cfg/graph';

// The verifier reader's JSON shapes (helper D's `bpfscope show --json`) cross as they are.
export type { CallJson, CallStatus, FrameJson, PathInfo, RefHeld, RegJson, RegValue, SlotJson };
// `bpfscope compare`'s JSON crosses as the CLI prints it.
export type { ComparisonSummary, DifferenceJson, StatsComparison };
// `bpfscope cfg --json` (and `--step N --json`) crosses as the CLI prints it.
export type { CfgBlockJson, CfgEdgeJson, CfgFuncJson, CfgGraph, CfgPath };

/** One program of two traces compared: the alignment's counts and the difference asked for (null: none there). */
export interface ProgramDifference {
  summary: ComparisonSummary;
  difference: DifferenceJson | null;
}

// Helper E's runtime rows cross as they are too.
export type { AllocObject, MapDump, RuntimeRunRow };

/** One program of a trace, for the program picker. */
export interface ProgramSummary {
  id: number;
  name: string;
  section: string | null;
  progType: string | null;
  origin: string;
  /** 'accepted' | 'rejected' | null when the log was cut short. */
  verdict: string | null;
  errno: number | null;
  /** The final error line: the kernel's last line, the loader's sentence, or a run's fault. */
  error: string | null;
  /** Every error line in order, the final one (`error`) last; [] when none. */
  errors: string[];
  processedInsns: number | null;
  verificationTimeUs: number | null;
  /** Number of verifier steps and raw log lines recorded for it. */
  steps: number;
  lines: number;
}

import type { RecordedKernel } from '../trace/kernel';
import type { WhyResult } from '../trace/whyRead';

/** `bpfscope why --json`: where a register's or slot's value at a step came from (main/provenance). */
export type { WhyResult };

export interface TraceInfo {
  /** Handle for the other calls; valid until the trace is closed. */
  traceId: number;
  path: string;
  programs: ProgramSummary[];
  /** The trace holds runtime allocator events (a `bpfscope run`). */
  hasRuntime: boolean;
  /** The kernel it was recorded on; absent for imported logs and runs in bpfscope's machine. */
  kernel?: RecordedKernel;
  /** Set when the checks on open found the file damaged: the sentence to show (what can be read is still served). */
  damage?: string;
}

/** One raw log line; `line` is 1-based as in the trace. */
export interface LogLine {
  line: number;
  text: string;
  /** The lexer's kind: insn, state, source, from, markPrecise, liveRow, errorBlock, leak, … */
  kind: string;
  /** The verifier step this line belongs to (the last step at or before it), null before the first. */
  step: number | null;
  insn: number | null;
  error: boolean;
}

/** One instruction of the program with its C source line and visit count. */
export interface InsnRow {
  insn: number;
  text: string;
  /** The `; source` line the compiler attached, when the log printed one. */
  source: string | null;
  /** How many verifier steps visited this instruction (a concrete run: how many times it executed). */
  visits: number;
  /** A concrete run faulted here: the fault, as the run reports it. */
  fault?: string;
}

/**
 * The full verifier state at one step: the reader's shape, plus what the
 * views need next to it: the step line's text and the registers/slots of the
 * current frame whose raw text changed since the previous step.
 */
export interface StepState extends TraceStepState {
  text: string;
  /** `R3`, `fp-8`: changed since step-1 (same frame depth), in the current frame. */
  changed: string[];
  /**
   * A concrete run's step (program of origin 'run'): the registers after the
   * instruction, as hex; `frames` is then empty (no abstract state).
   */
  concrete?: ConcreteRegs;
}

export interface ConcreteRegs {
  /** The run of a `--repeat` these registers belong to (helper E traces the last one). */
  run: number;
  /** R0..R10 as 0x… (64-bit). */
  regs: string[];
  /** Register numbers the instruction wrote. */
  changed: number[];
}

/** The outcome of a concrete run program: every run, the objects, the maps after it. */
export interface RunResult {
  tracedRun: number;
  steps: number;
  runs: RuntimeRunRow[];
  objects: AllocObject[];
  maps: Record<string, MapDump>;
}

/** A compact row for stepping: one per step. */
export interface StepRow {
  step: number;
  line: number;
  insn: number;
  frame: number;
  kind: string;
  path: number;
}

/** One event of a reference's life (per path): acquired, non_owning, dropped, released, stored, null_branch, leak. */
export interface RefLifeEvent {
  kind: string;
  step: number;
  insn: number;
  path: number;
  func: string | null;
}

/** One reference (ref_obj_id) over the verification: a lane of the lifetime timeline. */
export interface RefLifetime {
  refObjId: number;
  /** 'object' | 'lock' */
  kind: string;
  /** The BTF type the acquiring register pointed to, when it was a ptr_TYPE. */
  type: string | null;
  acquiredStep: number;
  acquiredInsn: number;
  /** The call that acquired it: bpf_obj_new_impl, bpf_list_pop_front, bpf_kptr_xchg… */
  acquiredBy: string | null;
  events: RefLifeEvent[];
  /** Some path ended holding it (the "Unreleased reference" error). */
  leaked: boolean;
}

export interface PathWindow {
  total: number;
  from: number;
  paths: PathInfo[];
}

/** One runtime allocator event (a `bpfscope run`): helper E's tables. */
export interface AllocEvent {
  seq: number;
  /** 'new' | 'push' | 'pop' | 'drop' | 'drain' | 'xchg' | 'refcount' | … */
  kind: string;
  /** Unique over the runs shown together. */
  objectId: number;
  /** `object 3` (its id in its run), with the struct type. */
  objectLabel: string;
  /** Insn of the program that caused it, when it was a program step. */
  insn: number | null;
  /** Step of the runtime (interpreter) the event happened at. */
  step: number;
  detail: string;
  /** The owner after the event: `prog`, `list holders[2]+8`, … null once freed. */
  owner: string | null;
  /** Which run of the session (the map free after the runs is one past the last). */
  run: number;
  /**
   * On a concrete run program's step axis: the app step of the event (its
   * traced run), -1 for an earlier run, the step count for the map free.
   * Absent on a verified program's timeline (x is the event order there).
   */
  axisStep?: number;
}

/** Bytes of a BTF type, for the struct layout drawing. */
export interface LayoutField {
  name: string;
  /** Byte offset from the start of the outer type. */
  offset: number;
  size: number;
  /** Bit offset and size for bit-fields. */
  bitOffset: number | null;
  bitSize: number | null;
  type: string;
  /** 'member' | 'hole' | 'padding' | 'special' */
  kind: string;
  /** bpf_spin_lock, bpf_list_head, kptr… */
  special: string | null;
  /** `contains:` tag and other decl tags. */
  tags: string[];
  /** Nesting depth (0: a member of the type itself). */
  depth: number;
  /** bpf_obj_new zeroes these bytes (special fields); the rest stays uninitialized. */
  zeroedByObjNew: boolean;
}

export interface StructLayout {
  name: string;
  size: number;
  fields: LayoutField[];
}

/** The result of a search in the raw log: the matching line, or null. */
export interface SearchHit {
  line: number;
  step: number | null;
}

/**
 * Every call, by channel name: arguments tuple and result. The channel names
 * are the keys; `handlers.ts` implements exactly this map.
 */
export interface Calls {
  'trace:open': { args: [path: string]; result: TraceInfo };
  'trace:default': { args: []; result: TraceInfo | null };
  'log:lines': { args: [traceId: number, programId: number, from: number, count: number]; result: LogLine[] };
  'log:search': {
    args: [traceId: number, programId: number, query: string, regex: boolean, fromLine: number, backwards: boolean];
    result: SearchHit | null;
  };
  'steps:rows': { args: [traceId: number, programId: number, from: number, count: number]; result: StepRow[] };
  'steps:state': { args: [traceId: number, programId: number, step: number]; result: StepState };
  'steps:forInsn': { args: [traceId: number, programId: number, insn: number]; result: number[] };
  'steps:lastWrite': {
    args: [traceId: number, programId: number, step: number, frame: number, reg: string];
    result: number | null;
  };
  /** The provenance chain of `loc` (R3, fp-8, frame1:R2, fp[0]-8) after `step`, and the kernel's mark_precise lines of that step. */
  'steps:why': { args: [traceId: number, programId: number, step: number, loc: string]; result: WhyResult };
  'steps:firstError': { args: [traceId: number, programId: number]; result: number | null };
  'insns:listing': { args: [traceId: number, programId: number]; result: InsnRow[] };
  'refs:list': { args: [traceId: number, programId: number]; result: RefLifetime[] };
  /** A window of the explored paths (a loop explores tens of thousands): `count` from index `from`. */
  'paths:list': { args: [traceId: number, programId: number, from: number, count: number]; result: PathWindow };
  'layout:types': { args: [traceId: number, programId: number]; result: string[] };
  'layout:get': { args: [traceId: number, programId: number, typeName: string]; result: StructLayout };
  'alloc:events': { args: [traceId: number, programId: number]; result: AllocEvent[] };
  /** A concrete run program's result: retval, fault, printk per run, the objects, the maps after the run(s). */
  'run:result': { args: [traceId: number, programId: number]; result: RunResult };
  /** Two open traces' programs side by side (as veristat -C): verdicts, errors, counts and their change. */
  'compare:programs': { args: [traceA: number, traceB: number]; result: StatsComparison };
  /**
   * One program of each, aligned by path and insn: the first difference at pair `pair` or after it ('next'),
   * or the last one before it ('previous').
   */
  'compare:difference': {
    args: [traceA: number, programA: number, traceB: number, programB: number, pair: number, direction: 'next' | 'previous'];
    result: ProgramDifference;
  };
  /** The program's CFG with the verifier's walk on it (blocks, edges, subprograms, the failing path). */
  'cfg:graph': { args: [traceId: number, programId: number]; result: CfgGraph };
  /** The blocks and edges of the history that led to `step`, and its block. */
  'cfg:path': { args: [traceId: number, programId: number, step: number]; result: CfgPath };
}

export type Channel = keyof Calls;

/** The channel names, in one list: main registers these and nothing else. */
export const CHANNELS: readonly Channel[] = [
  'trace:open',
  'trace:default',
  'log:lines',
  'log:search',
  'steps:rows',
  'steps:state',
  'steps:forInsn',
  'steps:lastWrite',
  'steps:why',
  'steps:firstError',
  'insns:listing',
  'refs:list',
  'paths:list',
  'layout:types',
  'layout:get',
  'alloc:events',
  'run:result',
  'compare:programs',
  'compare:difference',
  'cfg:graph',
  'cfg:path',
];

/** How a call travels: Electron's ipcRenderer.invoke, or an HTTP POST. */
export type Transport = (channel: Channel, args: unknown[]) => Promise<unknown>;

type Method<C extends Channel> = (...args: Calls[C]['args']) => Promise<Calls[C]['result']>;

/**
 * The object the renderer calls (`window.api` under Electron, the HTTP client
 * in the browser). Same pattern as the electron-vite preload template.
 */
export function makeApi(send: Transport) {
  const call =
    <C extends Channel>(c: C): Method<C> =>
    (...args) =>
      send(c, args) as Promise<Calls[C]['result']>;
  const api = {
    openTrace: call('trace:open'),
    defaultTrace: call('trace:default'),
    logLines: call('log:lines'),
    searchLog: call('log:search'),
    stepRows: call('steps:rows'),
    stateAt: call('steps:state'),
    stepsForInsn: call('steps:forInsn'),
    lastWrite: call('steps:lastWrite'),
    why: call('steps:why'),
    firstError: call('steps:firstError'),
    listing: call('insns:listing'),
    refs: call('refs:list'),
    paths: call('paths:list'),
    layoutTypes: call('layout:types'),
    layout: call('layout:get'),
    allocEvents: call('alloc:events'),
    runResult: call('run:result'),
    comparePrograms: call('compare:programs'),
    compareDifference: call('compare:difference'),
    cfgGraph: call('cfg:graph'),
    cfgPath: call('cfg:path'),
  };
  return api;
}

export type Api = ReturnType<typeof makeApi>;

/**
 * Errors cross the boundary as this shape: the BpfscopeError sentence the
 * CLI would print, so the app shows the same line.
 */
export interface ApiError {
  error: string;
}

/** Progress of a recording or an import, from `bpfscope record --progress` JSON lines. */
export interface Progress {
  phase: string;
  done: number;
  total: number | null;
  message?: string;
}

/** Events the Electron main process sends the window (menus, drops, recordings). */
export interface DesktopEvents {
  /** Open this trace (menu, recent file, drag and drop, a recording finished). */
  'app:open-trace': [path: string];
  'app:progress': [progress: Progress | null];
  'app:error': [message: string];
  'app:theme': [theme: 'dark' | 'light' | 'system'];
  /** The trace the user chose in the compare view's Open dialog (trace B). */
  'app:compare-trace': [path: string];
}

/** Desktop-only calls, handled by the Electron main process itself (not the handler table). */
export interface DesktopCalls {
  /**
   * Open a file of any kind: a trace opens, a log is imported, an object is recorded.
   * A path the user has not chosen already (a drop) opens only once they say so in a native dialog.
   */
  'app:open-file': { args: [path: string]; result: null };
  /** The native Open dialog for one kind, then as `app:open-file`; 'compare' picks trace B of the compare view (`app:compare-trace`). */
  'app:open-dialog': { args: [kind: 'object' | 'log' | 'trace' | 'compare']; result: null };
}

export const DESKTOP_EVENTS: readonly (keyof DesktopEvents)[] = ['app:open-trace', 'app:progress', 'app:error', 'app:theme', 'app:compare-trace'];
