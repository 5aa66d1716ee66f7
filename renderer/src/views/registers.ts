import type { CallJson, ConcreteRegs, FrameJson, RegJson, RegValue, RunResult } from '../../../main/api/contract';
import { api } from '../api';
import { bound, constValue, el, log2Pos, typeClass } from '../format';
import { store } from '../store';
import { askWhy } from './why';

/**
 * Registers R0–R10 of the current frame, then of each caller frame: the
 * type decoded (pointer kind and BTF type, off, id, ref_obj_id, precise),
 * scalars as an interval on a log scale plus the tnum's 64 bits; what
 * changed since the previous step is highlighted; the kernel's raw text is
 * the title; a click jumps to the step that last wrote the register.
 * At a call the frames hold the state after it (R1–R5 clobbered) and a box
 * above them shows the call: its arguments as they were before it, and R0
 * as it returned.
 */
const REGS = ['R0', 'R1', 'R2', 'R3', 'R4', 'R5', 'R6', 'R7', 'R8', 'R9', 'R10'];

export class RegistersView {
  private body: HTMLElement;

  /** A concrete run's objects, to name the allocator addresses registers hold. */
  private result: RunResult | null = null;

  constructor(root: HTMLElement) {
    this.body = root.querySelector<HTMLElement>('#registers-body')!;
    store.on('state', () => this.draw());
    store.on('program', () => {
      this.body.replaceChildren();
      this.result = null;
      const { trace, program } = store.cursor;
      if (trace && program && program.origin === 'run') {
        api.runResult(trace.traceId, program.id).then(
          (r) => {
            if (store.cursor.program !== program) return;
            this.result = r;
            this.draw();
          },
          (err) => store.fail(err),
        );
      }
    });
  }

  private draw(): void {
    const st = store.cursor.state;
    if (!st) return;
    if (st.concrete) {
      this.body.replaceChildren(this.concreteTable(st.concrete));
      document.querySelector('#frame-hint')!.textContent = `concrete run ${st.concrete.run} · after insn ${st.insn}`;
      return;
    }
    const frag = document.createDocumentFragment();
    if (st.call) frag.append(this.callBox(st.call));
    // The reader lists frames outermost first; the current (innermost) one is drawn first.
    const frames = [...st.frames].reverse();
    frames.forEach((f, i) => frag.append(this.frameTable(f, i === 0, st.changed, st.call)));
    this.body.replaceChildren(frag);
    document.querySelector('#frame-hint')!.textContent = `frame ${st.frame}${st.frames.length > 1 ? ` of ${st.frames.length}` : ''}`;
  }

  /**
   * The call of this step: R1–R5 as they were before it (each with the
   * callee's parameter when its prototype is known; registers past it are
   * not arguments), and R0 as it returned. A click on an argument goes to
   * the step that wrote it before the call.
   */
  private callBox(c: CallJson): HTMLElement {
    const box = el('div', 'frame call');
    box.dataset.frame = String(c.frame);
    const callee = c.kind === 'subprog' ? `call ${c.target}` : `call ${c.target}#${c.id}`;
    const head = el('div', 'frame-head');
    // On a return step the call was made many steps back: say so.
    const back = c.step === null;
    head.append(back ? 'return from ' : '', el('span', 'call-name', callee),
      ` · ${c.kind} · ${back ? 'called at ' : ''}insn ${c.insn}${c.frame ? ` · frame ${c.frame}` : ''}`);
    box.append(head);
    const table = el('table', 'regs call-args');
    table.append(this.sectionRow('arguments before the call'));
    const variadic = c.params?.includes('...') ?? false;
    for (let i = 1; i <= 5; i++) {
      const name = `R${i}`;
      const r = c.args[name as keyof CallJson['args']];
      const param = c.params ? (i <= c.params.length ? c.params[i - 1] : variadic ? '...' : null) : undefined;
      // Past the callee's parameters a register that holds nothing says nothing.
      if (param === null && !r) continue;
      const p = param === undefined ? '' : param === null ? 'not an argument' : param;
      const tr = this.valueRow(name, r, c.frame, c.step !== null && c.step > 0 ? c.step - 1 : null, p);
      tr.classList.add('arg');
      if (param === null) tr.classList.add('not-arg');
      table.append(tr);
    }
    if (c.params && c.params.length === 0) {
      const tr = el('tr', 'reg uninit');
      tr.append(el('th', 'rn', ''), el('td', 'ty', 'none: the callee takes no arguments'));
      table.append(tr);
    }
    table.append(this.sectionRow('R0 returned'));
    if (c.status === 'returned') {
      const tr = this.valueRow('R0', c.ret, c.frame, c.step, '');
      tr.classList.add('ret');
      if (!c.ret) tr.querySelector('td.ty')!.textContent = 'not init · returns nothing';
      table.append(tr);
    } else {
      const tr = el('tr', 'reg ret uninit');
      tr.dataset.reg = 'R0';
      tr.append(el('th', 'rn', 'R0'), el('td', 'param'), el('td', 'ty status', CALL_STATUS[c.status]));
      table.append(tr);
    }
    box.append(table);
    return box;
  }

