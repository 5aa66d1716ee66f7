// SPDX-License-Identifier: GPL-2.0-only
/* An allocated object that owns a list: the bucket carries its own lock and
 * list head, elements are pushed into it, and dropping the bucket drains its
 * list (bpf_obj_drop frees the object's own list heads' nodes first). */
#include "bpfscope.h"

struct item {
	long value;
	struct bpf_list_node node;
};

struct item_bucket {
	struct bpf_spin_lock lock;
	struct bpf_list_head items __contains(item, node);
	long count;
};

static __always_inline int add_item(struct item_bucket *b, long value)
{
	struct item *it = bpf_obj_new(struct item);

	if (!it)
		return -1;
	it->value = value;
	bpf_spin_lock(&b->lock);
	bpf_list_push_back(&b->items, &it->node);
	bpf_spin_unlock(&b->lock);
	b->count++;
	return 0;
}

/* Three items into a new bucket, then drop the bucket with the items still
 * in its list. Returns the bucket's count (3). */
SEC("tc")
int nested_drop(struct __sk_buff *skb)
{
	struct item_bucket *b;
	long count;

	b = bpf_obj_new(struct item_bucket);
	if (!b)
		return TC_ACT_SHOT;
	/* bpf_obj_new initialises only the special fields (the lock and the
	 * list head); count holds whatever the allocator's unit held before. */
	b->count = 0;
	if (add_item(b, skb->len) || add_item(b, skb->len + 1) || add_item(b, skb->len + 2)) {
		bpf_obj_drop(b);
		return TC_ACT_SHOT;
	}
	count = b->count;
	bpf_obj_drop(b);
	return count;
}

/* One item in, one item popped back out and dropped, then the (empty)
 * bucket dropped. Returns the popped value (skb->len * 2). */
SEC("tc")
int nested_pop(struct __sk_buff *skb)
{
	struct bpf_list_node *n;
	struct item_bucket *b;
	long v = -1;

	b = bpf_obj_new(struct item_bucket);
	if (!b)
		return TC_ACT_SHOT;
	if (add_item(b, skb->len * 2)) {
		bpf_obj_drop(b);
		return TC_ACT_SHOT;
	}
	bpf_spin_lock(&b->lock);
	n = bpf_list_pop_front(&b->items);
	bpf_spin_unlock(&b->lock);
	if (n) {
		v = container_of(n, struct item, node)->value;
		bpf_obj_drop(container_of(n, struct item, node));
	}
	bpf_obj_drop(b);
	return v;
}

char LICENSE[] SEC("license") = "GPL";
