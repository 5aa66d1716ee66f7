import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runSession } from '../../../main/runtime/session';
import { DEFAULT_PACKET, PROGS_DIR } from '../../helpers/ref';
import { loadExample } from './helpers';

/** bpf_printk (bpf_trace_printk, and bpf_trace_vprintk past three arguments) is captured per run. */
const SRC = `#include "bpfscope.h"
SEC("tc") int say(struct __sk_buff *skb)
{
	char name[] = "bpfscope";
	bpf_printk("len=%u proto=%x", skb->len, bpf_ntohs(skb->protocol));
	bpf_printk("name=%s neg=%d", name, -(int)skb->len);
	bpf_printk("four %d %d %d %llx", 1, 2, 3, 0x1122334455667788ULL);
	return 0;
}

__u64 seen[4];
SEC("tc") int clocks(struct __sk_buff *skb)
{
	seen[0] = bpf_ktime_get_ns();
	seen[1] = bpf_ktime_get_ns();
	seen[2] = bpf_get_prandom_u32();
	seen[3] = bpf_get_prandom_u32();
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
`;
const work = mkdtempSync(path.join(os.tmpdir(), 'bpfscope-printk-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function build(): string {
  const src = path.join(work, 'say.bpf.c');
  const obj = path.join(work, 'say.bpf.o');
  writeFileSync(src, SRC);
  execFileSync('clang-19', ['-g', '-O2', '-target', 'bpf', '-mcpu=v3', `-I${PROGS_DIR}`, '-c', src, '-o', obj]);
  return obj;
}

describe('bpf_printk, time and random numbers', () => {
  const obj = build();
  it('formats the arguments as the kernel does, one line per call', () => {
    const r = runSession(loadExample(obj, 'say'), { input: { data: DEFAULT_PACKET }, repeat: 2 });
    const proto = ((DEFAULT_PACKET[12] << 8) | DEFAULT_PACKET[13]).toString(16);
    const expected = [`len=${DEFAULT_PACKET.length} proto=${proto}`, `name=bpfscope neg=-${DEFAULT_PACKET.length}`, 'four 1 2 3 1122334455667788'];
    expect(r.runs.map((x) => x.printk)).toEqual([expected, expected]);
  });

  it('ktime advances on every read; get_prandom_u32 is deterministic for a seed', () => {
    const seen = (seed: number) => {
      const r = runSession(loadExample(obj, 'clocks'), { input: { data: DEFAULT_PACKET }, seed });
      const hex = r.maps['say.bss'].entries[0].value;
      return [0, 1, 2, 3].map((i) => Buffer.from(hex, 'hex').readBigUInt64LE(i * 8));
    };
    const a = seen(1);
    expect(a[1]).toBeGreaterThan(a[0]);
    expect(a[2]).not.toBe(a[3]);
    expect(seen(1)).toEqual(a);
    expect(seen(2).slice(2)).not.toEqual(a.slice(2));
  });
});
