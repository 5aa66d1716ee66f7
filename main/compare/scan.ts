import type { RangeStyle } from '../verifier/regValue';
import type { VerifierState } from '../verifier/state';
import { KIND_STATE, type Alignment } from './align';
import { stateDifferences, type LocationDiff } from './stateDiff';

/**
 * The differences between two aligned verifications, found by walking the
 * pairs in order (align.ts) and comparing the two states at each. Pure over
 * a StateSource (the trace readers give one, tests give arrays).
 *
 * A difference is where something starts to differ: a pair whose states
 * differ in a register or slot that did not differ at the pair before, or
 * the first of a run of steps only one side took. A loop counter that
 * differs from some step on is one difference, not one per step after it;
 * another register that starts to differ later is the next.
 */

export interface StateSource {
  /** The state after `step`. Called mostly with increasing steps. */
  state(step: number): VerifierState;
  style: RangeStyle;
  /** Per step, its kind (STEP_KINDS index) and insn. */
  kind: Uint8Array;
  insn: Int32Array;
}

export interface Difference {
  /** Index of the pair in the alignment. */
  pair: number;
  /** 'state': both took the step, the states differ; 'onlyA'/'onlyB': one side's walk took steps the other's did not. */
  kind: 'state' | 'onlyA' | 'onlyB';
  aStep: number | null;
  bStep: number | null;
  insn: number;
  /** For 'state': what differs (every register and slot, not only the new ones). */
  locations: LocationDiff[];
}

export interface ScanOptions {
  /**
   * Pairs (s, s) with s below this are equal without reading them: both
   * logs are the same text up to those steps (see traceCompare.ts).
   */
  equalBefore?: number;
}

/** What a pair shows: null when equal, else 'A'/'B' (one side only) or the names that differ. */
type Signature = null | 'A' | 'B' | Set<string>;

export class DiffScanner {
  /** Pairs below this have been looked at. */
  private scanned = 0;
  private prevSig: Signature = null;
  /** Pair indexes where a difference starts, in order. */
  private readonly starts: number[] = [];
  private readonly equalBefore: number;

  constructor(
    readonly align: Alignment,
    private readonly A: StateSource,
    private readonly B: StateSource,
    opts: ScanOptions = {},
  ) {
    this.equalBefore = opts.equalBefore ?? 0;
  }

  /** How far the scan has got (pairs), and whether it has seen them all. */
  progress(): { scanned: number; total: number; differences: number } {
    return { scanned: this.scanned, total: this.align.length, differences: this.starts.length };
  }

  private signature(k: number): Signature {
    const a = this.align.a[k];
    const b = this.align.b[k];
    if (a >= 0 && b >= 0) {
      if (a === b && a < this.equalBefore) return null;
      const d = stateDifferences(this.A.state(a), this.B.state(b), { styleA: this.A.style, styleB: this.B.style });
      return d.length === 0 ? null : new Set(d.map((x) => `${x.frame}:${x.name}`));
    }
    // A state one kernel printed again and the other did not is no step of the walk.
    if (a >= 0) return this.A.kind[a] === KIND_STATE ? null : 'A';
    return this.B.kind[b] === KIND_STATE ? null : 'B';
  }

  private startsHere(sig: Signature, prev: Signature): boolean {
    if (sig === null) return false;
    if (typeof sig === 'string') return sig !== prev;
    if (prev === null || typeof prev === 'string') return true;
    for (const name of sig) if (!prev.has(name)) return true;
    return false;
  }

  /** Look at pairs until one more difference is found or `until` (exclusive) is reached. */
  private scanTo(until: number, stopAtNew: boolean): void {
    const end = Math.min(until, this.align.length);
    const found = this.starts.length;
    while (this.scanned < end) {
      const k = this.scanned;
      // Identical-prefix pairs are equal: skip them without reading a state.
      if (this.prevSig === null && this.align.a[k] === this.align.b[k] && this.align.a[k] < this.equalBefore) {
        this.scanned++;
        continue;
      }
      const sig = this.signature(k);
      if (this.startsHere(sig, this.prevSig)) this.starts.push(k);
      this.prevSig = sig;
      this.scanned++;
      if (stopAtNew && this.starts.length > found) return;
    }
  }

  private describe(k: number): Difference {
    const a = this.align.a[k];
    const b = this.align.b[k];
    const insn = a >= 0 ? this.A.insn[a] : this.B.insn[b];
    if (a < 0 || b < 0) return { pair: k, kind: a < 0 ? 'onlyB' : 'onlyA', aStep: a < 0 ? null : a, bStep: b < 0 ? null : b, insn, locations: [] };
    const locations = stateDifferences(this.A.state(a), this.B.state(b), { styleA: this.A.style, styleB: this.B.style });
    return { pair: k, kind: 'state', aStep: a, bStep: b, insn, locations };
  }

  /** The first difference after pair `after` (-1: the first of all), or null when there is none. */
  next(after: number): Difference | null {
    for (;;) {
      const hit = this.starts.find((k) => k > after);
      if (hit !== undefined) return this.describe(hit);
      if (this.scanned >= this.align.length) return null;
      this.scanTo(this.align.length, true);
    }
  }

  /** The last difference before pair `before`, or null when there is none. */
  previous(before: number): Difference | null {
    this.scanTo(before, false);
    for (let i = this.starts.length - 1; i >= 0; i--) if (this.starts[i] < before) return this.describe(this.starts[i]);
    return null;
  }
}
