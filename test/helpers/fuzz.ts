/**
 * Fuzzing helpers for the parsers' tests: a seeded PRNG, so a failing input
 * can be rebuilt from its seed, and the one rule every parser keeps (only a
 * BpfscopeError may escape).
 */
import { BpfscopeError } from '../../main/errors';

/** xorshift32: a small seeded PRNG. */
export function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

/**
 * Run `fn` on one fuzzed input: true when it went through, false when it
 * refused the input with a BpfscopeError. Anything else (a RangeError, or a
 * BpfscopeError that only wraps one as 'internal error: ...') is a bug and
 * is thrown again, naming the input and its seed.
 */
export function onlyBpfscopeErrors(what: string, seed: number, fn: () => void): boolean {
  try {
    fn();
    return true;
  } catch (err) {
    if (err instanceof BpfscopeError && !err.message.startsWith('internal error')) return false;
    throw new Error(`${what} seed ${seed}: ${err instanceof Error ? err.stack : String(err)}`);
  }
}
