import { parseRegValue, type RangeStyle, type RegValue } from './regValue';

/**
 * One stack slot as printed (`fp-8=...`): 8 type characters (`m` misc, `0`
 * zero, `?` invalid, `r` spill, `d` dynptr, `i` iter, `f` irq flag), or the
 * value of a spilled register, or a dynptr/iterator/irq-flag object.
 */
export interface StackSlot {
  raw: string;
  kind: 'bytes' | 'spill' | 'dynptr' | 'iter' | 'irq_flag' | 'unknown';
  /** For `bytes`: the per-byte types, high byte first as printed (`0000????`). */
  bytes: string | null;
  /** For `spill`: the spilled register's value. */
  value: RegValue | null;
  /** For dynptr/iter/irq: the type after the prefix (`ringbuf`, `num`) and attributes as printed. */
  objType: string | null;
  attrs: Record<string, string>;
}

const SLOT_BYTES = /^[mr0?dif]{8}$/;

export function parseStackSlot(raw: string, style: RangeStyle = 'modern'): StackSlot {
  const slot: StackSlot = { raw, kind: 'unknown', bytes: null, value: null, objType: null, attrs: {} };
  // Exactly 8 type characters: a slot of bytes. A spilled constant prints as a number (`0`, `42`).
  if (raw.length === 8 && SLOT_BYTES.test(raw)) {
    slot.kind = 'bytes';
    slot.bytes = raw;
    return slot;
  }
  const obj = /^(dynptr|iter|irq_flag)(?:_([a-z0-9_]+))?(?:\((.*)\))?$/.exec(raw);
  if (obj) {
    slot.kind = obj[1] as StackSlot['kind'];
    slot.objType = obj[2] ?? null;
    for (const a of (obj[3] ?? '').split(',')) {
      if (!a) continue;
      const eq = a.indexOf('=');
      if (eq < 0) slot.attrs[a] = '';
      else slot.attrs[a.slice(0, eq)] = a.slice(eq + 1);
    }
    return slot;
  }
  const v = parseRegValue(raw, style);
  slot.kind = v.unparsed ? 'unknown' : 'spill';
  slot.value = v;
  return slot;
}
