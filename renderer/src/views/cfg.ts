import * as d3 from 'd3';
import type { CfgGraph, CfgPath } from '../../../main/api/contract';
import { heatLevel } from '../../../main/cfg/dot';
import { api } from '../api';
import { el } from '../format';
import { store } from '../store';
import { ElkRunner } from './cfgElk';
import {
  arrange, blockOfInsn, boundsOf, changed, clipPolyline, cubicPoints, COLLAPSE_ABOVE, contains, fromElk, funcSpec, GridIndex, grow, LINE_H, pathD, toElk,
  type Box, type EdgeSpec, type FuncLayout, type FuncSpec, type NodeSpec, type Rect,
} from './cfgModel';

/**
 * The CFG view (`bpfscope cfg` in the app): the program's basic blocks, one
 * graph per subprogram laid out by elkjs (cfgModel.ts, cfgElk.ts), call
 * edges linking them; each block filled by how often the verifier visited
 * it (the DOT output's scale, heatLevel), the cursor's block and the
 * history that led to it (`cfg:path`) highlighted, pruned blocks and edges
 * marked, a rejected program's failing path in red. A click on a block
 * moves the cursor to its first visit; the cursor (keys, listing) moves
 * the highlight. `c` opens and closes it, `f` fits the graph, Escape closes.
 *
 * Large programs: a subprogram of more than COLLAPSE_ABOVE blocks is drawn
 * collapsed (runs of blocks around a window in full, see cfgModel.ts) and
 * only the nodes and edges in (or near) the viewport are in the DOM when
 * there are more than CULL_MIN. Frames stay short on a 100,000-insn program
 * because a pan or zoom frame does as little as it can:
 * - it changes one transform; the DOM is culled again only when the view
 *   leaves the region drawn (the view and half of it on every side, found
 *   through a grid index, not by asking every item), or zooms in past
 *   twice the scale it was drawn at (so the DOM shrinks again);
 * - the view's size is cached (ResizeObserver), never read in a frame;
 * - below a zoom of FAR (11 px text under 5 px) blocks are drawn without
 *   their text lines, which are added when the view comes close again;
 * - the highlight touches only what changed (the old and new cursor block,
 *   the difference of two histories), and an element entering the DOM gets
 *   its classes when made; tooltips are made on the first hover.
 */
const CULL_MIN = 300;
const FAR = 0.45;
/** The region drawn: the view grown by this much of its size on every side. */
const CULL_MARGIN = 0.5;
/** The view pans to the cursor's block when it is not wholly inside, by this many screen px (fit leaves 20). */
const FOLLOW_MARGIN = 4;

/** ColorBrewer ylorrd9, as cfgToDot fills blocks (fillcolor 1..9). */
const YLORRD9 = ['#ffffcc', '#ffeda0', '#fed976', '#feb24c', '#fd8d3c', '#fc4e2a', '#e31a1c', '#bd0026', '#800026'];

const plural = (n: number, what: string): string => `${n} ${what}${n === 1 ? '' : 's'}`;

interface NodeItem {
  spec: NodeSpec;
  box: Box;
  func: number;
}
interface EdgeItem {
  spec: EdgeSpec;
  d: string;
  box: Box;
  /** A call or callback edge's points: it is drawn clipped to the region in the DOM (clipPolyline). */
  pts?: [number, number][];
}

const SVG_NS = 'http://www.w3.org/2000/svg';

function svgEl<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>): SVGElementTagNameMap[K] {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
}

/** The highlight of the cursor's history: node and edge item ids. */
interface Lit {
  nodes: Set<string>;
  edges: Set<string>;
}
const noneLit = (): Lit => ({ nodes: new Set(), edges: new Set() });

export class CfgView {
  private readonly root: HTMLElement;
  private readonly status: HTMLElement;
  private readonly svg: d3.Selection<SVGSVGElement, unknown, null, undefined>;
  private readonly viewport: d3.Selection<SVGGElement, unknown, null, undefined>;
  private readonly layers: Record<'frames' | 'edges' | 'nodes', d3.Selection<SVGGElement, unknown, null, undefined>>;
  private readonly zoom: d3.ZoomBehavior<SVGSVGElement, unknown>;
  private readonly elk = new ElkRunner();
  private t = d3.zoomIdentity;

