/**
 * Two verifications of one program, aligned step against step. Pure: the
 * step rows and the path tree of each trace in, pairs of step numbers out.
 *
 * Step numbers do not line up: one kernel prints a state line the other
 * does not, one build explores a branch the other decided statically, a
 * loop runs one more iteration. So steps are matched by where they are in
 * the walk, not by their number:
 *
 * - A path (what the verifier walks from one popped state to an exit, a
 *   prune or an error) is named by how it came to be: the first path is the
 *   root; a path that a branch pushed is its parent's name, the pushing
 *   step's name inside the parent, and the branch target it starts at
 *   (`from 12 to 20:`). Paths of A and B with the same name are the same
 *   path, whichever numbers the two logs gave them and in whatever order
 *   the two kernels popped them.
 * - A step inside a path is named by its kind (an instruction, a printed
 *   state, a branch start, a prune, a call, a return), its instruction and
 *   how many times before this path reached that instruction in that kind
 *   (a bounded loop visits one insn many times along one path).
 *
 * Steps of A and B with the same path name and step name are a pair. The
 * pairs come in A's walk order; a step of B with no partner comes just
 * before B's next step that has one, and the paths only B walked come last.
 * Two traces of the same log give the pairs (0,0), (1,1), …
 */

/** The step kinds' indexes (main/verifier/reconstruct.ts STEP_KINDS), 'state' being a re-print of the state. */
export const KIND_STATE = 1;

export interface PathLink {
  path: number;
  /** The path whose branch pushed this one, and the step of that branch; null for a first path. */
  parentPath: number | null;
  pushedStep: number | null;
  /** The insn it starts at (`from X to Y:`: Y). */
  toInsn: number | null;
}

/** One trace's steps as columns (the trace's step rows). */
export interface Walk {
  insn: Int32Array;
  /** Index into STEP_KINDS. */
  kind: Uint8Array;
  path: Int32Array;
  paths: readonly PathLink[];
}

export interface Alignment {
  /** Per pair: A's step and B's step, -1 where that side has no partner. */
  a: Int32Array;
  b: Int32Array;
  length: number;
  paired: number;
  onlyA: number;
  onlyB: number;
}

// A step's name packed into one number (exact below 2^53): kind, insn (< 2^22), occurrence (< 2^25).
const INSN_SCALE = 2 ** 25;
const KIND_SCALE = 2 ** 47;

interface Named {
  /** Per step, its name inside its path. */
  key: Float64Array;
  /** Per path, its name (an index into the shared table). */
  pathName: Int32Array;
  /** Per path, its steps in order (into `order`, from start[p] to start[p + 1]). */
  start: Int32Array;
  order: Int32Array;
}

/**
 * Ids for tuples of five whole numbers: an open-addressing table in typed
 * arrays (a loop's log has 150,000 paths; a Map keyed by numbers past 2^31
 * costs ten times more per lookup).
 */
class TupleIds {
  private cap = 1 << 12;
  private keys = new Int32Array(this.cap * 5);
  private ids = new Int32Array(this.cap).fill(-1);
  size = 0;

  id(t0: number, t1: number, t2: number, t3: number, t4: number): number {
    if (this.size * 2 >= this.cap) this.grow();
    const mask = this.cap - 1;
    let h = t0;
    for (const t of [t1, t2, t3, t4]) h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) + t;
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    h = (h ^ (h >>> 16)) & mask;
    for (;; h = (h + 1) & mask) {
      const id = this.ids[h];
      const o = h * 5;
      if (id < 0) {
        const k = this.keys;
        k[o] = t0;
        k[o + 1] = t1;
        k[o + 2] = t2;
        k[o + 3] = t3;
        k[o + 4] = t4;
        this.ids[h] = this.size;
        return this.size++;
      }
      const k = this.keys;
      if (k[o] === t0 && k[o + 1] === t1 && k[o + 2] === t2 && k[o + 3] === t3 && k[o + 4] === t4) return id;
    }
  }

  private grow(): void {
    const { keys, ids, cap } = this;
    this.cap = cap * 2;
    this.keys = new Int32Array(this.cap * 5);
    this.ids = new Int32Array(this.cap).fill(-1);
    const size = this.size;
    const order = new Int32Array(size);
    for (let h = 0; h < cap; h++) if (ids[h] >= 0) order[ids[h]] = h;
    this.size = 0;
    // Re-insert in id order, so that ids stay what they were.
    for (let i = 0; i < size; i++) {
      const o = order[i] * 5;
      this.id(keys[o], keys[o + 1], keys[o + 2], keys[o + 3], keys[o + 4]);
    }
  }
}

/**
 * A path's name, shared by both traces: the id of (its parent's name + 2
 * — 0 and 1 stand for no path and a root —, the pushing step's kind and
 * insn, that step's occurrence, the target insn + 1, and which of such
 * pushes it is).
 */
class PathNames {
  private readonly names = new TupleIds();

  /** Per trace: how many pushes of one (parent, step, target) there were so far. */
  counter(): (parent: number, at: number, occ: number, to: number) => number {
    const seen = new TupleIds();
    const counts: number[] = [];
    return (parent, at, occ, to) => {
      const i = seen.id(parent, at, occ, to, 0);
      const n = counts[i] ?? 0;
      counts[i] = n + 1;
      return this.names.id(parent, at, occ, to, n);
    };
  }
}

