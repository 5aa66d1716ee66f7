import type { TraceInfo } from '../../main/api/contract';
import { api, desktop } from './api';
import { installKeys } from './keys';
import { store } from './store';
import { CfgView } from './views/cfg';
import { CompareView } from './views/compare';
import { LayoutView } from './views/layout';
import { LifetimesView } from './views/lifetimes';
import { ListingView } from './views/listing';
import { ReferencesView } from './views/references';
import { RegistersView } from './views/registers';
import { StackView } from './views/stack';
import { WhyView } from './views/why';

const $ = <T extends HTMLElement = HTMLElement>(sel: string): T => document.querySelector<T>(sel)!;

// ---- theme: dark by default, light on request, remembered
function setTheme(theme: 'dark' | 'light' | 'system'): void {
  const dark = theme === 'system' ? matchMedia('(prefers-color-scheme: dark)').matches : theme === 'dark';
  document.documentElement.dataset.theme = dark ? 'dark' : 'light';
  localStorage.setItem('bpfscope:theme', theme);
}
setTheme((localStorage.getItem('bpfscope:theme') as 'dark' | 'light' | null) ?? 'dark');
$('#theme').addEventListener('click', () => setTheme(document.documentElement.dataset.theme === 'dark' ? 'light' : 'dark'));

// ---- views
const listing = new ListingView($('#listing'));
new RegistersView($('#registers'));
new StackView($('#stack'));
const references = new ReferencesView($('#references'));
new LayoutView($('#layout'));
new LifetimesView($('#lifetimes'));
new WhyView(listing);
installKeys(listing, references);
new CompareView();
new CfgView();

// ---- program picker with verdicts
/** The error lines in the order the kernel printed them, the final one (the program's error) marked. */
function errorTitle(p: { error: string | null; errors?: string[] }): string {
  const lines = p.errors && p.errors.length > 0 ? p.errors : [p.error ?? ''];
  return lines.map((l, i) => (i === lines.length - 1 ? `final: ${l}` : l)).join('\n');
}
const picker = $<HTMLSelectElement>('#program');
store.on('trace', () => {
  const t = store.cursor.trace!;
  picker.replaceChildren(
    ...t.programs.map((p) => {
      const mark = p.verdict === 'accepted' ? '✓' : p.verdict === 'rejected' ? '✗' : p.verdict === 'ran' ? '▶' : p.verdict === 'faulted' ? '⚠' : '?';
      // A concrete run (bpfscope run --trace-insns) is its own entry: the same program, executed.
      const what = p.origin === 'run' ? ' — concrete run' : p.section ? ` (${p.section})` : '';
      const o = new Option(`${mark} ${p.name}${what}`, String(p.id));
      o.title = p.error ? errorTitle(p) : p.verdict ?? '';
      return o;
    }),
  );
  document.title = `bpfscope — ${t.path.split('/').pop()}`;
  // Verdicts and logs belong to one kernel build: say which.
  const k = $('#kernel');
  k.textContent = t.kernel ? `kernel ${t.kernel.release}${t.kernel.where === 'host' ? '' : ` · ${t.kernel.where}`}` : '';
  k.title = t.kernel ? `recorded on ${t.kernel.release} ${t.kernel.version} (${t.kernel.where})` : '';
});
picker.addEventListener('change', () => {
  const p = store.cursor.trace?.programs.find((x) => String(x.id) === picker.value) ?? null;
  void store.selectProgram(p);
});
store.on('program', () => {
  const p = store.cursor.program;
  document.body.classList.toggle('concrete', p?.origin === 'run');
  picker.value = p ? String(p.id) : '';
  const v = $('#verdict');
  // The final error line in the bar; every error line, the final one marked, on hover.
  v.textContent = p ? (p.verdict ?? 'unknown') + (p.error ? `: ${p.error}` : '') : '';
  v.className = 'verdict ' + (p?.verdict ?? 'unknown');
  v.title = p?.error ? errorTitle(p) : '';
  $('#step-total').textContent = p ? ` / ${p.steps.toLocaleString()}` : '';
});

// ---- current step
store.on('step', () => {
  $('#current-step').textContent = String(store.cursor.step);
  document.body.classList.add('loading-state');
});
store.on('state', () => {
  const st = store.cursor.state!;
  document.body.classList.remove('loading-state');
  $('#step-where').textContent = st.concrete
    ? `insn ${st.insn} · ${st.text}${st.error ? ` · next: ${st.error}` : ''}`
    : `${st.insn !== null ? `insn ${st.insn} · ` : ''}line ${st.line}${st.frame ? ` · frame ${st.frame}` : ''}`;
  $('#current-step').dataset.ready = String(st.step);
});

