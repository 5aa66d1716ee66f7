import type { LogLine } from './lexer';
import { HELPER_NAMES } from '../object/insn/helper-ids';
import { parseStateText, type StateItem } from './stateText';
import { clobberSlot, helperMemArgs, legacySpill, memArgSize, slotsOf, stackPointerOf } from './stackAccess';
import {
  cloneFrame, diffFrame, emptyFrame, framesFromItems, idOf, type FrameState, type VerifierState,
} from './state';

/** What a step is: the kind of line that produced it. Stored as its index. */
export const STEP_KINDS = ['insn', 'state', 'branch', 'safe', 'call', 'return'] as const;
export type StepKind = (typeof STEP_KINDS)[number];

export interface StepOut {
  kind: StepKind;
  insn: number;
  frame: number;
}

/** How the callee of a `call` insn is reached (kernel: check_helper_call, check_kfunc_call, check_func_call). */
export type CallKind = 'helper' | 'kfunc' | 'subprog';

/**
 * A call as the verifier saw it. The kernel clobbers the caller-saved
 * registers R0-R5 at every call (mark_reg_not_init for caller_saved[] in
 * check_helper_call / check_kfunc_call; clear_caller_saved_regs for a
 * bpf-to-bpf call), so the state after the call no longer holds the
 * arguments: they are kept here, as they were before the call.
 */
export interface CallSite {
  /** The call insn and the frame that made the call. */
  insn: number;
  frame: number;
  kind: CallKind;
  /** The callee as the log names it: `bpf_obj_new_impl`, `bpf_loop`; `pc+3` for a bpf-to-bpf call. */
  target: string;
  /** The number after `#`: the helper id, or the kfunc's BTF id in the kernel that printed the log; null for `pc+N`. */
  id: number | null;
  /** R1..R5 before the call (index 0 is R1), the kernel's text; null when not initialised. */
  args: (string | null)[];
  /** Their liveness suffixes (5.x-6.12 kernels), '' when none. */
  argLive: string[];
  /**
   * Before 6.7 (`fp-8` names no frame): for an argument that is a stack
   * pointer into another frame than the caller's, that frame. Absent otherwise.
   */
  argFp?: (number | null)[];
  /**
   * Whether the kernel has printed the state after the call: its `;` delta,
   * the `N:` line that follows when other lines came in between (N = insn + 1),
   * or, for a bpf-to-bpf call, the callee's `to caller` return.
   */
  returned: boolean;
  /** R0 as the call returned it, once `returned`; null when the call leaves R0 not initialised (void). */
  ret: string | null;
  retLive: string;
}

const CALL_INSN = /^call ([A-Za-z_][\w.-]*)#(-?\d+)$/;
const NULL_CHECK = /^if r(\d+) [!=]= 0x0 goto pc[+-]\d+$/;
const CALL_PC = /^call pc([+-]\d+)$/;

/** The callee of a call insn's text (`call bpf_loop#181`, `call pc+3`), null when not a call. */
export function parseCall(text: string): { kind: CallKind; target: string; id: number | null } | null {
  const pc = CALL_PC.exec(text);
  if (pc) return { kind: 'subprog', target: `pc${pc[1]}`, id: null };
  const c = CALL_INSN.exec(text);
  if (!c) return null;
  const id = Number(c[2]);
  // The log prints helpers and kfuncs alike (`name#imm`): a helper's imm is its enum bpf_func_id,
  // a kfunc's its BTF id in vmlinux or a module (thousands up). A helper newer than the table has a small id.
  const helper = HELPER_NAMES[id] === c[1] || (id >= HELPER_NAMES.length && id < 1024);
  return { kind: helper ? 'helper' : 'kfunc', target: c[1], id };
}

export function copyCall(c: CallSite): CallSite {
  return { ...c, args: c.args.slice(), argLive: c.argLive.slice() };
}

/** Everything the reconstruction carries from one line to the next; JSON-serialisable (checkpoints). */
export interface MachineState extends VerifierState {
  /** True once an instruction line carried a `;` delta (5.17+ format); before, `N:` lines are full states. */
  sawDelta: boolean;
  /** Inside a caller/callee/returning/to-caller block: the next indented line is its state. */
  block: '' | 'caller' | 'callee' | 'returning' | 'toCaller';
  blockInsn: number;
  lastInsn: number;
  lastInsnText: string;
  /** Just returned to a caller: a following `from EXIT to N:` continues the same path. */
  afterReturn: boolean;
  /** ...and that return was from a callback (bpf_loop, rbtree less, ...), whose caller state the kernel re-widens. */
  afterCallbackReturn: boolean;
  /**
   * Per frame above 0: the call insn and whether it called a callback through a helper/kfunc (and the call, for its return).
   * Null for a call the log never showed (a callee or return deeper than the calls seen: a damaged or spliced log).
   */
  callStack: ({ insn: number; callback: boolean; site?: CallSite } | null)[];
  /**
   * The call of the current step: set by a call insn, kept on the step that
   * completes its print (the `N:` line after it, the callee's entry) and on a
   * return to the caller; null on every other step. Checkpoints written before
   * it existed lack it (undefined).
   */
  call: CallSite | null;
  /**
   * Whether this log's kernel clobbers stack bytes a helper only reads (see
   * stackAccess.ts: through 6.13 it does, from 6.14 not), once the log has
   * shown it: a full state that prints such a slot decides. Until then (null)
   * both values are kept (FrameState.stackAlt). Older checkpoints lack it.
   */
  clobberReads?: boolean | null;
  /**
   * What the log's format has shown of its kernel: spellings of 5.x-6.6
   * (`off=0`, `imm=0`, `umax_value=`), liveness suffixes on names (`R0_w=`,
   * 5.x-6.17), the `Live regs before insn:` table (6.15+).
   */
  fmt?: { legacy: boolean; live: boolean; table: boolean };
}