  private key = '';
  private graph: CfgGraph | null = null;
  private insnBlock = new Map<number, number>();
  /** Per function: the position in its block list the collapsed overview is centred on. */
  private centers = new Map<number, number>();
  private layouts = new Map<string, FuncLayout>();
  private specs: FuncSpec[] = [];
  private nodes: NodeItem[] = [];
  private edges: EdgeItem[] = [];
  private nodeById = new Map<string, NodeItem>();
  private edgeById = new Map<string, EdgeItem>();
  /** CFG edge id → the edge item drawing it. */
  private edgeItemOf = new Map<number, string>();
  private grid: GridIndex<NodeItem | EdgeItem> = new GridIndex([]);
  private bounds: Box = { x: 0, y: 0, width: 0, height: 0 };
  private current: number | null = null;
  /** The node item drawing the cursor's block, as classed in the DOM. */
  private curId: string | null = null;
  private path: { blocks: number[]; edges: number[] } | null = null;
  private lit: Lit = noneLit();
  private failing: { blocks: Set<number>; edges: Set<number> } = { blocks: new Set(), edges: new Set() };
  private failLit: Lit = noneLit();
  /** What is in the DOM: item id → element. */
  private nodeEls = new Map<string, SVGGElement>();
  private edgeEls = new Map<string, SVGPathElement>();
  /** Node ids whose text lines are in the DOM (blocks made while far have none). */
  private withText = new Set<string>();
  /** The world region the DOM holds, and the scale it was culled at; null: cull at the next draw. */
  private drawn: { rect: Rect; k: number } | null = null;
  private far = false;
  private viewSize: { w: number; h: number } | null = null;
  private seq = 0;
  private drawQueued = false;
  private pathWanted: number | null = null;
  private pathBusy = false;

