/** Timing for the object and instruction benchmarks (not a benchmark itself: no .bench.ts). */

/** The best wall time of `reps` runs, in ms: on a shared machine the fastest run says most about the code. */
export function bestOf(fn: () => void, reps = 3): number {
  let t = Infinity;
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    fn();
    t = Math.min(t, performance.now() - t0);
  }
  return t;
}
