import * as d3 from 'd3';
import type { AllocEvent, RefLifetime } from '../../../main/api/contract';
import { api } from '../api';
import { el } from '../format';
import { store } from '../store';

/**
 * Object lifetimes: steps on x, one lane per reference (ref_obj_id): a
 * solid bar while the program owns it, dashed once it turned non-owning
 * (pushed into a list or tree), a tick where it was released, a red cross
 * where the path ended holding it (the leak error).
 *
 * Runtime objects (bpfscope run) get a lane each, the bar coloured by the
 * owner after each event (the program, a list head or rb root, a kptr
 * slot), a mark per allocator event. On a concrete run program they share
 * the run's step axis (earlier runs at the left edge, the map free at the
 * right); on a verified program x is the event order.
 */
const LANE = 18;
const AXIS_H = 22;

type Scale = d3.ScaleLinear<number, number>;

/** The mark shape of each event kind, in the legend and on the lanes. */
const SHAPES: Record<string, string> = {
  new: d3.symbol(d3.symbolCircle, 40)()!,
  acquire: d3.symbol(d3.symbolCircle, 40)()!,
  push: d3.symbol(d3.symbolDiamond, 40)()!,
  non_owning: d3.symbol(d3.symbolDiamond, 40)()!,
  pop: d3.symbol(d3.symbolTriangle, 40)()!,
  remove: d3.symbol(d3.symbolTriangle, 40)()!,
  xchg: d3.symbol(d3.symbolSquare, 36)()!,
  refcount: d3.symbol(d3.symbolCross, 40)()!,
  release: 'M-1.5,-6h3v12h-3z',
  drain: 'M-1.5,-6h3v12h-3z M-5,-6h10v2h-10z',
  free: 'M-4,-4L4,4M-4,4L4,-4',
  leak: 'M-5,-5L5,5M-5,5L5,-5',
  null_branch: d3.symbol(d3.symbolCircle, 14)()!,
};

function shapeOf(kind: string): string {
  if (kind.startsWith('push') || kind === 'rb_add') return 'push';
  if (kind.startsWith('pop') || kind === 'rb_remove') return 'pop';
  if (kind === 'kptr_xchg') return 'xchg';
  if (kind === 'refcount_acquire') return 'refcount';
  if (kind === 'drop' || kind === 'dropped' || kind === 'released' || kind === 'stored') return 'release';
  return kind in SHAPES ? kind : 'new';
}

/** Who owns an object between two events: the program, a collection, a kptr slot, nobody. */
function ownerClass(owner: string | null): string {
  if (owner === null) return 'none';
  if (owner === 'prog') return 'prog';
  if (owner.startsWith('kptr')) return 'kptr';
  return 'coll';
}

export class LifetimesView {
  private body: HTMLElement;
  private refs: RefLifetime[] = [];
  private events: AllocEvent[] = [];
  private x: Scale | null = null;
  private cursorLine: d3.Selection<SVGLineElement, unknown, null, undefined> | null = null;
  private tooltip: HTMLElement;

  constructor(root: HTMLElement) {
    this.body = root.querySelector<HTMLElement>('#lifetimes-body')!;
    this.tooltip = document.querySelector<HTMLElement>('#tooltip')!;
    store.on('program', () => void this.load());
    store.on('step', () => this.moveCursor());
    let last = 0;
    new ResizeObserver(() => {
      // Only a width change redraws (the svg's own height must not loop).
      if (this.body.clientWidth !== last) {
        last = this.body.clientWidth;
        this.draw();
      }
    }).observe(this.body);
  }

  private async load(): Promise<void> {
    this.refs = [];
    this.events = [];
    const { trace, program } = store.cursor;
    if (!trace || !program) return this.draw();
    try {
      const [refs, events] = await Promise.all([
        api.refs(trace.traceId, program.id),
        trace.hasRuntime ? api.allocEvents(trace.traceId, program.id) : Promise.resolve([]),
      ]);
      if (store.cursor.program !== program) return;
      this.refs = refs;
      this.events = events;
      this.draw();
    } catch (err) {
      store.fail(err);
    }
  }

