import type { AllocEvent, RunResult } from '../../../main/api/contract';
import { el } from '../format';
import { store } from '../store';

/**
 * A concrete run's outcome, in the References panel (a run holds no
 * verifier references): each run's return value or fault, what it printed,
 * the objects the allocator handed out and how each ended, the maps after
 * the run(s) (bytes of special fields are bpfscope's own pointers).
 */
const MAX_ENTRIES = 16;

/** Each object's owner after the events up to `step` of the traced run: undefined before its new, null once freed. */
function ownersAt(events: AllocEvent[], step: number): Map<number, string | null> {
  const out = new Map<number, string | null>();
  for (const e of events) if ((e.axisStep ?? Infinity) <= step) out.set(e.objectId, e.owner);
  return out;
}

export function runResultNode(r: RunResult, events: AllocEvent[] = [], step = -1): DocumentFragment {
  const frag = document.createDocumentFragment();
  for (const run of r.runs) {
    const line = el('div', 'held run-line' + (run.fault ? ' faulted' : ''));
    line.dataset.run = String(run.run);
    line.append(el('span', 'label', `run ${run.run}${run.run === r.tracedRun ? ' (traced)' : ''}`));
    if (run.fault) {
      const f = run.fault;
      const chip = el('button', 'chip end-error', `fault at insn ${f.insn}: ${f.kind}`);
      chip.type = 'button';
      chip.title = `${f.message}\n${f.regs.join('\n')}`;
      if (run.run === r.tracedRun) chip.addEventListener('click', () => void store.setStep(Math.max(0, f.step - 1)));
      line.append(chip, el('span', 'err-line', f.message));
    } else {
      line.append(el('span', 'chip end-exit retval', `retval ${run.retval ?? '?'}`), el('span', 'none', `R0=${run.r0 ?? '?'} · ${run.steps.toLocaleString()} insns`));
    }
    frag.append(line);
    for (const p of run.printk) frag.append(el('div', 'printk', `printk: ${p}`));
  }
  if (r.objects.length) {
    const alive = r.objects.filter((o) => o.freeSeq === null).length;
    frag.append(el('div', 'sub-head', `objects: ${r.objects.length} allocated, ${alive} alive at the end`));
    const t = el('table', 'fields run-objects');
    const head = el('tr');
    for (const h of [`at step ${step}`, 'id', 'type', 'size', 'address', 'new', 'freed', 'by']) head.append(el('th', '', h));
    t.append(head);
    const now = ownersAt(events, step);
    for (const o of r.objects) {
      const tr = el('tr', o.freeSeq === null ? 'alive' : '');
      tr.dataset.object = String(o.id);
      const owner = now.get(o.id);
      const cell = el('td', 'now', owner === undefined ? '—' : owner === null ? 'freed' : owner);
      cell.dataset.owner = owner === undefined ? '' : owner ?? 'freed';
      if (owner) tr.classList.add('live-now');
      tr.append(cell);
      tr.append(
        el('td', 'num', String(o.id)),
        el('td', '', `struct ${o.type}`),
        el('td', 'num', String(o.size)),
        el('td', 'addr', '0x' + o.addr.replace(/^0x/, '')),
        el('td', 'num', `#${o.newSeq}`),
        el('td', 'num', o.freeSeq === null ? 'alive' : `#${o.freeSeq}`),
        el('td', '', o.freedBy ?? (o.owner ? `owner ${o.owner}` : '')),
      );
      t.append(tr);
    }
    frag.append(t);
  }
  const maps = Object.entries(r.maps);
  if (maps.length) {
    frag.append(el('div', 'sub-head', `maps after the run${r.runs.length > 1 ? 's' : ''}`));
    for (const [name, m] of maps) {
      const box = el('div', 'map-dump');
      box.dataset.map = name;
      box.append(el('div', 'map-name', `${name} · ${m.entries.length} entr${m.entries.length === 1 ? 'y' : 'ies'} · key ${m.keySize} B, value ${m.valueSize} B`));
      for (const e of m.entries.slice(0, MAX_ENTRIES)) box.append(el('div', 'map-entry', `${e.key} → ${e.value}`));
      if (m.entries.length > MAX_ENTRIES) box.append(el('div', 'none', `… ${m.entries.length - MAX_ENTRIES} more`));
      frag.append(box);
    }
  }
  return frag;
}
