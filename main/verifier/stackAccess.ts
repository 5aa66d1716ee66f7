import { HELPER_MEM_ARGS, type HelperMemArg } from '../object/insn/helper-mem';
import { parseRegValue, type RangeStyle } from './regValue';

/**
 * What a helper's memory argument does to the stack slots it points at,
 * which the kernel does not print (kernel/bpf/verifier.c,
 * check_stack_range_initialized, called through check_helper_mem_access for
 * every helper argument of kind map key, map value or memory with a size):
 *
 * - a byte that is STACK_ZERO, or STACK_INVALID (root may pass uninitialised
 *   stack), becomes STACK_MISC: `0000????` read as a 4-byte map key at fp-4
 *   is `mmmm????` after the call;
 * - a slot holding a spilled register in the range becomes an unknown scalar
 *   and all its bytes but the invalid ones STACK_MISC (scrub_spilled_slot):
 *   a spilled constant `1` read as a map value is `mmmmmmmm` after the call.
 *
 * Through 6.13 every helper access does this ("Some accesses can write
 * anything into the stack": clobber = type == ACCESS_HELPER). 6.14 (commit
 * 37cce22dbd51, "bpf: verifier: Refactor helper access type tracking")
 * clobbers only for a write access, so read-only arguments keep their slots.
 * An argument in raw mode (MEM_UNINIT: the helper fills the memory) is not
 * checked there at all: the verifier marks its bytes written one by one
 * afterwards, and those writes are printed.
 *
 * The delta after the call names none of this; only a later full state
 * (`from X to Y:`, a caller block) shows the slot again.
 */

export type { HelperMemArg };

/** MAX_BPF_STACK: a frame's stack is 512 bytes. */
const MAX_STACK = 512;

/** The memory arguments of a helper the log names (`bpf_map_lookup_elem`); none when unknown. */
export function helperMemArgs(name: string): readonly HelperMemArg[] {
  return HELPER_MEM_ARGS[name] ?? [];
}

/**
 * `fp-8`, `fp[1]-8` (another frame, 6.7+): the frame named, if any, and the offset; null for anything else.
 * Undefined too: an insn of a damaged log may name a register past R10 (`r99 = r1`), which no frame holds.
 */
export function stackPointerOf(raw: string | null | undefined): { frame: number | null; off: number } | null {
  if (typeof raw !== 'string' || raw.charCodeAt(0) !== 102 /* f */) return null;
  const m = /^fp(?:\[(\d+)\])?(-?\d+)$/.exec(raw);
  return m ? { frame: m[1] !== undefined ? Number(m[1]) : null, off: Number(m[2]) } : null;
}

/**
 * The bytes an argument covers, from the registers at the call (R1..R5 as
 * `regs[1..5]`): a map key or value takes the size of the map argument
 * (`map_ptr(...,ks=4,vs=8)`), a sized memory argument the largest value of
 * its size register (check_mem_size_reg passes umax). 0 when not known.
 */
export function memArgSize(a: HelperMemArg, regs: readonly (string | null)[], style: RangeStyle): number {
  if (a.size === 'key' || a.size === 'value') {
    for (let r = 1; r <= 5; r++) {
      const raw = regs[r];
      if (!raw || !raw.startsWith('map_ptr(')) continue;
      const m = (a.size === 'key' ? /[(,]ks=(\d+)[,)]/ : /[(,]vs=(\d+)[,)]/).exec(raw);
      // A key or value larger than the stack cannot be on it (and a damaged `ks=` would walk 2^61 slots).
      const n = m ? Number(m[1]) : 0;
      return n > MAX_STACK ? 0 : n;
    }
    return 0;
  }
  if (typeof a.size === 'number') return a.size;
  const raw = regs[a.size.reg];
  if (!raw) return 0;
  const v = parseRegValue(raw, style);
  if (v.unparsed || v.baseType !== 'scalar' || v.umax === null) return 0;
  const n = BigInt(v.umax);
  // More than the whole stack cannot pass the kernel's bounds check.
  return n > BigInt(MAX_STACK) ? 0 : Number(n);
}

/**
 * The slots of [off, off + size) as the kernel stores them (slot base, a
 * multiple of 8 below 0) and, per printed byte (character j of `0000????` is
 * the byte at base + 7 - j), whether it is in the range.
 */
