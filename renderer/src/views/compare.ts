import type { FrameJson, ProgramDifference, StatsComparison, StepState, TraceInfo } from '../../../main/api/contract';
import type { CountChange, StatsRow } from '../../../main/compare/stats';
import { api, desktop } from '../api';
import { el } from '../format';
import { store } from '../store';

/**
 * The compare view (`bpfscope compare` in the app): the open trace (A)
 * against a second one the user chose (B). First the programs side by side
 * as veristat -C prints them; pick one and the two verifications, aligned
 * by path and instruction, open at their first difference: both steps'
 * log lines and both states, register by register and slot by slot, what
 * differs marked. `]`/`n` go to the next difference, `[`/`p` to the
 * previous, Escape closes. B is opened through the host's gate like any
 * trace: in the browser a file named on `bpfscope serve`'s command line
 * (or under a folder named there), in the desktop app one chosen in the
 * Open dialog.
 */
export class CompareView {
  private readonly root: HTMLElement;
  private readonly tableBox: HTMLElement;
  private readonly diffBox: HTMLElement;
  private readonly status: HTMLElement;
  private other: TraceInfo | null = null;
  private row: StatsRow | null = null;
  private current: ProgramDifference | null = null;
  private seq = 0;

  constructor() {
    this.root = el('section', 'compare-view');
    this.root.id = 'compare';
    this.root.hidden = true;
    this.root.setAttribute('role', 'dialog');
    this.root.setAttribute('aria-label', 'Compare traces');
    const head = el('div', 'panel-head');
    head.append(el('span', 'title', 'Compare'));
    const form = el('form', 'compare-open');
    form.autocomplete = 'off';
    const input = el('input');
    input.id = 'compare-path';
    input.size = 48;
    input.setAttribute('aria-label', 'Trace B');
    input.placeholder = desktop ? 'trace B: choose it with the button' : 'trace B: a path named on bpfscope serve';
    input.readOnly = !!desktop;
    form.append(input);
    if (desktop) {
      const choose = el('button', '', 'Choose trace B…');
      choose.type = 'button';
      choose.addEventListener('click', () => void desktop!.openDialog('compare'));
      form.append(choose);
      desktop.on('app:compare-trace', (path) => {
        input.value = path;
        void this.openOther(path);
      });
    }
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      if (input.value.trim()) void this.openOther(input.value.trim());
    });
    this.status = el('span', 'hint');
    this.status.id = 'compare-status';
    const close = el('button', '', '✕');
    close.type = 'button';
    close.title = 'Close (Escape)';
    close.addEventListener('click', () => this.hide());
    head.append(form, el('span', 'grow'), this.status, close);
    this.tableBox = el('div', 'compare-table');
    this.tableBox.id = 'compare-table';
    this.diffBox = el('div', 'compare-diff');
    this.diffBox.id = 'compare-diff';
    this.root.append(head, this.tableBox, this.diffBox);
    document.body.append(this.root);

    const button = el('button', '', 'Compare…');
    button.id = 'compare-button';
    button.type = 'button';
    button.title = 'Compare this trace with another (verdicts, counts, the first differing state)';
    button.addEventListener('click', () => this.show());
    document.querySelector('#theme')?.before(button);

    // Keys go to this view while it is open (the capture phase runs before the stepping keys).
    document.addEventListener(
      'keydown',
      (e) => {
        if (this.root.hidden || e.ctrlKey || e.metaKey || e.altKey) return;
        if (e.target instanceof Element && e.target.closest('input, select, textarea')) return;
        let handled = true;
        if (e.key === ']' || e.key === 'n') void this.go('next');
        else if (e.key === '[' || e.key === 'p') void this.go('previous');
        else if (e.key === 'Escape') this.hide();
        else handled = false;
        if (handled) {
          e.preventDefault();
          e.stopPropagation();
        }
      },
      true,
    );
    store.on('trace', () => {
      if (!this.root.hidden && this.other) void this.openOther(this.other.path);
    });
    const wanted = new URL(location.href).searchParams.get('compare');
    if (wanted) {
      input.value = wanted;
      // After A (the trace the page opens) is there.
      const once = (): void => {
        if (this.other || !store.cursor.trace) return;
        this.show();
        void this.openOther(wanted);
      };
      store.on('trace', once);
    }
  }

  show(): void {
    this.root.hidden = false;
    document.body.classList.add('comparing');
    if (!this.other) (this.root.querySelector('#compare-path') as HTMLInputElement).focus();
  }

  hide(): void {
    this.root.hidden = true;
    document.body.classList.remove('comparing');
  }

  private say(text: string): void {
    this.status.textContent = text;
  }

  async openOther(path: string): Promise<void> {
    const a = store.cursor.trace;
    if (!a) return store.fail('compare: open a trace first (it is A)');
    const seq = ++this.seq;
    try {
      this.say('opening B…');
      const b = await api.openTrace(path);
      const table = await api.comparePrograms(a.traceId, b.traceId);
      if (seq !== this.seq) return;
      this.other = b;
      this.row = null;
      this.current = null;
      this.drawTable(a, b, table);
      this.diffBox.replaceChildren();
      this.say(`${table.rows.length} program(s) in both${table.onlyInA.length + table.onlyInB.length ? `, ${table.onlyInA.length + table.onlyInB.length} in one only` : ''}: pick one`);
      // One program in both: straight to its first difference.
      if (table.rows.length === 1) await this.pick(table.rows[0]);
    } catch (err) {
      this.say('');
      store.fail(err);
    }
  }

  private drawTable(a: TraceInfo, b: TraceInfo, t: StatsComparison): void {
    const tbl = el('table', 'compare-stats');
    const cap = el('caption');
    cap.append(el('span', 'side-a', `A ${a.path}`), el('br'), el('span', 'side-b', `B ${b.path}`));
    tbl.append(cap);
    const head = el('tr');
    for (const h of ['program', 'verdict A', 'verdict B', 'insns A', 'insns B', 'Δ', 'states A', 'states B', 'Δ', 'peak A', 'peak B', 'Δ', 'stack A', 'stack B', 'Δ']) head.append(el('th', '', h));
    tbl.append(head);
    const num = (v: number | null): string => (v === null ? '?' : String(v));
    const delta = (c: CountChange): HTMLElement => {
      const td = el('td', `num ${c.diff === null || c.diff === 0 ? '' : c.diff > 0 ? 'up' : 'down'}`);
      td.textContent = c.diff === null ? '' : `${c.diff >= 0 ? '+' : ''}${c.diff} (${c.pct === null ? '+inf' : `${c.pct >= 0 ? '+' : ''}${c.pct.toFixed(2)}`}%)`;
      return td;
    };
    for (const r of t.rows) {
      const tr = el('tr', 'prog');
      tr.dataset.program = r.program;
      tr.tabIndex = 0;
      tr.title = r.errorMatch ? r.a.error ?? '' : `errors differ\nA: ${r.a.error ?? '(none)'}\nB: ${r.b.error ?? '(none)'}`;
      tr.append(el('td', '', r.program), el('td', `verdict ${r.a.verdict ?? 'unknown'}`, r.a.verdict ?? '?'), el('td', `verdict ${r.b.verdict ?? 'unknown'}${r.verdictMatch ? '' : ' mismatch'}`, r.b.verdict ?? '?'));
      for (const c of [r.processedInsns, r.totalStates, r.peakStates]) tr.append(el('td', 'num', num(c.a)), el('td', 'num', num(c.b)), delta(c));
      tr.append(el('td', 'num', r.a.stackDepth ?? '?'), el('td', 'num', r.b.stackDepth ?? '?'), delta(r.stackDepth));
      tr.addEventListener('click', () => void this.pick(r));
      tr.addEventListener('keydown', (e) => {
        if (e.key === 'Enter') void this.pick(r);
      });
      tbl.append(tr);
    }
    const only = el('div', 'hint');
    if (t.onlyInA.length) only.append(el('div', '', `only in A: ${t.onlyInA.map((p) => p.program).join(', ')}`));
    if (t.onlyInB.length) only.append(el('div', '', `only in B: ${t.onlyInB.map((p) => p.program).join(', ')}`));
    this.tableBox.replaceChildren(tbl, only);
  }

  private async pick(r: StatsRow): Promise<void> {
    this.row = r;
    for (const tr of this.tableBox.querySelectorAll<HTMLElement>('tr.prog')) tr.classList.toggle('cur', tr.dataset.program === r.program);
    this.say(`aligning ${r.program}…`);
    await this.fetch(0, 'next');
  }

  private async go(direction: 'next' | 'previous'): Promise<void> {
    if (!this.row) return;
    const d = this.current?.difference;
    if (!d) {
      if (direction === 'next' && this.current) store.fail('compare: no difference after this one', 'note');
      return;
    }
    await this.fetch(direction === 'next' ? d.pair + 1 : d.pair, direction);
  }

  private async fetch(pair: number, direction: 'next' | 'previous'): Promise<void> {
    const a = store.cursor.trace;
    const b = this.other;
    const r = this.row;
    if (!a || !b || !r) return;
    const seq = ++this.seq;
    try {
      const res = await api.compareDifference(a.traceId, r.a.id, b.traceId, r.b.id, pair, direction);
      if (seq !== this.seq) return;
      if (!res.difference && this.current?.difference) {
        store.fail(`compare: no difference ${direction === 'next' ? 'after' : 'before'} this one`, 'note');
        return;
      }
      this.current = res;
      const s = res.summary;
      this.say(`${r.program}: ${s.paired} steps paired, ${s.onlyA} only in A, ${s.onlyB} only in B`);
      await this.drawDiff(a, b, r, res);
    } catch (err) {
      if (seq === this.seq) store.fail(err);
    }
  }

  private async drawDiff(a: TraceInfo, b: TraceInfo, r: StatsRow, res: ProgramDifference): Promise<void> {
    const d = res.difference;
    if (!d) {
      this.diffBox.replaceChildren(el('p', 'no-diff', `${r.program}: no difference — the two verifications reach the same states along the same paths.`));
      this.diffBox.dataset.pair = '';
      return;
    }
    const [sa, sb] = await Promise.all([
      d.aStep === null ? null : api.stateAt(a.traceId, r.a.id, d.aStep),
      d.bStep === null ? null : api.stateAt(b.traceId, r.b.id, d.bStep),
    ]);
    const what = d.kind === 'state' ? 'the states differ' : `only ${d.kind === 'onlyA' ? 'A' : 'B'} walked this step`;
    const title = el('div', 'diff-title');
    title.textContent = `difference at insn ${d.insn}: ${what} · A step ${d.aStep ?? '–'} · B step ${d.bStep ?? '–'}`;
    const lines = el('div', 'diff-lines');
    lines.append(el('div', 'side-a', `A | ${d.aText ?? '(no step)'}`), el('div', 'side-b', `B | ${d.bText ?? '(no step)'}`));
    const differs = new Set(d.locations.map((l) => `${l.frame}:${l.name}`));
    const aspects = new Map(d.locations.map((l) => [`${l.frame}:${l.name}`, l.aspects.join(', ')]));
    const tbl = el('table', 'diff-state');
    const head = el('tr');
    for (const h of ['', 'A', 'B', 'differs in']) head.append(el('th', '', h));
    tbl.append(head);
    for (const [key, name] of rowsOf(sa, sb)) {
      const tr = el('tr', differs.has(key) ? 'differs' : '');
      tr.append(el('td', 'name', name), el('td', 'val', valueOf(sa, key) ?? '—'), el('td', 'val', valueOf(sb, key) ?? '—'), el('td', 'hint', aspects.get(key) ?? ''));
      tbl.append(tr);
    }
    const actions = el('div', 'diff-actions');
    const show = el('button', '', 'Show A\'s step in the main view');
    show.type = 'button';
    show.disabled = d.aStep === null;
    show.addEventListener('click', () => {
      const p = store.cursor.trace?.programs.find((x) => x.id === r.a.id) ?? null;
      this.hide();
      void store.selectProgram(p, d.aStep ?? 0);
    });
    actions.append(show, el('span', 'hint', '] next difference · [ previous · Esc close'));
    this.diffBox.replaceChildren(title, lines, tbl, actions);
    this.diffBox.dataset.pair = String(d.pair);
    this.diffBox.dataset.aStep = String(d.aStep ?? '');
    this.diffBox.dataset.bStep = String(d.bStep ?? '');
  }
}

