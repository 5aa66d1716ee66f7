import type { ElkExtendedEdge, ElkNode } from 'elkjs/lib/elk-api';
import type { CfgBlockJson, CfgGraph } from '../../../main/api/contract';

/**
 * The CFG view's pure part: what is drawn for each subprogram (its blocks,
 * or for a large one a collapsed overview), the elkjs graph that lays it
 * out, and the drawing's coordinates read back from elk's answer.
 *
 * Why collapse, and how: elkjs's layered layout is superlinear, and a
 * 100,000-instruction program has tens of thousands of blocks (seconds to
 * minutes of layout, and a DOM no frame can repaint in 50 ms). So each
 * subprogram is laid out on its own, and one of more than COLLAPSE_ABOVE
 * blocks is drawn as an overview: a window of WINDOW consecutive blocks (in
 * instruction order) around the block of interest in full, and the blocks
 * before and after it grouped into at most RUNS runs, each one node whose
 * edges are the sum of its blocks'. A run is a range of the listing, so it
 * reads as "insns A..B" and its edges keep the listing's direction. The
 * window moves (a new layout, cached) when the cursor's block leaves it or
 * a run is clicked. Layouts run in a Web Worker (cfgElk.ts) so that a
 * layout never blocks a frame.
 */
export const COLLAPSE_ABOVE = 400;
export const WINDOW = 160;
export const RUNS = 60;
/** A block shows at most this many instruction lines: the first LEAD, a "… N insns" line, the last TAIL. */
export const MAX_LINES = 8;
const LEAD = 4;
const TAIL = 2;
/** Longest instruction text drawn; the full text is in the block's tooltip. */
const MAX_CHARS = 48;

/** Sizes of the monospace text the view draws (11px): the layout reserves them. */
export const CHAR_W = 6.7;
export const LINE_H = 14;
const PAD = 6;

export interface NodeSpec {
  /** `b12` for a block, `r3-40` for a run of blocks (its first and last position in the function). */
  id: string;
  kind: 'block' | 'run';
  /** The blocks it stands for (one for a block). */
  blocks: number[];
  head: string;
  lines: string[];
  /** Visits of its most visited block (its heat). */
  visits: number;
  pruned: number;
  width: number;
  height: number;
}

export interface EdgeSpec {
  id: string;
  from: string;
  to: string;
  /** Kinds of the CFG edges it stands for (one unless it links runs). */
  kinds: string[];
  /** The CfgEdgeJson ids it stands for. */
  edges: number[];
  walked: number;
  prunedAfter: number;
}

export interface FuncSpec {
  func: number;
  name: string;
  nodes: NodeSpec[];
  edges: EdgeSpec[];
  /** Block id → the node drawing it (blocks of this function only). */
  nodeOf: Map<number, string>;
  /** Positions (in the function's block list) drawn in full, [from, to); null: every block. */
  window: [number, number] | null;
}

/** A block's lines: `insn: text`, the middle of a long block left out as "… N insns". */
export function blockLines(b: Pick<CfgBlockJson, 'insns' | 'lines'>, max = MAX_LINES): string[] {
  const clip = (s: string): string => (s.length > MAX_CHARS ? `${s.slice(0, MAX_CHARS - 1)}…` : s);
  const all = b.insns.map((insn, k) => clip(`${insn}: ${b.lines[k] ?? ''}`));
  if (all.length <= max) return all;
  return [...all.slice(0, LEAD), `… ${all.length - LEAD - TAIL} insns`, ...all.slice(-TAIL)];
}

function sized(lines: string[], head: string): { width: number; height: number } {
  const chars = Math.max(head.length, ...lines.map((l) => l.length));
  return { width: Math.ceil(chars * CHAR_W + 2 * PAD), height: (lines.length + 1) * LINE_H + PAD };
}

function blockNode(b: CfgBlockJson): NodeSpec {
  const head = `b${b.id} · ${b.visits}×${b.pruned ? ` · pruned ${b.pruned}` : ''}`;
  const lines = blockLines(b);
  return { id: `b${b.id}`, kind: 'block', blocks: [b.id], head, lines, visits: b.visits, pruned: b.pruned, ...sized(lines, head) };
}

function runNode(g: CfgGraph, ids: number[], from: number, to: number): NodeSpec {
  const first = g.blocks[ids[0]];
  const last = g.blocks[ids[ids.length - 1]];
  let visits = 0;
  let pruned = 0;
  let insns = 0;
  for (const id of ids) {
    const b = g.blocks[id];
    visits = Math.max(visits, b.visits);
    pruned += b.pruned;
    insns += b.insns.length;
  }
  const head = `b${first.id}–b${last.id} · ${visits}×`;
  const lines = [`${ids.length} blocks, ${insns} insns`, `insn ${first.start}..${last.end}`, pruned ? `pruned ${pruned}` : 'click: open in full'];
  return { id: `r${from}-${to - 1}`, kind: 'run', blocks: ids, head, lines, visits, pruned, ...sized(lines, head) };
}

