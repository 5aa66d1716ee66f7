// SPDX-License-Identifier: GPL-2.0-only
/* Calls: a static __noinline subprogram (verified with the caller's state,
 * in its own frame), one that allocates and drops an object inside the
 * callee, and a global function (verified once, on its own, from its BTF
 * prototype). libbpf appends the called .text functions after the program. */
#include "bpfscope.h"

struct acc {
	long total;
	int count;
};

static __noinline __u32 mix(__u32 a, __u32 b)
{
	return (a * 31) ^ (b >> 3);
}

static __noinline long alloc_sum(long a, long b)
{
	struct acc *p = bpf_obj_new(struct acc);
	long r;

	if (!p)
		return -1;
	p->total = a;
	p->total += b;
	p->count = 2;
	r = p->total * p->count;
	bpf_obj_drop(p);
	return r;
}

__noinline int clamp_global(int v)
{
	if (v > 1000)
		return 1000;
	if (v < 0)
		return 0;
	return v;
}

/* mix(64, 8) = 1984 ^ 1 = 1985, clamped to 1000. */
SEC("tc")
int subprog_calls(struct __sk_buff *skb)
{
	return clamp_global(mix(skb->len, skb->protocol));
}

/* alloc_sum(64, 3) = 134; the allocation happens in frame 1. */
SEC("tc")
int subprog_alloc(struct __sk_buff *skb)
{
	return alloc_sum(skb->len, 3);
}

char LICENSE[] SEC("license") = "GPL";
