/**
 * The veristat-like half of `bpfscope compare`: each program's verdict,
 * error and the kernel's own counts (the log's closing `processed N insns …
 * total_states … peak_states …` line and its `stack depth` line) in two
 * traces, side by side with the change. Pure: rows in, rows out.
 */

/** What one trace says about one program. */
export interface ProgramStats {
  /** The program's id in its trace. */
  id: number;
  program: string;
  /** The file name of the object it came from (no folder), '' for an imported log without one. */
  object: string;
  verdict: 'accepted' | 'rejected' | null;
  /** The kernel's closing error line(s). */
  error: string | null;
  processedInsns: number | null;
  totalStates: number | null;
  peakStates: number | null;
  /** As the kernel printed it: `8`, or `8+16` with subprograms. */
  stackDepth: string | null;
}

/** A count in both traces and how it changed, as `veristat -C` prints it (B relative to A). */
export interface CountChange {
  a: number | null;
  b: number | null;
  /** b - a; null when either is unknown. */
  diff: number | null;
  /** 100 * (b - a) / a; null when either is unknown or a is 0 (and b is not). */
  pct: number | null;
}

export interface StatsRow {
  program: string;
  object: string;
  /** How the two were paired: by object file and program name, or by the program name alone (the objects are named differently). */
  matchedBy: 'object+program' | 'program';
  a: ProgramStats;
  b: ProgramStats;
  verdictMatch: boolean;
  errorMatch: boolean;
  processedInsns: CountChange;
  totalStates: CountChange;
  peakStates: CountChange;
  /** The sum over the subprograms (`8+16` is 24), which is what veristat compares too. */
  stackDepth: CountChange;
}

export interface StatsComparison {
  rows: StatsRow[];
  /** Programs in one trace with no partner in the other. */
  onlyInA: ProgramStats[];
  onlyInB: ProgramStats[];
}

/** `8+16` → 24; null when not printed or not a sum of numbers. */
export function stackTotal(depth: string | null): number | null {
  if (depth === null || !/^\d+(\+\d+)*$/.test(depth.trim())) return null;
  return depth.trim().split('+').reduce((s, n) => s + Number(n), 0);
}

export function countChange(a: number | null, b: number | null): CountChange {
  if (a === null || b === null) return { a, b, diff: null, pct: null };
  const diff = b - a;
  const pct = a === 0 ? (diff === 0 ? 0 : null) : (100 * diff) / a;
  return { a, b, diff, pct };
}

/** `+12 (+5.00%)`, `-3 (-0.50%)`, `+0 (+0.00%)`, `+8 (+inf%)` from 0; '' when unknown. */
export function formatChange(c: CountChange): string {
  if (c.diff === null) return '';
  const sign = (n: number): string => (n >= 0 ? `+${n}` : `${n}`);
  const pct = c.pct === null ? '+inf' : `${c.pct >= 0 ? '+' : ''}${c.pct.toFixed(2)}`;
  return `${sign(c.diff)} (${pct}%)`;
}

function row(a: ProgramStats, b: ProgramStats, matchedBy: StatsRow['matchedBy']): StatsRow {
  return {
    program: a.program, object: a.object || b.object, matchedBy, a, b,
    verdictMatch: a.verdict === b.verdict,
    errorMatch: (a.error ?? '') === (b.error ?? ''),
    processedInsns: countChange(a.processedInsns, b.processedInsns),
    totalStates: countChange(a.totalStates, b.totalStates),
    peakStates: countChange(a.peakStates, b.peakStates),
    stackDepth: countChange(stackTotal(a.stackDepth), stackTotal(b.stackDepth)),
  };
}

/**
 * Pair the programs of two traces: first by object file name and program
 * name (the same object recorded on two kernels, or rebuilt in another
 * folder); then what is left by program name alone where that name is left
 * once on each side (two builds named `prog-O1.bpf.o` and `prog-O2.bpf.o`).
 * Rows follow trace A's order.
 */
export function compareStats(a: readonly ProgramStats[], b: readonly ProgramStats[]): StatsComparison {
  const key = (p: ProgramStats): string => `${p.object}\0${p.program}`;
  const bByKey = new Map<string, ProgramStats[]>();
  for (const p of b) bByKey.set(key(p), [...(bByKey.get(key(p)) ?? []), p]);
  const paired = new Map<ProgramStats, StatsRow>();
  const usedB = new Set<ProgramStats>();
  for (const p of a) {
    const hit = bByKey.get(key(p))?.find((q) => !usedB.has(q));
    if (!hit) continue;
    usedB.add(hit);
    paired.set(p, row(p, hit, 'object+program'));
  }
  const leftA = a.filter((p) => !paired.has(p));
  const leftB = b.filter((q) => !usedB.has(q));
  const once = (list: ProgramStats[], name: string): ProgramStats[] => list.filter((p) => p.program === name);
  for (const p of leftA) {
    const inA = once(leftA, p.program);
    const inB = once(leftB, p.program);
    if (inA.length !== 1 || inB.length !== 1) continue;
    usedB.add(inB[0]);
    paired.set(p, row(p, inB[0], 'program'));
  }
  return {
    rows: a.flatMap((p) => paired.get(p) ?? []),
    onlyInA: a.filter((p) => !paired.has(p)),
    onlyInB: b.filter((q) => !usedB.has(q)),
  };
}
