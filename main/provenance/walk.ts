import type { StepKind } from '../verifier/reconstruct';
import { helperMemArgs, memArgSize, stackPointerOf } from '../verifier/stackAccess';
import type { RangeStyle } from '../verifier/regValue';
import { regsTouched, writesMemory, type Effect } from './effect';
import { locName, MAX_FRAMES, type Loc } from './location';

/**
 * Provenance: for a register or stack slot after a step, the steps that
 * produced its value, walked backwards along the path the verifier took to
 * that step — within a path step by step, across a path start to the branch
 * that pushed it (`from 10 to 14:` resumes the state pushed at the branch),
 * into callees through their return and back out through their entry. At
 * each step the followed locations the insn writes are replaced by the ones
 * it computed them from (as the kernel's own backtracking does for
 * precision: backtrack_insn), until nothing is left to follow. Iterative:
 * the walk is one loop over steps, each visited once, with no depth limit.
 * Pure: the trace is read through the sources below.
 */

export interface StepSource {
  readonly count: number;
  insn(step: number): number;
  /** The frame the step is in (the current frame after it). */
  frame(step: number): number;
  kind(step: number): StepKind;
  path(step: number): number;
}

export interface PathStart {
  /** The path's first step. */
  start: number;
  /** The step of the branch (or callback call) that pushed the state this path resumes; null at a unit's entry or when not found. */
  pushed: number | null;
  /** The insn of that branch; null for the program's entry or a global function's. */
  fromInsn: number | null;
}

export interface ChainSources {
  steps: StepSource;
  path(path: number): PathStart | undefined;
  /** What the insn does, and its text as the log prints it. */
  insn(insn: number, step: number): { effect: Effect; text: string };
  /**
   * The state after `step` (the kernel's raw text): the value of a register
   * or slot, and where a register points when it is a stack pointer (the
   * frame it points into, resolved for kernels that print `fp-8` for every frame).
   */
  value(step: number, loc: Loc): string | null;
  stackPointer(step: number, frame: number, reg: number): { frame: number; off: number } | null;
  /** R1..R5 (index 0 is R1) before the call at `step`, for what a helper writes through them. */
  callArgs(step: number): (string | null)[] | null;
  rangeStyle: RangeStyle;
}

/** Why a step is in the chain. */
export type Why =
  | 'mov' | 'alu' | 'const' | 'fill' | 'spill' | 'store-imm' | 'load' | 'atomic' | 'refine'
  | 'call-return' | 'helper-write' | 'clobbered' | 'arg' | 'callback-arg' | 'return' | 'global-return' | 'packet'
  | 'fp' | 'ctx' | 'global-arg' | 'uninit' | 'never-written' | 'pushed';

export interface Link {
  step: number;
  insn: number;
  /** The frame the step ran in; names in reads/writes are relative to it (`frame0:R6`, `fp[0]-8` for others). */
  frame: number;
  text: string;
  why: Why;
  /** The followed locations this step wrote (or refined). */
  writes: string[];
  /** What they were computed from, followed further back. */
  reads: string[];
  /** Where the value (or part of it) starts, when it starts here. */
  origin?: string;
}

export interface Chain {
  links: Link[];
  /** Steps the walk went through (most of them leave the followed locations alone). */
  walked: number;
}

/** Callbacks whose arguments come from the caller's: callback register ← helper argument register. */
const CALLBACK_ARGS: Record<string, Record<number, number>> = {
  bpf_loop: { 2: 3 },
  bpf_for_each_map_elem: { 4: 3 },
  bpf_user_ringbuf_drain: { 2: 3 },
  bpf_find_vma: { 3: 4 },
};

/** The followed set: per frame a register mask and, per stack slot, a mask of its 8 bytes (bit i: byte off+i). */
class Followed {
  regs = new Array<number>(MAX_FRAMES).fill(0);
  slots: Map<number, number>[] = Array.from({ length: MAX_FRAMES }, () => new Map());

  empty(): boolean {
    for (let f = 0; f < MAX_FRAMES; f++) if (this.regs[f] !== 0 || this.slots[f].size !== 0) return false;
    return true;
  }

  anySlots(): boolean {
    for (let f = 0; f < MAX_FRAMES; f++) if (this.slots[f].size !== 0) return true;
    return false;
  }

  has(frame: number, reg: number): boolean {
    return (this.regs[frame] & (1 << reg)) !== 0;
  }

