import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
/** A second, memory-heavy loop: stack array, global array, 64-bit multiply. */
const MEMLOOP = `#include "bpfscope.h"
__u64 table[64];
SEC("tc") int memloop(struct __sk_buff *skb)
{
	__u64 buf[16] = {};
	__u64 acc = skb->len;
	int i;
#pragma clang loop unroll(disable)
	for (i = 0; i < 4000; i++) {
		buf[i & 15] += acc;
		acc = acc * 6364136223846793005ULL + buf[(i + 3) & 15];
		table[i & 63] ^= acc >> 7;
	}
	return acc;
}
char LICENSE[] SEC("license") = "GPL";
`;

export async function run(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bpfscope-bench-rt-'));
  try {
    const loop = path.join(dir, 'loop.bpf.o');
    execFileSync('make', ['-s', '-C', PROGS_DIR, 'bench-loop', `ITERS=${ITERS}`, `OUT=${loop}`], { stdio: 'pipe' });
    const mem = path.join(dir, 'memloop.bpf.o');
    writeFileSync(path.join(dir, 'memloop.bpf.c'), MEMLOOP);
    execFileSync('clang-19', ['-g', '-O2', '-target', 'bpf', '-mcpu=v3', `-I${PROGS_DIR}`, '-c', path.join(dir, 'memloop.bpf.c'), '-o', mem]);
    let worst = Infinity;
    for (const [obj, name, what] of [
      [loop, 'bench_loop', `resources/progs/bench/loop.bpf.c, ${ITERS} iterations`],
      [mem, 'memloop', 'stack + global array loop, 4000 iterations'],
    ] as const) {
      worst = Math.min(worst, await measure(obj, name, what));
    }
    process.stdout.write(`   ${'target'.padEnd(34)} >= ${TARGET / 1e6} M insns/s: ${worst >= TARGET ? 'met' : 'NOT met'} (slowest ${(worst / 1e6).toFixed(1)} M insns/s)\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function measure(obj: string, name: string, what: string): Promise<number> {
  const prog = loadExample(obj, name);
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
  const ref = await refLoad(obj, name, { run: true, repeat: 1000, data: DEFAULT_PACKET, logLevel: 1 });
  const kernelNs = ref.duration ?? NaN;
  const kernelIps = perRun / (kernelNs / 1e9);
  const line = (k: string, v: string) => process.stdout.write(`   ${k.padEnd(34)} ${v}\n`);
  line('program', `${name} (${what}; ${perRun} instructions a run)`);
  line('  return value', `machine ${r.retval}, kernel ${ref.retval}`);
  line('  bpfscope machine', `${(ips / 1e6).toFixed(1)} M insns/s (${repeat} runs, ${(ns / 1e6 / repeat).toFixed(3)} ms a run)`);
  line('  kernel BPF_PROG_TEST_RUN', `${(kernelNs / 1e3).toFixed(1)} us a run = ${(kernelIps / 1e6).toFixed(0)} M insns/s (JIT, 1000 repeats)`);
  if (r.retval !== ref.retval) throw new Error(`${name}: retval differs: machine ${r.retval}, kernel ${ref.retval}`);
  return ips;
}