/** Steps grouped by path, in step order; steps outside the path table go to one extra group. */
function group(w: Walk): { start: Int32Array; order: Int32Array } {
  const n = w.insn.length;
  const groups = w.paths.length + 1;
  const of = (s: number): number => {
    const p = w.path[s];
    return p >= 0 && p < w.paths.length ? p : w.paths.length;
  };
  const start = new Int32Array(groups + 1);
  for (let s = 0; s < n; s++) start[of(s) + 1]++;
  for (let g = 0; g < groups; g++) start[g + 1] += start[g];
  const fill = start.slice(0, groups);
  const order = new Int32Array(n);
  for (let s = 0; s < n; s++) order[fill[of(s)]++] = s;
  return { start, order };
}

function nameSteps(w: Walk, names: PathNames): Named {
  const { start, order } = group(w);
  const key = new Float64Array(w.insn.length);
  let maxInsn = 0;
  for (let s = 0; s < w.insn.length; s++) if (w.insn[s] > maxInsn) maxInsn = w.insn[s];
  maxInsn = Math.min(maxInsn, 2 ** 22 - 1);
  // Visits so far per (kind, insn) in the current path; `stamp` says which path the count is of (no clearing per path).
  const slots = 8 * (maxInsn + 1);
  const count = new Int32Array(slots);
  const stamp = new Int32Array(slots).fill(-1);
  const groups = w.paths.length + 1;
  const pathName = new Int32Array(groups);
  // The same branch can push twice to the same target (a callback's state per call): the n-th such.
  const name = names.counter();
  for (let g = 0; g < groups; g++) {
    for (let i = start[g]; i < start[g + 1]; i++) {
      const s = order[i];
      const insn = Math.min(Math.max(w.insn[s], 0), maxInsn);
      const slot = w.kind[s] * (maxInsn + 1) + insn;
      if (stamp[slot] !== g) {
        stamp[slot] = g;
        count[slot] = 0;
      }
      const occ = count[slot]++;
      key[s] = w.kind[s] * KIND_SCALE + insn * INSN_SCALE + Math.min(occ, INSN_SCALE - 1);
    }
    // Parents come before their children (a branch is pushed before the path it starts is popped).
    const link = g < w.paths.length ? w.paths[g] : null;
    if (!link) pathName[g] = name(0, 0, 0, 0);
    else if (link.parentPath === null || link.parentPath >= g || link.pushedStep === null) pathName[g] = name(1, 0, 0, (link.toInsn ?? -1) + 1);
    else {
      const k = key[link.pushedStep];
      const at = Math.floor(k / INSN_SCALE);
      pathName[g] = name(pathName[link.parentPath] + 2, at, k - at * INSN_SCALE, (link.toInsn ?? -1) + 1);
    }
  }
  return { key, pathName, start, order };
}

class Emitter {
  readonly a: Int32Array;
  readonly b: Int32Array;
  length = 0;
  paired = 0;
  onlyA = 0;
  onlyB = 0;

  constructor(size: number) {
    this.a = new Int32Array(size);
    this.b = new Int32Array(size);
  }

  emit(a: number, b: number): void {
    this.a[this.length] = a;
    this.b[this.length] = b;
    this.length++;
    if (a < 0) this.onlyB++;
    else if (b < 0) this.onlyA++;
    else this.paired++;
  }
}

/** Merge one path of A with its namesake in B (see the file comment for the order). */
function mergePath(out: Emitter, A: Named, ga: number, B: Named, gb: number): void {
  const as = A.order.subarray(A.start[ga], A.start[ga + 1]);
  const bs = B.order.subarray(B.start[gb], B.start[gb + 1]);
  let i = 0;
  let j = 0;
  // Usually both walked the path alike: one pass, no tables.
  while (i < as.length && j < bs.length && A.key[as[i]] === B.key[bs[j]]) out.emit(as[i++], bs[j++]);
  if (i === as.length && j === bs.length) return;
  const inA = new Set<number>();
  for (let k = i; k < as.length; k++) inA.add(A.key[as[k]]);
  const whereB = new Map<number, number>();
  for (let k = j; k < bs.length; k++) whereB.set(B.key[bs[k]], k);
  const done = new Uint8Array(bs.length);
  while (i < as.length || j < bs.length) {
    if (j < bs.length && done[j]) {
      j++;
      continue;
    }
    if (j < bs.length && !inA.has(B.key[bs[j]])) {
      out.emit(-1, bs[j++]);
      continue;
    }
    if (i < as.length) {
      const k = whereB.get(A.key[as[i]]);
      if (k === undefined) out.emit(as[i], -1);
      else {
        out.emit(as[i], bs[k]);
        done[k] = 1;
      }
      i++;
      continue;
    }
    out.emit(-1, bs[j++]);
  }
}

export function alignWalks(wa: Walk, wb: Walk): Alignment {
  const names = new PathNames();
  const A = nameSteps(wa, names);
  const B = nameSteps(wb, names);
  const bByName = new Map<number, number>();
  B.pathName.forEach((name, g) => bByName.set(name, g));
  const out = new Emitter(wa.insn.length + wb.insn.length);
  const usedB = new Uint8Array(B.pathName.length);
  for (let ga = 0; ga < A.pathName.length; ga++) {
    const gb = bByName.get(A.pathName[ga]);
    if (gb === undefined) {
      for (let i = A.start[ga]; i < A.start[ga + 1]; i++) out.emit(A.order[i], -1);
      continue;
    }
    usedB[gb] = 1;
    mergePath(out, A, ga, B, gb);
  }
  for (let gb = 0; gb < B.pathName.length; gb++) {
    if (usedB[gb]) continue;
    for (let i = B.start[gb]; i < B.start[gb + 1]; i++) out.emit(-1, B.order[i]);
  }
  return { a: out.a.subarray(0, out.length), b: out.b.subarray(0, out.length), length: out.length, paired: out.paired, onlyA: out.onlyA, onlyB: out.onlyB };
}
