import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PROGS_DIR, DEFAULT_PACKET, refLoad } from '../helpers/ref';
import { loadExample } from '../unit/runtime/helpers';
import { runSession } from '../../main/runtime/session';

export const title = "runtime: instructions per second of bpfscope's BPF machine (target >= 20 M insns/s)";

const ITERS = 6000;
const TARGET = 20e6;

/**
 * resources/progs/bench/loop.bpf.c with 6000 iterations (a data-dependent
 * branch, mul, shifts, xor in every iteration; ~72k instructions a run), run
 * many times in a row in the machine, and BPF_PROG_TEST_RUN's duration for
 * the same program and packet as the reference (the kernel JIT).
 */
export async function run(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bpfscope-bench-rt-'));
  try {
    const obj = path.join(dir, 'loop.bpf.o');
    execFileSync('make', ['-s', '-C', PROGS_DIR, 'bench-loop', `ITERS=${ITERS}`, `OUT=${obj}`], { stdio: 'pipe' });
    const prog = loadExample(obj, 'bench_loop');
    const input = { data: DEFAULT_PACKET };
    // Warm-up (JIT tiers), then the measured runs.
    runSession(prog, { input, repeat: 20 });
    const repeat = 300;
    const t0 = process.hrtime.bigint();
    const r = runSession(prog, { input, repeat });
    const ns = Number(process.hrtime.bigint() - t0);
    const insns = r.runs.reduce((s, x) => s + x.steps, 0);
    const perRun = r.runs[0].steps;
    const ips = insns / (ns / 1e9);
    const ref = await refLoad(obj, 'bench_loop', { run: true, repeat: 1000, data: DEFAULT_PACKET, logLevel: 1 });
    const kernelNs = ref.duration ?? NaN;
    const kernelIps = perRun / (kernelNs / 1e9);
    const line = (k: string, v: string) => process.stdout.write(`   ${k.padEnd(34)} ${v}\n`);
    line('program', `bench_loop (${ITERS} iterations, ${perRun} instructions a run, retval ${r.retval})`);
    line('kernel retval (BPF_PROG_TEST_RUN)', String(ref.retval));
    line('bpfscope machine', `${(ips / 1e6).toFixed(1)} M insns/s (${repeat} runs, ${(ns / 1e6 / repeat).toFixed(3)} ms a run)`);
    line('kernel BPF_PROG_TEST_RUN', `${(kernelNs / 1e3).toFixed(1)} us a run = ${(kernelIps / 1e6).toFixed(0)} M insns/s (JIT, 1000 repeats)`);
    line('target', `>= ${TARGET / 1e6} M insns/s: ${ips >= TARGET ? 'met' : 'NOT met'}`);
    if (r.retval !== ref.retval) throw new Error(`retval differs: machine ${r.retval}, kernel ${ref.retval}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
