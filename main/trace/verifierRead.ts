import zlib from 'node:zlib';
import type Database from 'better-sqlite3';
import type { TraceDb } from './db';
import { BpfscopeError } from '../errors';
import { programCache } from './verifierCache';
import { LOG_BLOCK, STEP_BLOCK, STEP_FIELDS } from './verifier';
import type { LogMessage, PathEnd, PathInfo, RefEventKind, RefEvent, RefInfo } from '../verifier/analyze';
import { expandLine, lexLine, type MarkPrecise } from '../verifier/lexer';
import { Reconstructor, STEP_KINDS, type CallKind, type CallSite, type MachineState, type StepKind } from '../verifier/reconstruct';
import { parseRegValue, type RangeStyle, type RegValue } from '../verifier/regValue';
import { parseStackSlot, type StackSlot } from '../verifier/stackSlot';
import type { FrameState } from '../verifier/state';
import { CallProtos } from '../object/callProto';
import { parseObject, type BpfObject } from '../object/object';

/**
 * Readers of the verifier part of a trace (see verifier.ts for the layout).
 * Numbers in the JSON: 64-bit bounds are decimal strings, tnums hex strings
 * (main/verifier/numbers.ts).
 */

export interface StepRow {
  step: number;
  /** 1-based line in the raw log. */
  line: number;
  insn: number;
  frame: number;
  kind: StepKind;
  path: number;
}

export interface RegJson extends RegValue {
  /** Liveness suffix of older kernels (`w`, `r`, `rw`, `D`), '' when none. */
  live: string;
}

export interface SlotJson extends StackSlot {
  live: string;
}

export interface FrameJson {
  frame: number;
  regs: Record<string, RegJson>;
  stack: Record<string, SlotJson>;
  flags: string[];
}

export interface RefHeld {
  refObjId: number;
  acquireInsn: number | null;
  func: string | null;
}

/**
 * The call a step shows (the call insn, the line that completes its print,
 * the callee's entry, the return to the caller): the arguments as they were
 * before it and R0 as it returned. `frames` hold the state after the call.
 */
export interface CallJson {
  /** The call insn, and the frame that made the call. */
  insn: number;
  frame: number;
  /** The step of the call insn's line; null at a return step (the call was many steps back). */
  step: number | null;
  kind: CallKind;
  /** `bpf_obj_new_impl`, `bpf_loop`, or `pc+3` for a bpf-to-bpf call. */
  target: string;
  /** The helper id, or the kfunc's BTF id in the kernel that printed the log; null for `pc+N`. */
  id: number | null;
  /** R1..R5 before the call, decoded; null when not initialised. */
  args: Record<'R1' | 'R2' | 'R3' | 'R4' | 'R5', RegJson | null>;
  /**
   * The callee's parameters, as C declarations, when its prototype is known
   * (a kfunc's or subprogram's FUNC in the object's BTF, a helper's libbpf
   * declaration): R1..R(n) are its arguments, the rest are not; `...` ends a
   * variadic one. null when not known.
   */
  params: string[] | null;
  /**
   * Whether the kernel printed the state after the call: 'returned' (its `;`
   * delta, the `N:` line after it, or a callee's return to the caller);
   * 'callee' (a bpf-to-bpf call or a callback entered its callee: R0 comes at
   * the return); 'pruned' (the next insn was found safe, so the state after
   * the call was never printed); 'stopped' (verification stopped at the call,
   * rejected or cut short: `frames` are then the state before it);
   * 'unprinted' (anything else).
   */
  status: CallStatus;
  /** R0 as the call returned it when 'returned'; null otherwise, or when the call left R0 not initialised (void). */
  ret: RegJson | null;
}

export type CallStatus = 'returned' | 'callee' | 'pruned' | 'stopped' | 'unprinted';

/** The full verifier state at one step: the JSON of `bpfscope show --json`. */
export interface StepState extends StepRow {
  /** All frames, outermost first; the last one is the current frame. */
  frames: FrameJson[];
  refs: RefHeld[];
  lockHeld: boolean;
  /** At a call: its arguments before it and R0 as it returned (`frames` are the state after it). */
  call?: CallJson;
  /** The verifier's error, on the step where it stopped. */
  error?: string;
  /** Mismatches and other warnings recorded on this step's line. */
  warnings?: string[];
}