/** The rows of both states: every frame's registers and slots, innermost frame first; keys `frame:name`. */
function rowsOf(a: StepState | null, b: StepState | null): [string, string][] {
  const out: [string, string][] = [];
  const seen = new Set<string>();
  const frames = Math.max(a?.frames.length ?? 0, b?.frames.length ?? 0);
  for (let f = frames - 1; f >= 0; f--) {
    const names = (s: StepState | null, pick: (fr: FrameJson) => string[]): string[] => (s?.frames[f] ? pick(s.frames[f]) : []);
    const regs = [...names(a, (fr) => Object.keys(fr.regs)), ...names(b, (fr) => Object.keys(fr.regs))];
    const slots = [...names(a, (fr) => Object.keys(fr.stack)), ...names(b, (fr) => Object.keys(fr.stack))].sort((x, y) => Number(y) - Number(x));
    const label = frames > 1 ? ` (frame ${f})` : '';
    for (const r of regs.sort((x, y) => Number(x.slice(1)) - Number(y.slice(1)))) {
      const k = `${f}:${r}`;
      if (!seen.has(k)) out.push([k, r + label]), seen.add(k);
    }
    for (const o of slots) {
      const k = `${f}:fp${o}`;
      if (!seen.has(k)) out.push([k, `fp${o}${label}`]), seen.add(k);
    }
  }
  for (const k of ['refs', 'lock']) out.push([`${frames - 1}:${k}`, k]);
  return out;
}

function valueOf(s: StepState | null, key: string): string | null {
  if (!s) return null;
  const colon = key.indexOf(':');
  const fr = s.frames[Number(key.slice(0, colon))];
  const name = key.slice(colon + 1);
  if (name === 'refs') return s.refs.map((r) => r.refObjId).join(', ') || null;
  if (name === 'lock') return s.lockHeld ? 'held' : null;
  if (!fr) return null;
  if (name.startsWith('fp')) return fr.stack[name.slice(2)]?.raw ?? null;
  return fr.regs[name]?.raw ?? null;
}