export function initialMachine(): MachineState {
  return {
    frames: [emptyFrame(0)], refs: [], lockHeld: false, lockId: null,
    sawDelta: false, block: '', blockInsn: -1, lastInsn: -1, lastInsnText: '', afterReturn: false,
    afterCallbackReturn: false, callStack: [], call: null, clobberReads: null,
    fmt: { legacy: false, live: false, table: false },
  };
}

const LOCK_CALL = /^call (bpf_spin_lock|bpf_res_spin_lock|bpf_res_spin_lock_irqsave)#/;
const UNLOCK_CALL = /^call (bpf_spin_unlock|bpf_res_spin_unlock|bpf_res_spin_unlock_irqrestore)#/;

/** The result of feeding one line. */
export interface FeedResult {
  step: StepOut | null;
  /** Mismatches between the reconstructed state and a state the kernel printed in full. */
  mismatches: string[];
  /** State text items the parser did not understand (kept, flagged). */
  unknownItems: string[];
}

/** Shared empty lists for results (never mutated: most steps have no mismatch and no unknown item). */
const NONE: string[] = [];
const NO_ITEMS: StateItem[] = [];
/**
 * Cut the call stack to `depth` entries or pad it with nulls: `length = n`
 * alone would leave holes (and JSON turns holes into nulls, so a replay from
 * a checkpoint would see what the live run did not).
 */
function setCallDepth(m: MachineState, depth: number): void {
  if (m.callStack.length > depth) m.callStack.length = depth;
  while (m.callStack.length < depth) m.callStack.push(null);
}

const NO_RESULT: FeedResult = { step: null, mismatches: NONE, unknownItems: NONE };

/**
 * Applies log lines to the state: deltas after `;` and on `N:` lines, full
 * states from `from X to Y:` and the caller/callee blocks. Path bookkeeping
 * (which branch was pushed where) lives in the importer; it hands `from`
 * lines their pushed state through `pushed`.
 */
export class Reconstructor {
  m: MachineState;
  /** The items of the last instruction line's delta (the importer reads them again for branches). */
  lastDelta: StateItem[] = [];

  constructor(m: MachineState = initialMachine()) {
    this.m = m;
  }

  get curFrame(): number {
    return this.m.frames.length - 1;
  }

  snapshotJson(): string {
    return JSON.stringify(this.m);
  }