// ---- errors: shown, never lost in a console
const banner = $('#error');
let bannerTimer = 0;
store.on('error', () => {
  banner.hidden = !store.cursor.error;
  banner.textContent = store.cursor.error ?? '';
  banner.className = store.noteKind;
  banner.setAttribute('role', store.noteKind === 'error' ? 'alert' : 'status');
  clearTimeout(bannerTimer);
  if (store.cursor.error) bannerTimer = window.setTimeout(() => store.clearError(), 8000);
});
banner.addEventListener('click', () => store.clearError());
window.addEventListener('unhandledrejection', (e) => store.fail(e.reason));

// ---- go to: "120" a step, "L4000" a log line, "i17" an insn
$('#goto').addEventListener('submit', (e) => {
  e.preventDefault();
  const input = $<HTMLInputElement>('#goto-input');
  const v = input.value.trim();
  input.blur();
  void goTo(v);
});
async function goTo(v: string): Promise<void> {
  let m: RegExpExecArray | null;
  if ((m = /^#?(\d+)$/.exec(v))) return store.setStep(Number(m[1]));
  if ((m = /^l(?:ine)?\s*(\d+)$/i.exec(v))) {
    if (store.cursor.program?.origin === 'run') return store.fail('a concrete run has no verifier log: go to a step (120) or an insn (i17)', 'note');
    const line = Math.max(1, Number(m[1]));
    listing.showLine(line);
    const s = await listing.lineStep(line);
    if (s !== null) await store.setStep(s);
    return;
  }
  if ((m = /^i(?:nsn)?\s*(\d+)$/i.exec(v))) return listing.gotoInsn(Number(m[1]));
  store.fail(`go to: '${v}' is not a step (120), a line (L4000) or an insn (i17)`);
}

// ---- search in the raw log (Enter: next, Shift+Enter: previous)
let searchFrom = -1;
$('#search-input').addEventListener('keydown', (e) => {
  if (e.key !== 'Enter') return;
  e.preventDefault();
  void search(e.shiftKey);
});
$('#search').addEventListener('submit', (e) => e.preventDefault());
async function search(backwards: boolean): Promise<void> {
  const { trace, program, state } = store.cursor;
  const q = $<HTMLInputElement>('#search-input').value;
  if (!trace || !program || !q) return;
  const regex = $<HTMLInputElement>('#search-regex').checked;
  const from = searchFrom >= 0 ? searchFrom : (state?.line ?? 0);
  try {
    const hit = await api.searchLog(trace.traceId, program.id, q, regex, backwards ? Math.max(0, from - 1) : from + 1, backwards);
    if (!hit) return store.fail(`'${q}' not found ${backwards ? 'before' : 'after'} line ${from}`, 'note');
    searchFrom = hit.line;
    listing.showLine(hit.line);
    if (hit.step !== null) await store.setStep(hit.step);
  } catch (err) {
    store.fail(err);
  }
}
store.on('step', () => {
  if (store.cursor.state?.step !== store.cursor.step) searchFrom = -1;
});

// ---- help
$('#help').addEventListener('click', () =>
  store.fail('keys: ↓/j ↑/k step · PgDn/PgUp ±20 · n/N next/prev visit of this insn · b branch that started this path · e first error · g go to · / search · l log/instructions · c the CFG (click a block: its first visit, f fit) · click a register or slot: where its value came from ([ ] walk the chain, Esc close) · shift+click a register: the step that last wrote it', 'note'),
);

// ---- opening traces
async function open(info: Promise<TraceInfo | null>): Promise<void> {
  try {
    const t = await info;
    if (t) {
      await store.openTrace(t);
      // A damaged trace opens with what can be read; the banner says it is damaged.
      if (t.damage) store.fail(`${t.path}: ${t.damage}`);
    } else store.fail('no trace: open one (File ▸ Open Trace…), or start with `bpfscope serve FILE`');
  } catch (err) {
    store.fail(err);
  }
}

if (desktop) {
  $('#open').hidden = false;
  $('#open').addEventListener('click', () => void desktop!.openDialog('trace'));
  desktop.on('app:open-trace', (path) => void open(api.openTrace(path)));
  desktop.on('app:error', (msg) => store.fail(msg));
  desktop.on('app:theme', (t) => setTheme(t));
  desktop.on('app:progress', (p) => {
    $('#progress').hidden = !p;
    if (!p) return;
    const bar = $<HTMLProgressElement>('#progress-bar');
    if (p.total) {
      bar.max = p.total;
      bar.value = p.done;
    } else bar.removeAttribute('value');
    $('#progress-text').textContent = `${p.phase}${p.message ? `: ${p.message}` : ''}`;
  });
  // Drag and drop of objects, logs and traces: main decides what each is.
  document.addEventListener('dragover', (e) => e.preventDefault());
  document.addEventListener('drop', (e) => {
    e.preventDefault();
    const file = e.dataTransfer?.files[0];
    if (file) void desktop!.openFile(desktop!.pathForFile(file));
  });
}

const wanted = new URL(location.href).searchParams.get('trace');
void open(wanted ? api.openTrace(wanted) : api.defaultTrace());
