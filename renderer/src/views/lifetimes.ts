import * as d3 from 'd3';
import type { AllocEvent, RefLifetime } from '../../../main/api/contract';
import { api } from '../api';
import { el } from '../format';
import { store } from '../store';

/**
 * Object lifetimes: steps on x, one lane per reference (ref_obj_id): a
 * solid bar while the program owns it, dashed once it turned non-owning
 * (pushed into a list or tree), a tick where it was released, a red cross
 * where the path ended holding it (the leak error). Runtime allocator
 * events, when the trace has them, get a lane per object below.
 */
const LANE = 20;
const LEFT = 150;

export class LifetimesView {
  private body: HTMLElement;
  private refs: RefLifetime[] = [];
  private events: AllocEvent[] = [];
  private x: d3.ScaleLinear<number, number> | null = null;
  private cursorLine: d3.Selection<SVGLineElement, unknown, null, undefined> | null = null;
  private tooltip: HTMLElement;

  constructor(root: HTMLElement) {
    this.body = root.querySelector<HTMLElement>('#lifetimes-body')!;
    this.tooltip = document.querySelector<HTMLElement>('#tooltip')!;
    store.on('program', () => void this.load());
    store.on('step', () => this.moveCursor());
    new ResizeObserver(() => this.draw()).observe(this.body);
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
    if (!program) {
      this.body.replaceChildren();
      return;
    }
    const objects = d3.group(this.events, (e) => e.objectId);
    hint.textContent = `${this.refs.length} reference(s)` + (this.events.length ? ` · ${objects.size} runtime object(s)` : '');
    if (this.refs.length === 0 && this.events.length === 0) {
      this.body.replaceChildren(el('div', 'empty', 'No references were acquired by this program.'));
      return;
    }
    const width = Math.max(320, this.body.clientWidth - 8);
    const lanes = this.refs.length + (objects.size ? objects.size + 1 : 0);
    const height = lanes * LANE + 30;
    const steps = Math.max(1, program.steps - 1);
    const x = d3.scaleLinear().domain([0, steps]).range([LEFT, width - 24]);
    this.x = x;
    const svg = d3.create('svg').attr('class', 'lifetimes-svg').attr('width', width).attr('height', height);
    svg
      .append('g')
      .attr('class', 'axis')
      .attr('transform', `translate(0,${lanes * LANE + 4})`)
      .call(d3.axisBottom(x).ticks(Math.min(10, steps)).tickFormat(d3.format('d')));

    const lane = svg
      .selectAll('g.lane')
      .data(this.refs)
      .join('g')
      .attr('class', (d) => 'lane ref' + (d.leaked ? ' leaked' : ''))
      .attr('data-ref', (d) => d.refObjId)
      .attr('transform', (_d, i) => `translate(0,${i * LANE})`);
    lane
      .append('text')
      .attr('class', 'lane-label')
      .attr('x', 4)
      .attr('y', LANE / 2 + 4)
      .text((d) => `${d.kind === 'lock' ? 'lock' : 'ref'} ${d.refObjId} ${d.type ?? ''}`.trim());
    // Owned from acquire to the first event that ends ownership on some path; the
    // lane continues (dashed) to the last event when other paths go on.
    const OWN_END = new Set(['dropped', 'released', 'stored', 'null_branch', 'leak', 'non_owning']);
    const firstEnd = (d: RefLifetime): number => d.events.find((e) => OWN_END.has(e.kind))?.step ?? steps;
    const lastEvent = (d: RefLifetime): number => Math.max(d.acquiredStep, ...d.events.map((e) => e.step));
    lane
      .append('rect')
      .attr('class', 'own')
      .attr('x', (d) => x(d.acquiredStep))
      .attr('y', 5)
      .attr('height', LANE - 10)
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
        else if (e.kind === 'non_owning') g.append('path').attr('class', 'mark nonown-mark').attr('d', 'M-4,0 L0,-5 L4,0 L0,5 Z');
        else if (e.kind === 'null_branch') g.append('circle').attr('class', 'mark null').attr('r', 2.5);
        else g.append('rect').attr('class', 'mark release').attr('x', -2).attr('y', -7).attr('width', 4).attr('height', 14);
        g.append('title').text(`${e.kind}${e.func ? ` by ${e.func}` : ''} at step ${e.step} (insn ${e.insn}, path ${e.path + 1})`);
      });
    lane
      .on('mousemove', (e: MouseEvent, d) => this.tip(e, describeRef(d)))
      .on('mouseleave', () => (this.tooltip.hidden = true));

    if (objects.size) {
      const base = this.refs.length;
      svg
        .append('text')
        .attr('class', 'lane-head')
        .attr('x', 4)
        .attr('y', base * LANE + LANE / 2 + 4)
        .text('runtime objects (x: event order)');
      const maxSeq = d3.max(this.events, (e) => e.seq) ?? 1;
      const xr = d3.scaleLinear().domain([0, maxSeq]).range([LEFT, width - 12]);
      let i = base + 1;
      for (const [obj, evs] of objects) {
        const g = svg.append('g').attr('class', 'lane obj').attr('transform', `translate(0,${i++ * LANE})`);
        g.append('text').attr('class', 'lane-label').attr('x', 4).attr('y', LANE / 2 + 4).text(evs[0].objectLabel);
        g.attr('data-object', obj);
        const first = evs[0].seq;
        const last = evs[evs.length - 1].seq;
        g.append('rect').attr('class', 'own rt').attr('x', xr(first)).attr('y', 6).attr('height', LANE - 12).attr('width', Math.max(2, xr(last) - xr(first)));
        g.selectAll('circle')
          .data(evs)
          .join('circle')
          .attr('class', (e) => `mark ev-${e.kind}`)
          .attr('cx', (e) => xr(e.seq))
          .attr('cy', LANE / 2)
          .attr('r', 4)
          .on('mousemove', (m: MouseEvent, e) => this.tip(m, `${e.kind} · ${e.objectLabel}${e.insn !== null ? ` at insn ${e.insn}` : ' (map free)'}\n${e.detail}`))
          .on('mouseleave', () => (this.tooltip.hidden = true));
      }
    }

    this.cursorLine = svg
      .append('line')
      .attr('class', 'cursor')
      .attr('y1', 0)
      .attr('y2', lanes * LANE + 4) as unknown as d3.Selection<SVGLineElement, unknown, null, undefined>;
    svg.on('click', (e: MouseEvent) => {
      if ((e.target as Element).classList.contains('mark')) return;
      const [px] = d3.pointer(e);
      if (px >= LEFT) void store.setStep(Math.round(x.invert(px)));
    });
    this.body.replaceChildren(svg.node()!);
    this.moveCursor();
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

function describeRef(d: RefLifetime): string {
  const lines = [`ref_obj_id ${d.refObjId}${d.type ? ` (${d.type})` : ''}`, `acquired by ${d.acquiredBy ?? '?'} at step ${d.acquiredStep}, insn ${d.acquiredInsn}`];
  for (const e of d.events.slice(0, 12)) lines.push(`${e.kind}${e.func ? ` (${e.func})` : ''} at step ${e.step}, path ${e.path + 1}`);
  if (d.events.length > 12) lines.push(`… ${d.events.length - 12} more`);
  if (d.leaked) lines.push('LEAKED: a path ended holding it');
  return lines.join('\n');
}