  feed(line: LogLine, pushed?: VerifierState | null, skipRegs?: ReadonlySet<number>, skipIds?: ReadonlySet<number>): FeedResult {
    const m = this.m;
    switch (line.kind) {
      case 'insn': {
        m.block = '';
        m.afterReturn = false;
        m.lastInsn = line.insn;
        m.lastInsnText = line.text;
        m.call = null;
        const text = line.text;
        if (text.startsWith('call ')) {
          // Calls clobber R0-R5 (R0 then holds the result, printed when set; a
          // callback's caller block prints the arguments again). The arguments are kept aside.
          const f = m.frames[m.frames.length - 1];
          const callee = parseCall(text);
          if (callee?.kind === 'helper') this.helperStackAccess(callee.target, f);
          if (callee) {
            m.call = {
              insn: line.insn, frame: f.frame, ...callee, args: f.regs.slice(1, 6), argLive: f.regLive.slice(1, 6),
              returned: false, ret: null, retLive: '',
            };
            if (f.regFp) m.call.argFp = [1, 2, 3, 4, 5].map((r) => f.regFp?.[r] ?? null);
          }
          for (let r = 0; r <= 5; r++) {
            f.regs[r] = null;
            f.regLive[r] = '';
            if (f.regFp) setFp(f.regFp, r, undefined, f);
          }
          if (LOCK_CALL.test(text)) m.lockHeld = true;
          else if (UNLOCK_CALL.test(text)) {
            m.lockHeld = false;
            m.lockId = null;
          }
        }
        let unknownItems: string[] = NONE;
        this.lastDelta = NO_ITEMS;
        // `if rX == 0x0` on a pointer that may be NULL: note it before the delta changes rX.
        const nullCheck = text.charCodeAt(0) === 105 /* i */ ? this.nullCheckOf(text) : null;
        // Before 6.7 the print does not say which frame a stack pointer points into: follow it.
        const fpMove = m.fmt?.legacy && !text.startsWith('call ') ? this.fpSource(text) : null;
        if (line.delta !== null) {
          m.sawDelta = true;
          this.lastDelta = parseStateText(line.delta);
          this.noteFormat(this.lastDelta);
          unknownItems = this.applyDelta(this.lastDelta, text.charCodeAt(0) === 99 /* c */ && LOCK_CALL.test(text));
          if (m.call) this.callReturned(m.call, this.lastDelta);
        }
        if (nullCheck) this.nullChecked(nullCheck);
        if (fpMove) this.fpMoved(fpMove);
        if (text.startsWith('*(u64')) this.crossFrameStore(text);
        return { step: { kind: 'insn', insn: line.insn, frame: this.curFrame }, mismatches: NONE, unknownItems };
      }
      case 'state': {
        m.block = '';
        const items = parseStateText(line.text);
        this.noteFormat(items);
        const lockCall = m.lastInsn === line.insn - 1 && LOCK_CALL.test(m.lastInsnText);
        // The state printed after a call on a line of its own (backtracking came in between):
        // the call's delta, so the call returns here.
        const call = m.call !== null && !m.call.returned && line.insn === m.call.insn + 1 ? m.call : null;
        m.call = null;
        let unknownItems: string[];
        if (!m.sawDelta && items.some((it) => it.kind === 'reg' && it.reg === 10)) {
          unknownItems = this.replaceFrames(items, null);
        } else {
          unknownItems = this.applyDelta(items, lockCall);
        }
        if (call && this.callReturned(call, items)) m.call = call;
        return { step: { kind: 'state', insn: line.insn, frame: this.curFrame }, mismatches: NONE, unknownItems };
      }
      case 'safe':
        m.block = '';
        m.call = null;
        return { step: { kind: 'safe', insn: line.insn, frame: this.curFrame }, mismatches: NONE, unknownItems: NONE };
      case 'from': {
        m.block = '';
        m.call = null;
        if (line.safe) {
          m.afterReturn = false;
          return { step: { kind: 'safe', insn: line.to, frame: this.curFrame }, mismatches: NONE, unknownItems: NONE };
        }
        const items = parseStateText(line.text);
        this.noteFormat(items);
        const printed = framesFromItems(items);
        let mismatches: string[] = [];
        if (m.afterReturn && m.afterCallbackReturn) {
          // After a callback the kernel revisits the call with a widened state: nothing to compare.
        } else if (m.afterReturn) {
          // The continuation after a return: the printed state must be the one we returned to.
          for (const p of printed.frames) {
            const mine = m.frames[p.frame];
            this.learn(mine, p);
            if (mine) mismatches.push(...diffFrame(mine, p));
          }
        } else if (pushed) {
          for (const p of printed.frames) this.learn(pushed.frames[p.frame], p);
          this.resolveAll(pushed.frames);
          for (const p of printed.frames) {
            const mine = pushed.frames[p.frame];
            if (mine) mismatches.push(...diffFrame(mine, p, skipRegs, skipIds));
          }
          m.lockHeld = pushed.lockHeld;
          m.lockId = pushed.lockId;
        }
        m.afterReturn = false;
        m.afterCallbackReturn = false;
        // Same with or without the pushed copy, so that a replay from a checkpoint agrees.
        m.callStack.length = Math.min(m.callStack.length, this.topFrame(items));
        const unknownItems = this.replaceFrames(items, pushed ?? null);
        return { step: { kind: 'branch', insn: line.to, frame: this.curFrame }, mismatches, unknownItems };
      }
      case 'validating':
        // A global function is verified on its own, from a fresh state.
        Object.assign(m, { frames: [emptyFrame(0)], refs: [], lockHeld: false, lockId: null, block: '', callStack: [], afterReturn: false, afterCallbackReturn: false, call: null });
        return NO_RESULT;
      case 'caller':
      case 'callee':
      case 'returning':
        m.block = line.kind;
        return NO_RESULT;
      case 'liveHeader':
        // 6.15+: those kernels leave the slots of a helper's read-only arguments alone.
        this.fmt().table = true;
        return NO_RESULT;
      case 'toCaller':
        m.block = 'toCaller';
        m.blockInsn = line.insn;
        return NO_RESULT;
      case 'cont':
        return this.feedBlock(line.text);
      default:
        return NO_RESULT;
    }
  }

