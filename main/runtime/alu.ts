/**
 * 64-bit arithmetic on (lo, hi) pairs of signed 32-bit words, the register
 * representation of the interpreter. Add, sub, logic and compares are inlined
 * in the hot loop; the rarer operations live here. Division goes through
 * BigInt only when an operand does not fit in 32 bits.
 */

/** Upper 32 bits of the unsigned 64-bit product of two u32 (as int32 bits). */
export function mulhiU32(a: number, b: number): number {
  const a0 = a & 0xffff;
  const a1 = a >>> 16;
  const b0 = b & 0xffff;
  const b1 = b >>> 16;
  const p01 = a0 * b1;
  const p10 = a1 * b0;
  const mid = ((a0 * b0) >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  return (a1 * b1 + (p01 >>> 16) + (p10 >>> 16) + (mid >>> 16)) | 0;
}

export function toBig(lo: number, hi: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

export function toBigSigned(lo: number, hi: number): bigint {
  return BigInt.asIntN(64, toBig(lo, hi));
}

/** Result pair of the slow operations: [lo, hi]. */
export type Pair = [number, number];

export function fromBig(v: bigint): Pair {
  const u = BigInt.asUintN(64, v);
  return [Number(u & 0xffffffffn) | 0, Number(u >> 32n) | 0];
}

/**
 * BPF_DIV/BPF_MOD, 64-bit, as the kernel's interpreter defines them
 * (kernel/bpf/core.c): x / 0 = 0, x % 0 = x; signed (off=1): S64_MIN / -1
 * wraps to S64_MIN and S64_MIN % -1 = 0 (the JITs special-case -1 the same way).
 */
export function div64(alo: number, ahi: number, blo: number, bhi: number, signed: boolean, mod: boolean): Pair {
  if (blo === 0 && bhi === 0) return mod ? [alo, ahi] : [0, 0];
  if (!signed && ahi === 0 && bhi === 0) {
    const a = alo >>> 0;
    const b = blo >>> 0;
    return mod ? [a % b | 0, 0] : [Math.floor(a / b) | 0, 0];
  }
  if (signed) {
    const a = toBigSigned(alo, ahi);
    const b = toBigSigned(blo, bhi);
    if (b === -1n) return mod ? [0, 0] : fromBig(-a);
    return fromBig(mod ? a % b : a / b); // BigInt truncates toward zero, like C
  }
  const a = toBig(alo, ahi);
  const b = toBig(blo, bhi);
  return fromBig(mod ? a % b : a / b);
}

/** 32-bit division: x / 0 = 0, x % 0 = x (zero-extended by the caller). */
export function div32(a: number, b: number, signed: boolean, mod: boolean): number {
  if (b === 0) return mod ? a : 0;
  if (signed) {
    if (b === -1) return mod ? 0 : -a | 0;
    const q = a / b;
    return mod ? a % b | 0 : (q < 0 ? Math.ceil(q) : Math.floor(q)) | 0;
  }
  const ua = a >>> 0;
  const ub = b >>> 0;
  return mod ? ua % ub | 0 : Math.floor(ua / ub) | 0;
}

export function bswap16(v: number): number {
  return ((v & 0xff) << 8) | ((v >>> 8) & 0xff);
}

export function bswap32(v: number): number {
  return (((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | ((v >>> 24) & 0xff)) | 0;
}

/** 64-bit shifts on pairs; `s` is already masked to 0..63. */
export function shl64(lo: number, hi: number, s: number): Pair {
  if (s === 0) return [lo, hi];
  if (s < 32) return [lo << s, (hi << s) | (lo >>> (32 - s))];
  return [0, lo << (s - 32)];
}

export function shr64(lo: number, hi: number, s: number): Pair {
  if (s === 0) return [lo, hi];
  if (s < 32) return [(lo >>> s) | (hi << (32 - s)), hi >>> s | 0];
  return [hi >>> (s - 32) | 0, 0];
}

export function sar64(lo: number, hi: number, s: number): Pair {
  if (s === 0) return [lo, hi];
  if (s < 32) return [(lo >>> s) | (hi << (32 - s)), hi >> s];
  return [hi >> (s - 32), hi >> 31];
}