  /** R10 is never followed: it never changes, so a value read from it starts there (see Walker.link). */
  addReg(frame: number, reg: number): void {
    if (frame >= 0 && frame < MAX_FRAMES && reg >= 0 && reg < 10) this.regs[frame] |= 1 << reg;
  }

  dropReg(frame: number, reg: number): void {
    this.regs[frame] &= ~(1 << reg);
  }

  addBytes(frame: number, parts: SlotPart[]): void {
    if (frame < 0 || frame >= MAX_FRAMES) return;
    const m = this.slots[frame];
    for (const p of parts) m.set(p.off, (m.get(p.off) ?? 0) | p.mask);
  }

  /** Drop the bytes of `parts` that are followed; returns the slots that had some. */
  takeBytes(frame: number, parts: SlotPart[]): number[] {
    const hit: number[] = [];
    if (frame < 0 || frame >= MAX_FRAMES) return hit;
    const m = this.slots[frame];
    for (const p of parts) {
      const cur = m.get(p.off);
      if (cur === undefined || (cur & p.mask) === 0) continue;
      hit.push(p.off);
      const left = cur & ~p.mask;
      if (left === 0) m.delete(p.off);
      else m.set(p.off, left);
    }
    return hit;
  }

  overlaps(frame: number, parts: SlotPart[]): boolean {
    if (frame < 0 || frame >= MAX_FRAMES) return false;
    const m = this.slots[frame];
    return parts.some((p) => ((m.get(p.off) ?? 0) & p.mask) !== 0);
  }

  clearFrame(frame: number): void {
    this.regs[frame] = 0;
    this.slots[frame].clear();
  }
}

interface SlotPart {
  off: number;
  mask: number;
}

/** The slots and bytes of an access of `size` bytes at `addr` (below the frame pointer). */
export function slotParts(addr: number, size: number): SlotPart[] {
  const out: SlotPart[] = [];
  for (let a = addr; a < addr + size; a++) {
    const base = Math.floor(a / 8) * 8;
    if (base >= 0 || base < -512) continue;
    const last = out[out.length - 1];
    const bit = 1 << (a - base);
    if (last && last.off === base) last.mask |= bit;
    else out.push({ off: base, mask: bit });
  }
  return out;
}

const ALL_BYTES = 0xff;

/**
 * Locations and their names, made once: a long chain (a loop's counter
 * through 7000 iterations) has tens of thousands of links, and allocating
 * these per link was most of the walk's time.
 */
const REG_LOCS: Loc[][] = Array.from({ length: MAX_FRAMES }, (_, frame) => Array.from({ length: 11 }, (_, reg) => ({ kind: 'reg', frame, reg })));

/** Name lists of up to two registers, shared between links (never mutated): most links are `R1 <- R1,R3`. */
const REG_LISTS = new Map<number, string[]>();

/** A register's key in REG_LISTS (0: none). At module level: a closure made per link cost more than the walk (tsx wraps each in a naming call). */
function regKey(l: Loc | undefined): number {
  return l && l.kind === 'reg' ? l.frame * 11 + l.reg + 1 : 0;
}

function names(locs: Loc[], here: number): string[] {
  if (locs.length <= 2 && (locs.length < 1 || locs[0].kind === 'reg') && (locs.length < 2 || locs[1].kind === 'reg')) {
    const key = (here * 89 + regKey(locs[0])) * 89 + regKey(locs[1]);
    let hit = REG_LISTS.get(key);
    if (!hit) REG_LISTS.set(key, (hit = locs.map((l) => locName(l, here))));
    return hit;
  }
  return locs.map((l) => locName(l, here));
}

/** The chain of `loc` after `step`. */
export function provenance(src: ChainSources, step: number, loc: Loc): Chain {
  const w = new Walker(src);
  return w.run(step, loc);
}

class Walker {
  private f = new Followed();
  private links: Link[] = [];

  constructor(private src: ChainSources) {}

  run(step: number, loc: Loc): Chain {
    const { steps } = this.src;
    if (loc.kind === 'reg' && loc.reg === 10) {
      this.link(step, loc.frame, 'fp', [loc], [], `the frame pointer of frame ${loc.frame}: read-only`);
      return { links: this.links, walked: 1 };
    }
    if (loc.kind === 'reg') this.f.addReg(loc.frame, loc.reg);
    else this.f.addBytes(loc.frame, [{ off: loc.off, mask: ALL_BYTES }]);
    let cur = step;
    let succ: number | null = null;
    let viaPush = false;
    let walked = 0;
    let lastPath = -1;
    let start: PathStart | undefined;
    for (;;) {
      walked++;
      if (this.f.empty()) break;
      this.apply(cur, succ, viaPush);
      if (this.f.empty()) break;
      const p = steps.path(cur);
      if (p !== lastPath) {
        start = this.src.path(p);
        lastPath = p;
      }
      if (!start || cur <= start.start || cur === 0) {
        const next = this.pathStart(cur, start, p);
        if (next === null) break;
        succ = cur;
        cur = next;
        viaPush = true;
        continue;
      }
      succ = cur;
      cur--;
      viaPush = false;
    }
    return { links: this.links, walked };
  }