  private feedBlock(text: string): FeedResult {
    const m = this.m;
    const block = m.block;
    m.block = '';
    if (block === '') return { step: null, mismatches: [], unknownItems: [text] };
    const items = parseStateText(text);
    const printed = framesFromItems(items);
    const unknownItems = printed.others;
    const p = printed.frames[0] ?? emptyFrame(0);
    const mismatches: string[] = [];
    if (printed.refs) m.refs = printed.refs;
    switch (block) {
      case 'caller': {
        // The caller's R0-R5 are not carried across a bpf-to-bpf call.
        const mine = m.frames[p.frame];
        this.learn(mine, p);
        const callback = !m.lastInsnText.startsWith('call pc');
        if (mine) {
          const expect = cloneFrame(mine);
          for (let r = 0; r <= 5; r++) expect.regs[r] = null;
          // A helper/kfunc that calls back keeps its arguments in the caller's print.
          mismatches.push(...diffFrame(expect, p, callback ? new Set([0, 1, 2, 3, 4, 5]) : undefined));
        }
        carryFp(mine, p);
        m.frames[p.frame] = p;
        return { step: null, mismatches, unknownItems };
      }
      case 'callee': {
        for (let i = 0; i < p.frame; i++) if (!m.frames[i]) m.frames[i] = emptyFrame(i);
        m.frames.length = p.frame + 1;
        m.frames[p.frame] = p;
        if (m.fmt?.legacy && m.call) calleeFp(p, m.call);
        setCallDepth(m, Math.max(0, p.frame - 1));
        // The callee's entry shows the call that made it (its R1-R5 are the callee's now).
        const site = m.call ? copyCall(m.call) : undefined;
        m.callStack.push({ insn: m.lastInsn, callback: !m.lastInsnText.startsWith('call pc'), ...(site ? { site } : {}) });
        return { step: { kind: 'call', insn: m.lastInsn, frame: p.frame }, mismatches, unknownItems };
      }
      case 'returning': {
        const mine = m.frames[p.frame];
        this.learn(mine, p);
        if (mine) mismatches.push(...diffFrame(mine, p));
        carryFp(mine, p);
        m.frames[p.frame] = p;
        return { step: null, mismatches, unknownItems };
      }
      case 'toCaller': {
        const mine = m.frames[p.frame];
        this.learn(mine, p);
        // R0 now holds the callee's return value; the rest is the caller as it was at the call.
        if (mine) mismatches.push(...diffFrame(mine, p, new Set([0])));
        const callee = m.frames[p.frame + 1];
        const fromCallback = (callee?.flags ?? []).some((f) => f === 'cb' || f === 'async_cb') ||
          (m.callStack[p.frame]?.callback ?? false);
        const site = m.callStack[p.frame]?.site;
        for (let i = 0; i < p.frame; i++) if (!m.frames[i]) m.frames[i] = emptyFrame(i);
        carryFp(mine, p);
        m.frames.length = p.frame + 1;
        m.frames[p.frame] = p;
        m.afterReturn = true;
        m.afterCallbackReturn = fromCallback;
        setCallDepth(m, p.frame);
        // The return completes the call: R0 is what the callee returned (for a callback, what the helper left in R0).
        m.call = site ? { ...copyCall(site), returned: true, ret: p.regs[0], retLive: p.regLive[0] } : null;
        return { step: { kind: 'return', insn: m.blockInsn, frame: p.frame }, mismatches, unknownItems };
      }
    }
  }

  /**
   * The state after `call` has been printed (`items`): R0 is its return value,
   * unless the print belongs to a callee's frame (a bpf-to-bpf call's entry).
   * Returns whether the call returned.
   */
  private callReturned(call: CallSite, items: StateItem[]): boolean {
    for (const it of items) if (it.kind === 'frame' && it.frame > call.frame) return false;
    const f = this.m.frames[call.frame];
    if (!f || this.m.frames.length - 1 !== call.frame) return false;
    call.returned = true;
    call.ret = f.regs[0];
    call.retLive = f.regLive[0] ?? '';
    return true;
  }

  /** Apply a printed delta: set what it names, keep the rest. Returns items not understood. */
  private applyDelta(items: StateItem[], lockCall: boolean): string[] {
    const m = this.m;
    let f = 0;
    let sawFrame = false;
    let refs: number[] = [];
    let unknown: string[] = NONE;
    for (const it of items) if (it.kind === 'refs') refs = it.ids;
    if (m.sawDelta && (m.refs.length > 0 || m.lastInsnText.startsWith('call '))) {
      this.invalidateReleased(m.refs.filter((id) => !refs.includes(id) && id !== m.lockId));
    }
    for (const it of items) {
      switch (it.kind) {
        case 'frame':
          f = it.frame;
          sawFrame = true;
          break;
        case 'reg': {
          const fr = this.frame(f);
          fr.regs[it.reg] = it.raw;
          fr.regLive[it.reg] = it.live;
          break;
        }
        case 'slot': {
          const fr = this.frame(f);
          const k = String(it.off);
          fr.stack[k] = it.raw;
          if (fr.stackAlt) dropAlt(fr, k);
          const narrow = this.narrowSpillAt(fr, it.off, it.raw);
          if (narrow !== undefined) (fr.stackNarrow ??= {})[k] = narrow;
          else dropNarrow(fr, k);
          if (it.live) fr.stackLive[k] = it.live;
          else delete fr.stackLive[k];
          break;
        }
        case 'refs':
          break;
        case 'flag':
          if (!this.frame(f).flags.includes(it.name)) this.frame(f).flags.push(it.name);
          break;
        case 'other':
          if (unknown === NONE) unknown = [];
          unknown.push(it.text);
          break;
      }
    }
    void sawFrame;
    // `refs=` is printed with every state print, so a print without it means none are held.
    if (lockCall) {
      const added = refs.filter((id) => !m.refs.includes(id));
      if (added.length > 0) m.lockId = added[added.length - 1];
    }
    m.refs = refs;
    return unknown;
  }

