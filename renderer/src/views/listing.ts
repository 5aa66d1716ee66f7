import type { InsnRow, LogLine } from '../../../main/api/contract';
import { api } from '../api';
import { store } from '../store';
import { VirtualList } from '../vlist';

/**
 * Listing: the raw verifier log (one row per log line) or the program's
 * instructions with their C source lines and visit-count heat. Both are
 * virtual lists; the log is fetched in windows, the listing once.
 */
type ListingRow = { kind: 'src'; text: string } | { kind: 'insn'; row: InsnRow };

const ROW_H = 18;

export class ListingView {
  mode: 'log' | 'insns' = 'log';
  /** The instructions tab was chosen for a run, not by the user: back to the log for a verified program. */
  private autoInsns = false;
  private log: VirtualList<LogLine>;
  private insns: VirtualList<ListingRow>;
  private insnRows: ListingRow[] = [];
  private insnIndex = new Map<number, number>();
  private maxVisits = 1;
  private logHost: HTMLElement;
  private insnHost: HTMLElement;
  /** A line a search or go-to picked that has no step of its own. */
  private markedLine: number | null = null;
  /** The steps and insns of the provenance chain shown (views/why.ts), highlighted. */
  private why: { steps: Set<number>; insns: Set<number> } | null = null;

  constructor(private root: HTMLElement) {
    const body = root.querySelector<HTMLElement>('#listing-body')!;
    this.logHost = document.createElement('div');
    this.insnHost = document.createElement('div');
    this.logHost.className = this.insnHost.className = 'vlist-host';
    this.logHost.setAttribute('aria-label', 'Verifier log');
    this.insnHost.setAttribute('aria-label', 'Instructions');
    body.replaceChildren(this.logHost, this.insnHost);
    this.insnHost.hidden = true;

    this.log = new VirtualList<LogLine>(this.logHost, {
      rowHeight: ROW_H,
      fetch: (from, count) => {
        const { trace, program } = store.cursor;
        if (!trace || !program) return Promise.resolve([]);
        return api.logLines(trace.traceId, program.id, from + 1, count);
      },
      render: (el, row, i) => this.renderLog(el, row, i),
      onClick: (_i, row) => {
        if (row && row.step !== null) void store.setStep(row.step);
      },
    });
    this.insns = new VirtualList<ListingRow>(this.insnHost, {
      rowHeight: ROW_H,
      fetch: (from, count) => Promise.resolve(this.insnRows.slice(from, from + count)),
      render: (el, row) => this.renderInsn(el, row),
      onClick: (_i, row) => {
        if (row?.kind === 'insn') void this.gotoInsn(row.row.insn);
      },
    });

    for (const tab of root.querySelectorAll<HTMLButtonElement>('[role=tab]')) {
      tab.addEventListener('click', () => this.setMode(tab.dataset.mode === 'insns' ? 'insns' : 'log'));
    }
    store.on('program', () => void this.loadProgram());
    store.on('step', () => this.follow());
    store.on('state', () => this.follow());
  }

  setMode(mode: 'log' | 'insns'): void {
    this.mode = mode;
    this.logHost.hidden = mode !== 'log';
    this.insnHost.hidden = mode !== 'insns';
    for (const tab of this.root.querySelectorAll<HTMLButtonElement>('[role=tab]')) {
      tab.setAttribute('aria-selected', String(tab.dataset.mode === mode));
    }
    (mode === 'log' ? this.log : this.insns).refresh();
    this.follow();
  }

  private async loadProgram(): Promise<void> {
    const { trace, program } = store.cursor;
    this.markedLine = null;
    this.log.reset(program?.lines ?? 0);
    this.insnRows = [];
    this.insnIndex.clear();
    this.insns.reset(0);
    const hint = this.root.querySelector('#listing-hint')!;
    const isRun = program?.origin === 'run';
    hint.textContent = !program ? '' : isRun ? `concrete run · ${program.steps.toLocaleString()} instructions executed` : `${program.lines.toLocaleString()} lines · ${program.steps.toLocaleString()} steps`;
    // A concrete run has no verifier log: its listing is the instructions, counted by the run.
    const logTab = this.root.querySelector<HTMLButtonElement>('[role=tab][data-mode=log]');
    if (logTab) logTab.disabled = isRun;
    if (isRun && this.mode === 'log') this.setMode('insns');
    else if (!isRun && program && this.mode === 'insns' && this.autoInsns) this.setMode('log');
    this.autoInsns = isRun;
    if (!trace || !program) return;
    try {
      const rows = await api.listing(trace.traceId, program.id);
      if (store.cursor.program !== program) return;
      let lastSrc: string | null = null;
      for (const r of rows) {
        if (r.source && r.source !== lastSrc) this.insnRows.push({ kind: 'src', text: r.source });
        lastSrc = r.source ?? lastSrc;
        this.insnIndex.set(r.insn, this.insnRows.length);
        this.insnRows.push({ kind: 'insn', row: r });
        this.maxVisits = Math.max(this.maxVisits, r.visits);
      }
      this.insns.reset(this.insnRows.length);
      this.follow();
    } catch (err) {
      store.fail(err);
    }
  }