  constructor() {
    this.root = el('section', 'cfg-view');
    this.root.id = 'cfg';
    this.root.hidden = true;
    this.root.setAttribute('role', 'region');
    this.root.setAttribute('aria-label', 'CFG');
    const head = el('div', 'panel-head');
    this.status = el('span', 'hint cfg-status');
    this.status.id = 'cfg-status';
    const close = el('button', '', '✕');
    close.type = 'button';
    close.title = 'Close (c or Escape)';
    close.addEventListener('click', () => this.hide());
    head.append(el('span', 'title', 'CFG'), this.status, el('span', 'grow'), el('span', 'hint', 'click: first visit · f fit · c/Esc close'), close);
    const box = el('div', 'cfg-canvas');
    const legend = el('div', 'cfg-legend');
    legend.append(el('span', 'cfg-heat', 'visits'));
    for (const c of YLORRD9) {
      const sw = el('span', 'swatch');
      sw.style.background = c;
      legend.append(sw);
    }
    for (const [cls, text] of [['cur', "cursor's block"], ['path', 'history to it'], ['fail', 'failing path'], ['pruned', 'pruned'], ['unwalked', 'never walked']]) {
      legend.append(el('span', `key ${cls}`, text));
    }
    box.append(legend);
    this.root.append(head, box);
    document.body.append(this.root);

    this.svg = d3.select(box).append('svg').attr('class', 'cfg-svg').attr('aria-label', 'Control-flow graph');
    const defs = this.svg.append('defs');
    for (const [id, cls] of [['cfg-arrow', ''], ['cfg-arrow-path', 'path'], ['cfg-arrow-fail', 'fail']]) {
      defs.append('marker').attr('id', id).attr('viewBox', '0 0 10 10').attr('refX', 9).attr('refY', 5)
        .attr('markerUnits', 'userSpaceOnUse').attr('markerWidth', 9).attr('markerHeight', 9).attr('orient', 'auto-start-reverse')
        .append('path').attr('class', `cfg-arrowhead ${cls}`).attr('d', 'M0,0L10,5L0,10z');
    }
    // A walk that ended in a prune in the target block: a bar, as DOT's arrowhead=tee.
    defs.append('marker').attr('id', 'cfg-tee').attr('viewBox', '0 0 10 10').attr('refX', 9).attr('refY', 5)
      .attr('markerUnits', 'userSpaceOnUse').attr('markerWidth', 10).attr('markerHeight', 10).attr('orient', 'auto')
      .append('path').attr('class', 'cfg-arrowhead tee').attr('d', 'M7,0L10,0L10,10L7,10z M0,2L7,5L0,8z');
    this.viewport = this.svg.append('g').attr('class', 'cfg-viewport');
    this.layers = {
      frames: this.viewport.append('g').attr('class', 'cfg-frames'),
      edges: this.viewport.append('g').attr('class', 'cfg-edges'),
      nodes: this.viewport.append('g').attr('class', 'cfg-nodes'),
    };
    this.zoom = d3
      .zoom<SVGSVGElement, unknown>()
      .scaleExtent([0.01, 4])
      .on('zoom', (e: d3.D3ZoomEvent<SVGSVGElement, unknown>) => {
        this.t = e.transform;
        this.viewport.attr('transform', e.transform.toString());
        const far = e.transform.k < FAR;
        if (far !== this.far) {
          this.far = far;
          this.svg.classed('far', far);
        }
        this.queueDraw();
      });
    this.svg.call(this.zoom).on('dblclick.zoom', null);
    // One listener for every node (nodes come and go with the culling): a click, and the tooltip made on the first hover.
    const nodesLayer = this.layers.nodes.node()!;
    nodesLayer.addEventListener('click', (e) => {
      const n = this.itemAt(e.target, 'data-node', this.nodeById);
      if (n) this.clickNode(n);
    });
    this.svg.node()!.addEventListener('mouseover', (e) => this.addTitle(e.target));
    new ResizeObserver(() => {
      this.viewSize = null;
      this.drawn = null;
      this.queueDraw();
    }).observe(box);

    const button = el('button', '', 'CFG');
    button.id = 'cfg-button';
    button.type = 'button';
    button.title = 'The control-flow graph with the verifier walk (c)';
    button.addEventListener('click', () => (this.root.hidden ? this.show() : this.hide()));
    document.querySelector('#compare-button, #theme')?.before(button);

    document.addEventListener(
      'keydown',
      (e) => {
        if (e.ctrlKey || e.metaKey || e.altKey || document.body.classList.contains('comparing')) return;
        if (e.target instanceof Element && e.target.closest('input, select, textarea')) return;
        const open = !this.root.hidden;
        const act = e.key === 'c' ? () => (open ? this.hide() : this.show()) : open ? { f: () => this.fit(), Escape: () => this.hide() }[e.key] : undefined;
        if (!act) return;
        // Taken here, before the stepping keys and the Why panel's Escape.
        e.preventDefault();
        e.stopPropagation();
        act();
      },
      true,
    );
    store.on('program', () => {
      this.graph = null;
      this.key = '';
      if (!this.root.hidden) void this.load();
    });
    store.on('state', () => this.follow());
  }

  show(): void {
    this.root.hidden = false;
    document.body.classList.add('cfg-open');
    void this.load();
  }

  hide(): void {
    this.root.hidden = true;
    document.body.classList.remove('cfg-open');
  }

  private say(text: string): void {
    this.status.textContent = text;
  }

  /** The graph of the cursor's program, laid out and drawn (once per program). */
  private async load(): Promise<void> {
    const { trace, program } = store.cursor;
    if (!trace || !program) return;
    const key = `${trace.traceId}:${program.id}`;
    if (key === this.key) return this.follow();
    this.key = key;
    const seq = ++this.seq;
    this.root.dataset.state = 'loading';
    this.clear();
    if (program.origin === 'run') {
      this.root.dataset.state = 'error';
      return this.say('a concrete run has no verifier walk: the CFG is drawn for a verified program');
    }
    try {
      this.say('reading the walk…');
      const g = await api.cfgGraph(trace.traceId, program.id);
      if (seq !== this.seq) return;
      this.graph = g;
      this.insnBlock = blockOfInsn(g);
      this.layouts.clear();
      this.centers.clear();
      this.failing = { blocks: new Set(g.failing?.blocks ?? []), edges: new Set(g.failing?.edges ?? []) };
      this.current = this.blockAtCursor();
      if (this.current !== null) this.centers.set(g.blocks[this.current].func, this.positionOf(this.current));
      const started = performance.now();
      await this.layoutAll(seq);
      if (seq !== this.seq) return;
      const large = g.funcs.filter((f) => f.blocks.length > COLLAPSE_ABOVE).length;
      this.say(
        `${program.name}: ${g.blocks.length} blocks, ${g.edges.length} edges, ${g.funcs.length} subprogram(s), instructions from the ${g.source}` +
          `${large ? ` · ${large} collapsed (click a run to open it)` : ''}${g.failing ? ' · failing path in red' : ''}`,
      );
      this.root.dataset.layoutMs = String(Math.round(performance.now() - started));
      this.initialView();
      this.root.dataset.state = 'ready';
      this.follow();
    } catch (err) {
      if (seq !== this.seq) return;
      this.root.dataset.state = 'error';
      this.say('');
      store.fail(err);
    }
  }