  private draw(): void {
    const program = store.cursor.program;
    const hint = document.querySelector('#lifetimes-hint')!;
    this.x = null;
    this.cursorLine = null;
    if (!program) {
      this.body.replaceChildren();
      return;
    }
    const isRun = program.origin === 'run';
    const objects = d3.group(this.events, (e) => e.objectId);
    hint.textContent = isRun
      ? `${objects.size} object(s) · x: step of the run`
      : `${this.refs.length} reference(s)` + (this.events.length ? ` · ${objects.size} runtime object(s)` : '');
    if (this.refs.length === 0 && this.events.length === 0) {
      this.body.replaceChildren(el('div', 'empty', isRun ? 'This run allocated no objects.' : 'No references were acquired by this program.'));
      return;
    }
    const labels = [
      ...this.refs.map((d) => refLabel(d)),
      ...[...objects.values()].map((evs) => evs[0].objectLabel),
    ];
    // The label column fits the longest label (monospace 10.5px ≈ 6.4px a char), the rest is the axis.
    const left = Math.min(220, Math.max(90, 10 + 6.4 * d3.max(labels, (l) => l.length)!));
    const width = Math.max(320, this.body.clientWidth - 4);
    const right = width - 26;
    const frag = document.createDocumentFragment();
    frag.append(legend(this.refs.length > 0, objects.size > 0));

    const steps = Math.max(1, program.steps - 1);
    if (this.refs.length) {
      const x = d3.scaleLinear().domain([0, steps]).range([left, right]);
      this.x = x;
      frag.append(this.refLanes(x, left, width, steps));
    }
    if (objects.size) {
      let x: Scale;
      let axisLabel: (d: d3.NumberValue) => string;
      let clickStep: ((e: AllocEvent) => number | null) | null = null;
      if (isRun) {
        // -1: an earlier run of --repeat; program.steps: the map free after the runs.
        x = d3.scaleLinear().domain([-1, program.steps]).range([left, right]);
        this.x = x;
        axisLabel = (d) => (+d === -1 ? 'before' : +d === program.steps ? 'free' : String(+d));
        clickStep = (e) => Math.max(0, Math.min(program.steps - 1, e.axisStep ?? 0));
      } else {
        const maxSeq = d3.max(this.events, (e) => e.seq) ?? 1;
        x = d3.scaleLinear().domain([0, maxSeq + 1]).range([left, right]);
        axisLabel = (d) => `#${+d}`;
      }
      const pos = (e: AllocEvent): number => (isRun ? (e.axisStep ?? 0) : e.seq);
      frag.append(this.objectLanes(objects, x, pos, left, width, axisLabel, clickStep, isRun ? null : 'runtime objects of its runs · x: event order'));
    }
    this.body.replaceChildren(frag);
    this.moveCursor();
  }

  private refLanes(x: Scale, left: number, width: number, steps: number): SVGSVGElement {
    const n = this.refs.length;
    const height = n * LANE + AXIS_H;
    const svg = d3.create('svg').attr('class', 'lifetimes-svg refs').attr('width', width).attr('height', height);
    this.gridAndAxis(svg, x, left, n * LANE, (d) => String(+d), Math.min(12, steps));
    const lane = svg
      .selectAll('g.lane')
      .data(this.refs)
      .join('g')
      .attr('class', (d) => 'lane ref' + (d.leaked ? ' leaked' : ''))
      .attr('data-ref', (d) => d.refObjId)
      .attr('transform', (_d, i) => `translate(0,${i * LANE})`);
    lane.append('rect').attr('class', 'lane-bg').attr('x', 0).attr('width', width).attr('height', LANE);
    lane.append('text').attr('class', 'lane-label').attr('x', 4).attr('y', LANE / 2 + 4).text((d) => refLabel(d));
    // Owned from acquire to the first event that ends ownership on some path; the
    // lane continues (dashed) to the last event when other paths go on.
    const OWN_END = new Set(['dropped', 'released', 'stored', 'null_branch', 'leak', 'non_owning']);
    const firstEnd = (d: RefLifetime): number => d.events.find((e) => OWN_END.has(e.kind))?.step ?? steps;
    const lastEvent = (d: RefLifetime): number => Math.max(d.acquiredStep, ...d.events.map((e) => e.step));
    lane
      .append('rect')
      .attr('class', 'own')
      .attr('x', (d) => x(d.acquiredStep))
      .attr('y', 4)
      .attr('height', LANE - 8)
      .attr('width', (d) => Math.max(2, x(firstEnd(d)) - x(d.acquiredStep)));
    lane
      .append('line')
      .attr('class', 'nonown')
      .attr('x1', (d) => x(firstEnd(d)))
      .attr('x2', (d) => x(lastEvent(d)))
      .attr('y1', LANE / 2)
      .attr('y2', LANE / 2);
    lane
      .append('circle')
      .attr('class', 'mark acquire')
      .attr('cx', (d) => x(d.acquiredStep))
      .attr('cy', LANE / 2)
      .attr('r', 4)
      .on('click', (_e, d) => void store.setStep(d.acquiredStep))
      .append('title')
      .text((d) => `acquired by ${d.acquiredBy ?? '?'} at step ${d.acquiredStep}`);
    lane
      .selectAll('g.ev')
      .data((d) => d.events)
      .join('g')
      .attr('class', (e) => `mark ev ev-${e.kind}`)
      .attr('transform', (e) => `translate(${x(e.step)},${LANE / 2})`)
      .on('click', (ev: MouseEvent, e) => {
        ev.stopPropagation();
        void store.setStep(e.step);
      })
      .each(function (e) {
        const g = d3.select(this);
        if (e.kind === 'leak') g.append('text').attr('class', 'mark leak').attr('x', -5).attr('y', 5).text('✕');
        else if (e.kind === 'non_owning') g.append('path').attr('class', 'mark nonown-mark').attr('d', SHAPES.non_owning);
        else if (e.kind === 'null_branch') g.append('circle').attr('class', 'mark null').attr('r', 2.5);
        else g.append('path').attr('class', 'mark release').attr('d', SHAPES.release);
        g.append('title').text(`${e.kind}${e.func ? ` by ${e.func}` : ''} at step ${e.step} (insn ${e.insn}, path ${e.path + 1})`);
      });
    lane
      .on('mousemove', (e: MouseEvent, d) => this.tip(e, describeRef(d)))
      .on('mouseleave', () => (this.tooltip.hidden = true));
    this.stepCursor(svg, x, left, n * LANE);
    return svg.node()!;
  }

