/**
 * The text of one printed state (`print_verifier_state`): after an
 * instruction's `;`, after `N:`, after `from X to Y:`, or the indented lines of
 * `caller:` / `callee:` blocks. Items are separated by spaces outside
 * parentheses: `frame1: R1=ctx() R6_w=scalar(smin=0,var_off=(0x0; 0xff)) fp-8=mmmmmmmm refs=2,3 cb`.
 */

export type StateItem =
  | { kind: 'frame'; frame: number }
  | { kind: 'reg'; reg: number; live: string; raw: string }
  | { kind: 'slot'; off: number; live: string; raw: string }
  | { kind: 'refs'; ids: number[] }
  /** Frame flags such as `cb`, `async_cb`. */
  | { kind: 'flag'; name: string }
  | { kind: 'other'; text: string };

const SLOT = /^fp(-\d+)(_[rwD]{1,2})?=(.*)$/s;
const FRAME = /^frame(\d+):$/;
const FLAGS = new Set(['cb', 'async_cb', 'exception_cb']);

/** Split at spaces outside parentheses; empty tokens are dropped. */
export function splitStateTokens(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 40) depth++;
    else if (c === 41) depth = depth > 0 ? depth - 1 : 0;
    else if (c === 32 && depth === 0) {
      if (i > start) out.push(text.slice(start, i));
      start = i + 1;
    }
  }
  if (start < text.length) out.push(text.slice(start));
  return out;
}

export function parseStateText(text: string): StateItem[] {
  const items: StateItem[] = [];
  for (const tok of splitStateTokens(text)) {
    const c0 = tok.charCodeAt(0);
    if (c0 === 82 /* R */) {
      const it = regItem(tok);
      if (it) {
        items.push(it);
        continue;
      }
    } else if (c0 === 102 /* f */) {
      const s = SLOT.exec(tok);
      if (s) {
        items.push({ kind: 'slot', off: Number(s[1]), live: s[2] ? s[2].slice(1) : '', raw: s[3] });
        continue;
      }
      const f = FRAME.exec(tok);
      if (f) {
        items.push({ kind: 'frame', frame: Number(f[1]) });
        continue;
      }
    } else if (tok.startsWith('refs=')) {
      const ids = tok.slice(5).split(',').map((x) => Number(x));
      if (ids.every((x) => Number.isSafeInteger(x) && x >= 0)) {
        items.push({ kind: 'refs', ids });
        continue;
      }
    }
    if (FLAGS.has(tok)) items.push({ kind: 'flag', name: tok });
    else items.push({ kind: 'other', text: tok });
  }
  return items;
}

/** `R6=...`, `R10_w=...` without a regex: this runs for every register of every step of a big log. */
function regItem(tok: string): StateItem | undefined {
  let i = 1;
  let reg = 0;
  while (i < 3 && i < tok.length) {
    const d = tok.charCodeAt(i) - 48;
    if (d < 0 || d > 9) break;
    reg = reg * 10 + d;
    i++;
  }
  if (i === 1 || reg > 10) return undefined;
  let live = '';
  if (tok.charCodeAt(i) === 95 /* _ */) {
    const eq = tok.indexOf('=', i);
    if (eq < 0 || eq - i > 3) return undefined;
    live = tok.slice(i + 1, eq);
    if (!/^[rwD]{1,2}$/.test(live)) return undefined;
    i = eq;
  }
  if (tok.charCodeAt(i) !== 61 /* = */) return undefined;
  return { kind: 'reg', reg, live, raw: tok.slice(i + 1) };
}