interface Stmts {
  info: Database.Statement<unknown[]>;
  refs: Database.Statement<unknown[]>;
  msgs: Database.Statement<unknown[]>;
  logBlock: Database.Statement<unknown[]>;
  stepBlock: Database.Statement<unknown[]>;
  ckpt: Database.Statement<unknown[]>;
}

const cache = new WeakMap<TraceDb, Stmts>();

function stmts(db: TraceDb): Stmts {
  let s = cache.get(db);
  if (!s) {
    s = {
      info: db.prepare(`SELECT line_count lineCount, step_count stepCount, unknown_lines unknownLines,
        unknown_items unknownItems, mismatches, warnings, cut_lines cutLines, checkpoint_every checkpointEvery,
        wrapped_program wrappedProgram, range_style rangeStyle FROM verifier_logs WHERE program_id = ?`),
      refs: db.prepare('SELECT ref_obj_id id, acquire_insn insn, func, kind FROM verifier_refs WHERE program_id = ?'),
      msgs: db.prepare(`SELECT severity, text FROM verifier_messages WHERE program_id = ? AND step = ?
        AND severity IN ('error', 'warning') ORDER BY id`),
      logBlock: db.prepare('SELECT first_line, line_count, data FROM verifier_log_blocks WHERE program_id = ? AND block = ?'),
      stepBlock: db.prepare('SELECT step_count n, data FROM verifier_step_blocks WHERE program_id = ? AND block = ?'),
      ckpt: db.prepare(`SELECT step, line, state FROM verifier_checkpoints WHERE program_id = ? AND step <= ?
        ORDER BY step DESC LIMIT 1`),
    };
    cache.set(db, s);
  }
  return s;
}

export interface LogInfo {
  lineCount: number;
  stepCount: number;
  unknownLines: number;
  unknownItems: number;
  mismatches: number;
  warnings: number;
  cutLines: number;
  checkpointEvery: number;
  wrappedProgram: string | null;
  rangeStyle: RangeStyle;
}

/** What the import stored about a program's log; undefined when it has none. */
export function logInfo(db: TraceDb, programId: number): LogInfo | undefined {
  const c = programCache(db, programId);
  if (c.info === undefined) c.info = (stmts(db).info.get(programId) as LogInfo | undefined) ?? null;
  return (c.info as LogInfo | null) ?? undefined;
}

export function stepCount(db: TraceDb, programId: number): number {
  return logInfo(db, programId)?.stepCount ?? 0;
}

/** `count` raw log lines from 1-based line `fromLine`. */
export function readLogLines(db: TraceDb, programId: number, fromLine: number, count: number): { no: number; text: string }[] {
  const out: { no: number; text: string }[] = [];
  if (count <= 0) return out;
  const start = Math.max(1, Math.floor(fromLine));
  const end = start + Math.floor(count); // exclusive
  const s = stmts(db);
  for (let b = Math.floor((start - 1) / LOG_BLOCK); ; b++) {
    const blk = logBlock(db, s, programId, b);
    if (!blk) break;
    const from = Math.max(start, blk.firstLine);
    const to = Math.min(end, blk.firstLine + blk.lineCount);
    for (let no = from; no < to; no++) out.push({ no, text: blk.line(no - blk.firstLine) });
    if (blk.firstLine + blk.lineCount >= end) break;
  }
  return out;
}

const MARK_PRECISE = Buffer.from('mark_precise: ');

/**
 * A stored block's bytes: brotli (what the import writes), else raw DEFLATE
 * (traces written before). `valid` checks the result against what the row
 * says (its line or step count), which tells a right codec from a wrong one.
 */
export function unpack(data: Buffer, valid: (b: Buffer) => boolean): Buffer | null {
  for (const decode of [zlib.brotliDecompressSync, zlib.inflateRawSync]) {
    try {
      // Output in one 64 kB chunk for a usual block (the default 16 kB ones are joined by a copy).
      const b = decode(data, { chunkSize: 1 << 16 });
      if (valid(b)) return b;
    } catch {
      // Not this codec (or damaged): try the next.
    }
  }
  return null;
}


/**
 * One block of the log, inflated and kept as bytes with its line offsets:
 * a replay reads a few lines of it, so only those become strings.
 */
class LogBlock {
  private readonly starts: Int32Array;

  /** The bytes are exactly lineCount lines, each ending with a newline (a block decoded with the right codec). */
  readonly complete: boolean;

