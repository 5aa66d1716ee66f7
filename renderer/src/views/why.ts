import type { WhyResult } from '../../../main/api/contract';
import { api } from '../api';
import { el } from '../format';
import { store } from '../store';
import type { ListingView } from './listing';

/**
 * "Where did this value come from": a click on a register (Registers) or a
 * stack slot (Stack) asks `steps:why` for the chain of steps that produced
 * its value at the current step, shown here as a list (newest first, each
 * link with its insn, why it is there, what it wrote and read, and where a
 * value starts), with the kernel's own mark_precise lines of that step
 * below; the chain's steps and insns are highlighted in the listing. `]`
 * walks to the next (older) link, `[` back, Escape closes. Moving the
 * cursor keeps the chain until another location is clicked.
 */
export const WHY_EVENT = 'bpfscope:why';

/** What the registers and stack views send: the location at the cursor's step, in its frame. */
export interface WhyRequest {
  frame: number;
  loc: string;
}

/** Ask for the chain of `loc` of `frame` at the cursor (the views call this on a click). */
export function askWhy(frame: number, loc: string): void {
  document.dispatchEvent(new CustomEvent<WhyRequest>(WHY_EVENT, { detail: { frame, loc } }));
}

/** Links drawn at once; a longer chain (a loop's counter) shows the rest as the keys walk into it. */
const PAGE = 400;

export class WhyView {
  private root: HTMLElement;
  private list: HTMLElement;
  private head: HTMLElement;
  private kernel: HTMLElement;
  private chain: WhyResult | null = null;
  private at = -1;
  private seq = 0;

  constructor(private listing: ListingView) {
    this.root = el('section', 'panel why');
    this.root.id = 'why';
    this.root.setAttribute('role', 'region');
    this.root.setAttribute('aria-label', 'Why');
    this.root.hidden = true;
    const bar = el('div', 'panel-head');
    this.head = el('span', 'hint why-title');
    const close = el('button', 'why-close', '×');
    close.type = 'button';
    close.title = 'Close (Escape)';
    close.addEventListener('click', () => this.close());
    bar.append(el('span', 'title', 'Why'), this.head, el('span', 'grow'), el('span', 'hint', '[ ] walk · Esc close'), close);
    this.list = el('ol', 'why-links');
    this.list.setAttribute('aria-label', 'Provenance chain');
    this.kernel = el('details', 'why-kernel');
    const body = el('div', 'panel-body');
    body.append(this.list, this.kernel);
    this.root.append(bar, body);
    document.body.append(this.root);

    document.addEventListener(WHY_EVENT, (e) => void this.ask((e as CustomEvent<WhyRequest>).detail));
    document.addEventListener('keydown', (e) => this.key(e));
    store.on('program', () => this.close());
  }

  private async ask(req: WhyRequest): Promise<void> {
    const { trace, program, step } = store.cursor;
    if (!trace || !program) return;
    const seq = ++this.seq;
    const name = `frame${req.frame}:${req.loc}`;
    try {
      const r = await api.why(trace.traceId, program.id, step, name);
      if (seq !== this.seq) return;
      this.chain = r;
      this.at = -1;
      this.draw();
    } catch (err) {
      store.fail(err);
    }
  }

  private close(): void {
    this.seq++;
    this.chain = null;
    this.root.hidden = true;
    this.listing.setWhy(null);
  }

  private key(e: KeyboardEvent): void {
    // (An open dialog that took the key, the compare view's ] and [, has said so.)
    if (!this.chain || e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey) return;
    const t = e.target instanceof Element ? e.target : null;
    if (t?.closest('input, select, textarea')) return;
    if (e.key === ']') this.go(this.at + 1);
    else if (e.key === '[') this.go(this.at - 1);
    else if (e.key === 'Escape') this.close();
    else return;
    e.preventDefault();
  }

  /** Select link `i` and move the cursor to its step. */
  private go(i: number): void {
    const c = this.chain;
    if (!c || c.links.length === 0) return;
    if (i >= c.links.length) return store.fail(`the chain ends here: ${c.links.length} link(s)`, 'note');
    if (i < 0) {
      this.at = -1;
      this.mark();
      void store.setStep(c.step);
      return;
    }
    this.at = i;
    if (i >= this.list.childElementCount) this.drawLinks(this.list.childElementCount + PAGE);
    this.mark();
    void store.setStep(c.links[i].step);
  }

  private draw(): void {
    const c = this.chain;
    if (!c) return;
    this.root.hidden = false;
    const where = `${c.frame ? `frame${c.frame}:` : ''}${c.loc}`;
    this.head.textContent = `${where} = ${c.value ?? 'not init'} after step ${c.step} · ${c.links.length} link(s), ${c.walked} steps walked`;
    this.list.replaceChildren();
    this.drawLinks(PAGE);
    this.kernel.replaceChildren();
    const summary = el('summary', '', c.kernel.lines.length
      ? `the kernel's backtracking after this step: ${c.kernel.lines.length} mark_precise line(s)`
      : 'the kernel printed no mark_precise backtracking after this step');
    this.kernel.append(summary);
    for (const run of c.kernel.runs) {
      const what = [...run.regs, ...run.stack].join(',') || 'nothing';
      const defs = run.defs.map((d) => `${d.insn}${d.inChain ? '' : ' (not in this chain)'}`).join(', ') || 'none';
      this.kernel.append(el('div', 'why-run' + (run.concerns ? ' concerns' : ''),
        `run for ${what}${run.concerns ? ' (this location)' : ''}: masks changed at insn ${defs}${run.gaveUp ? ' · gave up' : ''}`));
    }
    const pre = el('pre', 'why-lines', c.kernel.lines.map((l) => l.text).join('\n'));
    if (c.kernel.lines.length) this.kernel.append(pre);
    this.listing.setWhy({ steps: new Set(c.links.map((l) => l.step)), insns: new Set(c.links.map((l) => l.insn)) });
    this.mark();
  }

  private drawLinks(upTo: number): void {
    const c = this.chain;
    if (!c) return;
    const frag = document.createDocumentFragment();
    for (let i = this.list.childElementCount; i < Math.min(upTo, c.links.length); i++) {
      const l = c.links[i];
      const li = el('li', `why-link w-${l.why}${l.origin ? ' origin' : ''}`);
      li.dataset.index = String(i);
      li.dataset.step = String(l.step);
      const flow = `${l.writes.join(',')}${l.reads.length ? ` ← ${l.reads.join(',')}` : ''}`;
      li.append(
        el('span', 'st', `#${l.step}`),
        el('span', 'ln', `${l.insn}:`),
        el('span', 'why-kind', l.why),
        el('span', 'tx', l.text),
        el('span', 'flow', `${l.frame ? `frame${l.frame} ` : ''}${flow}`),
      );
      if (l.origin) li.append(el('div', 'why-origin', `starts here: ${l.origin}`));
      li.addEventListener('click', () => this.go(i));
      frag.append(li);
    }
    this.list.append(frag);
    if (c.links.length > this.list.childElementCount) {
      this.list.dataset.more = `${c.links.length - this.list.childElementCount} more: ] walks into them`;
    } else delete this.list.dataset.more;
  }

  private mark(): void {
    for (const li of this.list.querySelectorAll('.why-link.selected')) li.classList.remove('selected');
    const li = this.at >= 0 ? this.list.children[this.at] : undefined;
    if (li) {
      li.classList.add('selected');
      li.setAttribute('aria-current', 'true');
      li.scrollIntoView({ block: 'nearest' });
    }
    for (const other of this.list.querySelectorAll('[aria-current]')) if (other !== li) other.removeAttribute('aria-current');
  }
}
