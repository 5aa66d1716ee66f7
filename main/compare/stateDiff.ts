import { parseRegValue, type RangeStyle, type RegValue } from '../verifier/regValue';
import { parseStackSlot } from '../verifier/stackSlot';
import type { VerifierState } from '../verifier/state';

/**
 * Whether two verifier states (as reconstructed from two logs) hold the
 * same values, and where they do not. Values are compared decoded, not as
 * text: two kernels print the same scalar differently (5.x-6.6 leave out a
 * bound equal to another, 6.7+ one at its type's default; `R1_w=` carries a
 * liveness suffix), and what a kernel developer asks is whether the
 * verifier knew the same things. Liveness (`_w`, `D`) is not compared: it
 * is bookkeeping of the printing kernel, not knowledge about the value.
 * Pure.
 */

/** What about a register or slot differs. */
export type DiffAspect =
  /** Set on one side, not initialised (not printed) on the other. */
  | 'init'
  /** Type, pointee, modifiers, `_or_null`, the map pointed to, non-owning. */
  | 'type'
  /** smin/smax/umin/umax and their 32-bit halves. */
  | 'range'
  /** var_off. */
  | 'tnum'
  | 'id'
  | 'ref_obj_id'
  | 'off'
  | 'precise'
  /** Other attributes (`r=`, `sz=`, `imm=`…), a slot's byte types, a dynptr's or iterator's state, text that could not be decoded. */
  | 'other';

export interface LocationDiff {
  frame: number;
  /** `R3`, `fp-8`; `refs` (references held), `lock`, `frame` (a frame on one side only, or its flags). */
  name: string;
  aspects: DiffAspect[];
  /** Each side's text as the kernel printed it; null when not set there. */
  a: string | null;
  b: string | null;
}

const TYPE_FIELDS = ['type', 'baseType', 'pointee', 'orNull', 'nonOwnRef', 'map', 'ks', 'vs', 'fpFrame'] as const;
const RANGE_FIELDS = ['smin', 'smax', 'umin', 'umax', 'smin32', 'smax32', 'umin32', 'umax32'] as const;

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Attributes without the zeros older kernels print and newer ones leave out (`imm=0`, `r=0`), in key order. */
function sparseAttrs(attrs: Record<string, string>): [string, string][] {
  return Object.entries(attrs).filter(([k, v]) => !(v === '0' && (k === 'imm' || k === 'r'))).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0));
}

/** The aspects in which two decoded values differ (empty: the same value, however printed). */
export function valueAspects(a: RegValue, b: RegValue): DiffAspect[] {
  const out: DiffAspect[] = [];
  if (a.unparsed || b.unparsed) return a.raw === b.raw ? out : ['other'];
  if (TYPE_FIELDS.some((f) => a[f] !== b[f]) || !sameJson(a.modifiers, b.modifiers)) out.push('type');
  if (RANGE_FIELDS.some((f) => a[f] !== b[f])) out.push('range');
  if (a.varOff?.value !== b.varOff?.value || a.varOff?.mask !== b.varOff?.mask) out.push('tnum');
  // 5.x-6.6 print `id=0`, `off=0`, `imm=0` where 6.7+ print nothing: the same value.
  if ((a.id || null) !== (b.id || null)) out.push('id');
  if ((a.refObjId || null) !== (b.refObjId || null)) out.push('ref_obj_id');
  if ((a.off || null) !== (b.off || null)) out.push('off');
  if (a.precise !== b.precise) out.push('precise');
  if (!sameJson(sparseAttrs(a.attrs), sparseAttrs(b.attrs))) out.push('other');
  return out;
}

function slotAspects(a: string, b: string, styleA: RangeStyle, styleB: RangeStyle): DiffAspect[] {
  const sa = parseStackSlot(a, styleA);
  const sb = parseStackSlot(b, styleB);
  if (sa.kind === 'spill' && sb.kind === 'spill' && sa.value && sb.value) return valueAspects(sa.value, sb.value);
  if (sa.kind !== sb.kind) return sa.kind === 'spill' || sb.kind === 'spill' ? ['type'] : ['other'];
  return sa.bytes === sb.bytes && sa.objType === sb.objType && sameJson(sa.attrs, sb.attrs) ? [] : ['other'];
}

export interface DiffOptions {
  /** How each side's kernel spelled its ranges (see regValue.ts). */
  styleA: RangeStyle;
  styleB: RangeStyle;
  /** Stop at the first difference (a yes/no question: the scan asks it at every step). */
  first?: boolean;
}

/**
 * Every register, stack slot, reference and the lock, frame by frame, that
 * differs between `a` and `b`. Texts that are equal are not decoded, so a
 * comparison of equal states costs a string compare per register.
 */
export function stateDifferences(a: VerifierState, b: VerifierState, opts: DiffOptions): LocationDiff[] {
  const out: LocationDiff[] = [];
  const add = (d: LocationDiff): boolean => {
    out.push(d);
    return opts.first === true;
  };
  const frames = Math.max(a.frames.length, b.frames.length);
  for (let i = 0; i < frames; i++) {
    const fa = a.frames[i];
    const fb = b.frames[i];
    if (!fa || !fb) {
      if (add({ frame: i, name: 'frame', aspects: ['init'], a: fa ? `frame ${i}` : null, b: fb ? `frame ${i}` : null })) return out;
      continue;
    }
    if (fa.flags.join(' ') !== fb.flags.join(' ')) {
      if (add({ frame: i, name: 'frame', aspects: ['other'], a: fa.flags.join(' '), b: fb.flags.join(' ') })) return out;
    }
    for (let r = 0; r < Math.max(fa.regs.length, fb.regs.length); r++) {
      const ra = fa.regs[r] ?? null;
      const rb = fb.regs[r] ?? null;
      if (ra === rb) continue;
      const aspects = ra === null || rb === null ? ['init' as const] : valueAspects(parseRegValue(ra, opts.styleA), parseRegValue(rb, opts.styleB));
      if (aspects.length > 0 && add({ frame: i, name: `R${r}`, aspects, a: ra, b: rb })) return out;
    }
    // Slots from the top of the frame down, as the kernel prints them.
    const offs = [...new Set([...Object.keys(fa.stack), ...Object.keys(fb.stack)])].sort((x, y) => Number(y) - Number(x));
    for (const off of offs) {
      const sa = Object.hasOwn(fa.stack, off) ? fa.stack[off] : null;
      const sb = Object.hasOwn(fb.stack, off) ? fb.stack[off] : null;
      if (sa === sb) continue;
      const aspects = sa === null || sb === null ? ['init' as const] : slotAspects(sa, sb, opts.styleA, opts.styleB);
      if (aspects.length > 0 && add({ frame: i, name: `fp${off}`, aspects, a: sa, b: sb })) return out;
    }
  }
  const cur = frames - 1;
  const refsA = [...a.refs].sort((x, y) => x - y).join(',');
  const refsB = [...b.refs].sort((x, y) => x - y).join(',');
  if (refsA !== refsB && add({ frame: cur, name: 'refs', aspects: ['ref_obj_id'], a: refsA || null, b: refsB || null })) return out;
  if (a.lockHeld !== b.lockHeld) add({ frame: cur, name: 'lock', aspects: ['init'], a: a.lockHeld ? 'held' : null, b: b.lockHeld ? 'held' : null });
  return out;
}

/** Whether the two states hold the same values (stateDifferences is empty). */
export function sameState(a: VerifierState, b: VerifierState, styleA: RangeStyle, styleB: RangeStyle): boolean {
  return stateDifferences(a, b, { styleA, styleB, first: true }).length === 0;
}