  constructor(readonly firstLine: number, readonly lineCount: number, private readonly bytes: Buffer) {
    this.starts = new Int32Array(lineCount + 1);
    let at = 0;
    let found = 0;
    for (let i = 0; i < lineCount; i++) {
      this.starts[i] = at;
      const nl = bytes.indexOf(10, at);
      if (nl >= 0) found++;
      at = nl < 0 ? bytes.length : nl + 1;
    }
    this.starts[lineCount] = at;
    this.complete = found === lineCount && at === bytes.length;
  }

  /**
   * Lines a replay passes over without reading them (as the import does):
   * `mark_precise: ` backtracking, `; ` source lines, blank lines. Checked on
   * the bytes: no string is made for them.
   */
  skippable(i: number): boolean {
    const at = this.starts[i];
    const b = this.bytes;
    const c0 = b[at];
    if (c0 === 10 || at >= this.starts[i + 1]) return true;
    if (c0 === 59 /* ; */) return b[at + 1] === 32;
    if (c0 !== 109 /* m */ || at + MARK_PRECISE.length > this.starts[i + 1]) return false;
    for (let k = 1; k < MARK_PRECISE.length; k++) if (b[at + k] !== MARK_PRECISE[k]) return false;
    return true;
  }

  line(i: number): string {
    let end = this.starts[i + 1];
    // Blocks end each line with a newline; a '\r' before it is not part of the line (the import dropped it too).
    if (end > this.starts[i] && this.bytes[end - 1] === 10) end--;
    if (end > this.starts[i] && this.bytes[end - 1] === 13) end--;
    return this.bytes.toString('utf8', this.starts[i], end);
  }
}

/** Inflated log blocks kept per program (about 40 kB each for a level-2 log). */
const LOG_BLOCKS_KEPT = 64;
/** Step blocks kept per program (20 kB each): a random step is then mostly one array read. */
const STEP_BLOCKS_KEPT = 512;

function logBlock(db: TraceDb, s: Stmts, programId: number, block: number): LogBlock | undefined {
  const m = programCache(db, programId).log as Map<number, LogBlock>;
  const key = block;
  const hit = m.get(key);
  if (hit) return hit;
  const row = s.logBlock.get(programId, block) as { first_line: number; line_count: number; data: Buffer } | undefined;
  if (!row) return undefined;
  let out: LogBlock | undefined;
  const bytes = unpack(row.data, (b) => (out = new LogBlock(row.first_line, row.line_count, b)).complete);
  if (!bytes || !out) throw new BpfscopeError(`log block ${block} of program ${programId} is corrupt`);
  if (m.size >= LOG_BLOCKS_KEPT) m.delete(m.keys().next().value as number);
  m.set(key, out);
  return out;
}

function stepBlock(db: TraceDb, programId: number, block: number): Int32Array | undefined {
  const m = programCache(db, programId).steps;
  const key = block;
  const hit = m.get(key);
  if (hit) return hit;
  const row = stmts(db).stepBlock.get(programId, block) as { n: number; data: Buffer } | undefined;
  if (!row) return undefined;
  // Stored compressed; the first traces hold the packed fields as they are (exactly n * 20 bytes).
  let bytes: Buffer | null = row.data;
  if (bytes.length !== row.n * STEP_FIELDS * 4) {
    bytes = unpack(row.data, (b) => b.length === row.n * STEP_FIELDS * 4);
    if (!bytes) throw new BpfscopeError(`step block ${block} of program ${programId} is corrupt`);
  }
  const copy = new Int32Array(bytes.byteLength / 4);
  new Uint8Array(copy.buffer).set(bytes);
  if (m.size >= STEP_BLOCKS_KEPT) m.delete(m.keys().next().value as number);
  m.set(key, copy);
  return copy;
}

/**
 * The packed fields of step block `block` ([line, insn, frame, kind, path] per
 * step, STEP_FIELDS each), decoded and kept like readStep's: for walks over
 * many steps (provenance) that read a few fields per step without objects.
 */
export function stepBlockFields(db: TraceDb, programId: number, block: number): Int32Array | undefined {
  return stepBlock(db, programId, block);
}

