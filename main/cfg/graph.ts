import type { Cfg, EdgeKind } from './blocks';
import type { FlowInsn } from './flow';
import type { WalkedPath, WalkTotals } from './walk';

/**
 * The CFG with the verifier's walk on it, as plain JSON: what `bpfscope cfg
 * --json` prints and the app's `cfg:graph` channel returns.
 */
export interface CfgBlockJson {
  id: number;
  func: number;
  start: number;
  end: number;
  insns: number[];
  /** The instructions' texts as the kernel prints them (`(bf) r1 = r6`), one per insn. */
  lines: string[];
  /** The most verifier visits of any of its instructions (insnVisitCounts). */
  visits: number;
  /** The first step at one of its instructions, null when the verifier never got there. */
  firstStep: number | null;
  /** `safe` steps in it: states pruned as already explored. */
  pruned: number;
  exit: boolean;
}

export interface CfgEdgeJson {
  id: number;
  from: number;
  to: number;
  kind: EdgeKind;
  /** Times the verifier walked it. */
  walked: number;
  /** Times walking it ended in a prune in its target block. */
  prunedAfter: number;
}

export interface CfgFuncJson {
  index: number;
  /** The subprogram's name when the object tells it, else `func#N`. */
  name: string;
  start: number;
  end: number;
  blocks: number[];
}

export interface CfgGraph {
  /** Where the instructions came from: the object the trace holds, or the texts the log printed. */
  source: 'object' | 'log';
  funcs: CfgFuncJson[];
  blocks: CfgBlockJson[];
  edges: CfgEdgeJson[];
  /** The largest block visit count (for the colour scale). */
  maxVisits: number;
  /** A rejected program: the history that led to the error step. */
  failing: (WalkedPath & { step: number }) | null;
}

/** The history to one step: CfgPath of the `cfg:path` channel. */
export interface CfgPath extends WalkedPath {
  step: number;
  /** The history was longer than the walk reads: its oldest part is left out. */
  truncated: boolean;
}

export function cfgGraph(
  cfg: Cfg,
  insns: readonly FlowInsn[],
  opts: {
    source: 'object' | 'log';
    visits: ReadonlyMap<number, number>;
    totals: WalkTotals;
    funcName: (start: number, index: number) => string | undefined;
    failing: (WalkedPath & { step: number }) | null;
  },
): CfgGraph {
  const text = new Map(insns.map((f) => [f.idx, f.text]));
  let maxVisits = 0;
  const blocks = cfg.blocks.map((b): CfgBlockJson => {
    let visits = 0;
    for (const i of b.insns) visits = Math.max(visits, opts.visits.get(i) ?? 0);
    maxVisits = Math.max(maxVisits, visits);
    const first = opts.totals.firstStep[b.id];
    return {
      id: b.id, func: b.func, start: b.start, end: b.end, insns: b.insns,
      lines: b.insns.map((i) => text.get(i) ?? ''),
      visits, firstStep: first >= 0 ? first : null, pruned: opts.totals.pruned[b.id], exit: b.exit,
    };
  });
  return {
    source: opts.source,
    funcs: cfg.funcs.map((f) => ({ index: f.index, name: opts.funcName(f.start, f.index) ?? `func#${f.index}`, start: f.start, end: f.end, blocks: f.blocks })),
    blocks,
    edges: cfg.edges.map((e) => ({ ...e, walked: opts.totals.walked[e.id], prunedAfter: opts.totals.prunedAfter[e.id] })),
    maxVisits,
    failing: opts.failing,
  };
}
