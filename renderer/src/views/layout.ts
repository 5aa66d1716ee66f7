import * as d3 from 'd3';
import type { AllocObject, LayoutField, StructLayout } from '../../../main/api/contract';
import { api } from '../api';
import { el } from '../format';
import { store } from '../store';

/**
 * Struct layout: the bytes of a BTF type, 8 to a row like a hexdump, each
 * member a coloured run with its name; holes and tail padding hatched;
 * special fields (bpf_spin_lock, bpf_list_head, kptrs…) outlined, with
 * the bytes bpf_obj_new zeroes marked "0" (the rest stays uninitialized).
 */
const BYTES_PER_ROW = 8;
const CELL_W = 56;
const CELL_H = 22;
const LEFT = 44;

export class LayoutView {
  private body: HTMLElement;
  private picker: HTMLSelectElement;
  private types: string[] = [];
  /** A concrete run's objects: a register holding one of their addresses has that struct type. */
  private objects: AllocObject[] = [];

  constructor(root: HTMLElement) {
    this.body = root.querySelector<HTMLElement>('#layout-body')!;
    this.picker = root.querySelector<HTMLSelectElement>('#layout-type')!;
    this.picker.addEventListener('change', () => store.selectType(this.picker.value || null, !this.picker.value));
    store.on('program', () => void this.loadTypes());
    store.on('selection', () => void this.show());
    store.on('state', () => this.follow());
  }

  /**
   * Until the user picks a type, the layout follows the registers: the
   * pointee of a register this step wrote, else of any register holding a
   * BTF pointer, else the first struct with special fields.
   */
  private follow(): void {
    const { state, selectedType, typeAuto } = store.cursor;
    if (!state || (selectedType && !typeAuto) || !this.types.length) return;
    const cur = state.frames[state.frames.length - 1];
    const known = (t: string | null | undefined): t is string => !!t && this.types.includes(t);
    let pick: string | undefined;
    if (state.concrete) {
      const typeAt = (hex: string): string | undefined => {
        const v = BigInt(hex);
        return this.objects.find((o) => {
          const a = BigInt('0x' + o.addr.replace(/^0x/, ''));
          return v >= a && v < a + BigInt(o.size);
        })?.type;
      };
      const c = state.concrete;
      pick = c.changed.map((r) => typeAt(c.regs[r])).find(known) ?? c.regs.map(typeAt).find(known);
    } else if (cur) {
      pick = state.changed.map((r) => cur.regs[r]?.pointee).find(known) ?? Object.values(cur.regs).map((r) => r.pointee).find(known);
    }
    pick ??= selectedType ?? this.types[0];
    if (pick !== selectedType) store.selectType(pick, true);
  }

  private async loadTypes(): Promise<void> {
    const { trace, program } = store.cursor;
    this.picker.replaceChildren(new Option('(pick a type, or click a pointer type)', ''));
    this.body.replaceChildren(el('div', 'empty', 'Click a BTF type in Registers or pick one above.'));
    this.types = [];
    this.objects = [];
    if (!trace || !program) return;
    try {
      if (program.origin === 'run') {
        const objects = (await api.runResult(trace.traceId, program.id)).objects;
        if (store.cursor.program !== program) return;
        this.objects = objects;
      }
      const types = await api.layoutTypes(trace.traceId, program.id);
      // Another program was picked meanwhile: its own call fills the list.
      if (store.cursor.program !== program) return;
      this.types = types;
      for (const t of this.types) this.picker.append(new Option(t, t));
      const sel = store.cursor.selectedType;
      this.picker.value = sel && this.types.includes(sel) ? sel : '';
      // Something to look at from the start: the registers' type, else the first struct with special fields.
      if (!store.cursor.selectedType || store.cursor.typeAuto) this.follow();
      if (!store.cursor.selectedType && this.types.length) store.selectType(this.types[0], true);
    } catch (err) {
      this.body.replaceChildren(el('div', 'empty', err instanceof Error ? err.message : String(err)));
    }
  }

  private async show(): Promise<void> {
    const { trace, program, selectedType } = store.cursor;
    if (!trace || !program || !selectedType) return;
    this.picker.value = this.types.includes(selectedType) ? selectedType : '';
    try {
      const layout = await api.layout(trace.traceId, program.id, selectedType);
      if (store.cursor.selectedType !== selectedType) return;
      this.draw(layout);
    } catch (err) {
      this.body.replaceChildren(el('div', 'empty', err instanceof Error ? err.message : String(err)));
    }
  }