  private clear(): void {
    this.nodes = [];
    this.edges = [];
    this.nodeById.clear();
    this.edgeById.clear();
    this.edgeItemOf.clear();
    this.grid = new GridIndex([]);
    this.path = null;
    this.lit = noneLit();
    this.curId = null;
    this.failLit = noneLit();
    this.forgetDom();
    for (const l of Object.values(this.layers)) l.selectAll('*').remove();
  }

  /** The DOM is emptied (a new layout): nothing drawn, the next draw culls afresh. */
  private forgetDom(): void {
    this.layers.nodes.selectAll('*').remove();
    this.layers.edges.selectAll('*').remove();
    this.nodeEls.clear();
    this.edgeEls.clear();
    this.withText.clear();
    this.drawn = null;
  }

  private blockAtCursor(): number | null {
    const st = store.cursor.state;
    if (!st || st.insn === null || st.step !== store.cursor.step) return null;
    return this.insnBlock.get(st.insn) ?? null;
  }

  private positionOf(block: number): number {
    const g = this.graph!;
    return g.funcs[g.blocks[block].func].blocks.indexOf(block);
  }

  /** Lay out every function (cached per window), then place them side by side. */
  private async layoutAll(seq: number): Promise<void> {
    const g = this.graph!;
    const specs: FuncSpec[] = [];
    const laid: FuncLayout[] = [];
    for (const f of g.funcs) {
      const spec = funcSpec(g, f.index, this.centers.get(f.index) ?? 0);
      const key = `${f.index}:${spec.window ? spec.window[0] : 'all'}`;
      let layout = this.layouts.get(key);
      if (!layout) {
        this.say(`laying out ${f.name} (${spec.nodes.length} nodes)…`);
        layout = fromElk(await this.elk.layout(toElk(spec, { large: spec.nodes.length > 150 })));
        if (seq !== this.seq) return;
        this.layouts.set(key, layout);
      }
      specs.push(spec);
      laid.push(layout);
    }
    this.place(specs, laid);
  }

