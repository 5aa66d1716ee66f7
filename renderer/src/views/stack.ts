import { el, typeClass } from '../format';
import { store } from '../store';
import { askWhy } from './why';

/**
 * Stack slots of the current frame (and callers): offset, kind, the 8 bytes
 * as the kernel prints them (m misc, 0 zero, ? invalid, r spill, d dynptr,
 * i iter), and the spilled register's value.
 */
export class StackView {
  private body: HTMLElement;

  constructor(root: HTMLElement) {
    this.body = root.querySelector<HTMLElement>('#stack-body')!;
    store.on('state', () => this.draw());
    store.on('program', () => this.body.replaceChildren());
  }

  private draw(): void {
    const st = store.cursor.state;
    if (!st) return;
    if (st.concrete) {
      this.body.replaceChildren(el('div', 'empty', 'A concrete run records the registers after each instruction; stack memory is not traced (stack addresses show in Registers as fp-N).'));
      return;
    }
    const frag = document.createDocumentFragment();
    const frames = [...st.frames].reverse();
    let any = false;
    for (const f of frames) {
      const slots = Object.entries(f.stack).sort((a, b) => Number(b[0]) - Number(a[0]));
      if (slots.length === 0) continue;
      any = true;
      if (st.frames.length > 1) frag.append(el('div', 'frame-head', `frame ${f.frame}`));
      const table = el('table', 'slots');
      for (const [off, slot] of slots) {
        const tr = el('tr', 'slot k-' + slot.kind);
        tr.dataset.off = off;
        if (f === st.frames[st.frames.length - 1] && st.changed.includes(`fp${off}`)) tr.classList.add('changed');
        tr.title = `fp${off}=${slot.raw}  (click: where its value came from)`;
        if (Number(off) % 8 === 0) tr.addEventListener('click', () => askWhy(f.frame, `fp${off}`));
        tr.append(el('th', 'off', `fp${off}`), el('td', 'kind', slotKind(slot.kind, slot.bytes)));
        const bytes = el('td', 'bytes');
        if (slot.value) {
          bytes.append(el('span', 'spill ' + typeClass(slot.value), slot.value.raw));
        } else if (slot.bytes === null) {
          bytes.append(el('span', 'obj', slot.raw));
        } else {
          for (const ch of slot.raw.slice(0, 8)) bytes.append(el('span', 'b b-' + byteClass(ch), ch));
          if (slot.raw.length > 8) bytes.append(el('span', 'more', slot.raw.slice(8)));
        }
        tr.append(bytes);
        table.append(tr);
      }
      frag.append(table);
    }
    if (!any) frag.append(el('div', 'empty', 'no stack slots written'));
    this.body.replaceChildren(frag);
  }
}

/** 'bytes' slots are named by their bytes: all zero, all misc, invalid, or mixed. */
function slotKind(kind: string, bytes: string | null): string {
  if (kind !== 'bytes' || bytes === null) return kind;
  if (/^0+$/.test(bytes)) return 'zero';
  if (/^m+$/.test(bytes)) return 'misc';
  if (/^\?+$/.test(bytes)) return 'invalid';
  if (/^[m0?]+$/.test(bytes) && bytes.includes('?')) return 'partial';
  return 'mixed';
}

function byteClass(ch: string): string {
  switch (ch) {
    case 'm': return 'misc';
    case '0': return 'zero';
    case '?': return 'invalid';
    case 'r': return 'spill';
    case 'd': return 'dynptr';
    case 'i': return 'iter';
    case 'f': return 'irq';
    default: return 'other';
  }
}