  private draw(layout: StructLayout): void {
    document.querySelector('#layout-hint')!.textContent = `struct ${layout.name} · ${layout.size} bytes`;
    const rows = Math.max(1, Math.ceil(layout.size / BYTES_PER_ROW));
    const width = LEFT + BYTES_PER_ROW * CELL_W + 8;
    const height = rows * CELL_H + 24;
    const svg = d3
      .create('svg')
      .attr('class', 'layout-svg')
      .attr('role', 'img')
      .attr('aria-label', `layout of struct ${layout.name}`)
      .attr('width', width)
      .attr('height', height);
    const defs = svg.append('defs');
    defs
      .append('pattern')
      .attr('id', 'hatch')
      .attr('patternUnits', 'userSpaceOnUse')
      .attr('width', 6)
      .attr('height', 6)
      .append('path')
      .attr('d', 'M0,6 L6,0')
      .attr('class', 'hatch-line');

    // Top-level leaves: the deepest field covering each byte wins its colour.
    const leaves = layout.fields.filter((f) => f.kind !== 'member' || !layout.fields.some((g) => g !== f && g.depth > f.depth && g.offset >= f.offset && g.offset < f.offset + f.size));
    const colour = d3.scaleOrdinal<string, string>().range(d3.schemeTableau10);
    const g = svg.append('g').attr('transform', 'translate(0,18)');
    for (let i = 0; i < BYTES_PER_ROW; i++) {
      svg.append('text').attr('class', 'col-label').attr('x', LEFT + i * CELL_W + CELL_W / 2).attr('y', 12).text(`+${i}`);
    }
    for (let r = 0; r < rows; r++) {
      g.append('text').attr('class', 'row-label').attr('x', LEFT - 6).attr('y', r * CELL_H + CELL_H / 2 + 4).text(String(r * BYTES_PER_ROW));
    }
    // Each field is drawn as one rect per row it spans, placed to the bit: bit-fields
    // sharing a byte sit side by side in it (bit 0 on the left, as the bytes go), never on top of each other.
    const BITS_PER_ROW = BYTES_PER_ROW * 8;
    const BIT_W = CELL_W / 8;
    const segs: { f: LayoutField; row: number; from: number; to: number; first: boolean }[] = [];
    const bitBytes = new Set<number>();
    for (const f of leaves) {
      const start = f.bitSize !== null ? f.offset * 8 + (f.bitOffset ?? 0) : f.offset * 8;
      const end = f.bitSize !== null ? start + f.bitSize : (f.offset + f.size) * 8;
      if (f.bitSize !== null) for (let b = Math.floor(start / 8); b < Math.ceil(end / 8); b++) bitBytes.add(b);
      for (let b = start; b < end; ) {
        const row = Math.floor(b / BITS_PER_ROW);
        const rowEnd = Math.min(end, (row + 1) * BITS_PER_ROW);
        segs.push({ f, row, from: b - row * BITS_PER_ROW, to: rowEnd - row * BITS_PER_ROW, first: b === start });
        b = rowEnd;
      }
    }
    const seg = g
      .selectAll('g.seg')
      .data(segs)
      .join('g')
      .attr('class', (d) => `seg k-${d.f.kind}${d.f.special ? ' special' : ''}${d.f.zeroedByObjNew ? ' zeroed' : ''}${d.f.bitSize !== null ? ' bitfield' : ''}`)
      .attr('data-field', (d) => d.f.name)
      .attr('data-bits', (d) => `${d.row * BITS_PER_ROW + d.from}-${d.row * BITS_PER_ROW + d.to}`);
    const gapPx = (d: { f: LayoutField }): number => (d.f.bitSize !== null ? 0.5 : 1);
    seg
      .append('rect')
      .attr('x', (d) => LEFT + d.from * BIT_W + gapPx(d))
      .attr('y', (d) => d.row * CELL_H + 1)
      .attr('width', (d) => Math.max(1, (d.to - d.from) * BIT_W - 2 * gapPx(d)))
      .attr('height', CELL_H - 2)
      .attr('rx', (d) => (d.f.bitSize !== null ? 1 : 3))
      .attr('fill', (d) => (d.f.kind === 'hole' || d.f.kind === 'padding' ? 'url(#hatch)' : colour(d.f.name)));
    // Bytes holding bit-fields get a tick per bit, so the lanes can be counted.
    for (const b of bitBytes) {
      const row = Math.floor(b / BYTES_PER_ROW);
      const col = b % BYTES_PER_ROW;
      for (let k = 1; k < 8; k++) {
        g.append('line')
          .attr('class', 'bit-tick')
          .attr('x1', LEFT + col * CELL_W + k * BIT_W)
          .attr('x2', LEFT + col * CELL_W + k * BIT_W)
          .attr('y1', row * CELL_H + CELL_H - 5)
          .attr('y2', row * CELL_H + CELL_H - 1);
      }
    }
    const label = (d: { f: LayoutField }): string =>
      d.f.kind === 'hole' ? 'hole' : d.f.kind === 'padding' ? 'pad' : d.f.name + (d.f.bitSize ? `:${d.f.bitSize}` : '');
    seg
      .filter((d) => d.first)
      .append('text')
      .attr('class', 'seg-label')
      .attr('x', (d) => LEFT + d.from * BIT_W + (d.f.bitSize !== null ? 2 : 5))
      .attr('y', (d) => d.row * CELL_H + CELL_H / 2 + 4)
      // A label wider than its field is cut to fit (the table and the tooltip have it whole).
      .text((d) => fit(label(d), (d.to - d.from) * BIT_W - (d.f.bitSize !== null ? 3 : 8)));
    seg
      .filter((d) => d.f.zeroedByObjNew)
      .append('text')
      .attr('class', 'zero-mark')
      .attr('x', (d) => LEFT + d.to * BIT_W - 12)
      .attr('y', (d) => d.row * CELL_H + CELL_H / 2 + 4)
      .text('0');
    seg.append('title').text((d) => describeField(d.f));

    const table = el('table', 'fields');
    const head = el('tr');
    for (const h of ['off', 'size', 'member', 'type', 'notes']) head.append(el('th', '', h));
    table.append(head);
    for (const f of layout.fields) {
      const tr = el('tr', `k-${f.kind}${f.special ? ' special' : ''}`);
      tr.dataset.field = f.name;
      // A bit-field's offset is where its first bit is: byte.bit (pahole counts bits in the unit; the byte reads better here).
      const off = f.bitOffset !== null ? `${f.offset + Math.floor(f.bitOffset / 8)}.${f.bitOffset % 8}` : String(f.offset);
      const size = f.bitSize !== null ? `${f.bitSize} bit` : String(f.size);
      const name = el('td', 'fname', '  '.repeat(f.depth) + (f.kind === 'hole' ? '(hole)' : f.kind === 'padding' ? '(padding)' : f.name));
      const notes = [f.special ?? '', ...f.tags, f.zeroedByObjNew ? 'zeroed by bpf_obj_new' : ''].filter(Boolean).join(' · ');
      tr.append(el('td', 'num', off), el('td', 'num', size), name, el('td', 'ftype', f.type), el('td', 'notes', notes));
      table.append(tr);
    }
    const legend = el('div', 'legend');
    legend.innerHTML =
      '<span class="lg special">special field</span><span class="lg zeroed">0 = zeroed by bpf_obj_new</span><span class="lg hole">hole / padding</span>';
    const left = el('div', 'layout-left');
    left.append(svg.node()!, legend);
    const right = el('div', 'layout-right');
    right.append(table);
    this.body.replaceChildren(left, right);
  }
}

/** Monospace 10.5px: about 6.4 px a character. */
function fit(text: string, px: number): string {
  const n = Math.floor(px / 6.4);
  if (n <= 0) return '';
  return text.length <= n ? text : n <= 1 ? text[0] : text.slice(0, n - 1) + '…';
}

function describeField(f: LayoutField): string {
  const parts = [`${f.name}: ${f.type}`, `offset ${f.offset}, ${f.bitSize !== null ? `${f.bitSize} bits at bit ${f.bitOffset}` : `${f.size} bytes`}`];
  if (f.special) parts.push(`special: ${f.special}`);
  if (f.tags.length) parts.push(`tags: ${f.tags.join(', ')}`);
  parts.push(f.zeroedByObjNew ? 'bpf_obj_new zeroes these bytes' : 'not initialized by bpf_obj_new');
  return parts.join('\n');
}
