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
/**
 * The kernel's MAX_CALL_FRAMES: frames 0..7 exist. A larger `frameN:` is not
 * a frame but damage (`frame18446744073709551615:` would make 2^64 frames).
 */
export const MAX_FRAMES = 8;

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

/**
 * One pass over the text: token boundaries as in splitStateTokens, and a
 * register token read in place (only its value becomes a string): this runs
 * for every delta of a big log.
 */
export function parseStateText(text: string): StateItem[] {
  const items: StateItem[] = [];
  const n = text.length;
  let depth = 0;
  let start = 0;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 40) depth++;
    else if (c === 41) depth = depth > 0 ? depth - 1 : 0;
    else if (c === 32 && depth === 0) {
      if (i > start) tokenItem(items, text, start, i);
      start = i + 1;
    }
  }
  if (start < n) tokenItem(items, text, start, n);
  return items;
}

function tokenItem(items: StateItem[], text: string, s: number, e: number): void {
  const c0 = text.charCodeAt(s);
  if (c0 === 82 /* R */) {
    const it = regItemAt(text, s, e);
    if (it) {
      items.push(it);
      return;
    }
  }
  const tok = text.slice(s, e);
  if (c0 === 102 /* f */) {
    const sl = SLOT.exec(tok);
    if (sl) {
      items.push({ kind: 'slot', off: Number(sl[1]), live: sl[2] ? sl[2].slice(1) : '', raw: sl[3] });
      return;
    }
    const f = FRAME.exec(tok);
    if (f && Number(f[1]) < MAX_FRAMES) {
      items.push({ kind: 'frame', frame: Number(f[1]) });
      return;
    }
  } else if (c0 !== 82 && tok.startsWith('refs=')) {
    const ids = tok.slice(5).split(',').map((x) => Number(x));
    if (ids.every((x) => Number.isSafeInteger(x) && x >= 0)) {
      items.push({ kind: 'refs', ids });
      return;
    }
  }
  if (FLAGS.has(tok)) items.push({ kind: 'flag', name: tok });
  else items.push({ kind: 'other', text: tok });
}

/** regItem on text[s, e) without cutting the token out first. */
function regItemAt(text: string, s: number, e: number): StateItem | undefined {
  let i = s + 1;
  let reg = 0;
  while (i < s + 3 && i < e) {
    const d = text.charCodeAt(i) - 48;
    if (d < 0 || d > 9) break;
    reg = reg * 10 + d;
    i++;
  }
  if (i === s + 1 || reg > 10) return undefined;
  let live = '';
  if (i < e && text.charCodeAt(i) === 95 /* _ */) {
    const eq = text.indexOf('=', i);
    if (eq < 0 || eq >= e || eq - i > 3) return undefined;
    live = text.slice(i + 1, eq);
    if (!/^[rwD]{1,2}$/.test(live)) return undefined;
    i = eq;
  }
  if (i >= e || text.charCodeAt(i) !== 61 /* = */) return undefined;
  return { kind: 'reg', reg, live, raw: text.slice(i + 1, e) };
}
