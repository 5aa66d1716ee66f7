import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { recordObject } from '../../../main/kernel/record';
import { runSession } from '../../../main/runtime/session';
import { createTrace } from '../../../main/trace/db';
import { readProgramLog } from '../../../main/trace/load';
import { kernelSkipReason, kernelTitle } from '../../helpers/kernel';
import { withSkipReason } from '../../helpers/support';
import { DEFAULT_PACKET, PROGS_DIR, refLoad } from '../../helpers/ref';
import { comparableMaps, loadExample } from './helpers';
import { isaTitle, kernelIsa, refusalLine } from './kernel-probes';

/**
 * Helpers and instruction forms the examples do not all reach, each in a
 * small program compiled here and run in both machines, 1 and 3 runs in a
 * row: hash map update flags and deletes, per-CPU arrays, atomics with
 * fetch, xchg and cmpxchg, bpf_loop with a context, bpf-to-bpf calls with
 * stack arguments, may_goto loops, 32-bit atomics, byte-swaps.
 *
 * Compiled for what the running kernel takes (kernel-probes.ts asks it): cpu
 * v4, else v3; may_goto, else loops_calls's loop is a plain bounded loop. On a
 * kernel whose map ops hand back a negative errno with R0's upper half not
 * sign-extended (6.1: the inlined op returns a 32-bit int), hash_ops's 64-bit
 * sum of return codes is not the kernel's ABI: it is skipped with that reason,
 * and hash_codes checks the same updates and deletes by their 32-bit codes.
 */
