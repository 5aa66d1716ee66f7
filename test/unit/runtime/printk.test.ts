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
char LICENSE[] SEC("license") = "GPL";
`;
const work = mkdtempSync(path.join(os.tmpdir(), 'bpfscope-printk-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('bpf_printk', () => {
  it('formats the arguments as the kernel does, one line per call', () => {
    const src = path.join(work, 'say.bpf.c');
    const obj = path.join(work, 'say.bpf.o');
    writeFileSync(src, SRC);
    execFileSync('clang-19', ['-g', '-O2', '-target', 'bpf', '-mcpu=v3', `-I${PROGS_DIR}`, '-c', src, '-o', obj]);
    const r = runSession(loadExample(obj, 'say'), { input: { data: DEFAULT_PACKET }, repeat: 2 });
    const proto = ((DEFAULT_PACKET[12] << 8) | DEFAULT_PACKET[13]).toString(16);
    const expected = [`len=${DEFAULT_PACKET.length} proto=${proto}`, `name=bpfscope neg=-${DEFAULT_PACKET.length}`, 'four 1 2 3 1122334455667788'];
    expect(r.runs.map((x) => x.printk)).toEqual([expected, expected]);
  });
});