  /** World coordinates of every node and edge, the call links, the function frames. */
  private place(specs: FuncSpec[], laid: FuncLayout[]): void {
    const g = this.graph!;
    this.specs = specs;
    const at = arrange(laid);
    this.nodes = [];
    this.edges = [];
    this.nodeById.clear();
    this.edgeById.clear();
    this.edgeItemOf.clear();
    specs.forEach((s, i) => {
      const o = at[i];
      for (const n of s.nodes) {
        const b = laid[i].nodes.get(n.id)!;
        const item = { spec: n, box: { x: b.x + o.x, y: b.y + o.y, width: b.width, height: b.height }, func: s.func };
        this.nodes.push(item);
        this.nodeById.set(n.id, item);
      }
      for (const e of s.edges) {
        const pts = (laid[i].edges.get(e.id) ?? []).map(([x, y]): [number, number] => [x + o.x, y + o.y]);
        this.edges.push({ spec: e, d: pathD(pts), box: boundsOf(pts) });
      }
    });
    // Calls and callbacks: from the calling block's right side to the callee's entry, across functions.
    for (const e of g.edges) {
      if (e.kind !== 'call' && e.kind !== 'callback') continue;
      const from = this.nodeById.get(specs[g.blocks[e.from].func].nodeOf.get(e.from) ?? '');
      const to = this.nodeById.get(specs[g.blocks[e.to].func].nodeOf.get(e.to) ?? '');
      if (!from || !to) continue;
      const a: [number, number] = [from.box.x + from.box.width, from.box.y + from.box.height / 2];
      const b: [number, number] = [to.box.x + to.box.width / 2, to.box.y];
      const dx = Math.max(40, Math.abs(b[0] - a[0]) / 2);
      const pts = cubicPoints(a, [a[0] + dx, a[1]], [b[0], b[1] - dx], b);
      const spec: EdgeSpec = { id: `e${e.id}`, from: from.spec.id, to: to.spec.id, kinds: [e.kind], edges: [e.id], walked: e.walked, prunedAfter: e.prunedAfter };
      this.edges.push({ spec, d: pathD(pts), box: boundsOf(pts), pts });
    }
    const frames = specs.map((s, i) => ({ s, x: at[i].x, y: at[i].y, w: laid[i].width, h: laid[i].height }));
    this.layers.frames
      .selectAll<SVGGElement, (typeof frames)[number]>('g.cfg-func')
      .data(frames, (f) => String(f.s.func))
      .join((enter) => {
        const fg = enter.append('g').attr('class', 'cfg-func');
        fg.append('rect').attr('class', 'cfg-func-frame');
        fg.append('text').attr('class', 'cfg-func-title');
        return fg;
      })
      .call((sel) => {
        sel.select('rect').attr('x', (f) => f.x - 8).attr('y', (f) => f.y - 22).attr('width', (f) => f.w + 16).attr('height', (f) => f.h + 30).attr('rx', 6);
        sel.select('text').attr('x', (f) => f.x).attr('y', (f) => f.y - 8)
          .text((f) => `${f.s.name}  ·  ${plural(g.funcs[f.s.func].blocks.length, 'block')}${f.s.window ? ` · b${g.funcs[f.s.func].blocks[f.s.window[0]]}–b${g.funcs[f.s.func].blocks[f.s.window[1] - 1]} in full` : ''}`);
      });
    const right = frames.length ? frames[frames.length - 1].x + frames[frames.length - 1].w : 0;
    this.bounds = { x: -10, y: -10, width: right + 20, height: Math.max(0, ...frames.map((f) => f.y + f.h)) + 20 };
    for (const e of this.edges) {
      this.edgeById.set(e.spec.id, e);
      for (const id of e.spec.edges) this.edgeItemOf.set(id, e.spec.id);
    }
    this.grid = new GridIndex<NodeItem | EdgeItem>([...this.nodes, ...this.edges]);
    // Node ids change with the window: the history and the failing path are mapped onto the new nodes.
    this.failLit = this.litOf([...this.failing.blocks], [...this.failing.edges]);
    this.lit = this.path ? this.litOf(this.path.blocks, this.path.edges) : noneLit();
    this.curId = this.current === null ? null : (this.itemOfBlock(this.current)?.spec.id ?? null);
    this.forgetDom();
    this.queueDraw();
  }

  /** The node and edge items that draw some of these blocks and CFG edges. */
  private litOf(blocks: readonly number[], edges: readonly number[]): Lit {
    const g = this.graph!;
    const lit = noneLit();
    for (const b of blocks) {
      const id = this.specs[g.blocks[b]?.func]?.nodeOf.get(b);
      if (id !== undefined) lit.nodes.add(id);
    }
    for (const e of edges) {
      const id = this.edgeItemOf.get(e);
      if (id !== undefined) lit.edges.add(id);
    }
    return lit;
  }

  /** The view's size, measured once after each resize (a measure in a frame forces a layout). */
  private size(): { w: number; h: number } {
    if (this.viewSize) return this.viewSize;
    const r = (this.svg.node() as SVGSVGElement).getBoundingClientRect();
    const size = { w: Math.max(1, r.width), h: Math.max(1, r.height) };
    // A hidden view measures 0 × 0: not cached, measured again once shown.
    if (r.width > 0 && r.height > 0) this.viewSize = size;
    return size;
  }

  /** Small graphs fit the view; a large one opens at reading size on the cursor's block. */
  private initialView(): void {
    const { w, h } = this.size();
    const k = Math.min(w / this.bounds.width, h / this.bounds.height);
    if (k >= 0.6 || this.current === null) this.fit();
    else this.centerOn(this.current, 1);
  }

  fit(): void {
    const { w, h } = this.size();
    const b = this.bounds;
    const k = Math.max(0.01, Math.min(1.5, (w - 40) / b.width, (h - 40) / b.height));
    const t = d3.zoomIdentity.translate((w - b.width * k) / 2 - b.x * k, (h - b.height * k) / 2 - b.y * k).scale(k);
    this.svg.call(this.zoom.transform, t);
  }