  /** Keep the current step's line in view and highlighted. */
  private follow(): void {
    const st = store.cursor.state;
    if (this.mode === 'log') {
      if (st && st.step === store.cursor.step) this.log.scrollTo(st.line - 1);
      this.log.drawNow();
    } else {
      const idx = st?.insn != null ? this.insnIndex.get(st.insn) : undefined;
      if (idx !== undefined) this.insns.scrollTo(idx);
      this.insns.drawNow();
    }
  }

  /** Highlight a provenance chain's steps (log rows) and insns (instruction rows); null clears. */
  setWhy(marks: { steps: Set<number>; insns: Set<number> } | null): void {
    this.why = marks;
    this.log.refresh();
    this.insns.refresh();
  }

  /** Scroll to a raw log line (1-based: search hit, go to line) and mark it. */
  showLine(line: number): void {
    this.markedLine = line;
    if (this.mode !== 'log') this.setMode('log');
    this.log.scrollTo(line - 1);
    this.log.drawNow();
  }

  async lineStep(line: number): Promise<number | null> {
    const row = await this.log.load(line - 1);
    return row?.step ?? null;
  }

  /** The next step at or after the cursor that visits insn (wrapping). */
  async gotoInsn(insn: number): Promise<void> {
    const { trace, program, step } = store.cursor;
    if (!trace || !program) return;
    const steps = await api.stepsForInsn(trace.traceId, program.id, insn);
    if (steps.length === 0) {
      store.fail(`insn ${insn} was never ${program.origin === 'run' ? 'executed in this run' : 'visited by the verifier'}`);
      return;
    }
    const next = steps.find((s) => s > step) ?? steps[0];
    await store.setStep(next);
  }

  private renderLog(el: HTMLElement, row: LogLine | undefined, i: number): void {
    const st = store.cursor.state;
    const current = row !== undefined && row.step !== null && row.step === store.cursor.step && st?.line === row.line;
    const sameStep = row !== undefined && row.step !== null && row.step === store.cursor.step;
    el.className =
      'vrow log' +
      (row ? ` k-${row.kind}` : ' loading') +
      (row?.error ? ' error' : '') +
      (current ? ' current' : sameStep ? ' same-step' : '') +
      (row && this.markedLine === row.line ? ' marked' : '') +
      (row && row.step !== null && this.why?.steps.has(row.step) && (row.kind === 'insn' || row.kind === 'from' || row.kind === 'state') ? ' why' : '');
    if (current) el.setAttribute('aria-current', 'step');
    else el.removeAttribute('aria-current');
    const text = row ? row.text : '…';
    const gutter = `${i + 1}`;
    const stepTag = row?.step != null ? `#${row.step}` : '';
    // textContent per cell: log text is data, never markup.
    if (el.childElementCount !== 3) {
      el.replaceChildren(span('ln'), span('st'), span('tx'));
    }
    (el.children[0] as HTMLElement).textContent = gutter;
    (el.children[1] as HTMLElement).textContent = stepTag;
    (el.children[2] as HTMLElement).textContent = text;
  }

  private renderInsn(el: HTMLElement, row: ListingRow | undefined): void {
    if (el.childElementCount !== 4) el.replaceChildren(span('heat'), span('ln'), span('st'), span('tx'));
    const [heat, ln, st, tx] = Array.from(el.children) as HTMLElement[];
    // Rows are recycled: only the current insn's row keeps the mark.
    el.removeAttribute('aria-current');
    el.title = '';
    if (!row) {
      el.className = 'vrow insn loading';
      tx.textContent = '…';
      return;
    }
    if (row.kind === 'src') {
      el.className = 'vrow src';
      heat.style.width = '0';
      ln.textContent = '';
      st.textContent = '';
      tx.textContent = row.text;
      return;
    }
    const r = row.row;
    const cur = store.cursor.state?.insn === r.insn;
    el.className = 'vrow insn' + (cur ? ' current' : '') + (r.visits === 0 && !r.fault ? ' dead' : '') + (r.fault ? ' error' : '') + (this.why?.insns.has(r.insn) ? ' why' : '');
    el.title = r.fault ? `fault: ${r.fault}` : '';
    if (cur) el.setAttribute('aria-current', 'step');
    else el.removeAttribute('aria-current');
    const frac = r.visits > 0 ? Math.log1p(r.visits) / Math.log1p(this.maxVisits) : 0;
    heat.style.width = `${Math.max(r.visits ? 2 : 0, Math.round(frac * 30))}px`;
    heat.title = `${r.visits} ${store.cursor.program?.origin === 'run' ? 'execution' : 'visit'}(s)`;
    ln.textContent = `${r.insn}:`;
    st.textContent = r.visits ? `×${r.visits}` : '';
    tx.textContent = r.fault ? `${r.text}    ← fault: ${r.fault}` : r.text;
  }
}

function span(cls: string): HTMLSpanElement {
  const s = document.createElement('span');
  s.className = cls;
  return s;
}
