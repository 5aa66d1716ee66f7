import type { MarkPrecise } from '../verifier/lexer';

/**
 * The kernel's own backtracking, from its `mark_precise:` lines
 * (__mark_chain_precision / backtrack_insn): a run starts with
 * `last_idx L first_idx F subseq_idx -1`, then one line per insn it steps
 * back over, `regs=r1 stack=-8 before N: insn`, where the masks are what it
 * still needs *after* insn N; `parent state regs=… stack=…:` carries them
 * into the state before. Wherever the masks change between two lines, the
 * insn in between defined (or combined) a needed value: that insn belongs
 * in the provenance chain of the registers the run started from (changes
 * into a `parent state` line are not counted: see below). Pure.
 */
export interface PreciseRun {
  /** Index of the run's first line in the events given. */
  first: number;
  /** The frame of the first mask line, and the registers and slots that run set out to make precise. */
  frame: number;
  regs: number[];
  stack: number[];
  /** The insns (with their frame) at which the masks changed: what the kernel followed back through. */
  defs: { insn: number; frame: number }[];
  /** `falling back to forcing all scalars precise` (or another line it did not follow to the end). */
  gaveUp: boolean;
}

/** `r1,r6` (6.x) or a hex mask (`0x42`, `42`: older kernels); registers. */
export function parseRegMask(text: string): number[] {
  const t = text.trim();
  if (t === '') return [];
  if (/r\d/.test(t)) return t.split(',').map((x) => Number(x.trim().replace(/^r/, ''))).filter((n) => Number.isInteger(n) && n >= 0 && n <= 10);
  const v = parseInt(t.replace(/^0x/, ''), 16);
  const out: number[] = [];
  for (let r = 0; r <= 10; r++) if (v & (1 << r)) out.push(r);
  return out;
}

/** `-8,-16` (6.x) or a hex mask of slot indexes (bit i: fp-(i+1)*8). */
/** A `parent state … stack=-8:` line's mask comes with the colon that ends it. */
function stackText(text: string): string {
  return text.trim().replace(/:$/, '');
}

export function parseStackMask(text: string): number[] {
  const t = stackText(text);
  if (t.includes('-')) return t.split(',').map((x) => Number(x.trim())).filter((n) => Number.isInteger(n) && n < 0);
  if (t === '' || !/^(0x)?[0-9a-f]+$/i.test(t)) return [];
  const v = BigInt(`0x${t.replace(/^0x/, '') || '0'}`);
  const out: number[] = [];
  for (let i = 0n; i < 64n; i++) if (v & (1n << i)) out.push(-Number(i + 1n) * 8);
  return out;
}

export function preciseRuns(events: MarkPrecise[]): PreciseRun[] {
  const runs: PreciseRun[] = [];
  let run: PreciseRun | null = null;
  let prev: { insn: number | null; frame: number; key: string; items: Set<string> } | null = null;
  let afterParent = false;
  events.forEach((e, i) => {
    if (e.kind === 'range') {
      // A range right after `parent state` continues the same run in the state before.
      if (!afterParent || !run) {
        run = { first: i, frame: e.frame, regs: [], stack: [], defs: [], gaveUp: false };
        runs.push(run);
        prev = null;
      }
      afterParent = false;
      return;
    }
    if (!run) return;
    const r: PreciseRun = run;
    afterParent = false;
    if (e.kind === 'other') {
      if (/falling back|BUG|WARN/i.test(e.text)) r.gaveUp = true;
      return;
    }
    const key = `${e.frame}|${e.regs.trim()}|${stackText(e.stack)}`;
    if (prev === null && r.regs.length === 0 && r.stack.length === 0) {
      r.frame = e.frame;
      r.regs = parseRegMask(e.regs);
      r.stack = parseStackMask(e.stack);
    }
    const p: { insn: number | null; frame: number; key: string; items: Set<string> } | null = prev;
    // The masks before insn p.insn became `key` after stepping back over it: p.insn changed them
    // (a change of frame is the walk crossing a call, each frame printing its own masks). Not into a
    // `parent state` line: its masks leave out what the parent state already had precise, and the
    // kernel stops there for those; only a location the parent line adds tells that the insn changed the masks.
    const items = new Set([...parseRegMask(e.regs).map((x) => `r${x}`), ...parseStackMask(e.stack).map((x) => `s${x}`)]);
    if (p && p.insn !== null && p.frame === e.frame && p.key !== key) {
      // Into a parent line only what it adds counts: what it lacks may have been precise there already.
      if (e.kind === 'before' || [...items].some((x) => !p.items.has(x))) r.defs.push({ insn: p.insn, frame: p.frame });
    }
    prev = { insn: e.kind === 'before' ? e.insn : null, frame: e.frame, key, items };
    if (e.kind === 'parent') afterParent = true;
  });
  return runs;
}