  /**
   * A released reference takes every copy of the pointer with it
   * (release_reference: the registers and spilled slots holding that
   * ref_obj_id become unknown scalars when the program may leak pointers, as
   * root); a list push or rbtree add turns them into non-owning references,
   * which the unlock invalidates (invalidate_non_owning_refs).
   */
  private invalidateReleased(ids: number[]): void {
    const m = this.m;
    const unlock = m.lastInsnText.startsWith('call ') && UNLOCK_CALL.test(m.lastInsnText);
    // Most steps release nothing: leave before any regex.
    if (ids.length === 0 && !unlock) return;
    const call = /^call ([A-Za-z0-9_]+)#/.exec(m.lastInsnText)?.[1] ?? '';
    const nonOwning = /^(bpf_list_push_(front|back)|bpf_rbtree_add)/.test(call);
    const pats = ids.map((id) => new RegExp(`[(,]ref_obj_id=${id}[,)]`));
    const rewrite = (raw: string | null): string | null => {
      if (raw === null) return raw;
      if (unlock && /[(,]non_own_ref[,)]/.test(raw)) return 'scalar()';
      if (!pats.some((p) => p.test(raw))) return raw;
      if (!nonOwning) return 'scalar()';
      return toNonOwning(raw);
    };
    for (const fr of m.frames) {
      for (let r = 0; r < fr.regs.length; r++) fr.regs[r] = rewrite(fr.regs[r]);
      mapSlots(fr, rewrite);
    }
  }

  /**
   * `if rX == 0x0 goto` / `if rX != 0x0 goto` where rX may be NULL
   * (`map_value_or_null(id=1,...)`, `ptr_or_null_foo(id=2,...)`): the register,
   * its id and its value before the check.
   */
  private nullCheckOf(text: string): { reg: number; id: number; before: string } | null {
    const c = NULL_CHECK.exec(text);
    if (!c) return null;
    const reg = Number(c[1]);
    const before = this.m.frames[this.m.frames.length - 1].regs[reg];
    if (!before || !before.includes('_or_null')) return null;
    const id = idOf(before);
    return id === null ? null : { reg, id, before };
  }

  /**
   * After a NULL check the kernel gives every copy of the pointer (the
   * registers and spilled slots of every frame with the same id that may be
   * NULL) the checked register's new state (mark_ptr_or_null_regs: non-NULL,
   * or a known 0 on the NULL side), but its delta prints only the checked
   * register: `8: r7 = r0` then `10: if r7 == 0x0 goto pc+28 ; R7_w=map_value(...)`
   * leaves R0 non-NULL too, unprinted.
   */
  private nullChecked(c: { reg: number; id: number; before: string }): void {
    const m = this.m;
    const cur = m.frames[m.frames.length - 1];
    const after = cur.regs[c.reg];
    if (after === null || after === c.before) return;
    const copy = (raw: string | null): string | null =>
      raw !== null && raw.includes('_or_null') && idOf(raw) === c.id ? after : raw;
    for (const fr of m.frames) {
      for (let r = 0; r < fr.regs.length; r++) if (fr !== cur || r !== c.reg) fr.regs[r] = copy(fr.regs[r]);
      mapSlots(fr, copy);
    }
  }

  private fmt(): NonNullable<MachineState['fmt']> {
    return (this.m.fmt ??= { legacy: false, live: false, table: false });
  }

  /** The analyzer saw a spelling only 5.x-6.6 print (`off=0`, `imm=0`, `umax_value=`). */
  noteLegacy(): void {
    this.fmt().legacy = true;
  }

  /** Deltas looked at for liveness suffixes: ≤6.17 print one in the first lines, so a few hundred tell. */
  private formatChecks = 0;

  private noteFormat(items: StateItem[]): void {
    const f = this.fmt();
    if (f.live || this.formatChecks > 256) return;
    this.formatChecks++;
    for (const it of items) {
      if ((it.kind === 'reg' || it.kind === 'slot') && it.live !== '') {
        f.live = true;
        return;
      }
    }
  }

  /**
   * Whether stack bytes a helper only reads are clobbered (stackAccess.ts):
   * what the log has shown, else what its format tells (5.x-6.6 do; a log
   * with the live-regs table, 6.15+, does not); null when it cannot tell (6.7-6.14).
   */
  clobberMode(): boolean | null {
    const m = this.m;
    if (m.clobberReads === true || m.clobberReads === false) return m.clobberReads;
    const f = this.fmt();
    if (f.legacy) return true;
    if (f.table) return false;
    return null;
  }

