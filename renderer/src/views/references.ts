import type { AllocEvent, PathInfo, PathWindow, RefLifetime, RunResult } from '../../../main/api/contract';
import { runResultNode } from './runResult';
import { api } from '../api';
import { el } from '../format';
import { store } from '../store';

/**
 * References held and the lock at this step, then the path being explored:
 * where it branched from, how it ends, and every path of the program.
 */
export class ReferencesView {
  private body: HTMLElement;
  refs: RefLifetime[] = [];
  /** The window of paths around the current one (a loop explores tens of thousands). */
  private window: PathWindow = { total: 0, from: 0, paths: [] };
  private loadingWindow: number | null = null;
  /** A concrete run program's outcome, shown here instead of references. */
  private result: RunResult | null = null;
  private events: AllocEvent[] = [];

  constructor(root: HTMLElement) {
    this.body = root.querySelector<HTMLElement>('#references-body')!;
    store.on('program', () => void this.load());
    store.on('state', () => this.draw());
  }

  private async load(): Promise<void> {
    this.refs = [];
    this.window = { total: 0, from: 0, paths: [] };
    this.body.replaceChildren();
    this.result = null;
    this.events = [];
    const { trace, program } = store.cursor;
    const title = document.querySelector('#references .title');
    if (title) title.textContent = program?.origin === 'run' ? 'Run result' : 'References & path';
    if (!trace || !program) return;
    if (program.origin === 'run') {
      try {
        const [r, events] = await Promise.all([api.runResult(trace.traceId, program.id), api.allocEvents(trace.traceId, program.id)]);
        if (store.cursor.program !== program) return;
        this.result = r;
        this.events = events;
        this.body.replaceChildren(runResultNode(r, events, store.cursor.state?.step ?? store.cursor.step));
      } catch (err) {
        store.fail(err);
      }
      return;
    }
    try {
      const refs = await api.refs(trace.traceId, program.id);
      if (store.cursor.program !== program) return;
      this.refs = refs;
      this.draw();
    } catch (err) {
      store.fail(err);
    }
  }

  /** The path with this index: from the window, else asked for (a key can beat the window). */
  async path(index: number): Promise<PathInfo | undefined> {
    const held = this.window.paths[index - this.window.from];
    if (held && held.path === index) return held;
    const { trace, program } = store.cursor;
    if (!trace || !program) return undefined;
    return (await api.paths(trace.traceId, program.id, index, 1)).paths[0];
  }

  /** Fetch the paths around `path` when it is outside the window held. */
  private ensureWindow(path: number): void {
    const w = this.window;
    const inside = path >= w.from && path < w.from + w.paths.length;
    if (inside && (path - w.from > 10 || w.from === 0) && (w.from + w.paths.length - path > 10 || w.from + w.paths.length >= w.total)) return;
    if (this.loadingWindow === path) return;
    const { trace, program } = store.cursor;
    if (!trace || !program) return;
    this.loadingWindow = path;
    const from = Math.max(0, path - 50);
    api.paths(trace.traceId, program.id, from, 101).then(
      (win) => {
        this.loadingWindow = null;
        if (store.cursor.program !== program) return;
        this.window = win;
        this.draw();
      },
      (err) => {
        this.loadingWindow = null;
        store.fail(err);
      },
    );
  }

  /** The path the step is on: the trace says so, or the last path that starts at or before it. */
  pathOf(step: number, hint: number | null): PathInfo | undefined {
    const paths = this.window.paths;
    if (hint !== null) {
      const p = paths[hint - this.window.from];
      if (p && p.path === hint) return p;
      return undefined;
    }
    return paths.find((p) => p.startStep <= step && step <= (p.endStep ?? Infinity));
  }

  private draw(): void {
    const st = store.cursor.state;
    if (!st) return;
    if (st.concrete) {
      if (this.result) this.body.replaceChildren(runResultNode(this.result, this.events, st.step));
      return;
    }
    this.ensureWindow(st.path);
    const frag = document.createDocumentFragment();
    const held = el('div', 'held');
    held.append(el('span', 'label', 'refs held'));
    if (st.refs.length === 0) held.append(el('span', 'none', 'none'));
    for (const held1 of st.refs) {
      const id = held1.refObjId;
      const life = this.refs.find((r) => r.refObjId === id);
      const chip = el('button', 'chip ref', `ref ${id}${life?.type ? ` ${life.type}` : ''} · ${held1.func ?? '?'}@${held1.acquireInsn ?? '?'}`);
      chip.type = 'button';
      chip.dataset.ref = String(id);
      if (life) {
        chip.title = `acquired at step ${life.acquiredStep} (insn ${life.acquiredInsn}) — click to go there`;
        chip.addEventListener('click', () => void store.setStep(life.acquiredStep));
      }
      held.append(chip);
    }
    frag.append(held);
    const lock = el('div', 'held');
    lock.append(el('span', 'label', 'lock'), el('span', st.lockHeld ? 'chip lock on' : 'none', st.lockHeld ? 'bpf_spin_lock held' : 'not held'));
    frag.append(lock);

    const path = this.pathOf(st.step, st.path);
    if (path) {
      const p = el('div', 'path-now');
      p.append(el('span', 'label', `path ${path.path + 1}/${this.window.total}`));
      if (path.fromInsn !== null) {
        const a = el('button', 'chip link', `branched ${path.fromInsn} → ${path.toInsn ?? '?'}`);
        a.type = 'button';
        a.title = 'go to the branch that started this path (b)';
        if (path.pushedStep !== null) a.addEventListener('click', () => void store.setStep(path.pushedStep!));
        else a.disabled = true;
        p.append(a);
      } else p.append(el('span', 'chip', 'from entry'));
      const end = el('button', `chip end-${path.end}`, `ends: ${path.end}${path.endInsn !== null ? ` at insn ${path.endInsn}` : ''}`);
      end.type = 'button';
      if (path.endStep !== null) end.addEventListener('click', () => void store.setStep(path.endStep!));
      p.append(end);
      frag.append(p);
    }
    if (st.error) frag.append(el('div', 'err-line', st.error));

    if (this.window.total > 1) {
      // Thousands of paths in a loop: the list shows the window around the current path.
      const from = this.window.from;
      const list = el('ol', 'paths');
      list.start = from + 1;
      if (from > 0) frag.append(el('div', 'more', `… ${from} earlier paths`));
      for (const p of this.window.paths) {
        const li = el('li', `end-${p.end}` + (p === path ? ' current' : ''));
        li.textContent = `${p.fromInsn === null ? 'entry' : `${p.fromInsn}→${p.toInsn}`} · steps ${p.startStep}–${p.endStep ?? '…'} · ${p.end}`;
        li.addEventListener('click', () => void store.setStep(p.startStep));
        list.append(li);
      }
      frag.append(list);
    }
    this.body.replaceChildren(frag);
  }
}
