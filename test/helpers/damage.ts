/**
 * Damaged copies of a trace file for the trace tests: the ways a file gets
 * hurt in practice (a copy cut short, a bit flipped on a disk or a wire, a
 * block of a page written with garbage, pages in the wrong order), each from
 * a seeded PRNG (fuzz.ts rng) so that a failing file can be rebuilt.
 */
import { rng } from './fuzz';

export const PAGE = 4096;
export type Mutation = 'truncate' | 'bitflip' | 'overwrite' | 'swap';
export const MUTATIONS: readonly Mutation[] = ['truncate', 'bitflip', 'overwrite', 'swap'];

/** Pick a uniform integer in [0, n) from a PRNG. */
const pick = (next: () => number, n: number): number => next() % Math.max(1, n);

/** `pages` 4 KB blocks starting at page `first` replaced by random bytes. */
export function overwritePages(bytes: Uint8Array, seed: number, pages: readonly number[]): Uint8Array {
  const out = Uint8Array.from(bytes);
  const next = rng(seed);
  for (const p of pages) for (let i = p * PAGE; i < Math.min(out.length, (p + 1) * PAGE); i++) out[i] = next() & 0xff;
  return out;
}

/** One mutated copy of `bytes`: the kind, and a short description of what was done (for failure messages). */
export function mutate(bytes: Uint8Array, kind: Mutation, seed: number): { bytes: Uint8Array; what: string } {
  const next = rng(seed);
  const pages = Math.floor(bytes.length / PAGE);
  switch (kind) {
    case 'truncate': {
      // Half of them on a page boundary (a copy that stopped between writes), half anywhere.
      const at = next() & 1 ? pick(next, pages) * PAGE : pick(next, bytes.length);
      return { bytes: bytes.slice(0, at), what: `truncated to ${at} bytes` };
    }
    case 'bitflip': {
      const out = Uint8Array.from(bytes);
      const n = 1 + pick(next, 16);
      const at: number[] = [];
      for (let i = 0; i < n; i++) {
        const bit = pick(next, bytes.length * 8);
        out[bit >> 3] ^= 1 << (bit & 7);
        at.push(bit);
      }
      return { bytes: out, what: `bits ${at.join(',')} flipped` };
    }
    case 'overwrite': {
      const n = 1 + pick(next, 3);
      // Page 0 holds the header and the schema: keep it mostly out of reach so the other pages get hit.
      const which = Array.from({ length: n }, () => 1 + pick(next, pages - 1));
      return { bytes: overwritePages(bytes, next(), which), what: `pages ${which.join(',')} overwritten` };
    }
    case 'swap': {
      const out = Uint8Array.from(bytes);
      const a = pick(next, pages);
      const b = pick(next, pages);
      out.set(bytes.subarray(b * PAGE, (b + 1) * PAGE), a * PAGE);
      out.set(bytes.subarray(a * PAGE, (a + 1) * PAGE), b * PAGE);
      return { bytes: out, what: `pages ${a} and ${b} swapped` };
    }
  }
}