  private link(step: number, frame: number, why: Why, writes: Loc[], reads: Loc[], origin?: string, text?: string): void {
    const insn = this.src.steps.insn(step);
    const t = text ?? (this.src.steps.kind(step) === 'insn' ? this.src.insn(insn, step).text : `${this.src.steps.kind(step)} at insn ${insn}`);
    const l: Link = { step, insn, frame, text: t, why, writes: names(writes, frame), reads: names(reads, frame) };
    // A value computed from R10 (`r3 = r10`, `*(u64 *)(r10 -8) = r10`) starts at the frame pointer.
    for (const x of reads) if (origin === undefined && x.kind === 'reg' && x.reg === 10) origin = `the frame pointer of frame ${x.frame}`;
    if (origin !== undefined) l.origin = origin;
    this.links.push(l);
  }

  private reg(frame: number, reg: number): Loc {
    return REG_LOCS[frame]?.[reg] ?? { kind: 'reg', frame, reg };
  }

  private apply(cur: number, succ: number | null, viaPush: boolean): void {
    const { steps } = this.src;
    const kind = steps.kind(cur);
    const F = steps.frame(cur);
    if (kind === 'insn') {
      const { effect: e } = this.src.insn(steps.insn(cur), cur);
      // A pushed state is the one before its branch: only the comparison's refinement applies.
      if (viaPush && e.kind !== 'branch') return;
      if ((this.f.regs[F] & regsTouched(e)) === 0 && !(writesMemory(e) && this.f.anySlots())) return;
      this.insn(cur, F, e, succ);
    } else if (kind === 'call') {
      this.calleeEntry(cur, F);
    } else if (kind === 'return') {
      this.returned(cur, F);
    }
  }