  private centerOn(block: number, k = this.t.k): void {
    const item = this.itemOfBlock(block);
    if (!item) return;
    const { w, h } = this.size();
    const cx = item.box.x + item.box.width / 2;
    const cy = item.box.y + item.box.height / 2;
    this.svg.call(this.zoom.transform, d3.zoomIdentity.translate(w / 2 - cx * k, h / 2 - cy * k).scale(k));
  }

  private itemOfBlock(block: number): NodeItem | undefined {
    const g = this.graph;
    if (!g) return undefined;
    const id = this.specs[g.blocks[block].func]?.nodeOf.get(block);
    return id === undefined ? undefined : this.nodeById.get(id);
  }

  private queueDraw(): void {
    if (this.drawQueued) return;
    this.drawQueued = true;
    requestAnimationFrame(() => {
      this.drawQueued = false;
      this.draw();
    });
  }

  /**
   * Put the nodes and edges in (or near) the view into the DOM, with their
   * highlight, and take out those that left. Nothing is done while the view
   * stays inside the region drawn at no more than twice its scale.
   */
  private draw(): void {
    if (this.root.hidden || !this.graph) return;
    const { w, h } = this.size();
    const [x0, y0] = this.t.invert([0, 0]);
    const [x1, y1] = this.t.invert([w, h]);
    const view = { x0, y0, x1, y1 };
    const d = this.drawn;
    const all = this.nodes.length + this.edges.length <= CULL_MIN;
    const textMissing = !this.far && this.withText.size < this.nodeEls.size;
    if (d && (all || (contains(d.rect, view) && this.t.k <= d.k * 2)) && !textMissing) return;
    const rect = all ? { x0: -Infinity, y0: -Infinity, x1: Infinity, y1: Infinity } : grow(view, CULL_MARGIN);
    const wanted = all ? [...this.nodes, ...this.edges] : this.grid.query(rect);
    this.sync(wanted, rect);
    this.drawn = { rect, k: this.t.k };
    this.root.dataset.drawn = String(this.nodeEls.size);
  }

  /** The DOM holds exactly `wanted`: the others removed, the new ones made, text added to the near ones. */
  private sync(wanted: readonly (NodeItem | EdgeItem)[], rect: Rect): void {
    const keep = new Set<string>();
    const newNodes = document.createDocumentFragment();
    const newEdges = document.createDocumentFragment();
    for (const it of wanted) {
      const id = it.spec.id;
      keep.add(id);
      if ('func' in it) {
        let el = this.nodeEls.get(id);
        if (!el) {
          el = this.makeNode(it);
          this.nodeEls.set(id, el);
          newNodes.append(el);
        }
        if (!this.far && !this.withText.has(id)) this.addText(el, it);
      } else {
        let el = this.edgeEls.get(id);
        if (!el) {
          el = this.makeEdge(it);
          this.edgeEls.set(id, el);
          newEdges.append(el);
        }
        if (it.pts) this.clipEdge(el, it, rect);
      }
    }
    for (const [id, el] of this.nodeEls) {
      if (keep.has(id)) continue;
      el.remove();
      this.nodeEls.delete(id);
      this.withText.delete(id);
    }
    for (const [id, el] of this.edgeEls) {
      if (keep.has(id)) continue;
      el.remove();
      this.edgeEls.delete(id);
    }
    this.layers.nodes.node()!.append(newNodes);
    this.layers.edges.node()!.append(newEdges);
  }

  private makeNode(n: NodeItem): SVGGElement {
    const g = this.graph!;
    const s = n.spec;
    const el = svgEl('g', { class: `cfg-node ${s.kind}${s.visits ? '' : ' never'}${s.pruned ? ' has-pruned' : ''}`, 'data-node': s.id, transform: `translate(${n.box.x},${n.box.y})` });
    if (s.kind === 'block') el.setAttribute('data-block', String(s.blocks[0]));
    const level = heatLevel(s.visits, g.maxVisits);
    const rect = svgEl('rect', { width: n.box.width, height: n.box.height, rx: 3, 'data-heat': level });
    if (level) rect.style.fill = YLORRD9[level - 1];
    const head = svgEl('text', { class: 'cfg-head', x: 6, y: LINE_H - 2 });
    head.textContent = s.head;
    el.append(rect, head);
    this.classNode(el, s.id);
    return el;
  }

