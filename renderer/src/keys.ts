import type { StepState } from '../../main/api/contract';
import { api } from './api';
import { store } from './store';
import type { ListingView } from './views/listing';
import type { ReferencesView } from './views/references';

/**
 * Stepping from the keyboard: ↓/j ↑/k one step, PageDown/PageUp twenty,
 * Home/End, n/N next/previous visit of the same insn, b the branch that
 * started this path, e the first error, g go to, / search.
 * (`c` opens and closes the CFG, `f` fits it: views/cfg.ts takes those
 * keys itself, as the compare view takes its own while it is open.)
 */
export function installKeys(listing: ListingView, refs: ReferencesView): void {
  const visits = new Map<string, Promise<number[]>>();
  const stepsFor = (insn: number): Promise<number[]> => {
    const { trace, program } = store.cursor;
    if (!trace || !program) return Promise.resolve([]);
    const key = `${trace.traceId}:${program.id}:${insn}`;
    let p = visits.get(key);
    if (!p) visits.set(key, (p = api.stepsForInsn(trace.traceId, program.id, insn)));
    return p;
  };

  document.addEventListener('keydown', (e) => {
    const t = e.target instanceof Element ? e.target : null;
    if (t?.closest('input, select, textarea') || e.ctrlKey || e.metaKey || e.altKey) {
      if (e.key === 'Escape' && t instanceof HTMLElement) t.blur();
      return;
    }
    const step = store.cursor.step;
    const current = (): Promise<StepState | null> => store.stateFor(step).catch(() => null);
    let handled = true;
    switch (e.key) {
      case 'ArrowDown':
      case 'j':
        void store.setStep(step + 1);
        break;
      case 'ArrowUp':
      case 'k':
        void store.setStep(step - 1);
        break;
      case 'PageDown':
        void store.setStep(step + 20);
        break;
      case 'PageUp':
        void store.setStep(step - 20);
        break;
      case 'Home':
        void store.setStep(0);
        break;
      case 'End':
        void store.setStep(store.stepCount - 1);
        break;
      case 'n':
      case 'N': {
        const back = e.key === 'N';
        // The cursor's own step, not the last state drawn: a key can come before that state arrived.
        void current().then(async (cur) => {
          if (cur?.insn == null) return;
          const steps = await stepsFor(cur.insn);
          const next = back ? [...steps].reverse().find((s) => s < step) : steps.find((s) => s > step);
          if (next !== undefined) void store.setStep(next);
          else store.fail(`no ${back ? 'earlier' : 'later'} visit of insn ${cur.insn}`);
        });
        break;
      }
      case 'b': {
        void current().then(async (st) => {
          if (!st) return;
          if (st.concrete) {
            store.fail('a concrete run takes one path: no branch to go back to', 'note');
            return;
          }
          const path = await refs.path(st.path);
          if (path?.pushedStep != null) void store.setStep(path.pushedStep);
          else if (path?.fromInsn != null) store.fail(`the branch at insn ${path.fromInsn} that pushed this path is not in the log`, 'note');
          else store.fail('this path starts at the program entry', 'note');
        });
        break;
      }
      case 'e': {
        const { trace, program } = store.cursor;
        if (trace && program) {
          void api.firstError(trace.traceId, program.id).then((s) => {
            if (s === null) store.fail(program.origin === 'run' ? 'this run did not fault' : 'no error in this program');
            else void store.setStep(s);
          });
        }
        break;
      }
      case 'g':
        document.querySelector<HTMLInputElement>('#goto-input')!.focus();
        break;
      case '/':
        document.querySelector<HTMLInputElement>('#search-input')!.focus();
        break;
      case 'l':
        if (store.cursor.program?.origin !== 'run') listing.setMode(listing.mode === 'log' ? 'insns' : 'log');
        break;
      default:
        handled = false;
    }
    if (handled) e.preventDefault();
  });
}