export function readSteps(db: TraceDb, programId: number, from: number, count: number): StepRow[] {
  const out: StepRow[] = [];
  const total = stepCount(db, programId);
  const end = Math.min(total, from + count);
  for (let step = Math.max(0, from); step < end; ) {
    const b = Math.floor(step / STEP_BLOCK);
    const data = stepBlock(db, programId, b);
    if (!data) break;
    for (let i = step - b * STEP_BLOCK; i * STEP_FIELDS < data.length && step < end; i++, step++) {
      const o = i * STEP_FIELDS;
      out.push({
        step, line: data[o], insn: data[o + 1], frame: data[o + 2],
        kind: STEP_KINDS[data[o + 3]] ?? 'state', path: data[o + 4],
      });
    }
  }
  return out;
}

/** A program's steps as columns (a reader that walks every step: `bpfscope compare`). */
export interface StepColumns {
  line: Int32Array;
  insn: Int32Array;
  frame: Int32Array;
  /** Index into STEP_KINDS. */
  kind: Uint8Array;
  path: Int32Array;
}

/** Every step of a program as columns, straight from the step blocks (no row objects: 1.8 M steps are 1.8 M of them). */
export function readStepColumns(db: TraceDb, programId: number): StepColumns {
  const n = stepCount(db, programId);
  const out: StepColumns = {
    line: new Int32Array(n), insn: new Int32Array(n), frame: new Int32Array(n), kind: new Uint8Array(n), path: new Int32Array(n),
  };
  for (let step = 0; step < n; ) {
    const b = Math.floor(step / STEP_BLOCK);
    const data = stepBlock(db, programId, b);
    if (!data) break;
    for (let i = step - b * STEP_BLOCK; i * STEP_FIELDS < data.length && step < n; i++, step++) {
      const o = i * STEP_FIELDS;
      out.line[step] = data[o];
      out.insn[step] = data[o + 1];
      out.frame[step] = data[o + 2];
      out.kind[step] = data[o + 3] < STEP_KINDS.length ? data[o + 3] : 1;
      out.path[step] = data[o + 4];
    }
  }
  return out;
}

/** One step, from its block (blocks are kept decoded: random access stays cheap). */
export function readStep(db: TraceDb, programId: number, step: number): StepRow | undefined {
  if (step < 0 || step >= stepCount(db, programId)) return undefined;
  const b = Math.floor(step / STEP_BLOCK);
  const data = stepBlock(db, programId, b);
  if (data) {
    const o = (step - b * STEP_BLOCK) * STEP_FIELDS;
    if (o + STEP_FIELDS > data.length) return undefined;
    return {
      step, line: data[o], insn: data[o + 1], frame: data[o + 2], kind: STEP_KINDS[data[o + 3]] ?? 'state', path: data[o + 4],
    };
  }
  return undefined;
}

/**
 * The machine state (raw texts) after `step`: checkpoint at or before it,
 * then replay of the log lines up to it. At a call insn whose state the
 * kernel printed on a line of its own (`5: R0=ptr_or_null_foo(...)` after
 * backtracking lines), the state is the one that line completes: the state
 * after the call, R0 as returned, what the next insn starts from. Any other
 * insn whose `;` state was cut off by other lines gets the state its own
 * `N:` line prints next, for the same reason.
 */
export function machineAtStep(db: TraceDb, programId: number, step: number): { row: StepRow; state: MachineState; callStatus: CallStatus | null } {
  const row = readStep(db, programId, step);
  if (!row) throw new BpfscopeError(`no step ${step} (the log has ${stepCount(db, programId)} steps)`);
  const at = replayTo(db, programId, step, row);
  const call = at.rec.m.call;
  if (!call) {
    // An insn whose `;` state was cut off by other lines (`10: (b7) r7 = 0`, `SCC enter (1)`,
    // then `11: R7=0`; or backtracking lines): the kernel prints what the insn did as the
    // next `N:` line of its own, labelled with the insn it goes on to. That line is this
    // step's state after the insn; without it the step would show R7 not init.
    if (row.kind === 'insn') {
      const next = readStep(db, programId, step + 1);
      if (next && next.kind === 'state' && next.frame === row.frame && stateCutOff(db, programId, row)) {
        replayLines(db, programId, at.rec, row.line + 1, next.line, 1);
      }
    }
    return { row, state: at.rec.m, callStatus: null };
  }
  if (call.returned) return { row, state: at.rec.m, callStatus: 'returned' };
  const next = readStep(db, programId, step + 1);
  if (row.kind === 'insn' && !next && step > 0) {
    // Verification stopped at the call (the kernel rejected it, or the log ends): the kernel
    // never got past it, so its registers are the ones before the call.
    const before = machineAtStep(db, programId, step - 1).state;
    return { row, state: { ...before, call }, callStatus: 'stopped' };
  }
  if (row.kind === 'insn' && next) {
    const before = JSON.stringify(at.rec.m);
    replayLines(db, programId, at.rec, row.line + 1, next.line, 1);
    const done = at.rec.m.call;
    if (done?.returned && done.insn === call.insn) return { row, state: at.rec.m, callStatus: 'returned' };
    const state = JSON.parse(before) as MachineState;
    return { row, state, callStatus: next.kind === 'safe' ? 'pruned' : next.kind === 'call' ? 'callee' : 'unprinted' };
  }
  return { row, state: at.rec.m, callStatus: row.kind === 'call' ? 'callee' : 'unprinted' };
}