  private sectionRow(text: string): HTMLElement {
    const tr = el('tr', 'section');
    const td = el('td', '', text);
    td.colSpan = 6;
    tr.append(td);
    return tr;
  }

  /** A register row of the call box; a click goes to the step that last wrote it at or before `writtenBy`. */
  private valueRow(name: string, r: RegJson | null, frame: number, writtenBy: number | null, param: string): HTMLElement {
    const tr = el('tr', 'reg');
    tr.dataset.reg = name;
    const pc = el('td', 'param', param);
    if (param) pc.title = param;
    tr.append(el('th', 'rn', name), pc);
    if (!r) {
      tr.classList.add('uninit');
      tr.append(el('td', 'ty', 'not init'), el('td', 'viz'), el('td', 'raw', ''));
      return tr;
    }
    tr.title = `${name}=${r.raw}${writtenBy !== null ? '  (click: step that last wrote it)' : ''}`;
    tr.append(this.typeCell(r), this.vizCell(r), el('td', 'raw', r.raw));
    if (writtenBy !== null) tr.addEventListener('click', () => void this.jumpToWriter(frame, name, writtenBy));
    return tr;
  }

  private frameTable(f: FrameJson, current: boolean, changed: string[], call?: CallJson): HTMLElement {
    const box = el('div', 'frame' + (current ? ' current' : ' caller'));
    box.dataset.frame = String(f.frame);
    const head = el('div', 'frame-head', current ? `frame ${f.frame}` : `caller frame ${f.frame}`);
    if (call && call.frame === f.frame) head.textContent += call.status === 'stopped' ? ' · before the call' : ' · after the call';
    if (f.flags.length) head.textContent += ` · ${f.flags.join(' ')}`;
    box.append(head);
    const table = el('table', 'regs');
    for (const name of REGS) {
      const r = f.regs[name];
      const tr = el('tr', 'reg');
      tr.dataset.reg = name;
      if (current && changed.includes(name)) tr.classList.add('changed');
      tr.append(el('th', 'rn', name));
      // Caller frames show only what they hold: the callee-saved registers and R10.
      if (!r && !current) continue;
      if (!r) {
        tr.classList.add('uninit');
        tr.append(el('td', 'ty', this.notInit(f, name, call)), el('td', 'viz'), el('td', 'raw', ''));
      } else {
        tr.title = `${name}=${r.raw}  (click: where its value came from · shift+click: the step that last wrote it)`;
        tr.append(this.typeCell(r), this.vizCell(r), el('td', 'raw', r.raw));
        tr.addEventListener('click', (e) => (e.shiftKey ? void this.jumpToWriter(f.frame, name) : askWhy(f.frame, name)));
      }
      table.append(tr);
    }
    box.append(table);
    return box;
  }

  /** Why a register of the state is not initialised, when a call on this step says so. */
  private notInit(f: FrameJson, name: string, call?: CallJson): string {
    if (!call || call.frame !== f.frame) return 'not init';
    const n = Number(name.slice(1));
    if (n >= 1 && n <= 5 && call.status !== 'stopped') return 'not init · clobbered by the call';
    if (n === 0 && (call.status === 'pruned' || call.status === 'unprinted')) return 'not printed';
    return 'not init';
  }

  /**
   * A concrete step: each register's 64 bits in hex, unsigned and (when
   * negative) signed decimal, and what the address is: an allocated
   * object (bpfscope's allocator addresses), or the stack relative to R10.
   */
  private concreteTable(c: ConcreteRegs): HTMLElement {
    const box = el('div', 'frame current concrete');
    const table = el('table', 'regs concrete');
    const head = el('tr', 'head');
    for (const h of ['', 'hex', 'unsigned', 'signed', 'points to']) head.append(el('th', '', h));
    table.append(head);
    const fp = BigInt(c.regs[10]);
    c.regs.forEach((hex, i) => {
      const name = REGS[i];
      const v = BigInt(hex);
      const signed = BigInt.asIntN(64, v);
      const tr = el('tr', 'reg');
      tr.dataset.reg = name;
      if (c.changed.includes(i)) tr.classList.add('changed');
      tr.title = `${name}=${hex}  (click: step that last wrote it)`;
      tr.append(
        el('th', 'rn', name),
        el('td', 'hex', '0x' + v.toString(16).padStart(16, '0')),
        el('td', 'dec', v.toString()),
        el('td', 'sdec', signed < 0n ? signed.toString() : ''),
        el('td', 'where', this.whereIs(v, fp, name)),
      );
      tr.addEventListener('click', () => void this.jumpToWriter(0, name));
      table.append(tr);
    });
    box.append(table);
    return box;
  }

