import { expandLine, lexLine, type LogLine } from './lexer';
import type { LineBatch, LogLineText } from './lines';
import { Reconstructor, type MachineState, type StepOut } from './reconstruct';
import { cloneState, idOf, type VerifierState } from './state';
import type { RangeStyle } from './regValue';
import { parseStateText } from './stateText';

/**
 * The streaming analysis of one program's log: feeds each line to the
 * Reconstructor and keeps the story around the states — paths (where each
 * starts, which branch pushed it, how it ends), references (acquire, release,
 * non-owning, leak), errors, warnings, stats, visit counts. Pure: results go
 * to a sink (the trace writer, or a test collecting them).
 */

export type PathEnd = 'exit' | 'safe' | 'error' | 'open';

export interface PathInfo {
  path: number;
  startStep: number;
  startLine: number;
  /** The branch insn that pushed this path and its target (null for the first path). */
  fromInsn: number | null;
  toInsn: number | null;
  /** The step and path at which that branch was pushed, when found. */
  pushedStep: number | null;
  parentPath: number | null;
  endStep: number | null;
  endLine: number | null;
  endInsn: number | null;
  end: PathEnd;
}

export type RefEventKind =
  | 'acquired'
  /** bpf_obj_drop / bpf_percpu_obj_drop. */
  | 'dropped'
  /** Pushed to a list or added to an rbtree: the program keeps a non-owning reference. */
  | 'non_owning'
  /** Moved into a map with bpf_kptr_xchg. */
  | 'stored'
  /** Released by a release helper/kfunc (bpf_sk_release, bpf_ringbuf_submit, ...). */
  | 'released'
  /** The NULL branch of a check: the pointer was NULL, nothing to release. */
  | 'null_branch'
  /** The kernel's `Unreleased reference id=N alloc_insn=M`. */
  | 'leak';

export interface RefEvent {
  refObjId: number;
  kind: RefEventKind;
  step: number;
  line: number;
  insn: number;
  path: number;
  /** The helper/kfunc of the instruction that did it, when a call. */
  func: string | null;
}

export interface RefInfo {
  refObjId: number;
  /** 'lock' for the ids 6.13+ kernels list in refs= for a held bpf_spin_lock. */
  kind: 'object' | 'lock';
  acquireStep: number;
  acquireLine: number;
  acquireInsn: number;
  func: string | null;
  path: number;
}

export interface LogStats {
  processedInsns: number | null;
  insnLimit: number | null;
  maxStatesPerInsn: number | null;
  totalStates: number | null;
  peakStates: number | null;
  markRead: number | null;
  verificationTimeUs: number | null;
  stackDepth: string | null;
}

export type MessageSeverity = 'error' | 'warning' | 'unknown' | 'info';

export interface LogMessage {
  severity: MessageSeverity;
  /** The step the message belongs to (the last step before it), -1 before any step. */
  step: number;
  line: number;
  text: string;
}

export interface StepRecord extends StepOut {
  step: number;
  line: number;
  path: number;
}

export interface AnalysisSink {
  step(step: StepRecord): void;
  /** A full machine state (JSON of MachineState) after `step`. */
  checkpoint(step: number, line: number, stateJson: string): void;
  message(msg: LogMessage): void;
  /** A mark_precise line (structured on demand by lexLine: most lines of a big log are these). */
  markPrecise(line: number, step: number): void;
  liveRegs(insn: number, live: string): void;
}

export interface AnalyzeOptions {
  /** Analyse only the block of this program in a wrapped (libbpf/bpftool) log. */
  program?: string;
  /** Full-state checkpoint spacing, in steps. */
  checkpointEvery?: number;
}

const RELEASE_KIND: [RegExp, RefEventKind][] = [
  [/^(bpf_obj_drop|bpf_percpu_obj_drop)/, 'dropped'],
  [/^(bpf_list_push_(front|back)|bpf_rbtree_add)/, 'non_owning'],
  [/^bpf_kptr_xchg/, 'stored'],
];

