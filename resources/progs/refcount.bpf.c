// SPDX-License-Identifier: GPL-2.0-only
/* A refcounted object (struct bpf_refcount): bpf_refcount_acquire gives a
 * second owning reference, so the object can be pushed to a list (the list
 * owns one reference) and still be used and kept by the program (the other
 * reference). bpf_obj_drop on a refcounted object only frees it when the
 * count reaches zero. */
#include "bpfscope.h"

struct shared_node {
	long key;
	struct bpf_refcount ref;
	struct bpf_list_node node;
};

struct holder {
	struct bpf_spin_lock lock;
	struct bpf_list_head head __contains(shared_node, node);
};

struct slot {
	struct shared_node __kptr *ptr;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct holder);
	__uint(max_entries, 1);
} lists SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct slot);
	__uint(max_entries, 1);
} kept SEC(".maps");

/* New object (count 1), acquire (count 2), push one reference into the
 * list, read the key through the other and drop it (count 1: the list keeps
 * the object alive until the map drains it). */
SEC("tc")
int refcount_push_keep(struct __sk_buff *skb)
{
	struct shared_node *n, *m;
	struct holder *h;
	__u32 key = 0;
	long v;

	h = bpf_map_lookup_elem(&lists, &key);
	if (!h)
		return TC_ACT_SHOT;
	n = bpf_obj_new(struct shared_node);
	if (!n)
		return TC_ACT_SHOT;
	n->key = skb->len;
	m = bpf_refcount_acquire(n);
	bpf_spin_lock(&h->lock);
	bpf_list_push_back(&h->head, &n->node);
	bpf_spin_unlock(&h->lock);
	if (!m)
		return -1;
	v = m->key + 1;
	bpf_obj_drop(m);
	return v;
}

/* The same, but the second reference is stashed in a map kptr: the object
 * is then owned by the list and by the map at once, and freed only when
 * both maps let go of it. */
SEC("tc")
int refcount_push_stash(struct __sk_buff *skb)
{
	struct shared_node *n, *m, *old;
	struct holder *h;
	struct slot *s;
	__u32 key = 0;

	h = bpf_map_lookup_elem(&lists, &key);
	s = bpf_map_lookup_elem(&kept, &key);
	if (!h || !s)
		return TC_ACT_SHOT;
	n = bpf_obj_new(struct shared_node);
	if (!n)
		return TC_ACT_SHOT;
	n->key = skb->len * 3;
	m = bpf_refcount_acquire(n);
	if (!m) {
		bpf_obj_drop(n);
		return -1;
	}
	bpf_spin_lock(&h->lock);
	bpf_list_push_front(&h->head, &n->node);
	bpf_spin_unlock(&h->lock);
	old = bpf_kptr_xchg(&s->ptr, m);
	if (old) {
		bpf_obj_drop(old);
		return 1;
	}
	return 0;
}

/* Pushes the same refcounted object twice into one list: the first push
 * takes it (0); the second finds the node already owned, so the kernel
 * drops that reference and returns -EINVAL. The verifier cannot see this:
 * it is a run-time outcome. Returns 0 * 100 + 22 = 22. */
SEC("tc")
int refcount_double_push(struct __sk_buff *skb)
{
	struct shared_node *n, *m;
	struct holder *h;
	__u32 key = 0;
	int first, second;

	h = bpf_map_lookup_elem(&lists, &key);
	if (!h)
		return TC_ACT_SHOT;
	n = bpf_obj_new(struct shared_node);
	if (!n)
		return TC_ACT_SHOT;
	n->key = skb->len;
	m = bpf_refcount_acquire(n);
	if (!m) {
		bpf_obj_drop(n);
		return -1;
	}
	bpf_spin_lock(&h->lock);
	first = bpf_list_push_back(&h->head, &n->node);
	second = bpf_list_push_back(&h->head, &m->node);
	bpf_spin_unlock(&h->lock);
	return -first * 100 - second;
}

char LICENSE[] SEC("license") = "GPL";