/** Whether the insn line of `row` was printed without its `;` state (the state follows on a line of its own). */
function stateCutOff(db: TraceDb, programId: number, row: StepRow): boolean {
  const l = lexLine(readLogLines(db, programId, row.line, 1)[0]?.text ?? '');
  return l.kind === 'insn' && l.insn === row.insn && l.delta === null;
}

/**
 * Feed the lines `from`..`to` (1-based, inclusive) to `rec`, stopping after
 * `steps` steps. Returns the steps fed.
 */
export function replayLines(db: TraceDb, programId: number, rec: Reconstructor, from: number, to: number, steps: number): number {
  let n = 0;
  if (steps <= 0) return 0;
  const s = stmts(db);
  const end = to + 1;
  for (let no = from, b = Math.floor((from - 1) / LOG_BLOCK); no < end; b++) {
    const blk = logBlock(db, s, programId, b);
    if (!blk) break;
    const until = Math.min(end, blk.firstLine + blk.lineCount);
    for (; no < until; no++) {
      const i = no - blk.firstLine;
      if (i < 0 || blk.skippable(i)) continue;
      for (const one of expandLine(lexLine(blk.line(i)))) {
        if (rec.feed(one).step) n++;
        if (n === steps) return n;
      }
    }
  }
  return n;
}

/** The reconstructor after `step` (row `row`): from the checkpoint at or before it, replaying the lines between. */
export function replayTo(db: TraceDb, programId: number, step: number, row: StepRow): { rec: Reconstructor } {
  const ck = stmts(db).ckpt.get(programId, step) as { step: number; line: number; state: string } | undefined;
  if (!ck) throw new BpfscopeError(`trace has no checkpoint at or before step ${step}`);
  let saved: MachineState;
  try {
    saved = JSON.parse(ck.state) as MachineState;
    if (!Array.isArray(saved.frames) || !Array.isArray(saved.refs)) throw new Error('no frames');
  } catch {
    throw new BpfscopeError(`the checkpoint at step ${ck.step} of program ${programId} is corrupt`);
  }
  if (saved.call === undefined) {
    // A checkpoint written before calls kept their arguments. On a call's own steps
    // (the call insn, the line that completes its print, the callee's entry) the
    // arguments are gone from it: start from the step before instead (the writer
    // replays across such steps too; only branch starts need their checkpoint).
    saved.call = null;
    if (ck.step > 0 && callStep(db, programId, ck.step)) {
      const prev = readStep(db, programId, ck.step - 1);
      if (prev) {
        const back = replayTo(db, programId, ck.step - 1, prev);
        replayLines(db, programId, back.rec, prev.line + 1, row.line, step - ck.step + 1);
        return back;
      }
    }
  }
  const rec = new Reconstructor(saved);
  if (ck.step < step) replayLines(db, programId, rec, ck.line + 1, row.line, step - ck.step);
  return { rec };
}

/** Whether `step` is a call insn, or the step right after one (its completed print, the callee's entry). */
function callStep(db: TraceDb, programId: number, step: number): boolean {
  const isCall = (st: StepRow | undefined): boolean => {
    if (!st || st.kind !== 'insn') return false;
    const l = lexLine(readLogLines(db, programId, st.line, 1)[0]?.text ?? '');
    return l.kind === 'insn' && l.text.startsWith('call ');
  };
  const row = readStep(db, programId, step);
  if (!row || row.kind === 'branch' || row.kind === 'safe') return false;
  return isCall(row) || ((row.kind === 'state' || row.kind === 'call') && isCall(readStep(db, programId, step - 1)));
}

