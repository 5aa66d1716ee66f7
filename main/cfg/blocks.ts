import type { FlowInsn } from './flow';

/**
 * Basic blocks of a program, as bpftool's `prog dump xlated visual` cuts
 * them (tools/bpf/bpftool/cfg.c): a subprogram starts at the entry and at
 * every bpf-to-bpf call or callback target; a block starts at a subprogram's
 * entry, at every jump target and after every jump or exit. Calls do not end
 * a block: the callee is a graph of its own, linked by a call edge.
 */
export type EdgeKind =
  /** Conditional jump not taken: on to the next instruction. */
  | 'fall'
  /** Conditional jump taken. */
  | 'taken'
  /** Unconditional jump. */
  | 'goto'
  /** A bpf-to-bpf call from a block to the callee's entry block. */
  | 'call'
  /** A function's address loaded for a callback (bpf_loop, timers): the callback's entry block. */
  | 'callback';

export interface CfgBlock {
  id: number;
  /** Index into Cfg.funcs. */
  func: number;
  /** First and last instruction (the last one's first slot). */
  start: number;
  end: number;
  /** Instruction indices, in order. */
  insns: number[];
  /** The block ends the function (its last instruction is an exit). */
  exit: boolean;
}

export interface CfgEdge {
  id: number;
  from: number;
  to: number;
  kind: EdgeKind;
}

export interface CfgFunc {
  index: number;
  /** First instruction. */
  start: number;
  /** One past the last slot. */
  end: number;
  /** Block ids, in instruction order (the first is the entry). */
  blocks: number[];
}

export interface Cfg {
  funcs: CfgFunc[];
  blocks: CfgBlock[];
  edges: CfgEdge[];
  /** Instruction index → block id (-1: not an instruction of the listing, e.g. an ld_imm64's second slot). */
  blockOf: Int32Array;
}

/**
 * `insns` in index order (gaps allowed: a log printed only what the
 * verifier visited). `funcStarts`: subprogram entries known from elsewhere
 * (the log's `func#N @I` lines, the linker's appended functions).
 */
export function buildCfg(insns: readonly FlowInsn[], funcStarts: readonly number[] = []): Cfg {
  const sorted = [...insns].sort((a, b) => a.idx - b.idx);
  const slotsEnd = sorted.length ? sorted[sorted.length - 1].idx + sorted[sorted.length - 1].slots : 0;
  const at = new Int32Array(slotsEnd).fill(-1);
  sorted.forEach((f, i) => (at[f.idx] = i));
  const has = (idx: number): boolean => idx >= 0 && idx < slotsEnd && at[idx] >= 0;

  // Subprogram entries.
  const starts = new Set<number>([...funcStarts.filter(has)]);
  if (sorted.length) starts.add(sorted[0].idx);
  for (const f of sorted) {
    if (f.flow === 'call' && f.target !== undefined && has(f.target)) starts.add(f.target);
    if (f.funcRef !== undefined && has(f.funcRef)) starts.add(f.funcRef);
  }
  const funcStart = [...starts].sort((a, b) => a - b);

  // Leaders.
  const leader = new Uint8Array(slotsEnd);
  for (const s of funcStart) leader[s] = 1;
  for (let i = 0; i < sorted.length; i++) {
    const f = sorted[i];
    const next = f.idx + f.slots;
    if ((f.flow === 'goto' || f.flow === 'cond') && f.target !== undefined && has(f.target)) leader[f.target] = 1;
    if ((f.flow === 'goto' || f.flow === 'cond' || f.flow === 'exit') && has(next)) leader[next] = 1;
    // A gap in the listing (instructions the log never printed): what follows starts a block of its own.
    const following = sorted[i + 1];
    if (following && following.idx !== next) leader[following.idx] = 1;
  }

  const funcs: CfgFunc[] = funcStart.map((start, index) => ({ index, start, end: funcStart[index + 1] ?? slotsEnd, blocks: [] }));
  const blocks: CfgBlock[] = [];
  const blockOf = new Int32Array(slotsEnd).fill(-1);
  let fi = -1;
  for (const f of sorted) {
    while (fi + 1 < funcs.length && f.idx >= funcs[fi + 1].start) fi++;
    const func = Math.max(0, fi);
    let cur = blocks[blocks.length - 1];
    if (!cur || leader[f.idx] || cur.func !== func) {
      cur = { id: blocks.length, func, start: f.idx, end: f.idx, insns: [], exit: false };
      blocks.push(cur);
      funcs[func].blocks.push(cur.id);
    }
    cur.insns.push(f.idx);
    cur.end = f.idx;
    cur.exit = f.flow === 'exit';
    blockOf[f.idx] = cur.id;
  }

  const edges: CfgEdge[] = [];
  const edge = (from: number, to: number, kind: EdgeKind): void => {
    if (to >= 0) edges.push({ id: edges.length, from, to, kind });
  };
  const blockAt = (idx: number | undefined): number => (idx !== undefined && has(idx) ? blockOf[idx] : -1);
  for (const b of blocks) {
    const last = sorted[at[b.end]];
    const next = blockAt(last.idx + last.slots);
    // Falling off the end of a subprogram into the next one is no edge (the kernel refuses it).
    const nextInFunc = next >= 0 && blocks[next].func === b.func ? next : -1;
    if (last.flow === 'cond') {
      edge(b.id, nextInFunc, 'fall');
      edge(b.id, blockAt(last.target), 'taken');
    } else if (last.flow === 'goto') edge(b.id, blockAt(last.target), 'goto');
    else if (last.flow !== 'exit') edge(b.id, nextInFunc, 'fall');
    for (const idx of b.insns) {
      const f = sorted[at[idx]];
      if (f.flow === 'call') edge(b.id, blockAt(f.target), 'call');
      if (f.funcRef !== undefined) edge(b.id, blockAt(f.funcRef), 'callback');
    }
  }
  return { funcs, blocks, edges, blockOf };
}