  private insn(cur: number, F: number, e: Effect, succ: number | null): void {
    const f = this.f;
    switch (e.kind) {
      case 'mov': {
        if (!f.has(F, e.dst)) return;
        f.dropReg(F, e.dst);
        f.addReg(F, e.src);
        this.link(cur, F, 'mov', [this.reg(F, e.dst)], [this.reg(F, e.src)]);
        return;
      }
      case 'alu': {
        if (!f.has(F, e.dst)) return;
        const reads = [this.reg(F, e.dst)];
        if (e.src !== null && e.src !== e.dst) {
          f.addReg(F, e.src);
          reads.push(this.reg(F, e.src));
        }
        this.link(cur, F, 'alu', [this.reg(F, e.dst)], reads);
        return;
      }
      case 'const': {
        if (!f.has(F, e.dst)) return;
        f.dropReg(F, e.dst);
        const loc = this.reg(F, e.dst);
        const v = e.imm64 ? this.src.value(cur, loc) : null;
        const text = this.src.insn(this.src.steps.insn(cur), cur).text;
        const imm = /= (.*)$/.exec(text)?.[1] ?? '';
        this.link(cur, F, 'const', [loc], [], e.imm64 ? `a 64-bit immediate (ld_imm64): ${v ?? imm}` : `the constant ${imm}`);
        return;
      }
      case 'load': {
        if (!f.has(F, e.dst)) return;
        f.dropReg(F, e.dst);
        const target = this.stackTarget(cur, F, e.base, e.off);
        const dst = this.reg(F, e.dst);
        if (target) {
          const parts = slotParts(target.off, e.size);
          f.addBytes(target.frame, parts);
          this.link(cur, F, 'fill', [dst], parts.map((p) => ({ kind: 'slot', frame: target.frame, off: p.off })));
          return;
        }
        this.link(cur, F, 'load', [dst], [this.reg(F, e.base)], this.memoryOrigin(cur, F, e.base, e.off));
        return;
      }
      case 'store': {
        if (!f.anySlots()) return;
        const target = this.stackTarget(cur, F, e.base, e.off);
        if (!target) return;
        const hit = f.takeBytes(target.frame, slotParts(target.off, e.size));
        if (hit.length === 0) return;
        const writes: Loc[] = hit.map((off) => ({ kind: 'slot', frame: target.frame, off }));
        if (e.src === null) {
          const imm = /= (-?\w+)$/.exec(this.src.insn(this.src.steps.insn(cur), cur).text)?.[1] ?? '';
          this.link(cur, F, 'store-imm', writes, [], `the constant ${imm}, stored`);
        } else {
          f.addReg(F, e.src);
          this.link(cur, F, 'spill', writes, [this.reg(F, e.src)]);
        }
        return;
      }
      case 'atomic':
        this.atomic(cur, F, e);
        return;
      case 'ldabs': {
        if (f.has(F, 0)) {
          f.dropReg(F, 0);
          this.link(cur, F, 'packet', [this.reg(F, 0)], [], 'loaded from the packet (legacy LD_ABS/LD_IND)');
        }
        this.clobber(cur, F, 'the packet load');
        return;
      }
      case 'call': {
        // Walking back from the callee's entry (a subprogram, or a callback on kernels that print it as one):
        // the entry took R1-R5 as they were before the call, so the call's clobbering comes after it.
        if (succ !== null && this.src.steps.kind(succ) === 'call' && this.src.steps.frame(succ) === F + 1) return;
        if (e.call === 'subprog') {
          if (f.has(F, 0)) {
            f.dropReg(F, 0);
            this.link(cur, F, 'global-return', [this.reg(F, 0)], [], `returned by the global function at ${e.target} (verified on its own: any value of its return type)`);
          }
          this.clobber(cur, F, `the call ${e.target}`);
          return;
        }
        if (f.has(F, 0)) {
          f.dropReg(F, 0);
          this.link(cur, F, 'call-return', [this.reg(F, 0)], [], `returned by the ${e.call} ${e.target}`);
        }
        this.clobber(cur, F, `the call to ${e.target}`);
        if (e.call === 'helper' && f.anySlots()) this.helperWrites(cur, F, e.target);
        return;
      }
      case 'branch': {
        const hit = e.regs.filter((r) => f.has(F, r));
        if (hit.length === 0) return;
        const reads = e.regs.filter((r) => r !== 10);
        for (const r of reads) f.addReg(F, r);
        this.link(cur, F, 'refine', hit.map((r) => this.reg(F, r)), reads.map((r) => this.reg(F, r)));
        return;
      }
      default:
        return;
    }
  }

  /** R1-R5 (and R0 when still followed) are not initialised after a call: the value starts nowhere. */
  private clobber(cur: number, F: number, what: string): void {
    const hit: Loc[] = [];
    for (let r = 0; r <= 5; r++) {
      if (!this.f.has(F, r)) continue;
      this.f.dropReg(F, r);
      hit.push(this.reg(F, r));
    }
    if (hit.length) this.link(cur, F, 'clobbered', hit, [], `not initialised: clobbered by ${what} (caller-saved R0-R5)`);
  }

  private atomic(cur: number, F: number, e: Extract<Effect, { kind: 'atomic' }>): void {
    const f = this.f;
    const target = this.stackTarget(cur, F, e.base, e.off);
    const parts = target ? slotParts(target.off, e.size) : [];
    const writes: Loc[] = [];
    const reads: Loc[] = [];
    let origin: string | undefined;
    const memHit = target !== null && f.overlaps(target.frame, parts);
    const fetchHit = e.fetch !== null && f.has(F, e.fetch);
    if (!memHit && !fetchHit) return;
    if (fetchHit && e.fetch !== null) {
      f.dropReg(F, e.fetch);
      writes.push(this.reg(F, e.fetch));
    }
    if (memHit && target) {
      for (const off of f.takeBytes(target.frame, parts)) writes.push({ kind: 'slot', frame: target.frame, off });
      f.addReg(F, e.src);
      reads.push(this.reg(F, e.src));
      if (e.cmp) {
        f.addReg(F, 0);
        reads.push(this.reg(F, 0));
      }
    }
    if (target && (fetchHit || (memHit && e.rmw))) {
      f.addBytes(target.frame, parts);
      for (const p of parts) reads.push({ kind: 'slot', frame: target.frame, off: p.off });
    } else if (!target && fetchHit) {
      origin = this.memoryOrigin(cur, F, e.base, e.off);
      reads.push(this.reg(F, e.base));
    }
    this.link(cur, F, 'atomic', writes, reads, origin);
  }

