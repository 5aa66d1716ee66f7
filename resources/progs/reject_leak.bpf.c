// SPDX-License-Identifier: GPL-2.0-only
/* Rejected: the object is dropped on one path only; on the other the
 * program returns while still holding the reference ("Unreleased
 * reference"). */
#include "bpfscope.h"

struct elem {
	long key;
	long value;
};

SEC("tc")
int leak_on_branch(struct __sk_buff *skb)
{
	struct elem *e = bpf_obj_new(struct elem);

	if (!e)
		return TC_ACT_SHOT;
	e->value = skb->len;
	if (skb->len > 100)
		return TC_ACT_OK;	/* leaks e */
	bpf_obj_drop(e);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
