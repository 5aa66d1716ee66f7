// SPDX-License-Identifier: GPL-2.0-only
/* A kptr stash: a map value holds a referenced pointer to an allocated
 * object. bpf_kptr_xchg swaps it and hands the old one back to the program,
 * which must release it. A pointer still stashed when the map is freed is
 * dropped with the map value. */
#include "bpfscope.h"

struct elem {
	long key;
	long value;
};

struct slot {
	struct elem __kptr *ptr;
	long generation;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct slot);
	__uint(max_entries, 2);
} stash SEC(".maps");

static __always_inline int put(struct slot *s, long key, long value)
{
	struct elem *e, *old;

	e = bpf_obj_new(struct elem);
	if (!e)
		return -1;
	e->key = key;
	e->value = value;
	old = bpf_kptr_xchg(&s->ptr, e);
	s->generation++;
	if (old) {
		bpf_obj_drop(old);
		return 1;
	}
	return 0;
}

/* Stashes a new object in slot 0 (dropping the one it replaces) and leaves
 * it there. Returns 1 if it replaced one, else 0. */
SEC("tc")
int kptr_stash(struct __sk_buff *skb)
{
	struct slot *s;
	__u32 key = 0;

	s = bpf_map_lookup_elem(&stash, &key);
	if (!s)
		return TC_ACT_SHOT;
	return put(s, 0, skb->len);
}

/* Takes the object out of slot 1: -1 when the slot is empty, otherwise its
 * value, and the object is dropped. */
SEC("tc")
int kptr_take(struct __sk_buff *skb)
{
	struct elem *e;
	struct slot *s;
	__u32 key = 1;
	long v;

	s = bpf_map_lookup_elem(&stash, &key);
	if (!s)
		return TC_ACT_SHOT;
	e = bpf_kptr_xchg(&s->ptr, NULL);
	if (!e)
		return -1;
	v = e->value;
	bpf_obj_drop(e);
	return v;
}

/* Stash twice into slot 1 (the second replaces and drops the first), take
 * it back, then stash a third object that stays for the map free to drop. */
SEC("tc")
int kptr_roundtrip(struct __sk_buff *skb)
{
	struct elem *e;
	struct slot *s;
	__u32 key = 1;
	long v;

	s = bpf_map_lookup_elem(&stash, &key);
	if (!s)
		return TC_ACT_SHOT;
	if (put(s, 1, skb->len) < 0 || put(s, 2, skb->len * 2) < 0)
		return TC_ACT_SHOT;
	e = bpf_kptr_xchg(&s->ptr, NULL);
	if (!e)
		return TC_ACT_SHOT;
	v = e->key * 1000 + e->value;
	bpf_obj_drop(e);
	if (put(s, 3, v) < 0)
		return TC_ACT_SHOT;
	return v;
}

char LICENSE[] SEC("license") = "GPL";