export function slotsOf(off: number, size: number): { base: number; inRange: boolean[] }[] {
  const out: { base: number; inRange: boolean[] }[] = [];
  for (let base = Math.floor(off / 8) * 8; base < off + size; base += 8) {
    const inRange: boolean[] = [];
    for (let j = 0; j < 8; j++) {
      const addr = base + 7 - j;
      inRange.push(addr >= off && addr < off + size);
    }
    out.push({ base, inRange });
  }
  return out;
}

const SCALAR_TEXT = /^P?(-?\d+|0x[0-9a-f]+|scalar\(.*\))$/;

/**
 * How many bytes a printed spilled slot shows before the register's value:
 * 6.3+ print the bytes above a narrow spill (`????42` is a 4-byte spill of
 * 42 with invalid bytes above); a full spill, and any spill before 6.3, shows
 * the value alone (0).
 */
function spillPrefix(raw: string): number {
  for (const len of [7, 6, 4]) {
    if (raw.length > len && /^[m0?]+$/.test(raw.slice(0, len)) && SCALAR_TEXT.test(raw.slice(len))) return len;
  }
  return 0;
}

/**
 * A slot after a helper accessed the bytes `inRange` of it (see the top of
 * this file). `raw` null is an invalid slot (`????????`, not printed).
 * `narrow` is the width of a spill whose print hides the bytes above it
 * (FrameState.stackNarrow): an access to those bytes alone keeps the spill.
 */
export function clobberSlot(raw: string | null, inRange: readonly boolean[], narrow?: number): string {
  const text = raw ?? '????????';
  if (text.length === 8 && /^[m0?]{8}$/.test(text)) {
    let out = '';
    for (let j = 0; j < 8; j++) out += inRange[j] && (text[j] === '0' || text[j] === '?') ? 'm' : text[j];
    return out;
  }
  // Dynptrs, iterators, irq flags: a helper may not read them (the kernel refuses the program).
  if (/^(dynptr|iter|irq_flag)/.test(text) || /^[m0?rdif]{8}$/.test(text)) return text;
  const printedLen = spillPrefix(text);
  const len = printedLen === 0 && narrow !== undefined && narrow < 8 ? 8 - narrow : printedLen;
  // A hidden prefix (before 6.3) is not in the text: its bytes turn misc unseen.
  const prefix = printedLen === 0 ? 'm'.repeat(len) : text.slice(0, len);
  if (!inRange.some((x, j) => x && j >= len)) {
    // Only the bytes above a narrow spill: those become misc, the spill stays.
    let p = '';
    for (let j = 0; j < len; j++) p += inRange[j] && (prefix[j] === '0' || prefix[j] === '?') ? 'm' : prefix[j];
    return printedLen === 0 ? text : p + text.slice(len);
  }
  // The spill is scrubbed: every byte misc but the invalid ones out of the range.
  let out = '';
  for (let j = 0; j < 8; j++) out += j < len && prefix[j] === '?' && !inRange[j] ? '?' : 'm';
  return out;
}

/**
 * What a 64-bit store of a register leaves in a slot, as a kernel before 6.7
 * prints it (check_stack_write_fixed_off and print_verifier_state of 6.1): a
 * known 0 makes zero bytes, an unbounded scalar misc bytes (spilling it came
 * with 6.8); a bounded scalar and a pointer are spilled, printed as `P`, the
 * constant or nothing for a scalar, as the bare type for a pointer (`ctx`,
 * `map_value`, `ptr_`).
 */
export function legacySpill(raw: string): string {
  const v = parseRegValue(raw, 'legacy');
  if (v.unparsed) return raw;
  if (v.baseType === 'scalar') {
    const known = v.varOff !== null && v.varOff.mask === '0x0';
    if (known && v.umin === '0') return '00000000';
    const unbounded = v.smin === '-9223372036854775808' && v.smax === '9223372036854775807' && v.umin === '0' &&
      v.umax === '18446744073709551615' && v.smin32 === -2147483648 && v.smax32 === 2147483647 && v.umin32 === 0 &&
      v.umax32 === 4294967295 && v.varOff?.mask === '0xffffffffffffffff';
    if (unbounded) return 'mmmmmmmm';
    return `${v.precise ? 'P' : ''}${known ? (raw.replace(/^P/, '')) : ''}`;
  }
  const name = raw.indexOf('(') >= 0 ? raw.slice(0, raw.indexOf('(')) : raw;
  const ptr = name.indexOf('ptr_or_null_') >= 0 ? name.indexOf('ptr_or_null_') + 'ptr_or_null_'.length
    : name.indexOf('ptr_') >= 0 ? name.indexOf('ptr_') + 'ptr_'.length : name.length;
  return name.slice(0, ptr);
}
