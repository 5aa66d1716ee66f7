import ELK from 'elkjs/lib/elk.bundled.js';
import { describe, expect, it } from 'vitest';
import { buildCfg } from '../../../main/cfg/blocks';
import { flowFromSlots } from '../../../main/cfg/flow';
import { cfgGraph, type CfgGraph } from '../../../main/cfg/graph';
import { decodeInsns, disassemble } from '../../../main/object/insn/instruction';
import {
  arrange, blockLines, blockOfInsn, changed, clipPolyline, COLLAPSE_ABOVE, contains, cubicPoints, fromElk, funcSpec, GridIndex, grow, intersects, RUNS, toElk, WINDOW, windowAround,
  type Box,
} from '../../../renderer/src/views/cfgModel';
import { genProgram } from '../../helpers/cfgProgs';

/**
 * The CFG view's pure part (renderer/src/views/cfgModel.ts): the lines a
 * block shows, the collapsed overview of a large function, elk's graph
 * and its answer read back (with the real elkjs, in-thread).
 */

/** A generated program's CFG with a made-up walk: visits and walked counts from a seeded formula. */
function graphOf(seed: number, statements: number, funcs = 0): CfgGraph {
  const gen = genProgram(seed, { funcs, statements });
  const slots = decodeInsns(gen.bytes);
  const text = new Map(disassemble(gen.insns).map((l) => [l.idx, l.text]));
  const insns = flowFromSlots(slots, (i) => text.get(i) ?? '');
  const cfg = buildCfg(insns, gen.funcStarts);
  const nb = cfg.blocks.length;
  const ne = cfg.edges.length;
  const visits = new Map(insns.map((f) => [f.idx, (f.idx * 7) % 5]));
  return cfgGraph(cfg, insns, {
    source: 'object',
    visits,
    totals: {
      firstStep: Int32Array.from({ length: nb }, (_, i) => (i % 4 === 3 ? -1 : i * 3)),
      pruned: Int32Array.from({ length: nb }, (_, i) => (i % 9 === 0 ? 1 : 0)),
      walked: Int32Array.from({ length: ne }, (_, i) => i % 3),
      prunedAfter: Int32Array.from({ length: ne }, (_, i) => (i % 11 === 0 ? 1 : 0)),
    },
    funcName: () => undefined,
    failing: null,
  });
}

describe('blockLines', () => {
  it('shows every line of a short block, the first and last of a long one', () => {
    const short = { insns: [3, 4, 5], lines: ['(b7) r0 = 0', '(07) r0 += 1', '(95) exit'] };
    expect(blockLines(short)).toEqual(['3: (b7) r0 = 0', '4: (07) r0 += 1', '5: (95) exit']);
    const insns = Array.from({ length: 20 }, (_, i) => 100 + i);
    const long = blockLines({ insns, lines: insns.map((i) => `(07) r1 += ${i}`) });
    expect(long).toEqual(['100: (07) r1 += 100', '101: (07) r1 += 101', '102: (07) r1 += 102', '103: (07) r1 += 103', '… 14 insns', '118: (07) r1 += 118', '119: (07) r1 += 119']);
    const wide = blockLines({ insns: [0], lines: [`(85) call ${'x'.repeat(80)}`] })[0];
    expect(wide.length).toBe(48);
    expect(wide.endsWith('…')).toBe(true);
  });
});

describe('windowAround', () => {
  it('centres on the position, clamped to the list', () => {
    expect(windowAround(500, 1000, 100)).toEqual([450, 550]);
    expect(windowAround(3, 1000, 100)).toEqual([0, 100]);
    expect(windowAround(995, 1000, 100)).toEqual([900, 1000]);
    expect(windowAround(5, 40, 100)).toEqual([0, 40]);
  });
});

