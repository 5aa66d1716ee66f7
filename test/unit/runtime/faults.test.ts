import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runSession } from '../../../main/runtime/session';
import { DEFAULT_PACKET, PROGS_DIR, REPO_ROOT, examplePrograms } from '../../helpers/ref';
import { loadExample } from './helpers';

/**
 * Programs the verifier would refuse, run anyway: each stops with a fault
 * that names the instruction and the reason, never an exception. Sources
 * are compiled here with clang-19 (inline asm where C cannot express it).
 */
const work = mkdtempSync(path.join(os.tmpdir(), 'bpfscope-faults-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const SRC = `#include "bpfscope.h"
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, long);
	__uint(max_entries, 4);
} h SEC(".maps");
long counter;

SEC("tc") int endless(struct __sk_buff *skb)
{
	for (;;)
		__sync_fetch_and_add(&counter, 1);
	return 0;
}

SEC("tc") int null_value(struct __sk_buff *skb)
{
	__u32 k = 7;
	long *v = bpf_map_lookup_elem(&h, &k);
	return *v;
}

SEC("tc") int past_end(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;

	return *(__u32 *)(data + 100);
}

SEC("tc") int uninit_stack(struct __sk_buff *skb)
{
	long r;
	asm volatile("%0 = *(u64 *)(r10 - 16)" : "=r"(r));
	return r;
}

SEC("tc") int no_such_helper(struct __sk_buff *skb)
{
	asm volatile("call 4000" ::: "r0", "r1", "r2", "r3", "r4", "r5");
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
`;

function build(): string {
  const src = path.join(work, 'faults.bpf.c');
  const obj = path.join(work, 'faults.bpf.o');
  writeFileSync(src, SRC);
  execFileSync('clang-19', ['-g', '-O2', '-target', 'bpf', '-mcpu=v3', `-I${PROGS_DIR}`, '-c', src, '-o', obj]);
  return obj;
}
const obj = build();

function faultOf(objPath: string, prog: string, budget?: number) {
  const p = loadExample(objPath, prog);
  const r = runSession(p, { input: { data: DEFAULT_PACKET }, budget });
  return { fault: r.runs[0].fault, prog: p };
}

describe('faults and the budget', () => {
  it('an endless loop stops at the instruction budget', () => {
    const { fault, prog } = faultOf(obj, 'endless', 100_000);
    expect(fault?.kind).toBe('budget');
    expect(fault?.message).toMatch(/budget of 100000/);
    expect(fault?.step).toBe(100_000);
    expect(fault!.insn).toBeGreaterThanOrEqual(0);
    expect(fault!.insn).toBeLessThan(prog.insns.length);
    expect(fault?.regs).toHaveLength(11);
  });

  it('an unchecked map lookup that returned NULL faults at the load', () => {
    const { fault, prog } = faultOf(obj, 'null_value');
    expect(fault?.kind).toBe('null_deref');
    expect(fault?.message).toMatch(/read from NULL/);
    expect(fault?.text).toMatch(/^\(79\) r\d = \*\(u64 \*\)\(r\d \+0\)$/);
    // The faulting instruction is a load from the lookup's result.
    expect(prog.insns[fault!.insn].code & 0x07).toBe(0x01);
  });

  it('a read past the packet end faults as out of bounds', () => {
    const { fault } = faultOf(obj, 'past_end');
    expect(fault?.kind).toBe('out_of_bounds');
    expect(fault?.message).toMatch(/4-byte read from packet at offset 100, outside its 64 bytes/);
  });

  it('a read of never-written stack faults as uninitialized', () => {
    const { fault } = faultOf(obj, 'uninit_stack');
    expect(fault?.kind).toBe('uninit_read');
    expect(fault?.message).toMatch(/fp-16/);
  });

  it('an unknown helper is named', () => {
    const { fault } = faultOf(obj, 'no_such_helper');
    expect(fault?.kind).toBe('bad_call');
    expect(fault?.message).toMatch(/helper#4000/);
  });

  it('the rejected examples: use after drop and a push without the lock', () => {
    const ex = (o: string) => examplePrograms().find((p) => p.object === o)!;
    const uaf = faultOf(ex('reject_uaf.bpf.o').objectPath, ex('reject_uaf.bpf.o').program).fault;
    expect(uaf?.kind).toBe('use_after_free');
    expect(uaf?.message).toMatch(/object#1 \(struct elem\)/);
    const nolock = faultOf(ex('reject_nolock.bpf.o').objectPath, ex('reject_nolock.bpf.o').program).fault;
    expect(nolock?.kind).toBe('lock');
    expect(nolock?.message).toMatch(/bpf_list_push_\w+ without the bpf_spin_lock held/);
  });

  it('the CLI prints the fault with the registers and exits 1', () => {
    const r = spawnSync('node', [path.join(REPO_ROOT, 'main/bin.mjs'), 'run', obj, '-p', 'endless', '--budget', '5000'], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/^run 0: FAULT at insn \d+ \(step 5000\): budget: instruction budget of 5000 exhausted/m);
    expect(r.stdout).toMatch(/R0=0x[0-9a-f]+ R1=.* R10=0x/);
  });
});