const SRC = `#include "bpfscope.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 8);
} hmap SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 2);
} pcpu SEC(".maps");

__u64 atom[6];
__u32 atom32[2];
__s64 results[8];

SEC("tc") int hash_ops(struct __sk_buff *skb)
{
	__u32 k;
	__u64 v = skb->len;
	long r = 0, *p;

#define UPD(K, F) do { k = K; v = v * 31 + K; r = r * 4 + (bpf_map_update_elem(&hmap, &k, &v, F) & 3); } while (0)
	UPD(0, BPF_ANY); UPD(1, BPF_NOEXIST); UPD(2, BPF_ANY); UPD(3, BPF_NOEXIST); UPD(4, BPF_ANY);
	UPD(5, BPF_NOEXIST); UPD(6, BPF_ANY); UPD(7, BPF_NOEXIST); UPD(8, BPF_ANY); UPD(9, BPF_NOEXIST);
	UPD(1, BPF_NOEXIST); UPD(2, BPF_EXIST);
	k = 3;
	r += bpf_map_update_elem(&hmap, &k, &v, BPF_EXIST);
	r += bpf_map_delete_elem(&hmap, &k) * 10;
	r += bpf_map_delete_elem(&hmap, &k) * 100;
	k = 9;
	r += bpf_map_update_elem(&hmap, &k, &v, BPF_EXIST) * 1000;
	k = 5;
	p = bpf_map_lookup_elem(&hmap, &k);
	if (p)
		*p += 1;
	results[0] = r;
	return r;
}

__s32 codes[18];

SEC("tc") int hash_codes(struct __sk_buff *skb)
{
	__u32 k;
	__u64 v = skb->len;
	__u64 *p;

#define UPD32(I, K, F) do { k = K; v = v * 31 + K; codes[I] = bpf_map_update_elem(&hmap, &k, &v, F); } while (0)
	UPD32(0, 0, BPF_ANY); UPD32(1, 1, BPF_NOEXIST); UPD32(2, 2, BPF_ANY); UPD32(3, 3, BPF_NOEXIST);
	UPD32(4, 4, BPF_ANY); UPD32(5, 5, BPF_NOEXIST); UPD32(6, 6, BPF_ANY); UPD32(7, 7, BPF_NOEXIST);
	UPD32(8, 8, BPF_ANY); UPD32(9, 9, BPF_NOEXIST); UPD32(10, 1, BPF_NOEXIST); UPD32(11, 2, BPF_EXIST);
	k = 3;
	codes[12] = bpf_map_update_elem(&hmap, &k, &v, BPF_EXIST);
	codes[13] = bpf_map_delete_elem(&hmap, &k);
	codes[14] = bpf_map_delete_elem(&hmap, &k);
	k = 9;
	codes[15] = bpf_map_update_elem(&hmap, &k, &v, BPF_EXIST);
	k = 5;
	p = bpf_map_lookup_elem(&hmap, &k);
	if (p)
		*p += 1;
	codes[16] = p ? 1 : 0;
	return codes[8] + codes[10] * 3 + codes[14] * 5 + codes[15] * 7;
}

SEC("tc") int percpu_atomics(struct __sk_buff *skb)
{
	__u32 k = 1;
	__u64 *c = bpf_map_lookup_elem(&pcpu, &k);
	__u64 old;

	if (!c)
		return 1;
	*c += skb->len;
	old = __sync_fetch_and_add(&atom[0], skb->len);
	__sync_fetch_and_or(&atom[1], 0x10 << (old & 7));
	__sync_fetch_and_and(&atom[2], ~old);
	__sync_fetch_and_xor(&atom[3], 0xdeadbeefcafeULL);
	atom[4] = __sync_lock_test_and_set(&atom[5], old + 1);
	results[1] = __sync_val_compare_and_swap(&atom[5], old + 1, 77);
	results[2] = __sync_val_compare_and_swap(&atom[5], 12345, 99);
	results[3] = __sync_fetch_and_add(&atom32[0], 0xfffffff0u);
	results[4] = __sync_val_compare_and_swap(&atom32[1], 0, 0x80000001u);
	return (int)(*c + old);
}

struct loop_ctx {
	__u64 acc;
	__u32 stop;
};

static long step(__u64 i, struct loop_ctx *ctx)
{
	ctx->acc = ctx->acc * 33 + i;
	return i == ctx->stop;
}

static __attribute__((noinline)) __u64 mix(__u64 a, __u64 b, __u64 c, __u64 d, __u64 e)
{
	__u64 buf[4] = { a, b, c, d };
	return buf[e & 3] ^ (a << 3) ^ __builtin_bswap64(b) ^ bpf_htons((__u16)c);
}

SEC("tc") int loops_calls(struct __sk_buff *skb)
{
	struct loop_ctx ctx = { .acc = skb->len, .stop = skb->len % 17 };
	long n = bpf_loop(40, step, &ctx, 0);
	__u64 m = mix(ctx.acc, n, skb->len, skb->protocol, ctx.acc);
	__u64 i = 0;

	results[5] = n;
	results[6] = ctx.acc;
#ifdef HAVE_MAY_GOTO
	asm volatile goto("may_goto %l[out]" ::: "memory" : out);
#endif
	while (i < 1000) {
		m = m * 5 + i;
		i++;
#ifdef HAVE_MAY_GOTO
		asm volatile goto("may_goto %l[out]" ::: "memory" : out);
#endif
	}
#ifdef HAVE_MAY_GOTO
out:
#endif
	results[7] = m;
	return (int)(m >> 7);
}

unsigned long long load_byte(void *skb, unsigned long long off) asm("llvm.bpf.load.byte");
unsigned long long load_half(void *skb, unsigned long long off) asm("llvm.bpf.load.half");
unsigned long long load_word(void *skb, unsigned long long off) asm("llvm.bpf.load.word");

SEC("tc") int ld_abs(struct __sk_buff *skb)
{
	__u64 ihl = (load_byte(skb, 14) & 0xf) * 4;
	__u64 v = load_half(skb, 12) * 3 + load_word(skb, 26) + load_half(skb, 14 + ihl + 2);

	results[0] = v;
	if (skb->len > 40)
		v += load_word(skb, skb->len - 2); /* past the end: the program returns 0 */
	return v;
}

SEC("tc") int ld_ind(struct __sk_buff *skb)
{
	__u64 ihl = (load_byte(skb, 14) & 0xf) * 4;

	return load_half(skb, 14 + ihl) ^ load_word(skb, 14 + ihl + 4);
}

SEC("tc") int packet_inc(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	__u8 *b = data + 20;

	if ((void *)(b + 1) > end)
		return 1;
	*b += 1;
	skb->mark += 5;
	return *b + skb->mark;
}

struct sys_args {
	__u64 x;
	__u32 y;
	__u32 pad;
	__u64 out;
};

SEC("syscall") int sys(struct sys_args *a)
{
	__u32 k = 0;
	__u64 v = a->x * a->y;

	a->out = v ^ 0x5555;
	bpf_map_update_elem(&hmap, &k, &v, BPF_ANY);
	return a->x + a->y;
}

char LICENSE[] SEC("license") = "GPL";
`;