/** The window of `size` positions around position `at` of a list of `n`, clamped to it. */
export function windowAround(at: number, n: number, size = WINDOW): [number, number] {
  if (n <= size) return [0, n];
  const from = Math.max(0, Math.min(n - size, Math.round(at - size / 2)));
  return [from, from + size];
}

/** Cut [from, to) into consecutive runs of `size` (the last one shorter). */
function runsOf(from: number, to: number, size: number): [number, number][] {
  const out: [number, number][] = [];
  for (let a = from; a < to; a += size) out.push([a, Math.min(to, a + size)]);
  return out;
}

/**
 * What to draw of function `func`: every block, or (more than `collapseAbove`)
 * the window around position `center` of its block list in full and runs for
 * the rest. Edges inside a run are left out; edges between the same two
 * nodes, at least one a run, are drawn as one.
 */
export function funcSpec(g: CfgGraph, func: number, center: number, opts: { collapseAbove?: number; window?: number; runs?: number } = {}): FuncSpec {
  const f = g.funcs[func];
  const n = f.blocks.length;
  const nodes: NodeSpec[] = [];
  const nodeOf = new Map<number, string>();
  let window: [number, number] | null = null;
  if (n <= (opts.collapseAbove ?? COLLAPSE_ABOVE)) {
    for (const id of f.blocks) {
      const node = blockNode(g.blocks[id]);
      nodes.push(node);
      nodeOf.set(id, node.id);
    }
  } else {
    window = windowAround(center, n, opts.window ?? WINDOW);
    const rest = n - (window[1] - window[0]);
    const size = Math.max(1, Math.ceil(rest / (opts.runs ?? RUNS)));
    const addRun = (a: number, b: number): void => {
      const ids = f.blocks.slice(a, b);
      const node = ids.length === 1 ? blockNode(g.blocks[ids[0]]) : runNode(g, ids, a, b);
      nodes.push(node);
      for (const id of ids) nodeOf.set(id, node.id);
    };
    for (const [a, b] of runsOf(0, window[0], size)) addRun(a, b);
    for (let p = window[0]; p < window[1]; p++) addRun(p, p + 1);
    for (const [a, b] of runsOf(window[1], n, size)) addRun(a, b);
  }
  const edges: EdgeSpec[] = [];
  const merged = new Map<string, EdgeSpec>();
  for (const e of g.edges) {
    if (e.kind === 'call' || e.kind === 'callback') continue;
    const from = nodeOf.get(e.from);
    const to = nodeOf.get(e.to);
    if (from === undefined || to === undefined) continue;
    const run = from[0] === 'r' || to[0] === 'r';
    if (run && from === to) continue;
    const key = `${from}>${to}`;
    const had = run ? merged.get(key) : undefined;
    if (had) {
      if (!had.kinds.includes(e.kind)) had.kinds.push(e.kind);
      had.edges.push(e.id);
      had.walked += e.walked;
      had.prunedAfter += e.prunedAfter;
      continue;
    }
    const spec: EdgeSpec = { id: `e${e.id}`, from, to, kinds: [e.kind], edges: [e.id], walked: e.walked, prunedAfter: e.prunedAfter };
    if (run) merged.set(key, spec);
    edges.push(spec);
  }
  return { func, name: f.name, nodes, edges, nodeOf, window };
}

/** The elkjs layered graph of one function: top to bottom, as bpftool's and the kernel's listings read. */
export function toElk(spec: FuncSpec, opts: { large?: boolean } = {}): ElkNode {
  return {
    id: `f${spec.func}`,
    layoutOptions: {
      'elk.algorithm': 'layered',
      'elk.direction': 'DOWN',
      'elk.edgeRouting': 'POLYLINE',
      'elk.spacing.nodeNode': '18',
      'elk.layered.spacing.nodeNodeBetweenLayers': '28',
      'elk.layered.spacing.edgeNodeBetweenLayers': '12',
      // Keep the listing's order within a layer where the layout allows (a diamond's fall-through on the left).
      'elk.layered.considerModelOrder.strategy': 'NODES_AND_EDGES',
      // Fewer crossing-minimisation sweeps on big graphs: the layout stays under a second.
      'elk.layered.thoroughness': opts.large ? '1' : '7',
    },
    children: spec.nodes.map((n) => ({ id: n.id, width: n.width, height: n.height })),
    edges: spec.edges.map((e): ElkExtendedEdge => ({ id: e.id, sources: [e.from], targets: [e.to] })),
  };
}

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface FuncLayout {
  width: number;
  height: number;
  nodes: Map<string, Box>;
  /** Edge id → polyline, start to end. */
  edges: Map<string, [number, number][]>;
}

