// SPDX-License-Identifier: GPL-2.0-only
/* The smallest allocator scenario: allocate an object, fill it from the
 * packet, read it back, drop it. */
#include "bpfscope.h"

/* A hole after `tag` (3 bytes) and after `flags` (4 bytes): bpf_obj_new
 * leaves the non-special bytes as the allocator hands them out. */
struct point {
	int x;
	int y;
	char tag;
	int flags;
	long sum;
};

SEC("tc")
int new_drop(struct __sk_buff *skb)
{
	struct point *p;
	long sum;

	p = bpf_obj_new(struct point);
	if (!p)
		return TC_ACT_SHOT;
	p->x = skb->len;
	p->y = skb->protocol;
	p->tag = 'p';
	p->flags = 0;
	p->sum = (long)p->x + p->y;
	sum = p->sum;
	bpf_obj_drop(p);
	return sum;
}

/* Two objects alive at once, dropped in the order they were made. */
SEC("tc")
int new_two_drop(struct __sk_buff *skb)
{
	struct point *a, *b;
	int r;

	a = bpf_obj_new(struct point);
	if (!a)
		return TC_ACT_SHOT;
	b = bpf_obj_new(struct point);
	if (!b) {
		bpf_obj_drop(a);
		return TC_ACT_SHOT;
	}
	a->x = skb->len;
	b->x = a->x * 2;
	r = a->x + b->x;
	bpf_obj_drop(a);
	bpf_obj_drop(b);
	return r;
}

char LICENSE[] SEC("license") = "GPL";