export function frameJson(f: FrameState, style: RangeStyle = 'modern'): FrameJson {
  const regs: Record<string, RegJson> = {};
  f.regs.forEach((raw, i) => {
    if (raw !== null) regs[`R${i}`] = { ...parseRegValue(raw, style), live: f.regLive[i] ?? '' };
  });
  const stack: Record<string, SlotJson> = {};
  const offs = Object.keys(f.stack).sort((a, b) => Number(b) - Number(a));
  for (const k of offs) stack[k] = { ...parseStackSlot(f.stack[k], style), live: f.stackLive[k] ?? '' };
  return { frame: f.frame, regs, stack, flags: f.flags };
}

/** The full state at `step`, decoded. */
export function stateAtStep(db: TraceDb, programId: number, step: number): StepState {
  const { row, state, callStatus } = machineAtStep(db, programId, step);
  const refInfo = (state.refs.length > 0 ? stmts(db).refs.all(programId) : []) as { id: number; insn: number; func: string | null; kind: string }[];
  const byId = new Map(refInfo.map((r) => [r.id, r]));
  const refs: RefHeld[] = [];
  for (const id of state.refs) {
    const r = byId.get(id);
    if (r?.kind === 'lock' || id === state.lockId) continue;
    refs.push({ refObjId: id, acquireInsn: r?.insn ?? null, func: r?.func ?? null });
  }
  const style = logInfo(db, programId)?.rangeStyle ?? 'modern';
  const out: StepState = { ...row, frames: state.frames.map((f) => frameJson(f, style)), refs, lockHeld: state.lockHeld };
  if (state.call) out.call = callJson(db, programId, state.call, callStatus ?? 'unprinted', row, style);
  const msgs = stmts(db).msgs.all(programId, step) as { severity: string; text: string }[];
  const errors = msgs.filter((m) => m.severity === 'error').map((m) => m.text);
  if (errors.length > 0 && step === stepCount(db, programId) - 1) out.error = errors.join('\n');
  const warnings = msgs.filter((m) => m.severity === 'warning').map((m) => m.text);
  if (warnings.length > 0) out.warnings = warnings;
  return out;
}

/** The prototypes of the program's callees: from the object the trace holds, helpers alone without one. */
function protos(db: TraceDb, programId: number): CallProtos {
  const c = programCache(db, programId);
  if (c.protos) return c.protos as CallProtos;
  const row = db.prepare(`SELECT p.name, o.path, o.bytes FROM programs p LEFT JOIN objects o ON o.id = p.object_id
      WHERE p.id = ?`).get(programId) as { name: string; path: string | null; bytes: Buffer | null } | undefined;
  let obj: BpfObject | null = null;
  if (row?.bytes) {
    try {
      obj = parseObject(new Uint8Array(row.bytes), row.path ?? 'object');
    } catch {
      // A damaged object names itself where the views read it (layouts); here the prototypes are just unknown.
    }
  }
  const out = new CallProtos(obj, row?.name ?? null);
  c.protos = out;
  return out;
}

function calleeParams(db: TraceDb, programId: number, c: CallSite): string[] | null {
  return protos(db, programId).params(c);
}

function regJson(raw: string | null, live: string, style: RangeStyle): RegJson | null {
  return raw === null ? null : { ...parseRegValue(raw, style), live };
}

function callJson(db: TraceDb, programId: number, c: CallSite, status: CallStatus, row: StepRow, style: RangeStyle): CallJson {
  const args = {} as CallJson['args'];
  for (let i = 0; i < 5; i++) args[`R${i + 1}` as keyof CallJson['args']] = regJson(c.args[i] ?? null, c.argLive[i] ?? '', style);
  return {
    insn: c.insn, frame: c.frame,
    step: row.kind === 'insn' ? row.step : row.kind === 'return' ? null : row.step - 1,
    kind: c.kind, target: c.target, id: c.id, args,
    params: calleeParams(db, programId, c),
    status,
    ret: status === 'returned' ? regJson(c.ret, c.retLive, style) : null,
  };
}