/** Coordinates out of elk's answer (relative to the function's own origin). */
export function fromElk(laid: ElkNode): FuncLayout {
  const nodes = new Map<string, Box>();
  for (const c of laid.children ?? []) nodes.set(c.id, { x: c.x ?? 0, y: c.y ?? 0, width: c.width ?? 0, height: c.height ?? 0 });
  const edges = new Map<string, [number, number][]>();
  for (const e of (laid.edges ?? []) as ElkExtendedEdge[]) {
    const pts: [number, number][] = [];
    for (const s of e.sections ?? []) {
      pts.push([s.startPoint.x, s.startPoint.y]);
      for (const b of s.bendPoints ?? []) pts.push([b.x, b.y]);
      pts.push([s.endPoint.x, s.endPoint.y]);
    }
    edges.set(e.id, pts);
  }
  return { width: laid.width ?? 0, height: laid.height ?? 0, nodes, edges };
}

/** Each function's origin: side by side, left to right in function order, tops aligned under their titles. */
export function arrange(sizes: readonly { width: number; height: number }[], gap = 60, titleH = 22): { x: number; y: number }[] {
  let x = 0;
  return sizes.map((s) => {
    const at = { x, y: titleH };
    x += s.width + gap;
    return at;
  });
}

/** Instruction → block id, for the cursor's insn. */
export function blockOfInsn(g: CfgGraph): Map<number, number> {
  const m = new Map<number, number>();
  for (const b of g.blocks) for (const i of b.insns) m.set(i, b.id);
  return m;
}

/** An SVG path through a polyline. */
export function pathD(pts: readonly [number, number][]): string {
  return pts.map(([x, y], i) => `${i ? 'L' : 'M'}${x.toFixed(1)},${y.toFixed(1)}`).join('');
}

/** Does a box intersect the rectangle [x0, x1] × [y0, y1]? */
export function intersects(b: Box, x0: number, y0: number, x1: number, y1: number): boolean {
  return b.x <= x1 && b.x + b.width >= x0 && b.y <= y1 && b.y + b.height >= y0;
}

/** The bounding box of a polyline. */
export function boundsOf(pts: readonly [number, number][]): Box {
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -Infinity;
  let y1 = -Infinity;
  for (const [x, y] of pts) {
    x0 = Math.min(x0, x);
    y0 = Math.min(y0, y);
    x1 = Math.max(x1, x);
    y1 = Math.max(y1, y);
  }
  return pts.length ? { x: x0, y: y0, width: x1 - x0, height: y1 - y0 } : { x: 0, y: 0, width: 0, height: 0 };
}

/** A world rectangle [x0, x1] × [y0, y1]. */
export interface Rect {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/** Is `inner` wholly inside `outer`? */
export function contains(outer: Rect, inner: Rect): boolean {
  return inner.x0 >= outer.x0 && inner.y0 >= outer.y0 && inner.x1 <= outer.x1 && inner.y1 <= outer.y1;
}

/** `r` grown by `f` of its own width and height on every side (f = 0.5: three times as wide). */
export function grow(r: Rect, f: number): Rect {
  const dx = (r.x1 - r.x0) * f;
  const dy = (r.y1 - r.y0) * f;
  return { x0: r.x0 - dx, y0: r.y0 - dy, x1: r.x1 + dx, y1: r.y1 + dy };
}

/**
 * Items bucketed by the square cells of side `cell` their boxes touch. Why:
 * culling asked every node and edge of the drawing whether it meets the
 * view, at every pan or zoom frame; a query here visits only the cells the
 * view covers (clamped to the cells that hold anything), so it costs what is
 * near the view, not what is drawn.
 */
export class GridIndex<T extends { box: Box }> {
  private readonly cells = new Map<number, T[]>();
  private readonly span: Rect = { x0: Infinity, y0: Infinity, x1: -Infinity, y1: -Infinity };

