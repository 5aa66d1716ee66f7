import type { Cfg } from './blocks';

/**
 * How the verifier walked a CFG, from its steps. The verifier explores one
 * path at a time (depth first): a path's steps are consecutive in the log;
 * a path other than the first starts where a branch pushed it (`from X to
 * Y:`), and its history before that is its parent's, up to the push.
 */
export interface WalkStep {
  step: number;
  insn: number;
  path: number;
  /** 'insn' | 'state' | 'branch' | 'safe' | 'call' | 'return'. */
  kind: string;
}

/** What the walk needs of a path (verifier_paths). */
export interface WalkPath {
  startStep: number;
  /** The branch instruction that pushed it, and the step of that push in the parent path. */
  fromInsn: number | null;
  pushedStep: number | null;
}

/**
 * The edge the verifier took going from instruction `prev` to `cur`, or -1:
 * the same block, a return into the middle of the caller's block, or an
 * instruction the listing does not hold.
 */
export class EdgeFinder {
  private out = new Map<number, number[]>();

  constructor(private readonly cfg: Cfg) {
    for (const e of cfg.edges) {
      const list = this.out.get(e.from);
      if (list) list.push(e.id);
      else this.out.set(e.from, [e.id]);
    }
  }

  edge(prev: number, cur: number): number {
    if (prev === cur) return -1;
    const { blockOf, blocks, edges } = this.cfg;
    const from = prev >= 0 && prev < blockOf.length ? blockOf[prev] : -1;
    const to = cur >= 0 && cur < blockOf.length ? blockOf[cur] : -1;
    if (from < 0 || to < 0 || blocks[to].start !== cur) return -1;
    // Straight on inside one block (a repeated state line) is no edge; a jump back to the block's own start is.
    if (from === to && cur > prev) return -1;
    const ids = this.out.get(from);
    if (!ids) return -1;
    let best = -1;
    for (const id of ids) {
      if (edges[id].to !== to) continue;
      // A conditional jump to the next insn has two edges to one block: the fall one when the walk went straight on.
      const fallsOn = cur === blocks[from].end + 1 || cur === blocks[from].end + 2;
      if (best < 0 || (edges[id].kind === 'fall') === fallsOn) best = id;
    }
    return best;
  }
}

/** Totals over the whole verification, per block and edge. */
export interface WalkTotals {
  /** The first step at an instruction of the block (-1: never visited). */
  firstStep: Int32Array;
  /** `safe` steps in the block: states the verifier found already explored and pruned. */
  pruned: Int32Array;
  /** Times the verifier walked each edge. */
  walked: Int32Array;
  /** Times walking the edge ended in a prune inside its target block (before the next edge). */
  prunedAfter: Int32Array;
}

/**
 * Accumulates WalkTotals over all steps, fed in order in chunks (a 1.8 M
 * step trace is read a block of steps at a time).
 */
export class WalkCounter {
  readonly totals: WalkTotals;
  private finder: EdgeFinder;
  private prevInsn = -1;
  private prevPath = -1;
  private lastEdge = -1;

  constructor(
    private readonly cfg: Cfg,
    private readonly pathOf: (path: number) => WalkPath | undefined,
  ) {
    this.finder = new EdgeFinder(cfg);
    this.totals = {
      firstStep: new Int32Array(cfg.blocks.length).fill(-1),
      pruned: new Int32Array(cfg.blocks.length),
      walked: new Int32Array(cfg.edges.length),
      prunedAfter: new Int32Array(cfg.edges.length),
    };
  }

  feed(steps: readonly WalkStep[]): void {
    const { blockOf } = this.cfg;
    const t = this.totals;
    for (const s of steps) {
      const b = s.insn >= 0 && s.insn < blockOf.length ? blockOf[s.insn] : -1;
      if (s.path !== this.prevPath) {
        // A new path goes on from the branch that pushed it.
        this.prevInsn = this.pathOf(s.path)?.fromInsn ?? -1;
        this.prevPath = s.path;
        this.lastEdge = -1;
      }
      const e = this.finder.edge(this.prevInsn, s.insn);
      if (e >= 0) {
        t.walked[e]++;
        this.lastEdge = e;
      }
      if (b >= 0) {
        if (t.firstStep[b] < 0) t.firstStep[b] = s.step;
        if (s.kind === 'safe') {
          t.pruned[b]++;
          if (this.lastEdge >= 0) t.prunedAfter[this.lastEdge]++;
        }
      }
      this.prevInsn = s.insn;
    }
  }
}

/**
 * The step ranges of the history that led to `step`, oldest first: the
 * current path from its start, preceded by its parent up to the push, and
 * so on up to the first path.
 */
export function historyRanges(
  step: number,
  pathAt: (step: number) => number,
  pathOf: (path: number) => WalkPath | undefined,
): [from: number, to: number][] {
  const out: [number, number][] = [];
  let to = step;
  const seen = new Set<number>();
  for (;;) {
    const p = pathAt(to);
    const info = p >= 0 && !seen.has(p) ? pathOf(p) : undefined;
    if (!info) {
      out.push([to, to]);
      break;
    }
    seen.add(p);
    const from = Math.min(info.startStep, to);
    out.push([from, to]);
    if (info.pushedStep === null || info.pushedStep < 0 || info.pushedStep >= from) break;
    to = info.pushedStep;
  }
  return out.reverse();
}

/** The blocks and edges of one history, as the walk along it marks them. */
export interface WalkedPath {
  /** Blocks on the way, each once, in the order they were last entered (the current block last). */
  blocks: number[];
  /** Edges taken on the way, each once. */
  edges: number[];
  /** The block of the last step (-1 when its instruction is not in the listing). */
  current: number;
}

/** Follows one history (steps fed oldest first), remembering which blocks and edges it used. */
export class PathMarker {
  private finder: EdgeFinder;
  private prevInsn = -1;
  private order = new Map<number, number>();
  private edgeSet = new Set<number>();
  private tick = 0;
  private last = -1;

  constructor(private readonly cfg: Cfg) {
    this.finder = new EdgeFinder(cfg);
  }

  feed(insns: ArrayLike<number>): void {
    const { blockOf } = this.cfg;
    for (let i = 0; i < insns.length; i++) {
      const insn = insns[i];
      const e = this.finder.edge(this.prevInsn, insn);
      if (e >= 0) this.edgeSet.add(e);
      const b = insn >= 0 && insn < blockOf.length ? blockOf[insn] : -1;
      if (b >= 0 && b !== this.last) {
        this.order.delete(b);
        this.order.set(b, this.tick++);
      }
      this.last = b;
      this.prevInsn = insn;
    }
  }

  result(): WalkedPath {
    return { blocks: [...this.order.keys()], edges: [...this.edgeSet].sort((a, b) => a - b), current: this.last };
  }
}