  /** What a helper wrote into followed stack bytes through its memory arguments. */
  private helperWrites(cur: number, F: number, name: string): void {
    const args = this.src.callArgs(cur);
    if (!args) return;
    const regs = [null, ...args];
    for (const a of helperMemArgs(name)) {
      if (!a.write && !a.raw) continue;
      const sp = stackPointerOf(regs[a.arg]);
      if (!sp) continue;
      const size = memArgSize(a, regs, this.src.rangeStyle);
      if (size <= 0) continue;
      const frame = sp.frame ?? this.pointedFrame(cur, F, a.arg) ?? F;
      const hit = this.f.takeBytes(frame, slotParts(sp.off, size));
      if (hit.length === 0) continue;
      this.link(cur, F, 'helper-write', hit.map((off) => ({ kind: 'slot', frame, off })), [this.reg(F, a.arg)],
        `written by ${name} through R${a.arg} (${size} bytes at fp${sp.off})`);
    }
  }

  /** The frame an argument register pointed into before the call (kernels before 6.7 print `fp-8` for any frame). */
  private pointedFrame(cur: number, F: number, reg: number): number | null {
    const before = this.before(cur);
    return before === null ? null : (this.src.stackPointer(before, F, reg)?.frame ?? null);
  }

  /** The step before `cur` on its path, for the state an insn started from. */
  private before(cur: number): number | null {
    const p = this.src.path(this.src.steps.path(cur));
    if (p && cur > p.start) return cur - 1;
    return p?.pushed ?? null;
  }

  /** Where `base + off` points when `base` is a stack pointer (R10, or a register holding fp-N) before step `cur`. */
  private stackTarget(cur: number, F: number, base: number, off: number): { frame: number; off: number } | null {
    if (base === 10) return { frame: F, off };
    const before = this.before(cur);
    if (before === null) return null;
    const sp = this.src.stackPointer(before, F, base);
    return sp ? { frame: sp.frame, off: sp.off + off } : null;
  }

  private memoryOrigin(cur: number, F: number, base: number, off: number): string {
    const before = this.before(cur);
    const v = before === null ? null : this.src.value(before, this.reg(F, base));
    const at = `${off >= 0 ? '+' : ''}${off}`;
    if (v === null) return `loaded from memory at R${base}${at}`;
    return `loaded from ${memoryKind(v)} at R${base}${at} (R${base}=${v})`;
  }

  /** The callee's entry (`callee:` block): its R1-R5 are the caller's arguments; the rest of its frame starts here. */
  private calleeEntry(cur: number, G: number): void {
    if (G === 0 || (this.f.regs[G] === 0 && this.f.slots[G].size === 0)) return;
    const callInsn = this.src.steps.insn(cur);
    const { effect } = this.src.insn(callInsn, cur);
    const callback = effect.kind === 'call' && effect.call !== 'subprog' ? effect.target : null;
    this.frameStart(cur, G, G - 1, callback, callback ? `callback entry from ${callback}` : `call entry (frame ${G})`);
  }

  /**
   * Frame `G` starts at `cur` (a callee's entry, a callback's first state):
   * its arguments come from the caller frame `P`'s registers (a subprogram
   * takes R1-R5 as they are, a callback what its helper passes), everything
   * else of the frame starts here.
   */
  private frameStart(cur: number, G: number, P: number, callback: string | null, text: string): void {
    const f = this.f;
    const map = callback ? (CALLBACK_ARGS[callback] ?? {}) : { 1: 1, 2: 2, 3: 3, 4: 4, 5: 5 };
    for (let r = 1; r <= 5; r++) {
      if (!f.has(G, r)) continue;
      const from = (map as Record<number, number>)[r];
      if (from !== undefined) {
        f.addReg(P, from);
        this.link(cur, G, 'arg', [this.reg(G, r)], [this.reg(P, from)], undefined, text);
      } else {
        this.link(cur, G, 'callback-arg', [this.reg(G, r)], [], `passed to the callback by ${callback}`, text);
      }
      f.dropReg(G, r);
    }
    this.startFrame(cur, G, 'uninit', text);
  }