  constructor(
    items: readonly T[],
    private readonly cell = 512,
  ) {
    for (const it of items) {
      const r = this.cellsOf(it.box.x, it.box.y, it.box.x + it.box.width, it.box.y + it.box.height);
      for (let cx = r.x0; cx <= r.x1; cx++) {
        for (let cy = r.y0; cy <= r.y1; cy++) {
          const k = GridIndex.key(cx, cy);
          const list = this.cells.get(k);
          if (list) list.push(it);
          else this.cells.set(k, [it]);
        }
      }
      this.span.x0 = Math.min(this.span.x0, r.x0);
      this.span.y0 = Math.min(this.span.y0, r.y0);
      this.span.x1 = Math.max(this.span.x1, r.x1);
      this.span.y1 = Math.max(this.span.y1, r.y1);
    }
  }

  /** Cells are numbered from any origin: the key keeps ±2^20 columns and rows apart. */
  private static key(cx: number, cy: number): number {
    return (cx + 0x100000) * 0x200000 + (cy + 0x100000);
  }

  private cellsOf(x0: number, y0: number, x1: number, y1: number): Rect {
    const c = this.cell;
    return { x0: Math.floor(x0 / c), y0: Math.floor(y0 / c), x1: Math.floor(x1 / c), y1: Math.floor(y1 / c) };
  }

  /** Every item whose box meets `r`, each once. */
  query(r: Rect): T[] {
    const c = this.cellsOf(r.x0, r.y0, r.x1, r.y1);
    const out: T[] = [];
    const seen = new Set<T>();
    for (let cx = Math.max(c.x0, this.span.x0); cx <= Math.min(c.x1, this.span.x1); cx++) {
      for (let cy = Math.max(c.y0, this.span.y0); cy <= Math.min(c.y1, this.span.y1); cy++) {
        for (const it of this.cells.get(GridIndex.key(cx, cy)) ?? []) {
          if (seen.has(it) || !intersects(it.box, r.x0, r.y0, r.x1, r.y1)) continue;
          seen.add(it);
          out.push(it);
        }
      }
    }
    return out;
  }
}

/** Ids in `a` and not in `b`, then in `b` and not in `a`: what a highlight change has to touch. */
export function changed<K>(a: ReadonlySet<K>, b: ReadonlySet<K>): K[] {
  const out: K[] = [];
  for (const k of a) if (!b.has(k)) out.push(k);
  for (const k of b) if (!a.has(k)) out.push(k);
  return out;
}

type Pt = [number, number];

/** `n` + 1 points along the cubic Bézier a, c1, c2, b. */
export function cubicPoints(a: Pt, c1: Pt, c2: Pt, b: Pt, n = 24): Pt[] {
  const out: Pt[] = [];
  for (let i = 0; i <= n; i++) {
    const t = i / n;
    const u = 1 - t;
    const w = [u * u * u, 3 * u * u * t, 3 * u * t * t, t * t * t];
    out.push([w[0] * a[0] + w[1] * c1[0] + w[2] * c2[0] + w[3] * b[0], w[0] * a[1] + w[1] * c1[1] + w[2] * c2[1] + w[3] * b[1]]);
  }
  return out;
}

/** The part of segment p→q inside `r` (Liang–Barsky), or null. */
function clipSegment(p: Pt, q: Pt, r: Rect): [Pt, Pt] | null {
  let t0 = 0;
  let t1 = 1;
  const dx = q[0] - p[0];
  const dy = q[1] - p[1];
  for (const [den, num] of [[-dx, p[0] - r.x0], [dx, r.x1 - p[0]], [-dy, p[1] - r.y0], [dy, r.y1 - p[1]]]) {
    if (den === 0) {
      if (num < 0) return null;
      continue;
    }
    const t = num / den;
    if (den < 0) t0 = Math.max(t0, t);
    else t1 = Math.min(t1, t);
    if (t0 > t1) return null;
  }
  return [[p[0] + t0 * dx, p[1] + t0 * dy], [p[0] + t1 * dx, p[1] + t1 * dy]];
}

/**
 * The pieces of a polyline inside `r`, each a polyline. Why: a call edge
 * runs across the whole drawing, and a stroke that long is rastered in
 * every tile it crosses at every zoom step (a zoom frame of the bench took
 * a second); clipped to the region drawn it costs what a short edge does.
 */
export function clipPolyline(pts: readonly Pt[], r: Rect): Pt[][] {
  const out: Pt[][] = [];
  let cur: Pt[] | null = null;
  for (let i = 1; i < pts.length; i++) {
    const s = clipSegment(pts[i - 1], pts[i], r);
    if (!s) {
      cur = null;
      continue;
    }
    const last = cur?.[cur.length - 1];
    if (cur && last && last[0] === s[0][0] && last[1] === s[0][1]) cur.push(s[1]);
    else out.push((cur = [s[0], s[1]]));
    // A piece that leaves the rectangle ends there.
    if (s[1][0] !== pts[i][0] || s[1][1] !== pts[i][1]) cur = null;
  }
  return out;
}
