import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runSession } from '../../../main/runtime/session';
import { DEFAULT_PACKET, PROGS_DIR } from '../../helpers/ref';
import { loadExample } from './helpers';

/** Ring buffer records are captured in order; map types the machine does not model fault only when used. */
const SRC = `#include "bpfscope.h"
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} rb SEC(".maps");
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u32);
} jumps SEC(".maps");

SEC("tc") int emit(struct __sk_buff *skb)
{
	__u32 *rec = bpf_ringbuf_reserve(&rb, 8, 0);
	__u64 len = skb->len;

	if (rec) {
		rec[0] = 0xabcd;
		rec[1] = skb->len;
		bpf_ringbuf_submit(rec, 0);
	}
	rec = bpf_ringbuf_reserve(&rb, 4, 0);
	if (rec) {
		rec[0] = 1;
		bpf_ringbuf_discard(rec, 0);
	}
	return bpf_ringbuf_output(&rb, &len, sizeof(len), 0);
}

SEC("tc") int tail(struct __sk_buff *skb)
{
	__u32 k = 0;
	return bpf_map_lookup_elem(&jumps, &k) != 0;
}
char LICENSE[] SEC("license") = "GPL";
`;
const work = mkdtempSync(path.join(os.tmpdir(), 'bpfscope-ringbuf-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('ring buffers and maps the machine does not model', () => {
  const src = path.join(work, 'rb.bpf.c');
  const obj = path.join(work, 'rb.bpf.o');
  writeFileSync(src, SRC);
  execFileSync('clang-19', ['-g', '-O2', '-target', 'bpf', '-mcpu=v3', `-I${PROGS_DIR}`, '-c', src, '-o', obj]);

  it('captures submitted and output records, not discarded ones', () => {
    const r = runSession(loadExample(obj, 'emit'), { input: { data: DEFAULT_PACKET }, repeat: 2 });
    expect(r.retval).toBe(0);
    const len = Buffer.alloc(4);
    len.writeUInt32LE(DEFAULT_PACKET.length);
    const first = Buffer.concat([Buffer.from('cdab0000', 'hex'), len]).toString('hex');
    const second = Buffer.concat([len, Buffer.alloc(4)]).toString('hex');
    expect(r.maps.rb.records).toEqual([first, second, first, second]);
  });

  it('a prog array is loaded but faults when a helper uses it', () => {
    const r = runSession(loadExample(obj, 'tail'), { input: { data: DEFAULT_PACKET } });
    expect(r.runs[0].fault?.kind).toBe('bad_call');
    expect(r.runs[0].fault?.message).toMatch(/map 'jumps' has type 3, which the runtime does not model/);
  });
});