  /** A helper call's memory arguments on the stack, before the call clobbers R0-R5 (see stackAccess.ts). */
  private helperStackAccess(name: string, f: FrameState): void {
    const args = helperMemArgs(name);
    if (args.length === 0) return;
    const style = this.fmt().legacy ? 'legacy' : 'modern';
    const reads = this.clobberMode() !== false;
    for (const a of args) {
      if (a.raw || (!a.write && !reads)) continue;
      const sp = stackPointerOf(f.regs[a.arg]);
      if (!sp) continue;
      const size = memArgSize(a, f.regs, style);
      if (size <= 0) continue;
      const frame = sp.frame ?? f.regFp?.[a.arg] ?? f.frame;
      this.clobberStack(frame, sp.off, size, a.write);
    }
  }

  private clobberStack(frameNo: number, off: number, size: number, write: boolean): void {
    const fr = this.m.frames[frameNo];
    if (!fr) return;
    const mode = write ? true : this.clobberMode();
    if (mode === false) return;
    // Until the log tells, the likelier value is shown: 6.7-6.13 (liveness suffixes) clobber.
    const guess = this.fmt().live;
    for (const { base, inRange } of slotsOf(off, size)) {
      const k = String(base);
      const alt = fr.stackAlt?.[k];
      let keep: string | null;
      let clobbered: string;
      if (mode === true) {
        if (!alt) {
          const before = fr.stack[k] ?? null;
          fr.stack[k] = clobberSlot(before, inRange, fr.stackNarrow?.[k]);
          if (fr.stack[k] !== before) dropNarrow(fr, k);
          continue;
        }
        // (Undecided slots exist only while the rule is not known: this is a write, which clobbers either value.)
        keep = clobberSlot(alt[0], inRange);
        clobbered = clobberSlot(alt[1], inRange);
      } else {
        keep = alt ? alt[0] : (fr.stack[k] ?? null);
        clobbered = clobberSlot(alt ? alt[1] : (fr.stack[k] ?? null), inRange);
      }
      if (keep === clobbered) {
        if (alt) dropAlt(fr, k);
        fr.stack[k] = clobbered;
        continue;
      }
      (fr.stackAlt ??= {})[k] = [keep, clobbered];
      const shown = guess ? clobbered : keep;
      if (shown === null) delete fr.stack[k];
      else fr.stack[k] = shown;
    }
  }

  /**
   * The width of the spill the current instruction made at slot `off`, when
   * it is a narrow store (u8/u16/u32) to the slot's base of what the kernel
   * printed as a spilled register, not as bytes.
   */
  private narrowSpillAt(fr: FrameState, off: number, raw: string): number | undefined {
    const st = /^\*\(u(8|16|32) \*\)\(r(\d+) ([+-]\d+)\) = r\d+$/.exec(this.m.lastInsnText);
    if (!st || /^[m0?]{8}$/.test(raw) || /^(dynptr|iter|irq_flag)/.test(raw)) return undefined;
    const base = st[2] === '10' ? 0 : stackPointerOf(fr.regs[Number(st[2])])?.off;
    if (base === undefined || base + Number(st[3]) !== off) return undefined;
    return Number(st[1]) / 8;
  }

  /**
   * A printed state that shows a slot a helper only read tells which rule
   * the kernel follows (see clobberMode): its value then is the one kept or
   * the one clobbered. Decided once, for every frame.
   */
  private learn(mine: FrameState | undefined, printed: FrameState): void {
    if (!mine?.stackAlt || this.clobberMode() !== null) return;
    for (const [k, [keep, clobbered]] of Object.entries(mine.stackAlt)) {
      const p = printed.stack[k] ?? null;
      if (p !== clobbered && p !== keep) continue;
      this.m.clobberReads = p === clobbered;
      resolveAlt(mine, this.m.clobberReads);
      this.resolveAll(this.m.frames);
      return;
    }
  }

  /** Frames kept from before the rule was known (pushed branches) take it now. */
  private resolveAll(frames: FrameState[]): void {
    const mode = this.clobberMode();
    if (mode === null) return;
    for (const fr of frames) resolveAlt(fr, mode);
  }

  private topFrame(items: StateItem[]): number {
    const fr = framesFromItems(items).frames;
    return fr.length > 0 ? fr[fr.length - 1].frame : 0;
  }

