// SPDX-License-Identifier: GPL-2.0-only
/* A program array with initial programs (`__array(values, int (void *))`):
 * libbpf fills its slots after loading the programs; bpfscope, which loads
 * one program at a time, loads the programs the slots name along with the
 * one it records (see main/kernel/prog-array.ts). The entry program
 * bpf_tail_calls into them; a tail call into an empty slot falls through. */
#include "bpfscope.h"

/* How far the chain got: element 0 counts the calls of tail_count. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 2);
} hops SEC(".maps");

int tail_double(struct __sk_buff *skb);
int tail_count(struct __sk_buff *skb);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__array(values, int (void *));
} jump_table SEC(".maps") = {
	.values = { [1] = (void *)&tail_double, [3] = (void *)&tail_count },
};

/* Slot 1: returns twice the packet length. */
SEC("tc")
int tail_double(struct __sk_buff *skb)
{
	return skb->len * 2;
}

/* Slot 3: counts itself in hops[0] and tail-calls itself until the kernel's
 * limit on chained tail calls (33, MAX_TAIL_CALL_CNT) stops it; that last run
 * falls through and returns the count: 34 when it is the program test-run
 * (its own run plus 33 tail calls), in a fresh map. */
SEC("tc")
int tail_count(struct __sk_buff *skb)
{
	__u32 k = 0;
	__u64 *n = bpf_map_lookup_elem(&hops, &k);

	if (!n)
		return -1;
	*n += 1;
	bpf_tail_call(skb, &jump_table, 3);
	return *n;
}

/* Slot 0 is empty: that tail call falls through and the program goes on to
 * slot 1, which does not return here. Returns 128. */
SEC("tc")
int tail_entry(struct __sk_buff *skb)
{
	__u32 k = 1;
	__u64 *n = bpf_map_lookup_elem(&hops, &k);

	if (n)
		*n = 7;
	bpf_tail_call(skb, &jump_table, 0);
	bpf_tail_call(skb, &jump_table, 1);
	return -1;
}

/* Into the self-calling chain: 33 tail calls in all, so it returns 33. */
SEC("tc")
int tail_chain(struct __sk_buff *skb)
{
	bpf_tail_call(skb, &jump_table, 3);
	return -1;
}

char LICENSE[] SEC("license") = "GPL";
