/**
 * Numbers as the verifier prints them: decimal (`-5`, `42`) or hex (`0xffffffff`),
 * for 64-bit quantities that do not fit a JS number.
 *
 * Convention for everything bpfscope exports from the verifier: 64-bit bounds
 * (smin, smax, umin, umax) are **decimal strings** (always, even when small) so
 * that no consumer ever loses precision; tnum parts (varOff value/mask) are
 * **hex strings** as the kernel prints them (`0x0`, `0xffffffff`); 32-bit bounds,
 * ids and offsets are plain numbers.
 */

const U64 = (1n << 64n) - 1n;

/** Parse `-12`, `12`, `0x1f` into a bigint; undefined when it is not a number. */
export function parseNum(text: string): bigint | undefined {
  if (!/^-?(0x[0-9a-f]+|\d+)$/i.test(text) || text.length > 40) return undefined;
  if (text.startsWith('-')) return -BigInt(text.slice(1));
  return BigInt(text);
}

export const asS64 = (v: bigint): bigint => BigInt.asIntN(64, v);
export const asU64 = (v: bigint): bigint => BigInt.asUintN(64, v);
export const asS32 = (v: bigint): number => Number(BigInt.asIntN(32, v));
export const asU32 = (v: bigint): number => Number(BigInt.asUintN(32, v));

export const S64_MIN = -(1n << 63n);
export const S64_MAX = (1n << 63n) - 1n;
export const U64_MAX = U64;
export const S32_MIN = -(2 ** 31);
export const S32_MAX = 2 ** 31 - 1;
export const U32_MAX = 2 ** 32 - 1;

export const hex = (v: bigint): string => `0x${asU64(v).toString(16)}`;

/** A small integer attribute (id=, off=, r=, ks=): a number, or undefined when not one. */
export function smallInt(text: string): number | undefined {
  const v = parseNum(text);
  if (v === undefined) return undefined;
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : undefined;
}