  /**
   * A 64-bit store of a register through a pointer into another frame's stack
   * (`fp[0]-8` in a callee) spills it there; the kernel prints only the
   * current frame, so the caller's slot would otherwise go stale.
   */
  private crossFrameStore(text: string): void {
    const st = /^\*\(u64 \*\)\(r(\d+) ([+-]\d+)\) = r(\d+)$/.exec(text);
    if (!st) return;
    const m = this.m;
    const cur = m.frames[m.frames.length - 1];
    const sp = stackPointerOf(cur.regs[Number(st[1])]);
    if (!sp) return;
    // 6.7+ name the frame (`fp[0]-8`); before, the pointer was followed from the caller (regFp).
    const k = sp.frame ?? cur.regFp?.[st[1]];
    if (k === undefined) return;
    const off = sp.off + Number(st[2]);
    let val = cur.regs[Number(st[3])];
    if (k >= m.frames.length - 1 || off % 8 !== 0 || off >= 0 || val === null) return;
    // What the kernel stores: before 6.8 only a bounded scalar is spilled, and printed without its ranges.
    if (m.fmt?.legacy) val = legacySpill(val);
    const fr = m.frames[k];
    fr.stack[String(off)] = val;
    dropAlt(fr, String(off));
    dropNarrow(fr, String(off));
    if (fr.stackFp) setFp(fr.stackFp, String(off), undefined, fr);
  }

  /**
   * What a move, fill or spill of the current insn does to the frame a stack
   * pointer points into (before 6.7; see FrameState.regFp), read before its delta.
   */
  private fpSource(text: string): { dest: number | null; from: number | undefined; spill: { frame: number; off: string } | null } | null {
    const f = this.m.frames[this.m.frames.length - 1];
    const c0 = text.charCodeAt(0);
    if (c0 === 42 /* * */) {
      const st = /^\*\(u64 \*\)\(r(\d+) ([+-]\d+)\) = r(\d+)$/.exec(text);
      const sp = st ? stackPointerOf(f.regs[Number(st[1])]) : null;
      if (!st || !sp) return null;
      const frame = sp.frame ?? f.regFp?.[st[1]] ?? f.frame;
      const v = Number(st[3]);
      return { dest: null, from: stackPointerOf(f.regs[v]) ? (f.regFp?.[v] ?? f.frame) : undefined, spill: { frame, off: String(sp.off + Number(st[2])) } };
    }
    if (c0 !== 114 /* r */ && c0 !== 119 /* w */) return null;
    const d = /^[rw](\d+) (\S*)= (.*)$/.exec(text);
    if (!d) return null;
    const dest = Number(d[1]);
    const op = d[2];
    const src = d[3];
    if (op === '+' || op === '-') {
      // Pointer arithmetic keeps the frame; `scalar += ptr` takes the pointer's.
      const r = /^r(\d+)$/.exec(src);
      const mine = f.regFp?.[dest];
      if (mine !== undefined || !r || stackPointerOf(f.regs[dest])) return { dest, from: mine, spill: null };
      return { dest, from: f.regFp?.[r[1]], spill: null };
    }
    if (op !== '' || c0 === 119) return { dest, from: undefined, spill: null };
    const mov = /^r(\d+)$/.exec(src);
    if (mov) return { dest, from: f.regFp?.[mov[1]], spill: null };
    const fill = /^\*\(u64 \*\)\(r(\d+) ([+-]\d+)\)$/.exec(src);
    const sp = fill ? stackPointerOf(f.regs[Number(fill[1])]) : null;
    if (fill && sp) {
      const k = sp.frame ?? f.regFp?.[fill[1]] ?? f.frame;
      const slot = String(sp.off + Number(fill[2]));
      return { dest, from: this.m.frames[k]?.stackFp?.[slot] ?? (k !== f.frame ? k : undefined), spill: null };
    }
    return { dest, from: undefined, spill: null };
  }

  private fpMoved(mv: NonNullable<ReturnType<Reconstructor['fpSource']>>): void {
    const f = this.m.frames[this.m.frames.length - 1];
    if (mv.spill) {
      const fr = this.m.frames[mv.spill.frame];
      // (A spilled stack pointer prints as the bare type before 6.7: `fp-8=fp`; `from` says whether it was one.)
      if (fr) setFp((fr.stackFp ??= {}), mv.spill.off, mv.from, fr);
      return;
    }
    if (mv.dest === null) return;
    setFp((f.regFp ??= {}), mv.dest, stackPointerOf(f.regs[mv.dest]) ? mv.from : undefined, f);
  }

  private frame(f: number): FrameState {
    const m = this.m;
    for (let i = m.frames.length; i <= f; i++) m.frames.push(emptyFrame(i));
    return m.frames[f];
  }

  /** A state printed in full replaces the frame it names; frames below come from `pushed` when known. */
  private replaceFrames(items: StateItem[], pushed: VerifierState | null): string[] {
    const m = this.m;
    const printed = framesFromItems(items);
    const top = printed.frames.length > 0 ? printed.frames[printed.frames.length - 1].frame : 0;
    const frames: FrameState[] = [];
    for (let i = 0; i < top; i++) {
      frames.push(pushed?.frames[i] ? cloneFrame(pushed.frames[i]) : (m.frames[i] ?? emptyFrame(i)));
    }
    for (const p of printed.frames) {
      carryFp(pushed?.frames[p.frame] ?? m.frames[p.frame], p);
      frames[p.frame] = p;
    }
    for (let i = 0; i <= top; i++) if (!frames[i]) frames[i] = emptyFrame(i);
    this.resolveAll(frames);
    m.frames = frames;
    m.refs = printed.refs ?? [];
    if (m.lockId !== null && !m.refs.includes(m.lockId) && m.sawDelta) {
      m.lockId = null;
      m.lockHeld = false;
    }
    return printed.others;
  }
}