  /** What is left followed in frame G starts at `cur`: registers not initialised, slots never written. */
  private startFrame(cur: number, G: number, why: 'uninit' | 'pushed', text: string, origin?: string): void {
    const f = this.f;
    const regs: Loc[] = [];
    for (let r = 0; r <= 10; r++) if (f.has(G, r)) regs.push(this.reg(G, r));
    const slots: Loc[] = [...f.slots[G].keys()].sort((a, b) => b - a).map((off) => ({ kind: 'slot', frame: G, off }));
    f.clearFrame(G);
    if (why === 'pushed') {
      if (regs.length || slots.length) this.link(cur, G, 'pushed', [...regs, ...slots], [], origin, text);
      return;
    }
    if (regs.length) this.link(cur, G, 'uninit', regs, [], 'not initialised at the frame\'s start', text);
    if (slots.length) this.link(cur, G, 'never-written', slots, [], 'a stack slot never written on this path', text);
  }

  /** A callee's return (`to caller at N:`): the caller's R0 is the callee's R0 at its exit. */
  private returned(cur: number, F: number): void {
    const insn = this.src.steps.insn(cur);
    // A subprogram returns after its call (`to caller at N:`, N-1 the `call pc+K`); a callback to its
    // helper call, N itself, and the caller's state is then the one before that call: nothing to do.
    const prev = insn > 0 ? this.src.insn(insn - 1, cur).effect : null;
    if (!(prev?.kind === 'call' && prev.call === 'subprog')) {
      const { effect } = this.src.insn(insn, cur);
      if (effect.kind === 'call' && effect.call !== 'subprog') return;
    }
    if (this.f.has(F, 0)) {
      this.f.dropReg(F, 0);
      this.f.addReg(F + 1, 0);
      this.link(cur, F, 'return', [this.reg(F, 0)], [this.reg(F + 1, 0)], undefined, `return from frame ${F + 1} to insn ${insn}`);
    }
    this.clobber(cur, F, `the call before insn ${insn}`);
  }

  /**
   * The walk reached the first step of a path. The state it began with was
   * pushed by a branch (continue there: its predecessor), or it is the entry
   * of the program or of a global function (everything left starts here).
   * Returns the step to continue from, or null when the walk is over.
   */
  private pathStart(cur: number, p: PathStart | undefined, path: number): number | null {
    const { steps } = this.src;
    const text = steps.kind(cur) === 'branch' && p?.fromInsn != null ? `from ${p.fromInsn} to ${steps.insn(cur)}` : `entry at insn ${steps.insn(cur)}`;
    if (!p || p.pushed === null || p.pushed >= cur) {
      const entry = !p || p.fromInsn === null;
      for (let fr = 0; fr < MAX_FRAMES; fr++) {
        if (!entry) {
          this.startFrame(cur, fr, 'pushed', text, `the state resumed at ${text}: the branch that pushed it is not in the log`);
          continue;
        }
        if (fr === 0 && path === 0 && this.f.has(0, 1)) {
          this.f.dropReg(0, 1);
          this.link(cur, 0, 'ctx', [this.reg(0, 1)], [], 'the program\'s context argument (R1 at entry)', text);
        }
        if (path !== 0) {
          const args: Loc[] = [];
          for (let r = 1; r <= 5; r++) {
            if (!this.f.has(fr, r)) continue;
            this.f.dropReg(fr, r);
            args.push(this.reg(fr, r));
          }
          if (args.length) this.link(cur, fr, 'global-arg', args, [], 'an argument of a global function, verified for any value of its type', text);
        }
        this.startFrame(cur, fr, 'uninit', text);
      }
      return null;
    }
    // A callback's state (`from 10 to 14: frame1: ... cb`): its frame starts here, its arguments come from the call.
    const pf = steps.frame(p.pushed);
    const here = steps.frame(cur);
    if (here > pf) {
      const { effect } = this.src.insn(steps.insn(p.pushed), p.pushed);
      const callback = effect.kind === 'call' ? effect.target : null;
      for (let g = here; g > pf; g--) this.frameStart(cur, g, g - 1, g === pf + 1 ? callback : null, text);
    }
    return p.pushed;
  }
}

/** What kind of memory a pointer's printed value points to. */
function memoryKind(raw: string): string {
  const t = raw.replace(/^P/, '');
  if (t.startsWith('ctx')) return 'the context';
  if (t.startsWith('map_value')) return 'a map value';
  if (t.startsWith('pkt')) return 'the packet';
  if (t.startsWith('map_ptr')) return 'a map';
  if (/^(rdonly_|rcu_|trusted_|untrusted_|percpu_|user_)*ptr_/.test(t)) {
    const ty = /ptr_(?:or_null_)?([A-Za-z_]\w*)/.exec(t)?.[1];
    return ty ? `a struct ${ty}` : 'a kernel object';
  }
  if (t.startsWith('mem') || t.includes('mem(')) return 'memory';
  return 'memory';
}