const work = mkdtempSync(path.join(os.tmpdir(), 'bpfscope-features-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const isa = await kernelIsa();
function build(mayGoto = !isa?.mayGotoRefused): string {
  const name = mayGoto ? 'features' : 'features_nogoto';
  const src = path.join(work, `${name}.bpf.c`);
  const obj = path.join(work, `${name}.bpf.o`);
  writeFileSync(src, SRC);
  const defs = mayGoto ? ['-DHAVE_MAY_GOTO'] : [];
  execFileSync('clang-19', ['-g', '-O2', '-target', 'bpf', `-mcpu=${isa?.mcpu ?? 'v4'}`, ...defs, `-I${PROGS_DIR}`, '-c', src, '-o', obj]);
  return obj;
}

/** Why a program's comparison does not hold on this kernel, or undefined. */
const skipWhy: Record<string, string | undefined> = { hash_ops: isa?.mapErrnoNotSignExtended };
/** What a program was compiled without on this kernel, for its title. */
const variant: Record<string, string | undefined> = { loops_calls: isa?.mayGotoRefused && `a bounded loop in place of may_goto: ${isa.mayGotoRefused}` };

describe.skipIf(!!kernelSkipReason())(kernelTitle(`helpers, atomics, calls and loops${isaTitle(isa)} vs BPF_PROG_TEST_RUN`), () => {
  const obj = build();
  it('a syscall program runs on its context and writes it back', async () => {
    const args = Buffer.alloc(24);
    args.writeBigUInt64LE(0x1234567n, 0);
    args.writeUInt32LE(1000, 8);
    const ref = await refLoad(obj, 'sys', { run: true, dumpMaps: true, data: args });
    expect(ref.verdict, ref.log.slice(-800)).toBe('accepted');
    const ours = runSession(loadExample(obj, 'sys'), { input: { ctx: args } });
    expect(ours.runs[0].fault).toBeUndefined();
    expect(ours.retval).toBe(ref.retval);
    expect(ours.runs[0].dataOut).toBe(Buffer.from(ref.dataOut ?? []).toString('hex'));
    const cmp = comparableMaps(ours.maps, ref.maps ?? {});
    expect(cmp.ours).toEqual(cmp.theirs);
  });
  for (const prog of ['hash_ops', 'hash_codes', 'percpu_atomics', 'loops_calls', 'ld_abs', 'ld_ind', 'packet_inc']) {
    for (const repeat of [1, 3]) {
      const title = `${prog} x${repeat}${variant[prog] ? ` (${variant[prog]})` : ''}`;
      it.skipIf(!!skipWhy[prog])(withSkipReason(title, skipWhy[prog]), async () => {
        const ref = await refLoad(obj, prog, { run: true, dumpMaps: true, repeat, data: DEFAULT_PACKET });
        expect(ref.verdict, ref.log.slice(-800)).toBe('accepted');
        const ours = runSession(loadExample(obj, prog), { repeat, input: { data: DEFAULT_PACKET } });
        expect(ours.runs.map((r) => r.fault)).toEqual(ours.runs.map(() => undefined));
        expect(ours.retval).toBe(ref.retval);
        // Per-CPU maps: the kernel dumps every CPU's copy; the program ran on one CPU of
        // them, so the machine's CPU 0 value must be one of the copies and the rest zero.
        const theirs = { ...(ref.maps ?? {}) };
        if (theirs.pcpu) {
          const ourPcpu = ours.maps.pcpu.entries;
          for (const e of theirs.pcpu) {
            const copies = Buffer.from(e.value, 'hex');
            const slots = [];
            for (let off = 0; off < copies.length; off += 8) slots.push(copies.subarray(off, off + 8).toString('hex'));
            const mine = ourPcpu.find((x) => x.key === e.key)!.value;
            const nonzero = slots.filter((s) => s !== '0000000000000000');
            expect(nonzero.length <= 1 && (nonzero[0] ?? '0000000000000000') === mine).toBe(true);
          }
          delete theirs.pcpu;
        }
        const cmp = comparableMaps(ours.maps, theirs);
        expect(cmp.ours).toEqual(cmp.theirs);
      });
    }
  }
});

describe.skipIf(!!kernelSkipReason())(kernelTitle('loops_calls with may_goto, recorded'), () => {
  it(`bpfscope's recording gets the verdict, errno and log line libbpf gets${isa?.mayGotoRefused ? ` (${isa.mayGotoRefused})` : ' (the kernel takes may_goto)'}`, async () => {
    const obj = build(true);
    const ref = await refLoad(obj, 'loops_calls', { logLevel: 1 });
    expect(ref.verdict).toBe(isa?.mayGotoRefused ? 'rejected' : 'accepted');
    const db = createTrace(path.join(work, 'loops_calls.trace'));
    const [o] = await recordObject(db, obj, { programs: ['loops_calls'], logLevel: 1 });
    expect(o.verdict).toBe(ref.verdict);
    expect(o.errno ?? 0).toBe(ref.errno);
    const log = readProgramLog(db, o.programId)!.toString('utf8');
    expect(refusalLine(log)).toBe(refusalLine(ref.log));
    if (isa?.mayGotoRefused) expect(isa.mayGotoRefused).toContain(refusalLine(log));
    db.close();
  });
});