  /** The cursor line over a lane chart, and a click on empty chart area to step there. */
  private stepCursor(svg: d3.Selection<SVGSVGElement, undefined, null, undefined>, x: Scale, left: number, height: number): void {
    this.cursorLine = svg.append('line').attr('class', 'cursor').attr('y1', 0).attr('y2', height) as unknown as d3.Selection<
      SVGLineElement,
      unknown,
      null,
      undefined
    >;
    svg.on('click', (e: MouseEvent) => {
      if ((e.target as Element).closest('.mark')) return;
      const [px] = d3.pointer(e);
      if (px >= left) void store.setStep(Math.round(x.invert(px)));
    });
  }

  private objectLanes(
    objects: d3.InternMap<number, AllocEvent[]>,
    x: Scale,
    pos: (e: AllocEvent) => number,
    left: number,
    width: number,
    axisLabel: (d: d3.NumberValue) => string,
    clickStep: ((e: AllocEvent) => number | null) | null,
    title: string | null,
  ): HTMLElement {
    const box = el('div', 'object-lanes');
    if (title) box.append(el('div', 'lanes-title', title));
    const n = objects.size;
    const svg = d3.create('svg').attr('class', 'lifetimes-svg objects').attr('width', width).attr('height', n * LANE + AXIS_H);
    const [d0, d1] = x.domain();
    this.gridAndAxis(svg, x, left, n * LANE, axisLabel, Math.min(12, d1 - d0));
    let i = 0;
    for (const [obj, evs] of objects) {
      const g = svg.append('g').attr('class', 'lane obj').attr('data-object', obj).attr('transform', `translate(0,${i++ * LANE})`);
      g.append('rect').attr('class', 'lane-bg').attr('x', 0).attr('width', width).attr('height', LANE);
      g.append('text').attr('class', 'lane-label').attr('x', 4).attr('y', LANE / 2 + 4).text(evs[0].objectLabel);
      // One segment per owner: from an event to the next, coloured by the owner after the event.
      evs.forEach((e, k) => {
        const next = evs[k + 1];
        if (!next || e.owner === null) return;
        const x1 = x(pos(e));
        const x2 = x(pos(next));
        const seg = g
          .append('g')
          .attr('class', `owner o-${ownerClass(e.owner)}`)
          .attr('data-owner', e.owner);
        seg.append('rect').attr('x', x1).attr('y', 4).attr('height', LANE - 8).attr('width', Math.max(2, x2 - x1));
        if (x2 - x1 > 6.4 * e.owner.length + 16) seg.append('text').attr('class', 'owner-label').attr('x', x1 + 8).attr('y', LANE / 2 + 3.5).text(e.owner);
        seg.append('title').text(`owner ${e.owner}`);
      });
      g.selectAll('path.mark')
        .data(evs)
        .join('path')
        .attr('class', (e) => `mark ev-${e.kind} s-${shapeOf(e.kind)}`)
        .attr('data-kind', (e) => e.kind)
        .attr('data-seq', (e) => e.seq)
        .attr('d', (e) => SHAPES[shapeOf(e.kind)])
        .attr('transform', (e) => `translate(${x(pos(e))},${LANE / 2})`)
        .on('mousemove', (m: MouseEvent, e) =>
          this.tip(m, `${e.kind} · ${e.objectLabel}${e.insn !== null ? ` at insn ${e.insn}` : ' (map free)'}${e.axisStep !== undefined ? `, step ${e.axisStep}` : ''}\n${e.detail}`),
        )
        .on('mouseleave', () => (this.tooltip.hidden = true))
        .on('click', (m: MouseEvent, e) => {
          m.stopPropagation();
          const s = clickStep?.(e);
          if (s !== null && s !== undefined) void store.setStep(s);
        });
    }
    if (clickStep) this.stepCursor(svg, x, left, n * LANE);
    box.append(svg.node()!);
    return box;
  }

