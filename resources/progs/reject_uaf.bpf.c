// SPDX-License-Identifier: GPL-2.0-only
/* Rejected: the object is read after bpf_obj_drop released it (the
 * register no longer holds a valid pointer). */
#include "bpfscope.h"

struct elem {
	long key;
	long value;
};

SEC("tc")
int use_after_drop(struct __sk_buff *skb)
{
	struct elem *e = bpf_obj_new(struct elem);

	if (!e)
		return TC_ACT_SHOT;
	e->value = skb->len;
	bpf_obj_drop(e);
	return *(volatile long *)&e->value;	/* e was released */
}

char LICENSE[] SEC("license") = "GPL";
