import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PROGS_DIR, REPO_ROOT, refLoad } from '../helpers/ref';
import { kernelSkipReason } from '../helpers/kernel';
import { openTrace } from '../../main/trace/db';
import { stateAtStep, stepCount } from '../../main/trace/verifierRead';

export const title =
  'import a ~110 MB level-2 verifier log (targets: at most 3x a bare readline pass, peak RSS < 300 MB; state at a random step: median < 1 ms, p99 < 5 ms)';

/** resources/progs/bench/loop.bpf.c with 6000 iterations: ~110 MB, ~1.5 M lines at level 2 on 6.18. */
const ITERS = 6000;
const RANDOM_STEPS = 1000;

interface ChildResult {
  readlineMs: number;
  readlineAll: number[];
  importAll: number[];
  lines: number;
  importMs: number;
  importCpuMs: number;
  importMainCpuMs: number;
  readlineCpuMs: number;
  maxRssMB: number;
  steps: number;
  paths: number;
  mismatches: number;
  unknownLines: number;
  verdict: string | null;
  programId: number;
}

const pct = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))];

/** A small deterministic generator: the same steps in every run. */
function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 2 ** 32;
  };
}

export async function run(): Promise<void> {
  const skip = kernelSkipReason();
  if (skip) {
    process.stdout.write(`   skipped: ${skip}\n`);
    return;
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bpfscope-bench-import-'));
  try {
    const obj = path.join(dir, 'loop.bpf.o');
    execFileSync('make', ['-s', '-C', PROGS_DIR, 'bench-loop', `ITERS=${ITERS}`, `OUT=${obj}`]);
    const log = path.join(dir, 'loop.log');
    await refLoad(obj, 'bench_loop', { logLevel: 2, logOut: log, logBufSize: 512 << 20 });
    const bytes = statSync(log).size;
    const trace = path.join(dir, 'loop.trace');
    const out = execFileSync(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'test/bench/verifier-import-child.ts'), log, trace], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      maxBuffer: 1 << 20,
    });
    const r = JSON.parse(out.trim().split('\n').pop() as string) as ChildResult;
    const ratio = r.importMs / r.readlineMs;
    process.stdout.write(
      `   log: ${(bytes / 1e6).toFixed(1)} MB, ${r.lines} lines, ${r.steps} steps, ${r.paths} paths, verdict ${r.verdict}, ` +
        `${r.mismatches} mismatches, ${r.unknownLines} unknown lines\n` +
        `   import: ${r.importMs.toFixed(0)} ms (CPU ${r.importCpuMs.toFixed(0)} ms, both threads); readline pass: ${r.readlineMs.toFixed(0)} ms; ` +
        `ratio ${ratio.toFixed(2)}x (target <= 3x) ${ratio <= 3 ? 'OK' : 'MISSED'}\n` +
        `   CPU time: import ${r.importCpuMs.toFixed(0)} ms (main thread ${r.importMainCpuMs.toFixed(0)} ms, the rest deflating on a worker), ` +
        `readline ${r.readlineCpuMs.toFixed(0)} ms: ratio ${(r.importCpuMs / r.readlineCpuMs).toFixed(2)}x (main thread ${(r.importMainCpuMs / r.readlineCpuMs).toFixed(2)}x)\n` +
        `   (best of ${r.importAll.length} interleaved rounds each; import ${r.importAll.map((x) => x.toFixed(0)).join('/')} ms, ` +
        `readline ${r.readlineAll.map((x) => x.toFixed(0)).join('/')} ms; load average ${os.loadavg()[0].toFixed(1)} on ${os.cpus().length} CPUs)\n` +
        `   peak RSS of the importing process: ${r.maxRssMB.toFixed(0)} MB (target < 300 MB) ${r.maxRssMB < 300 ? 'OK' : 'MISSED'}\n` +
        `   trace file: ${(statSync(trace).size / 1e6).toFixed(1)} MB\n`,
    );
    const db = openTrace(trace);
    try {
      const n = stepCount(db, r.programId);
      const rand = lcg(42);
      const times: number[] = [];
      const cpuTimes: number[] = [];
      stateAtStep(db, r.programId, 0);
      for (let i = 0; i < RANDOM_STEPS; i++) {
        const step = Math.floor(rand() * n);
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        stateAtStep(db, r.programId, step);
        times.push(performance.now() - t0);
        const c = process.cpuUsage(c0);
        cpuTimes.push((c.user + c.system) / 1000);
      }
      const med = pct(times, 0.5);
      const p99 = pct(times, 0.99);
      process.stdout.write(
        `   state at ${RANDOM_STEPS} random steps of ${n}: median ${med.toFixed(3)} ms (target < 1) ${med < 1 ? 'OK' : 'MISSED'}, ` +
          `p99 ${p99.toFixed(3)} ms (target < 5) ${p99 < 5 ? 'OK' : 'MISSED'}, max ${Math.max(...times).toFixed(3)} ms\n` +
          `   (CPU time of the same calls: median ${pct(cpuTimes, 0.5).toFixed(3)} ms, p99 ${pct(cpuTimes, 0.99).toFixed(3)} ms; ` +
          `load average during the run ${os.loadavg()[0].toFixed(1)} on ${os.cpus().length} CPUs)\n`,
      );
    } finally {
      db.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
