// SPDX-License-Identifier: GPL-2.0-only
/* A red-black tree whose root and lock are globals in their own data
 * section (.data.rb), which libbpf turns into a one-entry array map.
 * bpf_rbtree_add places a node with the program's less() callback;
 * bpf_rbtree_first returns a non-owning pointer valid only under the lock;
 * bpf_rbtree_remove gives ownership back to the program. */
#include "bpfscope.h"

struct rb_elem {
	long key;
	long value;
	struct bpf_rb_node rb;
};

private(rb) struct bpf_spin_lock rb_lock;
private(rb) struct bpf_rb_root rb_root __contains(rb_elem, rb);

static bool node_less(struct bpf_rb_node *a, const struct bpf_rb_node *b)
{
	struct rb_elem *na = container_of(a, struct rb_elem, rb);
	const struct rb_elem *nb = container_of(b, struct rb_elem, rb);

	return na->key < nb->key;
}

static __always_inline int add(long key, long value)
{
	struct rb_elem *n = bpf_obj_new(struct rb_elem);

	if (!n)
		return -1;
	n->key = key;
	n->value = value;
	bpf_spin_lock(&rb_lock);
	bpf_rbtree_add(&rb_root, &n->rb, node_less);
	bpf_spin_unlock(&rb_lock);
	return 0;
}

/* Adds three nodes (keys 5, 3, 9), removes the smallest and returns its
 * value; the other two stay in the tree until the map is freed. */
SEC("tc")
int rbtree_add_remove(struct __sk_buff *skb)
{
	struct bpf_rb_node *rb;
	struct rb_elem *n;
	long v;

	if (add(5, skb->len) || add(3, skb->len + 3) || add(9, skb->len + 9))
		return TC_ACT_SHOT;
	bpf_spin_lock(&rb_lock);
	rb = bpf_rbtree_first(&rb_root);
	if (!rb) {
		bpf_spin_unlock(&rb_lock);
		return -1;
	}
	rb = bpf_rbtree_remove(&rb_root, rb);
	bpf_spin_unlock(&rb_lock);
	if (!rb)
		return -2;
	n = container_of(rb, struct rb_elem, rb);
	v = n->value;
	bpf_obj_drop(n);
	return v;
}

/* Reads the first node's key through the non-owning pointer without
 * removing it: -1 when the tree is empty (as in a fresh map). */
SEC("tc")
int rbtree_peek(struct __sk_buff *skb)
{
	struct bpf_rb_node *rb;
	long key = -1;

	bpf_spin_lock(&rb_lock);
	rb = bpf_rbtree_first(&rb_root);
	if (rb)
		key = container_of(rb, struct rb_elem, rb)->key;
	bpf_spin_unlock(&rb_lock);
	return key;
}

char LICENSE[] SEC("license") = "GPL";
