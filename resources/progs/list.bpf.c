// SPDX-License-Identifier: GPL-2.0-only
/* A linked list in a map value: the head and the lock that guards it live in
 * the same array map value. Push and pop run under the lock; the objects
 * popped are dropped after unlocking (bpf_obj_drop is not allowed under a
 * lock). Nodes left in a list are freed ("drained") when the map value is
 * freed, that is when the map goes away after the program's last user. */
#include "bpfscope.h"

struct elem {
	int key;
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
	__uint(max_entries, 4);
} holders SEC(".maps");

static __always_inline struct elem *make_elem(int key, long value)
{
	struct elem *e = bpf_obj_new(struct elem);

	if (e) {
		e->key = key;
		e->value = value;
	}
	return e;
}

/* Pushes three nodes (front, back, front) into holder 0 and leaves them
 * there: the list drains when the map is freed. */
SEC("tc")
int list_push(struct __sk_buff *skb)
{
	struct elem *a, *b, *c;
	struct holder *h;
	__u32 key = 0;

	h = bpf_map_lookup_elem(&holders, &key);
	if (!h)
		return TC_ACT_SHOT;
	a = make_elem(1, skb->len);
	if (!a)
		return TC_ACT_SHOT;
	b = make_elem(2, skb->protocol);
	if (!b) {
		bpf_obj_drop(a);
		return TC_ACT_SHOT;
	}
	c = make_elem(3, skb->len + 1);
	if (!c) {
		bpf_obj_drop(a);
		bpf_obj_drop(b);
		return TC_ACT_SHOT;
	}
	bpf_spin_lock(&h->lock);
	bpf_list_push_front(&h->head, &a->node);
	bpf_list_push_back(&h->head, &b->node);
	bpf_list_push_front(&h->head, &c->node);
	bpf_spin_unlock(&h->lock);
	return 3;
}

static __always_inline long pop_value(struct holder *h, bool front)
{
	struct bpf_list_node *n;
	struct elem *e;
	long v;

	bpf_spin_lock(&h->lock);
	n = front ? bpf_list_pop_front(&h->head) : bpf_list_pop_back(&h->head);
	bpf_spin_unlock(&h->lock);
	if (!n)
		return -1;
	e = container_of(n, struct elem, node);
	v = e->value;
	bpf_obj_drop(e);
	return v;
}

/* Pops from both ends of holder 1; in a fresh map the list is empty and
 * both pops return NULL. */
SEC("tc")
int list_pop(struct __sk_buff *skb)
{
	struct holder *h;
	__u32 key = 1;

	h = bpf_map_lookup_elem(&holders, &key);
	if (!h)
		return TC_ACT_SHOT;
	return pop_value(h, true) + pop_value(h, false);
}

/* Pushes four nodes into holder 2, pops one from each end (dropping them),
 * and leaves two to be drained with the map. The list is then
 * [len+30, len+10, len, len+20]; returns the popped values' sum:
 * (len + 30) + (len + 20). */
SEC("tc")
int list_mixed(struct __sk_buff *skb)
{
	struct holder *h;
	struct elem *e;
	__u32 key = 2;
	int i;

	h = bpf_map_lookup_elem(&holders, &key);
	if (!h)
		return TC_ACT_SHOT;
	for (i = 0; i < 4; i++) {
		e = make_elem(i, skb->len + i * 10);
		if (!e)
			return TC_ACT_SHOT;
		bpf_spin_lock(&h->lock);
		if (i & 1)
			bpf_list_push_front(&h->head, &e->node);
		else
			bpf_list_push_back(&h->head, &e->node);
		bpf_spin_unlock(&h->lock);
	}
	return pop_value(h, true) + pop_value(h, false);
}

char LICENSE[] SEC("license") = "GPL";