  private whereIs(v: bigint, fp: bigint, name: string): string {
    if (name === 'R10') return 'frame pointer';
    if (v !== 0n && v <= fp && fp - v <= 512n) return `fp-${fp - v}`;
    for (const o of this.result?.objects ?? []) {
      const a = BigInt('0x' + o.addr.replace(/^0x/, ''));
      if (v >= a && v < a + BigInt(o.size)) return `object ${o.id} (struct ${o.type})${v > a ? ` +${v - a}` : ''}`;
    }
    return '';
  }

  private typeCell(r: RegValue): HTMLElement {
    const td = el('td', 'ty ' + typeClass(r));
    const c = constValue(r);
    if (r.precise) td.append(el('span', 'badge precise', 'P'));
    if (c !== null) {
      td.append(el('span', 'const', c));
      return td;
    }
    const mods = r.modifiers.length ? r.modifiers.join(' ') + ' ' : '';
    td.append(el('span', 'kind', mods + (r.baseType === 'ptr' ? 'ptr' : r.baseType) + (r.orNull ? '?' : '')));
    if (r.pointee) {
      const a = el('a', 'btf', r.pointee);
      a.href = '#';
      a.title = `show the layout of struct ${r.pointee}`;
      a.addEventListener('click', (e) => {
        e.preventDefault();
        e.stopPropagation();
        store.selectType(r.pointee);
      });
      td.append(' ', a);
    }
    if (r.map) td.append(el('span', 'attr', ` ${r.map}`));
    return td;
  }

  private vizCell(r: RegValue): HTMLElement {
    const td = el('td', 'viz');
    const attrs: string[] = [];
    if (r.off) attrs.push(`off=${r.off}`);
    if (r.id) attrs.push(`id=${r.id}`);
    if (r.refObjId) attrs.push(`ref=${r.refObjId}`);
    if (r.nonOwnRef) attrs.push('non-own');
    if (r.fpFrame !== null) attrs.push(`frame ${r.fpFrame}`);
    for (const [k, v] of Object.entries(r.attrs)) attrs.push(v ? `${k}=${v}` : k);
    if (attrs.length) td.append(el('span', 'attrs', attrs.join(' ')));
    if (r.baseType === 'scalar' && constValue(r) === null) td.append(interval(r), tnum(r));
    return td;
  }

  private async jumpToWriter(frame: number, reg: string, at?: number): Promise<void> {
    const { trace, program, step } = store.cursor;
    if (!trace || !program) return;
    try {
      const s = await api.lastWrite(trace.traceId, program.id, at ?? step, frame, reg);
      if (s === null) store.fail(`${reg} has not changed in the last 4000 steps of this state's history`, 'note');
      else await store.setStep(s);
    } catch (err) {
      store.fail(err);
    }
  }
}

const CALL_STATUS: Record<CallJson['status'], string> = {
  returned: '',
  callee: 'at the callee\'s exit (its return step)',
  pruned: 'not printed: the next insn was pruned (safe)',
  stopped: 'none: verification stopped at this call (registers below: before it)',
  unprinted: 'not printed by the kernel',
};

/** [umin, umax] on a log2 axis 0..2^64, labelled with the signed range too. */
function interval(r: RegValue): HTMLElement {
  const box = el('span', 'interval');
  const bar = el('span', 'ibar');
  const a = log2Pos(r.umin);
  const b = log2Pos(r.umax);
  const fill = el('span', 'ifill');
  fill.style.left = `${a * 100}%`;
  fill.style.width = `${Math.max(2, (b - a) * 100)}%`;
  bar.append(fill);
  bar.title = `u: [${bound(r.umin)}, ${bound(r.umax)}]  s: [${bound(r.smin)}, ${bound(r.smax)}]`;
  box.append(bar, el('span', 'ilabel', `[${bound(r.umin)}, ${bound(r.umax)}]`));
  return box;
}

/** The tnum's 64 bits, most significant first: known 0, known 1, unknown. */
function tnum(r: RegValue): HTMLElement {
  const box = el('span', 'tnum');
  if (!r.varOff) return box;
  const value = BigInt(r.varOff.value);
  const mask = BigInt(r.varOff.mask);
  box.title = `var_off=(${r.varOff.value}; ${r.varOff.mask})`;
  let html = '';
  for (let i = 63; i >= 0; i--) {
    const bit = 1n << BigInt(i);
    const cls = mask & bit ? 'u' : value & bit ? 'k1' : 'k0';
    html += `<i class="${cls}${i % 8 === 0 && i ? ' gap' : ''}"></i>`;
  }
  box.innerHTML = html; // fixed markup built from bits, no log text in it
  return box;
}
