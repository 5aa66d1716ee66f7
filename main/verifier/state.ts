import type { StateItem } from './stateText';

/**
 * The verifier state as the log shows it (kernel: struct bpf_verifier_state /
 * bpf_func_state). Values are kept as the kernel's raw text and decoded only
 * when read (parseRegValue, parseStackSlot): replaying a few hundred deltas to
 * answer "the state at step N" then costs string copies, not parsing.
 */
export interface FrameState {
  frame: number;
  /** R0..R10, the kernel's text after `=`; null when not initialised (not printed). */
  regs: (string | null)[];
  /** Liveness suffix printed on the name by 5.x–6.12 kernels (`w`, `r`, `rw`, `D`), '' when none. */
  regLive: string[];
  /** Stack slots by offset from the frame pointer (`-8`), the kernel's text after `=`. */
  stack: Record<string, string>;
  stackLive: Record<string, string>;
  /** Frame flags printed after the registers: `cb`, `async_cb`. */
  flags: string[];
  /**
   * Slots a helper only read while the log has not yet shown whether its
   * kernel counts such a read as a write (check_stack_range_initialized
   * clobbers every helper access through 6.13, only writes from 6.14): per
   * slot, its value if not clobbered (null: invalid) and its value if
   * clobbered; `stack` holds the likelier one. Absent when there are none.
   */
  stackAlt?: Record<string, [string | null, string]>;
  /**
   * Kernels before 6.7 print a pointer into another frame's stack as `fp-8`,
   * like one into its own: the frame it points into, per register number and
   * per spilled slot, when it is not this frame. Absent when there are none.
   */
  regFp?: Record<string, number>;
  stackFp?: Record<string, number>;
  /**
   * Slots holding a narrow spill (`*(u32 *)(r10 -8) = r1` of a bounded
   * scalar), by width in bytes, where the log does not show it: before 6.3 a
   * 4-byte spill prints like a full one (`fp-8=1`), yet a helper touching
   * only the other 4 bytes leaves it spilled. Absent when there are none.
   */
  stackNarrow?: Record<string, number>;
}

export interface VerifierState {
  /** frames[i].frame === i; the last one is the current frame. */
  frames: FrameState[];
  /** Acquired reference ids as printed in `refs=` (6.13+ lists the lock id there too). */
  refs: number[];
  lockHeld: boolean;
  /** The reference id that stands for the held lock (6.13+), when known. */
  lockId: number | null;
}

export const NREGS = 11;

export function emptyFrame(frame: number): FrameState {
  return {
    frame,
    regs: new Array<string | null>(NREGS).fill(null),
    regLive: new Array<string>(NREGS).fill(''),
    stack: {},
    stackLive: {},
    flags: [],
  };
}

export function cloneFrame(f: FrameState): FrameState {
  const c: FrameState = {
    frame: f.frame,
    regs: f.regs.slice(),
    regLive: f.regLive.slice(),
    stack: { ...f.stack },
    stackLive: { ...f.stackLive },
    flags: f.flags.slice(),
  };
  if (f.stackAlt) c.stackAlt = { ...f.stackAlt };
  if (f.regFp) c.regFp = { ...f.regFp };
  if (f.stackFp) c.stackFp = { ...f.stackFp };
  if (f.stackNarrow) c.stackNarrow = { ...f.stackNarrow };
  return c;
}

export function cloneState(s: VerifierState): VerifierState {
  return { frames: s.frames.map(cloneFrame), refs: s.refs.slice(), lockHeld: s.lockHeld, lockId: s.lockId };
}

/** A printed frame, built from the items of one full-state print. */
export interface PrintedFrames {
  frames: FrameState[];
  refs: number[] | null;
  others: string[];
}

/**
 * Build frames from printed items. Items before any `frameN:` belong to
 * `defaultFrame` (frame 0 in the kernel's print: it names frames > 0 only).
 */
export function framesFromItems(items: StateItem[], defaultFrame = 0): PrintedFrames {
  const frames: FrameState[] = [];
  let f: FrameState | undefined;
  let refs: number[] | null = null;
  const others: string[] = [];
  const cur = (): FrameState => {
    if (!f) {
      f = emptyFrame(defaultFrame);
      frames.push(f);
    }
    return f;
  };
  for (const it of items) {
    switch (it.kind) {
      case 'frame':
        f = emptyFrame(it.frame);
        frames.push(f);
        break;
      case 'reg': {
        const fr = cur();
        fr.regs[it.reg] = it.raw;
        fr.regLive[it.reg] = it.live;
        break;
      }
      case 'slot': {
        const fr = cur();
        fr.stack[String(it.off)] = it.raw;
        if (it.live) fr.stackLive[String(it.off)] = it.live;
        break;
      }
      case 'refs':
        refs = it.ids;
        break;
      case 'flag':
        cur().flags.push(it.name);
        break;
      case 'other':
        others.push(it.text);
        break;
    }
  }
  return { frames, refs, others };
}

/**
 * Differences between a reconstructed frame and one the kernel printed in
 * full, as short sentences (`R6: expected ctx() printed scalar()`). Registers
 * in `skip` are not compared (the ones a branch refined, R0 on return).
 */
export function diffFrame(
  expected: FrameState,
  printed: FrameState,
  skip: ReadonlySet<number> = new Set(),
  skipIds: ReadonlySet<number> = new Set(),
): string[] {
  const out: string[] = [];
  const refined = (raw: string | null | undefined): boolean => {
    if (!raw || skipIds.size === 0) return false;
    const id = idOf(raw);
    return id !== null && skipIds.has(id);
  };
  for (let r = 0; r < NREGS; r++) {
    if (skip.has(r) || refined(expected.regs[r])) continue;
    const a = expected.regs[r];
    const b = printed.regs[r];
    if (a !== b) out.push(`frame${printed.frame} R${r}: reconstructed ${a ?? '(not init)'} printed ${b ?? '(not init)'}`);
  }
  const keys = new Set([...Object.keys(expected.stack), ...Object.keys(printed.stack)]);
  for (const k of keys) {
    const a = expected.stack[k];
    const b = printed.stack[k];
    if (refined(a)) continue;
    if (a !== b) out.push(`frame${printed.frame} fp${k}: reconstructed ${a ?? '(invalid)'} printed ${b ?? '(invalid)'}`);
  }
  return out;
}

/** The `id=` of a printed value, or null. Branches refine every register sharing the compared one's id. */
export function idOf(raw: string): number | null {
  const m = /[(,]id=(\d+)/.exec(raw);
  return m ? Number(m[1]) : null;
}
