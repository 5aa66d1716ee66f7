// SPDX-License-Identifier: GPL-2.0-only
/* Rejected: bpf_obj_new may return NULL, and the result is written before
 * any check (ptr_or_null_ dereference). */
#include "bpfscope.h"

struct elem {
	long key;
	long value;
};

SEC("tc")
int no_null_check(struct __sk_buff *skb)
{
	struct elem *e = bpf_obj_new(struct elem);

	e->value = skb->len;	/* e may be NULL */
	bpf_obj_drop(e);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