  /** A block's instruction lines: only once it is drawn near enough to read them. */
  private addText(el: SVGGElement, n: NodeItem): void {
    const frag = document.createDocumentFragment();
    n.spec.lines.forEach((l, i) => {
      const t = svgEl('text', { class: 'cfg-line', x: 6, y: LINE_H * (i + 2) - 2 });
      t.textContent = l;
      frag.append(t);
    });
    el.append(frag);
    this.withText.add(n.spec.id);
  }

  private makeEdge(e: EdgeItem): SVGPathElement {
    const s = e.spec;
    const el = svgEl('path', { class: `cfg-edge ${s.kinds.join(' ')}${s.walked ? '' : ' unwalked'}${s.prunedAfter ? ' pruned' : ''}`, d: e.d, 'data-edge': s.id });
    if (this.failLit.edges.has(s.id)) el.classList.add('failing');
    this.classEdge(el, e);
    return el;
  }

  /** A call edge drawn as far as the region drawn goes; its arrowhead only where its end is in it. */
  private clipEdge(el: SVGPathElement, e: EdgeItem, rect: Rect): void {
    const pieces = clipPolyline(e.pts!, rect);
    el.setAttribute('d', pieces.map(pathD).join('') || 'M0,0');
    const end = e.pts![e.pts!.length - 1];
    const last = pieces.at(-1)?.at(-1);
    el.toggleAttribute('data-cut', !last || last[0] !== end[0] || last[1] !== end[1]);
    this.classEdge(el, e);
  }

  /** The item of the node or edge element an event's target is in (`attr` holds its id). */
  private itemAt<T>(target: EventTarget | null, attr: 'data-node' | 'data-edge', items: ReadonlyMap<string, T>): T | undefined {
    const el = target instanceof Element ? target.closest(`[${attr}]`) : null;
    const id = el?.getAttribute(attr);
    return id ? items.get(id) : undefined;
  }

  /** Tooltips are text of every instruction of a block: made when first hovered, not for every node drawn. */
  private addTitle(target: EventTarget | null): void {
    const n = this.itemAt(target, 'data-node', this.nodeById);
    const e = n ? undefined : this.itemAt(target, 'data-edge', this.edgeById);
    const el = n ? this.nodeEls.get(n.spec.id) : e ? this.edgeEls.get(e.spec.id) : undefined;
    if (!el || el.querySelector(':scope > title')) return;
    const title = svgEl('title', {});
    title.textContent = n ? this.tooltip(n.spec) : e ? this.edgeTooltip(e.spec) : '';
    el.append(title);
  }

  private edgeTooltip(s: EdgeSpec): string {
    return `${s.kinds.join('/')}${s.walked ? ` · walked ${s.walked}×` : ' · never walked'}${s.prunedAfter ? ` · pruned ${s.prunedAfter}` : ''}`;
  }

  private tooltip(n: NodeSpec): string {
    const g = this.graph!;
    if (n.kind === 'run') return `${n.head}: ${n.lines.join(', ')} — click to draw these blocks in full`;
    const b = g.blocks[n.blocks[0]];
    return (
      `b${b.id} · insn ${b.start}..${b.end} · visited ${b.visits}×${b.pruned ? ` · pruned ${b.pruned}` : ''}` +
      `${b.firstStep !== null ? ` · first step ${b.firstStep} (click to go there)` : ' · never visited'}${b.exit ? ' · exit' : ''}\n` +
      b.insns.map((insn, k) => `${insn}: ${b.lines[k]}`).join('\n')
    );
  }

  /** A node's highlight classes from the current state (failing is fixed per layout). */
  private classNode(el: SVGGElement, id: string): void {
    el.classList.toggle('cur', id === this.curId);
    el.classList.toggle('on-path', this.lit.nodes.has(id));
    el.classList.toggle('failing', this.failLit.nodes.has(id));
  }

  private classEdge(el: SVGPathElement, e: EdgeItem): void {
    const id = e.spec.id;
    const onPath = this.lit.edges.has(id);
    const failing = this.failLit.edges.has(id);
    el.classList.toggle('on-path', onPath);
    const marker = el.hasAttribute('data-cut')
      ? 'none'
      : e.spec.prunedAfter ? 'url(#cfg-tee)' : failing ? 'url(#cfg-arrow-fail)' : onPath ? 'url(#cfg-arrow-path)' : 'url(#cfg-arrow)';
    if (el.getAttribute('marker-end') !== marker) el.setAttribute('marker-end', marker);
  }

