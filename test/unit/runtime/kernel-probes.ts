/**
 * What the running kernel accepts, asked by loading a tiny program with
 * libbpf (test/ref/refload) on this kernel, never guessed from its version:
 * the runtime tests that compile their own programs choose the instruction
 * set and forms the kernel takes, and say in their titles what they chose.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { kernelSkipReason } from '../../helpers/kernel';
import { PROGS_DIR, refLoad } from '../../helpers/ref';

/** The line of a rejected load's log that says why (the one before `processed N insns`). */
export function refusalLine(log: string): string {
  const lines = log.split('\n').filter((l) => l.trim() !== '' && !/^processed \d+ insns/.test(l) && !/^verification time/.test(l) && !/^stack depth/.test(l));
  return lines.at(-1) ?? '(empty log)';
}

/**
 * Loads `prog` of the C `source` (compiled by clang-19 with -mcpu) on this
 * kernel. Undefined when the kernel accepts it; else what it said.
 */
async function refusal(name: string, source: string, mcpu: string): Promise<string | undefined> {
  const dir = mkdtempSync(path.join(os.tmpdir(), `bpfscope-probe-${name}-`));
  try {
    const src = path.join(dir, `${name}.bpf.c`);
    const obj = path.join(dir, `${name}.bpf.o`);
    writeFileSync(src, source);
    execFileSync('clang-19', ['-g', '-O2', '-target', 'bpf', `-mcpu=${mcpu}`, `-I${PROGS_DIR}`, '-c', src, '-o', obj], { stdio: 'pipe' });
    const r = await refLoad(obj, name, { logLevel: 1 });
    if (r.verdict === 'accepted') return undefined;
    return `${refusalLine(r.log)} (errno ${r.errno})`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Every class of cpu v4 instruction (clang -mcpu=v4): byte swap, sign-extending
 * moves (64 and 32 bit), signed division and modulo, sign-extending loads, and
 * the 32-bit-offset goto.
 */
const V4_SRC = `#include "bpfscope.h"
SEC("tc") int probe_v4(struct __sk_buff *skb)
{
	__u64 r = skb->len;
	asm volatile(
		"r1 = %[r];"
		"r1 = bswap64 r1;"
		"r1 = (s8)r1;"
		"w1 = (s16)w1;"
		"r1 = (s32)r1;"
		"r1 s/= 3;"
		"r1 s%%= 5;"
		"*(u64 *)(r10 - 8) = r1;"
		"r1 = *(s8 *)(r10 - 8);"
		"r1 = *(s16 *)(r10 - 8);"
		"r1 = *(s32 *)(r10 - 8);"
		"gotol +0;"
		"%[r] = r1;"
		: [r] "+r"(r) :: "r1", "memory");
	return r;
}
char LICENSE[] SEC("license") = "GPL";
`;

const MAY_GOTO_SRC = `#include "bpfscope.h"
SEC("tc") int probe_may_goto(struct __sk_buff *skb)
{
	asm volatile goto("may_goto %l[out]" ::: "memory" : out);
	return 1;
out:
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
`;

/**
 * bpf_map_delete_elem of a missing key returns -ENOENT: the program returns
 * the upper half of the 64-bit R0 it got (0xffffffff when sign-extended).
 */
const MAP_ERRNO_SRC = `#include "bpfscope.h"
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 2);
} m SEC(".maps");
SEC("tc") int probe_map_errno(struct __sk_buff *skb)
{
	__u32 k = 7;
	long r = bpf_map_delete_elem(&m, &k);
	return (int)((unsigned long)r >> 32);
}
char LICENSE[] SEC("license") = "GPL";
`;

export interface KernelIsa {
  /** The -mcpu clang compiles for: v4 when this kernel takes every v4 instruction, else v3. */
  mcpu: 'v4' | 'v3';
  /** Why not v4: what the kernel said to the v4 probe. */
  v4Refused?: string;
  /** What the kernel said to may_goto (undefined: accepted). */
  mayGotoRefused?: string;
  /**
   * Set when the kernel hands a program a map op's negative errno with R0's
   * upper half not sign-extended (the inlined map op returns a 32-bit int).
   */
  mapErrnoNotSignExtended?: string;
}

let probed: Promise<KernelIsa> | undefined;

/** What this kernel accepts (probed once per test file); undefined without a kernel to ask. */
export async function kernelIsa(): Promise<KernelIsa | undefined> {
  if (kernelSkipReason()) return undefined;
  probed ??= (async () => {
    const release = os.release();
    const v4 = await refusal('probe_v4', V4_SRC, 'v4');
    const mayGoto = await refusal('probe_may_goto', MAY_GOTO_SRC, 'v3');
    const isa: KernelIsa = { mcpu: v4 ? 'v3' : 'v4' };
    if (v4) isa.v4Refused = `kernel ${release} refuses cpu v4 instructions: ${v4}`;
    if (mayGoto) isa.mayGotoRefused = `kernel ${release} refuses may_goto: ${mayGoto}`;
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bpfscope-probe-errno-'));
    try {
      const src = path.join(dir, 'probe_map_errno.bpf.c');
      const obj = path.join(dir, 'probe_map_errno.bpf.o');
      writeFileSync(src, MAP_ERRNO_SRC);
      execFileSync('clang-19', ['-g', '-O2', '-target', 'bpf', '-mcpu=v3', `-I${PROGS_DIR}`, '-c', src, '-o', obj], { stdio: 'pipe' });
      const r = await refLoad(obj, 'probe_map_errno', { logLevel: 1, run: true });
      if (r.verdict !== 'accepted') throw new Error(`the map errno probe was rejected: ${refusalLine(r.log)}`);
      if (r.retval !== 0xffffffff) {
        isa.mapErrnoNotSignExtended = `kernel ${release} returns bpf_map_delete_elem's -ENOENT with R0's upper half 0x${(r.retval ?? 0).toString(16)}, not sign-extended (the map op returns a 32-bit int)`;
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    return isa;
  })();
  return probed;
}

/** ` (cpu v4)`, or ` (cpu v3: kernel … refuses cpu v4 instructions: …)`: which ISA a test compiled for, and why. */
export const isaTitle = (isa: KernelIsa | undefined): string => (isa ? ` (cpu ${isa.mcpu}${isa.v4Refused ? `: ${isa.v4Refused}` : ''})` : '');