/** The steps (instruction lines) that visit instruction `insn`, in log order. */
export function stepsForInsn(db: TraceDb, programId: number, insn: number): number[] {
  const row = db.prepare('SELECT steps FROM verifier_insn_steps WHERE program_id = ? AND insn = ?').get(programId, insn) as
    | { steps: Buffer }
    | undefined;
  if (!row) return [];
  const copy = new Int32Array(row.steps.byteLength / 4);
  new Uint8Array(copy.buffer).set(row.steps);
  return Array.from(copy);
}

export function insnVisitCounts(db: TraceDb, programId: number): { insn: number; visits: number }[] {
  return db.prepare('SELECT insn, visits FROM verifier_insn_steps WHERE program_id = ? ORDER BY insn').all(programId) as {
    insn: number;
    visits: number;
  }[];
}

export function listRefs(db: TraceDb, programId: number): RefInfo[] {
  return db.prepare(`SELECT ref_obj_id refObjId, kind, acquire_step acquireStep, acquire_line acquireLine,
      acquire_insn acquireInsn, func, path FROM verifier_refs WHERE program_id = ? ORDER BY ref_obj_id`).all(programId) as RefInfo[];
}

export interface RefLifetime {
  ref: RefInfo | null;
  /** Acquire, then per path: dropped / non_owning / stored / released / null_branch / leak. */
  events: RefEvent[];
}

export function refLifetime(db: TraceDb, programId: number, refObjId: number): RefLifetime {
  const ref = listRefs(db, programId).find((r) => r.refObjId === refObjId) ?? null;
  const events = db.prepare(`SELECT ref_obj_id refObjId, kind, step, line, insn, path, func FROM verifier_ref_events
      WHERE program_id = ? AND ref_obj_id = ? ORDER BY id`).all(programId, refObjId) as (RefEvent & { kind: RefEventKind })[];
  return { ref, events };
}

export function listPaths(db: TraceDb, programId: number): PathInfo[] {
  return db.prepare(`SELECT path, start_step startStep, start_line startLine, from_insn fromInsn, to_insn toInsn,
      pushed_step pushedStep, parent_path parentPath, end_step endStep, end_line endLine, end_insn endInsn,
      end_kind "end" FROM verifier_paths WHERE program_id = ? ORDER BY path`).all(programId) as (PathInfo & { end: PathEnd })[];
}

/** Errors (the verifier's closing message), warnings (mismatches, cut lines) and unknown lines, in log order. */
export function errorsAndWarnings(db: TraceDb, programId: number): LogMessage[] {
  return db.prepare(`SELECT severity, step, line, text FROM verifier_messages
      WHERE program_id = ? AND severity IN ('error', 'warning', 'unknown') ORDER BY line, id`).all(programId) as LogMessage[];
}

export interface PreciseEvent {
  line: number;
  /** The step the backtracking ran after (the last step before the line). */
  step: number;
  event: MarkPrecise;
}

/**
 * mark_precise events printed after steps `fromStep`..`toStep`, structured
 * (range lines, `regs=… stack=… before N:` lines, parent states), decoded
 * from the stored log lines.
 */
export function markPreciseEvents(db: TraceDb, programId: number, fromStep: number, toStep: number): PreciseEvent[] {
  const first = readStep(db, programId, fromStep);
  if (!first) return [];
  const after = readStep(db, programId, toStep + 1);
  const endLine = after ? after.line : (logInfo(db, programId)?.lineCount ?? first.line) + 1;
  const out: PreciseEvent[] = [];
  if (endLine - first.line > 2_000_000) throw new BpfscopeError('too many log lines in that step range: ask for fewer steps');
  const steps = readSteps(db, programId, fromStep, toStep - fromStep + 1);
  let si = 0;
  for (const l of readLogLines(db, programId, first.line, endLine - first.line)) {
    while (si + 1 < steps.length && steps[si + 1].line <= l.no) si++;
    if (!l.text.startsWith('mark_precise: ') && !l.text.startsWith('frame ')) continue;
    const t = lexLine(l.text);
    if (t.kind === 'markPrecise') out.push({ line: l.no, step: steps[si]?.step ?? fromStep, event: t.event });
  }
  return out;
}

/** The `Live regs before insn:` table (6.18+): per insn, one character per register ('.' when dead). */
export function liveRegsTable(db: TraceDb, programId: number): { insn: number; live: string }[] {
  return db.prepare('SELECT insn, live FROM verifier_live_regs WHERE program_id = ? ORDER BY insn').all(programId) as {
    insn: number;
    live: string;
  }[];
}
