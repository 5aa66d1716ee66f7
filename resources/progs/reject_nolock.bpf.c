// SPDX-License-Identifier: GPL-2.0-only
/* Rejected: a push to a list head without holding the bpf_spin_lock that
 * guards it. */
#include "bpfscope.h"

struct elem {
	long value;
	struct bpf_list_node node;
};

struct holder {
	struct bpf_spin_lock lock;
	struct bpf_list_head head __contains(elem, node);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct holder);
	__uint(max_entries, 1);
} holders SEC(".maps");

SEC("tc")
int push_unlocked(struct __sk_buff *skb)
{
	struct holder *h;
	struct elem *e;
	__u32 key = 0;

	h = bpf_map_lookup_elem(&holders, &key);
	if (!h)
		return TC_ACT_SHOT;
	e = bpf_obj_new(struct elem);
	if (!e)
		return TC_ACT_SHOT;
	e->value = skb->len;
	bpf_list_push_back(&h->head, &e->node);	/* lock not held */
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
