import type { RegValue } from '../../main/api/contract';

/** Small DOM and number helpers shared by the views. */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  cls?: string,
  text?: string,
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

const U64_MAX = (1n << 64n) - 1n;
const S64_MIN = -(1n << 63n);
const S64_MAX = (1n << 63n) - 1n;

/** A 64-bit bound for people: small numbers in decimal, limits by name, the rest in hex. */
export function bound(v: string | null): string {
  if (v === null) return '?';
  const n = BigInt(v);
  if (n === U64_MAX) return 'U64_MAX';
  if (n === S64_MAX) return 'S64_MAX';
  if (n === S64_MIN) return 'S64_MIN';
  if (n >= -65536n && n <= 65536n) return n.toString();
  return (n < 0n ? '-0x' + (-n).toString(16) : '0x' + n.toString(16));
}

/** Is this scalar a known constant (tnum mask 0)? */
export function constValue(r: RegValue): string | null {
  if (r.baseType !== 'scalar' || !r.varOff) return null;
  if (BigInt(r.varOff.mask) !== 0n) return null;
  return bound(BigInt.asIntN(64, BigInt(r.varOff.value)).toString());
}

/** The category a register's type falls in, for its colour. */
export function typeClass(r: RegValue): string {
  if (r.unparsed) return 't-unknown';
  if (r.baseType === 'scalar') return 't-scalar';
  if (r.baseType === 'fp') return 't-stack';
  if (r.baseType === 'ctx') return 't-ctx';
  if (r.baseType.startsWith('map')) return 't-map';
  if (r.baseType.startsWith('pkt')) return 't-pkt';
  if (r.refObjId) return 't-ref';
  return 't-ptr';
}

/**
 * Position of a u64 bound on a log2 scale in [0, 1]: ranges of scalars span
 * 0..2^64, and a linear bar would show every small range as a dot.
 */
export function log2Pos(v: string | null): number {
  if (v === null) return 0;
  const n = BigInt.asUintN(64, BigInt(v));
  if (n === 0n) return 0;
  return (n.toString(2).length) / 64;
}