/** `ptr_foo(ref_obj_id=3,off=8)` → `ptr_foo(non_own_ref,off=8)`: the kernel drops the ref_obj_id and adds the flag. */
export function toNonOwning(raw: string): string {
  const open = raw.indexOf('(');
  if (open < 0 || !raw.endsWith(')')) return raw;
  const attrs = raw.slice(open + 1, -1).split(',').filter((a) => a.length > 0 && !a.startsWith('ref_obj_id='));
  const idIdx = attrs.findIndex((a) => a.startsWith('id='));
  attrs.splice(idIdx + 1, 0, 'non_own_ref');
  return `${raw.slice(0, open)}(${attrs.join(',')})`;
}

/** Apply `fn` to every slot value of a frame, both values of an undecided slot included. */
function mapSlots(fr: FrameState, fn: (raw: string | null) => string | null): void {
  for (const k of Object.keys(fr.stack)) {
    const v = fn(fr.stack[k]);
    if (v !== null) fr.stack[k] = v;
  }
  if (!fr.stackAlt) return;
  for (const [k, [keep, clobbered]] of Object.entries(fr.stackAlt)) {
    fr.stackAlt[k] = [keep === null ? null : fn(keep), fn(clobbered) ?? clobbered];
  }
}

/** The slot was written: its value is known again. */
function dropNarrow(fr: FrameState, k: string): void {
  if (!fr.stackNarrow || !(k in fr.stackNarrow)) return;
  delete fr.stackNarrow[k];
  if (Object.keys(fr.stackNarrow).length === 0) delete fr.stackNarrow;
}

function dropAlt(fr: FrameState, k: string): void {
  if (!fr.stackAlt || !(k in fr.stackAlt)) return;
  delete fr.stackAlt[k];
  if (Object.keys(fr.stackAlt).length === 0) delete fr.stackAlt;
}

/** Settle a frame's undecided slots: `clobbered` true takes the clobbered values. */
function resolveAlt(fr: FrameState, clobbered: boolean): void {
  if (!fr.stackAlt) return;
  for (const [k, alt] of Object.entries(fr.stackAlt)) {
    const v = clobbered ? alt[1] : alt[0];
    if (v === null) {
      delete fr.stack[k];
      delete fr.stackLive[k];
    } else fr.stack[k] = v;
  }
  delete fr.stackAlt;
}

/** Set (or, with undefined or the frame itself, remove) where a stack pointer points; drop the record when empty. */
function setFp(rec: Record<string, number>, key: string | number, frame: number | undefined, fr: FrameState): void {
  if (frame === undefined || frame === fr.frame) delete rec[key];
  else rec[key] = frame;
  if (rec === fr.regFp && Object.keys(rec).length === 0) delete fr.regFp;
  if (rec === fr.stackFp && Object.keys(rec).length === 0) delete fr.stackFp;
}

/** A frame printed in full replaces `from`: registers and slots that still hold the same pointer keep where it points. */
function carryFp(from: FrameState | undefined, to: FrameState): void {
  if (!from) return;
  // (So does what the print hides of a narrow spill.)
  for (const [o, w] of Object.entries(from.stackNarrow ?? {})) if (to.stack[o] === from.stack[o]) (to.stackNarrow ??= {})[o] = w;
  if (!from.regFp && !from.stackFp) return;
  for (const [r, k] of Object.entries(from.regFp ?? {})) if (to.regs[Number(r)] === from.regs[Number(r)]) (to.regFp ??= {})[r] = k;
  for (const [o, k] of Object.entries(from.stackFp ?? {})) if (to.stack[o] === from.stack[o]) (to.stackFp ??= {})[o] = k;
}

/**
 * A callee's arguments that are stack pointers (`R2_w=fp-8` before 6.7) point
 * into the caller's stack (the callee's own is empty): into the frame the
 * call's argument of the same value pointed into (a bpf-to-bpf call passes
 * R1-R5 as they are; a callback gets one of them, e.g. bpf_loop's R3 as R2).
 */
function calleeFp(p: FrameState, call: CallSite): void {
  for (let r = 1; r <= 5; r++) {
    const raw = p.regs[r];
    const sp = stackPointerOf(raw);
    if (!sp || sp.frame !== null) continue;
    const j = call.args.indexOf(raw);
    const frame = j >= 0 ? (call.argFp?.[j] ?? call.frame) : call.frame;
    if (frame !== p.frame) (p.regFp ??= {})[r] = frame;
  }
}