describe('funcSpec', () => {
  it('a small function: one node per block, its jump edges, no call edges', () => {
    const g = graphOf(3, 30, 2);
    for (const f of g.funcs) {
      expect(f.blocks.length).toBeLessThanOrEqual(COLLAPSE_ABOVE);
      const s = funcSpec(g, f.index, 0);
      expect(s.window).toBeNull();
      expect(s.nodes.map((n) => n.id)).toEqual(f.blocks.map((b) => `b${b}`));
      const inFunc = g.edges.filter((e) => f.blocks.includes(e.from) && e.kind !== 'call' && e.kind !== 'callback');
      expect(s.edges.map((e) => e.edges[0]).sort((a, b) => a - b)).toEqual(inFunc.map((e) => e.id).sort((a, b) => a - b));
    }
    expect(g.edges.some((e) => e.kind === 'call')).toBe(true);
  });

  it('a large function: the window in full, runs for the rest, every block in exactly one node, edges summed', () => {
    const g = graphOf(11, 6000);
    const f = g.funcs[0];
    expect(f.blocks.length).toBeGreaterThan(COLLAPSE_ABOVE + WINDOW);
    const center = Math.floor(f.blocks.length * 0.6);
    const s = funcSpec(g, 0, center);
    expect(s.window).toEqual(windowAround(center, f.blocks.length));
    const [w0, w1] = s.window!;
    expect(w1 - w0).toBe(WINDOW);
    // Every block is drawn by one node; the window's blocks by their own.
    const counted = s.nodes.flatMap((n) => n.blocks);
    expect(counted).toEqual(f.blocks);
    for (let p = w0; p < w1; p++) expect(s.nodeOf.get(f.blocks[p])).toBe(`b${f.blocks[p]}`);
    const runs = s.nodes.filter((n) => n.kind === 'run');
    expect(runs.length).toBeGreaterThan(1);
    expect(runs.length).toBeLessThanOrEqual(RUNS + 2);
    expect(s.nodes.length).toBeLessThanOrEqual(WINDOW + RUNS + 2);
    // A run's heat is its hottest block's; its head names its first and last block.
    for (const r of runs) {
      expect(r.visits).toBe(Math.max(...r.blocks.map((b) => g.blocks[b].visits)));
      expect(r.head.startsWith(`b${r.blocks[0]}–b${r.blocks[r.blocks.length - 1]}`)).toBe(true);
    }
    // Edges: each CFG edge between different nodes is drawn once, inside a run it is not; counts add up.
    const ids = new Set(s.nodes.map((n) => n.id));
    const drawn = new Map<number, number>();
    for (const e of s.edges) {
      expect(ids.has(e.from) && ids.has(e.to)).toBe(true);
      for (const id of e.edges) drawn.set(id, (drawn.get(id) ?? 0) + 1);
      const members = g.edges.filter((x) => e.edges.includes(x.id));
      expect(e.walked).toBe(members.reduce((a, x) => a + x.walked, 0));
      expect(e.prunedAfter).toBe(members.reduce((a, x) => a + x.prunedAfter, 0));
    }
    for (const e of g.edges) {
      const a = s.nodeOf.get(e.from)!;
      const b = s.nodeOf.get(e.to)!;
      const internal = a === b && a.startsWith('r');
      expect(drawn.get(e.id) ?? 0).toBe(internal ? 0 : 1);
    }
    // Merged: no two edges link the same two nodes when one of them is a run.
    const pairs = s.edges.filter((e) => e.from.startsWith('r') || e.to.startsWith('r')).map((e) => `${e.from}>${e.to}`);
    expect(new Set(pairs).size).toBe(pairs.length);
  });
});

describe('toElk / fromElk with elkjs', () => {
  it('lays out a function: every node placed without overlap, every edge a polyline between its ends', async () => {
    const g = graphOf(5, 120);
    const s = funcSpec(g, 0, 0);
    const laid = fromElk(await new ELK().layout(toElk(s)));
    expect(laid.nodes.size).toBe(s.nodes.length);
    const boxes = s.nodes.map((n) => {
      const b = laid.nodes.get(n.id)!;
      expect(b.width).toBe(n.width);
      expect(b.height).toBe(n.height);
      return b;
    });
    for (let i = 0; i < boxes.length; i++) {
      for (let j = i + 1; j < boxes.length; j++) {
        const a = boxes[i];
        const b = boxes[j];
        expect(intersects({ x: a.x + 1, y: a.y + 1, width: a.width - 2, height: a.height - 2 }, b.x, b.y, b.x + b.width, b.y + b.height)).toBe(false);
      }
    }
    expect(laid.width).toBeGreaterThan(0);
    for (const e of s.edges) {
      const pts = laid.edges.get(e.id)!;
      expect(pts.length).toBeGreaterThanOrEqual(2);
      // Starts on its source's border and ends on its target's (within a pixel).
      const near = (p: [number, number], b: { x: number; y: number; width: number; height: number }): boolean =>
        p[0] >= b.x - 1 && p[0] <= b.x + b.width + 1 && p[1] >= b.y - 1 && p[1] <= b.y + b.height + 1;
      expect(near(pts[0], laid.nodes.get(e.from)!)).toBe(true);
      expect(near(pts[pts.length - 1], laid.nodes.get(e.to)!)).toBe(true);
    }
    // The entry block is on top: the layout reads down, as the listing does.
    const entry = laid.nodes.get(`b${g.funcs[0].blocks[0]}`)!;
    expect(Math.min(...boxes.map((b) => b.y))).toBe(entry.y);
  });

  it('arrange puts functions side by side, blockOfInsn finds every insn', () => {
    const at = arrange([{ width: 100, height: 50 }, { width: 30, height: 400 }, { width: 10, height: 10 }], 60);
    expect(at.map((p) => p.x)).toEqual([0, 160, 250]);
    const g = graphOf(2, 40, 1);
    const m = blockOfInsn(g);
    for (const b of g.blocks) for (const i of b.insns) expect(m.get(i)).toBe(b.id);
  });
});