  /** The cursor's block, and a new history: only the elements whose highlight changed are touched. */
  private highlight(next: Lit = this.lit): void {
    const cur = this.current;
    const curId = cur === null ? null : (this.itemOfBlock(cur)?.spec.id ?? null);
    const nodes = changed(this.lit.nodes, next.nodes);
    const edges = changed(this.lit.edges, next.edges);
    if (curId !== this.curId) nodes.push(...[this.curId, curId].filter((id): id is string => id !== null));
    this.lit = next;
    this.curId = curId;
    for (const id of nodes) {
      const el = this.nodeEls.get(id);
      if (el) this.classNode(el, id);
    }
    for (const id of edges) {
      const el = this.edgeEls.get(id);
      const e = this.edgeById.get(id);
      if (el && e) this.classEdge(el, e);
    }
    this.root.dataset.current = cur === null ? '' : String(cur);
  }

  private clickNode(n: NodeItem): void {
    const g = this.graph!;
    if (n.spec.kind === 'run') {
      // Open the run: the window moves to its middle.
      const mid = n.spec.blocks[Math.floor(n.spec.blocks.length / 2)];
      this.centers.set(n.func, this.positionOf(mid));
      void this.relayout().then(() => this.centerOn(mid));
      return;
    }
    const b = g.blocks[n.spec.blocks[0]];
    if (b.firstStep === null) return store.fail(`b${b.id} (insn ${b.start}..${b.end}): the verifier never got there`, 'note');
    void store.setStep(b.firstStep);
  }

  private async relayout(): Promise<void> {
    const seq = this.seq;
    this.root.dataset.state = 'loading';
    await this.layoutAll(seq);
    if (seq !== this.seq) return;
    this.root.dataset.state = 'ready';
  }

  /** The cursor moved: its block highlighted and kept in view, the history to it asked for. */
  private follow(): void {
    if (this.root.hidden || !this.graph || this.root.dataset.state !== 'ready') return;
    const block = this.blockAtCursor();
    if (block === null) return;
    const func = this.graph.blocks[block].func;
    const spec = this.specs[func];
    const pos = this.positionOf(block);
    if (spec?.window && (pos < spec.window[0] || pos >= spec.window[1])) {
      // Out of the collapsed function's window: a new window around it (layouts are cached).
      this.centers.set(func, pos);
      void this.relayout().then(() => {
        this.setCurrent(block);
        this.centerOn(block);
      });
    } else this.setCurrent(block);
    this.askPath(store.cursor.step);
  }

  private setCurrent(block: number): void {
    this.current = block;
    const item = this.itemOfBlock(block);
    if (item) {
      const { w, h } = this.size();
      const [sx, sy] = this.t.apply([item.box.x, item.box.y]);
      const k = this.t.k;
      const outside = sx < FOLLOW_MARGIN || sy < FOLLOW_MARGIN || sx + item.box.width * k > w - FOLLOW_MARGIN || sy + item.box.height * k > h - FOLLOW_MARGIN;
      if (outside) this.centerOn(block);
    }
    this.highlight();
  }

  /** One `cfg:path` in flight at a time; the newest step wanted goes next (a held key asks for many). */
  private askPath(step: number): void {
    this.pathWanted = step;
    if (this.pathBusy) return;
    this.pathBusy = true;
    void (async () => {
      try {
        while (this.pathWanted !== null) {
          const s = this.pathWanted;
          this.pathWanted = null;
          const { trace, program } = store.cursor;
          if (!trace || !program || !this.graph) return;
          const key = this.key;
          let p: CfgPath;
          try {
            p = await api.cfgPath(trace.traceId, program.id, s);
          } catch (err) {
            store.fail(err);
            return;
          }
          if (key !== this.key || s !== store.cursor.step) continue;
          this.path = { blocks: p.blocks, edges: p.edges };
          this.root.dataset.pathStep = String(s);
          this.highlight(this.litOf(p.blocks, p.edges));
        }
      } finally {
        this.pathBusy = false;
      }
    })();
  }
}