  /** Vertical grid lines at the ticks, the label column's edge, the axis below the lanes. */
  private gridAndAxis(
    svg: d3.Selection<SVGSVGElement, undefined, null, undefined>,
    x: Scale,
    left: number,
    h: number,
    fmt: (d: d3.NumberValue) => string,
    ticks: number,
  ): void {
    const [d0, d1] = x.domain();
    // The ends are always labelled (a run's 'before' and 'free'); inner ticks keep clear of them.
    const clear = (t: number): boolean => Math.abs(x(t) - x(d0)) > 36 && Math.abs(x(d1) - x(t)) > 36;
    const tickValues = [d0, ...x.ticks(Math.max(1, ticks)).filter((t) => Number.isInteger(t) && clear(t)), d1];
    svg
      .append('g')
      .attr('class', 'grid')
      .selectAll('line')
      .data(tickValues)
      .join('line')
      .attr('x1', (t) => x(t))
      .attr('x2', (t) => x(t))
      .attr('y1', 0)
      .attr('y2', h);
    svg.append('line').attr('class', 'label-edge').attr('x1', left - 6).attr('x2', left - 6).attr('y1', 0).attr('y2', h);
    svg
      .append('g')
      .attr('class', 'axis')
      .attr('transform', `translate(0,${h + 2})`)
      .call(d3.axisBottom(x).tickValues(tickValues).tickFormat(fmt).tickSizeOuter(0));
  }

  private moveCursor(): void {
    if (!this.x || !this.cursorLine) return;
    const px = this.x(store.cursor.step);
    this.cursorLine.attr('x1', px).attr('x2', px);
  }

  private tip(e: MouseEvent, text: string): void {
    this.tooltip.textContent = text;
    this.tooltip.hidden = false;
    this.tooltip.style.left = `${e.clientX + 12}px`;
    this.tooltip.style.top = `${e.clientY + 12}px`;
  }
}

function refLabel(d: RefLifetime): string {
  return `${d.kind === 'lock' ? 'lock' : 'ref'} ${d.refObjId} ${d.type ?? ''}`.trim();
}

/** What each mark and colour means: the marks drawn in the same shapes. */
function legend(refs: boolean, objects: boolean): HTMLElement {
  const box = el('div', 'lt-legend');
  const item = (shape: string, cls: string, text: string): void => {
    const s = el('span', 'lg-item');
    s.innerHTML = `<svg width="14" height="14" viewBox="-7 -7 14 14"><path class="${cls}" d="${SHAPES[shape]}"/></svg>`; // fixed markup, no data in it
    s.append(text);
    box.append(s);
  };
  const bar = (cls: string, text: string): void => {
    const s = el('span', 'lg-item');
    s.append(el('span', `lg-bar ${cls}`), text);
    box.append(s);
  };
  if (refs) {
    item('acquire', 'mark acquire', 'acquired');
    item('non_owning', 'mark nonown-mark', 'non-owning');
    item('release', 'mark release', 'released');
    item('leak', 'mark leak-path', 'leaked');
  }
  if (objects) {
    item('new', 'mark ev-new', 'new');
    item('push', 'mark s-push', 'push/add');
    item('pop', 'mark s-pop', 'pop/remove');
    item('release', 'mark ev-drop', 'drop');
    item('drain', 'mark ev-drain', 'drain');
    item('free', 'mark ev-free', 'free');
    bar('o-prog', 'owned by prog');
    bar('o-coll', 'in list/tree');
    bar('o-kptr', 'kptr slot');
  }
  return box;
}

function describeRef(d: RefLifetime): string {
  const lines = [`ref_obj_id ${d.refObjId}${d.type ? ` (${d.type})` : ''}`, `acquired by ${d.acquiredBy ?? '?'} at step ${d.acquiredStep}, insn ${d.acquiredInsn}`];
  for (const e of d.events.slice(0, 12)) lines.push(`${e.kind}${e.func ? ` (${e.func})` : ''} at step ${e.step}, path ${e.path + 1}`);
  if (d.events.length > 12) lines.push(`… ${d.events.length - 12} more`);
  if (d.leaked) lines.push('LEAKED: a path ended holding it');
  return lines.join('\n');
}