function sameIds(a: number[], b: number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function callName(insnText: string): string | null {
  const m = /^call ([A-Za-z_][A-Za-z0-9_]*)#/.exec(insnText);
  return m ? m[1] : null;
}

interface Push {
  step: number;
  path: number;
  /** The state before the branch; dropped (null) for all but the newest KEEP_PUSH_STATES of a branch, to bound memory. */
  state: VerifierState | null;
  skipRegs: Set<number>;
  skipIds: Set<number>;
}

const CALLBACK_CALL = /^call (bpf_loop|bpf_for_each_map_elem|bpf_timer_set_callback|bpf_find_vma|bpf_user_ringbuf_drain|bpf_rbtree_add|bpf_wq_set_callback|bpf_task_work_schedule)/;
/** Spellings only 5.x–6.6 kernels print: `inv`, `umax_value=`, `s32_min=`, `imm=`, `off=0`. */
const LEGACY_SPELLING = /=(inv|invP)[-\d(]|=inv\b|_value=|\b[su]32_m(in|ax)=|[(,]imm=|[(,]off=0[,)]/;
const MAX_PENDING = 256;
const ERROR_KINDS = new Set<LogLine['kind']>(['leak', 'errorBlock', 'diag']);
/**
 * The kernel refuses more than BPF_COMPLEXITY_LIMIT_JMP_SEQ (8192) pushed
 * branches at once, so no more can be pending: a loop that pushes a branch
 * every iteration resumes thousands of them, and each must find where it was
 * pushed. Only the newest KEEP_PUSH_STATES of a branch keep the state before
 * it (what the printed `from` line leaves out: caller frames, the lock); an
 * older one keeps its step and path, and its resumed state is the printed one.
 */
const MAX_PUSHES_PER_BRANCH = 8192;
const KEEP_PUSH_STATES = 64;

export class LogAnalyzer {
  readonly rec = new Reconstructor();
  readonly paths: PathInfo[] = [];
  readonly refs = new Map<number, RefInfo>();
  readonly refEvents: RefEvent[] = [];
  readonly stats: LogStats = {
    processedInsns: null, insnLimit: null, maxStatesPerInsn: null, totalStates: null,
    peakStates: null, markRead: null, verificationTimeUs: null, stackDepth: null,
  };
  readonly errors: string[] = [];
  /** Per instruction, the steps (kind insn) that visit it. */
  readonly insnSteps = new Map<number, number[]>();
  steps = 0;
  lines = 0;
  unknownLines = 0;
  unknownItems = 0;
  mismatches = 0;
  cutLines = 0;
  warnings = 0;
  sawStats = false;
  sawLiveTable = false;
  /** How the log's kernel omitted range keys (5.x–6.6 'legacy', 6.7+ 'modern'): decides how values decode. */
  rangeStyle: RangeStyle = 'modern';
  private styleChecks = 0;
  /** The wrapper named this program (libbpf's `prog 'x': -- BEGIN PROG LOAD LOG --`). */
  wrappedProgram: string | null = null;

  private readonly sink: AnalysisSink;
  private readonly opts: AnalyzeOptions;
  private readonly every: number;
  private lastCheckpoint = -Infinity;
  private lastCheckpointLine = 0;
  private newUnit = false;
  private pending: LogLineText[] = [];
  private lastStep = -1;
  private lastStepLine = 0;
  private path = -1;
  private pushes = new Map<string, Push[]>();
  private lockIds = new Set<number>();
  private lastInsnStep = -1;
  private lastInsnNo = -1;
  private lastInsnText = '';
  /** 'before': no wrapper seen yet; 'in': inside the selected block; 'skip': another program's block; 'done': after it. */
  private wrap: 'before' | 'in' | 'skip' | 'done' = 'before';

  constructor(sink: AnalysisSink, opts: AnalyzeOptions = {}) {
    this.sink = sink;
    this.opts = opts;
    this.every = opts.checkpointEvery ?? 64;
  }

  get state(): MachineState {
    return this.rec.m;
  }

  feedBatch(b: LineBatch): void {
    const texts = b.texts;
    let cutAt = 0;
    for (let i = 0; i < texts.length; i++) {
      const text = texts[i];
      // Fast paths, before any object is made for the line: mark_precise lines
      // are most of a big level-2 log, source and blank lines the next most.
      if (this.wrap === 'in' || this.wrap === 'before') {
        const c0 = text.charCodeAt(0);
        if (c0 === 109 /* m */ && text.startsWith('mark_precise: ')) {
          this.lines++;
          this.sink.markPrecise(b.firstNo + i, this.lastStep);
          continue;
        }
        if ((c0 === 59 /* ; */ && text.charCodeAt(1) === 32) || text.length === 0) {
          this.lines++;
          continue;
        }
      }
      const isCut = cutAt < b.cut.length && b.cut[cutAt] === i;
      if (isCut) cutAt++;
      this.feedLine({ no: b.firstNo + i, text, cut: isCut });
    }
  }

  feedLine(l: LogLineText): void {
    this.lines++;
    if (l.cut) {
      this.cutLines++;
      this.message('warning', l.no, `line ${l.no} is longer than the ${l.text.length}-character limit: cut there`);
    }
    const line = lexLine(l.text);
    if (line.kind === 'wrapBegin') {
      if (this.wrap === 'done' || this.wrap === 'in') this.wrap = 'skip';
      else if (this.opts.program !== undefined && line.program !== null && line.program !== this.opts.program) this.wrap = 'skip';
      else {
        this.wrap = 'in';
        this.wrappedProgram = line.program;
      }
      return;
    }
    if (line.kind === 'wrapEnd') {
      if (this.wrap === 'in') this.wrap = 'done';
      else if (this.wrap === 'skip') this.wrap = this.wrappedProgram !== null ? 'done' : 'before';
      return;
    }
    if (this.wrap === 'skip' || this.wrap === 'done') return;
    if (line.kind === 'insn' && line.trailing) for (const one of expandLine(line)) this.handle(one, l);
    else this.handle(line, l);
  }

  private handle(line: LogLine, l: LogLineText): void {
    switch (line.kind) {
      case 'blank':
      case 'source':
      case 'wrapper':
      case 'liveness':
        return;
      case 'other':
      case 'diag':
        if (this.pending.length < MAX_PENDING) this.pending.push(l);
        else if (line.kind === 'diag') this.message('info', l.no, l.text);
        else this.flagUnknown(l);
        return;
      case 'func':
        this.message('info', l.no, l.text);
        return;
      case 'validating':
        this.flushUnknown();
        this.rec.feed(line);
        this.message('info', l.no, l.text);
        this.endPath('open', this.lastStep);
        this.newUnit = true;
        return;
      case 'info':
      case 'scc':
        this.message('info', l.no, l.text);
        return;
      case 'liveHeader':
        this.sawLiveTable = true;
        this.rec.feed(line);
        return;
      case 'liveRow':
        this.sink.liveRegs(line.insn, line.live);
        return;
      case 'markPrecise':
        this.sink.markPrecise(l.no, this.lastStep);
        return;
      case 'processed':
        this.flushErrors();
        this.sawStats = true;
        Object.assign(this.stats, {
          processedInsns: line.insns, insnLimit: line.limit, maxStatesPerInsn: line.maxStatesPerInsn,
          totalStates: line.totalStates, peakStates: line.peakStates, markRead: line.markRead,
        });
        return;
      case 'verificationTime':
        this.flushErrors();
        this.stats.verificationTimeUs = line.usec;
        return;
      case 'stackDepth':
        this.flushErrors();
        this.stats.stackDepth = line.text;
        return;
      case 'leak':
        this.pending.push(l);
        this.refEvents.push({
          refObjId: line.id, kind: 'leak', step: this.lastStep, line: l.no, insn: line.allocInsn,
          path: Math.max(this.path, 0), func: this.refs.get(line.id)?.func ?? null,
        });
        return;
      case 'errorBlock':
        this.pending.push(l);
        return;
      default:
        break;
    }
    // A state-carrying line: lines held back as possible errors were not the end after all.
    this.flushUnknown();
    this.stateLine(line, l);
  }

  private stateLine(line: LogLine, l: LogLineText): void {
    const m = this.rec.m;
    if (this.styleChecks < 2000 && this.rangeStyle === 'modern') {
      this.styleChecks++;
      if (LEGACY_SPELLING.test(l.text)) {
        this.rangeStyle = 'legacy';
        this.rec.noteLegacy();
      }
    }
    let pushed: Push | undefined;
    let before: VerifierState | null = null;
    let isBranch = false;
    if (line.kind === 'insn') {
      const t = line.text;
      const c0 = t.charCodeAt(0);
      const branch =
        (c0 === 105 /* i */ && t.startsWith('if ') && / goto pc[+-]\d+$/.test(t)) ||
        (c0 === 109 /* m */ && /^may_goto pc[+-]\d+$/.test(t)) ||
        (c0 === 99 /* c */ && CALLBACK_CALL.test(t));
      if (branch) {
        isBranch = true;
        before = cloneState(m);
      }
    }
    const continuation = line.kind === 'from' && m.afterReturn;
    if (line.kind === 'from' && !continuation) {
      pushed = this.pushes.get(`${line.from}:${line.to}`)?.pop() ?? this.pushes.get(`${line.from}:*`)?.pop();
    }
    const prevRefs = m.refs;
    const lockBefore = m.lockHeld || m.lockId !== null;
    const clobberBefore = m.clobberReads ?? null;
    const res = this.rec.feed(line, pushed?.state ?? null, pushed?.skipRegs, pushed?.skipIds);
    if (res.unknownItems.length > 0) {
      this.unknownItems += res.unknownItems.length;
      this.message('unknown', l.no, `unknown state items: ${res.unknownItems.join(' ')}`);
    }
    if (!res.step) {
      if (res.mismatches.length > 0) this.mismatch(l.no, res.mismatches);
      return;
    }
    const out = res.step;
    const stepNo = this.steps++;
    // Paths.
    if (this.path < 0 || this.newUnit) {
      this.newUnit = false;
      this.startPath(stepNo, l.no, null, null, null);
    } else if (line.kind === 'from' && !continuation) {
      this.endPath('open', stepNo - 1);
      this.startPath(stepNo, l.no, line.from, line.to, pushed ?? null);
    } else if (line.kind !== 'from' && this.paths[this.path].endStep !== null) {
      // 5.15 at level 2 prints no `from X to Y:`: a state after a path's end starts the next one,
      // at a branch target pushed earlier.
      const p = this.popPushTo(out.insn);
      this.startPath(stepNo, l.no, p?.from ?? null, out.insn, p?.push ?? null);
    }
    this.lastStep = stepNo;
    this.lastStepLine = l.no;
    const rec: StepRecord = { kind: out.kind, insn: out.insn, frame: out.frame, step: stepNo, line: l.no, path: this.path };
    this.sink.step(rec);
    if (res.mismatches.length > 0) this.mismatch(l.no, res.mismatches);
    if (out.kind === 'insn') {
      let list = this.insnSteps.get(out.insn);
      if (!list) this.insnSteps.set(out.insn, (list = []));
      list.push(stepNo);
      this.lastInsnStep = stepNo;
      this.lastInsnNo = out.insn;
      this.lastInsnText = line.kind === 'insn' ? line.text : '';
    }
    // References.
    if (line.kind === 'from') this.branchRefs(prevRefs, pushed, rec);
    else this.trackRefs(prevRefs, rec);
    if (isBranch && before && line.kind === 'insn') this.recordPush(line.insn, line.text, line.delta, before, stepNo);
    // How the path ends.
    if (out.kind === 'safe') this.endPath('safe', stepNo, out.insn);
    else if (line.kind === 'insn' && line.text === 'exit' && out.frame === 0) this.endPath('exit', stepNo);
    // Checkpoints: periodic, and at every branch start (its state came from a pushed copy).
    // A path start needs one only when a replay without the pushed copy would differ:
    // frames below the printed one, or a held lock (neither is in the printed text).
    const needs = (line.kind === 'from' && (m.frames.length > 1 || m.lockHeld || lockBefore || m.lockId !== null)) ||
      // The step that told how the kernel treats a helper's stack reads (from a pushed state a replay lacks).
      (m.clobberReads ?? null) !== clobberBefore;
    // Also when many lines (backtracking) went by: a replay then never reads more than ~1000 lines.
    if (stepNo - this.lastCheckpoint >= this.every || needs || l.no - this.lastCheckpointLine > 1024) {
      this.lastCheckpoint = stepNo;
      this.lastCheckpointLine = l.no;
      this.sink.checkpoint(stepNo, l.no, this.rec.snapshotJson());
    }
  }

  private recordPush(insn: number, text: string, delta: string | null, before: VerifierState, stepNo: number): void {
    const off = /pc([+-]\d+)$/.exec(text);
    // A helper/kfunc with a callback pushes the callback's state; its target is the callback's first insn.
    const target = off ? String(insn + 1 + Number(off[1])) : '*';
    const skipRegs = new Set<number>();
    const skipIds = new Set<number>();
    const frame = before.frames[before.frames.length - 1];
    if (delta) {
      let f = 0;
      for (const it of this.rec.lastDelta) {
        if (it.kind === 'frame') f = it.frame;
        if (it.kind === 'reg' && f === frame.frame) {
          skipRegs.add(it.reg);
          const raw = frame.regs[it.reg];
          const id = raw ? idOf(raw) : null;
          if (id !== null) skipIds.add(id);
        }
      }
    }
    // The compared registers are refined on both branches even when the delta omits one.
    for (const r of /r(\d+)/g[Symbol.matchAll](text)) {
      const n = Number(r[1]);
      if (n <= 10) {
        skipRegs.add(n);
        const raw = frame.regs[n];
        const id = raw ? idOf(raw) : null;
        if (id !== null) skipIds.add(id);
      }
    }
    const key = `${insn}:${target}`;
    let stack = this.pushes.get(key);
    if (!stack) this.pushes.set(key, (stack = []));
    if (stack.length >= MAX_PUSHES_PER_BRANCH) stack.shift();
    stack.push({ step: stepNo, path: this.path, state: before, skipRegs, skipIds });
    if (stack.length > KEEP_PUSH_STATES) stack[stack.length - 1 - KEEP_PUSH_STATES].state = null;
  }

  private popPushTo(target: number): { from: number; push: Push } | undefined {
    let best: { from: number; push: Push; key: string } | undefined;
    const suffix = `:${target}`;
    for (const [key, stack] of this.pushes) {
      if (!key.endsWith(suffix) || stack.length === 0) continue;
      const top = stack[stack.length - 1];
      if (!best || top.step > best.push.step) best = { from: Number(key.slice(0, key.indexOf(':'))), push: top, key };
    }
    if (best) this.pushes.get(best.key)?.pop();
    return best;
  }

  private startPath(step: number, line: number, from: number | null, to: number | null, pushed: Push | null): void {
    this.path = this.paths.length;
    this.paths.push({
      path: this.path, startStep: step, startLine: line, fromInsn: from, toInsn: to,
      pushedStep: pushed?.step ?? null, parentPath: pushed?.path ?? null,
      endStep: null, endLine: null, endInsn: null, end: 'open',
    });
  }

  /** Close the current path at `step` (its line is the last step line seen); 'open' leaves it open. */
  private endPath(end: PathEnd, step: number, insn: number = this.lastInsnNo): void {
    const p = this.paths[this.path];
    if (!p || p.endStep !== null) return;
    if (end === 'open') return;
    p.end = end;
    p.endStep = step;
    p.endLine = this.lastStepLine;
    p.endInsn = insn;
  }

  private trackRefs(prev: number[], rec: StepRecord): void {
    const cur = this.rec.m.refs;
    if (sameIds(cur, prev)) return;
    const func = callName(this.lastInsnText);
    const lockId = this.rec.m.lockId;
    if (lockId !== null) this.lockIds.add(lockId);
    for (const id of cur) {
      if (prev.includes(id) || this.refs.has(id)) continue;
      const isLock = this.lockIds.has(id);
      this.refs.set(id, {
        refObjId: id, kind: isLock ? 'lock' : 'object', acquireStep: this.lastInsnStep, acquireLine: rec.line,
        acquireInsn: this.lastInsnNo, func, path: rec.path,
      });
      if (!isLock) this.refEvents.push({ refObjId: id, kind: 'acquired', step: rec.step, line: rec.line, insn: this.lastInsnNo, path: rec.path, func });
    }
    for (const id of prev) {
      if (cur.includes(id) || this.lockIds.has(id)) continue;
      let kind: RefEventKind = 'released';
      for (const [re, k] of RELEASE_KIND) if (func && re.test(func)) kind = k;
      this.refEvents.push({ refObjId: id, kind, step: rec.step, line: rec.line, insn: this.lastInsnNo, path: rec.path, func });
    }
  }

  private branchRefs(prevRefs: number[], pushed: Push | undefined, rec: StepRecord): void {
    void prevRefs;
    if (!pushed) return;
    const cur = this.rec.m.refs;
    for (const id of pushed.state?.refs ?? []) {
      if (cur.includes(id) || this.lockIds.has(id)) continue;
      this.refEvents.push({ refObjId: id, kind: 'null_branch', step: rec.step, line: rec.line, insn: rec.insn, path: rec.path, func: null });
    }
  }

  private mismatch(line: number, diffs: string[]): void {
    this.mismatches += diffs.length;
    this.message('warning', line, `state mismatch: ${diffs.join('; ')}`);
  }

  private message(severity: LogMessage['severity'], line: number, text: string): void {
    if (severity === 'warning') this.warnings++;
    this.sink.message({ severity, step: this.lastStep, line, text });
  }

  private flagUnknown(l: LogLineText): void {
    this.unknownLines++;
    this.message('unknown', l.no, l.text);
  }

  /** Held-back lines followed by more states: not an error. The kernel's known diagnostics are informational, the rest unknown. */
  private flushUnknown(): void {
    for (const l of this.pending) {
      if (lexLine(l.text).kind === 'diag') this.message('info', l.no, l.text);
      else this.flagUnknown(l);
    }
    this.pending = [];
  }

  /** Lines held back just before the closing stats are the verifier's error message. */
  private flushErrors(): void {
    if (this.pending.length === 0) return;
    for (const l of this.pending) {
      this.errors.push(l.text);
      this.sink.message({ severity: 'error', step: this.lastStep, line: l.no, text: l.text });
    }
    this.pending = [];
    const p = this.paths[this.path];
    // The error ends the path it was found on, even right after its exit (a leak is reported at exit).
    if (p && (p.endStep === null || p.endStep === this.lastStep)) {
      p.end = 'error';
      p.endStep = this.lastStep;
      p.endLine = this.lastStepLine;
      p.endInsn = this.lastInsnNo;
    }
  }

  /** End of input: decide what the held-back lines were and close the books. */
  finish(): void {
    if (this.pending.length > 0) {
      // A log cut before its closing lines (or printed without them) still ends in its error
      // when a held-back line is one the kernel prints for a failed check.
      const looksLikeError = this.pending.some((l) => ERROR_KINDS.has(lexLine(l.text).kind));
      if (looksLikeError) this.flushErrors();
      else this.flushUnknown();
    }
    if (this.steps > 0 && !this.sawStats && this.errors.length === 0) {
      this.message('warning', this.lastStepLine, 'the log ends without the verifier\'s closing lines (processed … insns): it was cut short');
    }
  }

  verdict(): 'accepted' | 'rejected' | null {
    if (this.errors.length > 0) return 'rejected';
    if (this.sawStats) return 'accepted';
    return null;
  }
}
