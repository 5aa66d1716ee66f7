// SPDX-License-Identifier: GPL-2.0-only
/* Two program types whose BPF_PROG_TEST_RUN differs from tc's: a socket
 * filter (the run strips the Ethernet header and zeroes it in data_out) and
 * a syscall program (its input is the context buffer, written back after
 * the run). */
#include "bpfscope.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 2);
} seen SEC(".maps");

/* A socket filter sees the packet from the network header on (the test
 * run strips the Ethernet header: skb->len is 50 for the default packet).
 * Keeps the IPv4 header (20 bytes) of IPv4 packets, all of anything else. */
SEC("socket")
int socket_trim(struct __sk_buff *skb)
{
	__u8 vihl;

	if (bpf_skb_load_bytes(skb, 0, &vihl, sizeof(vihl)))
		return 0;
	return (vihl >> 4) == 4 ? (vihl & 0xf) * 4 : skb->len;
}

struct syscall_args {
	__u32 a;
	__u32 b;
};

struct pair {
	long sum;
	long product;
};

/* A syscall program reads its arguments from the context buffer, computes
 * with an allocated object and records the result in seen[1]. With the
 * default packet as context: a = 0x00000002, b = 0x00020200 (little-endian
 * words of the first 8 bytes); returns (a + b) & 0xffff = 0x0202. */
SEC("syscall")
int syscall_alloc(struct syscall_args *args)
{
	struct pair *p;
	__u32 key = 1;
	__u64 v;

	p = bpf_obj_new(struct pair);
	if (!p)
		return -1;
	p->sum = (long)args->a + args->b;
	p->product = (long)args->a * args->b;
	v = p->sum;
	bpf_obj_drop(p);
	bpf_map_update_elem(&seen, &key, &v, BPF_ANY);
	return v & 0xffff;
}

char LICENSE[] SEC("license") = "GPL";