describe('culling helpers', () => {
  it('GridIndex finds exactly the items a brute-force filter finds, each once', () => {
    // Boxes of every size, some spanning many cells, some at negative coordinates.
    const items: { box: Box; n: number }[] = [];
    for (let n = 0; n < 500; n++) {
      const w = (n * 37) % 900;
      items.push({ n, box: { x: ((n * 7919) % 20000) - 300, y: ((n * 104729) % 9000) - 200, width: w + 10, height: ((n * 13) % 300) + 5 } });
    }
    const grid = new GridIndex(items, 256);
    for (const r of [
      { x0: 0, y0: 0, x1: 1600, y1: 1000 },
      { x0: -1000, y0: -1000, x1: 50_000, y1: 50_000 },
      { x0: 5000, y0: 3000, x1: 5001, y1: 3001 },
      { x0: 90_000, y0: 0, x1: 91_000, y1: 10 },
    ]) {
      const want = items.filter((it) => intersects(it.box, r.x0, r.y0, r.x1, r.y1)).map((it) => it.n).sort((a, b) => a - b);
      const got = grid.query(r).map((it) => it.n).sort((a, b) => a - b);
      expect(got).toEqual(want);
    }
    expect(new GridIndex([]).query({ x0: 0, y0: 0, x1: 10, y1: 10 })).toEqual([]);
  });

  it('contains, grow and changed', () => {
    const view = { x0: 0, y0: 0, x1: 100, y1: 50 };
    expect(grow(view, 0.5)).toEqual({ x0: -50, y0: -25, x1: 150, y1: 75 });
    expect(contains(grow(view, 0.5), view)).toBe(true);
    expect(contains(view, grow(view, 0.5))).toBe(false);
    expect(contains(grow(view, 0.5), { x0: 140, y0: 0, x1: 160, y1: 10 })).toBe(false);
    expect(changed(new Set(['a', 'b']), new Set(['b', 'c'])).sort()).toEqual(['a', 'c']);
    expect(changed(new Set([1]), new Set([1]))).toEqual([]);
  });
});

describe('call edges clipped to the region drawn', () => {
  const r = { x0: 0, y0: 0, x1: 100, y1: 100 };
  it('keeps a polyline inside whole, cuts one that leaves and comes back into two pieces', () => {
    expect(clipPolyline([[10, 10], [50, 50], [90, 10]], r)).toEqual([[[10, 10], [50, 50], [90, 10]]]);
    expect(clipPolyline([[-50, 50], [50, 50]], r)).toEqual([[[0, 50], [50, 50]]]);
    expect(clipPolyline([[50, 50], [150, 50], [150, 80], [50, 80]], r)).toEqual([[[50, 50], [100, 50]], [[100, 80], [50, 80]]]);
    expect(clipPolyline([[200, 200], [300, 300]], r)).toEqual([]);
    const inf = { x0: -Infinity, y0: -Infinity, x1: Infinity, y1: Infinity };
    expect(clipPolyline([[0, 0], [1e6, 5]], inf)).toEqual([[[0, 0], [1e6, 5]]]);
  });
  it('cubicPoints runs from the start to the end', () => {
    const pts = cubicPoints([0, 0], [10, 0], [20, 30], [20, 40], 8);
    expect(pts).toHaveLength(9);
    expect(pts[0]).toEqual([0, 0]);
    expect(pts[8]).toEqual([20, 40]);
  });
});
