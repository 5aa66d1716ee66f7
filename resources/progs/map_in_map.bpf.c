// SPDX-License-Identifier: GPL-2.0-only
/* Maps of maps with initial values: an array of maps and a hash of maps
 * whose slots libbpf (and bpfscope's loader) fill at creation from the
 * `.values` initialisers (relocations in .rel.maps). The programs look up
 * the outer map, then the inner map it returns. The inner template
 * (`__array(values, struct inner)`) is created first and its fd passed as
 * inner_map_fd; every inner map must match it (type, key/value size). */
#include "bpfscope.h"

struct inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 4);
};

/* Two inner arrays with the template's shape. */
struct inner inner_a SEC(".maps");
struct inner inner_b SEC(".maps");

/* Slot 0 holds inner_a, slot 2 inner_b, slot 1 stays empty. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 3);
	__type(key, __u32);
	__array(values, struct inner);
} outer_arr SEC(".maps") = {
	.values = { [0] = &inner_a, [2] = &inner_b },
};

/* Key 0 holds inner_b, key 1 inner_a (a hash of maps' initial keys are the slot indexes). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 4);
	__type(key, __u32);
	__array(values, struct inner);
} outer_hash SEC(".maps") = {
	.values = { [0] = &inner_b, [1] = &inner_a },
};

/* Adds skb->len to element 1 of the inner map in outer_arr slot `slot`,
 * returns the new value, -1 when the slot is empty. */
static __always_inline long bump(void *outer, __u32 slot, __u64 by)
{
	__u32 idx = 1;
	__u64 *v;
	void *in;

	in = bpf_map_lookup_elem(outer, &slot);
	if (!in)
		return -1;
	v = bpf_map_lookup_elem(in, &idx);
	if (!v)
		return -2;
	*v += by;
	return *v;
}

/* Slots 0 and 2 are set, slot 1 is empty: 64 + 64*2 + 1000*(-1 from slot 1)
 * = 64 + 128 - 1000 = -808 in a fresh load. */
SEC("tc")
int mim_array_lookup(struct __sk_buff *skb)
{
	long a = bump(&outer_arr, 0, skb->len);
	long b = bump(&outer_arr, 2, skb->len * 2);
	long c = bump(&outer_arr, 1, 1);

	return a + b + 1000 * c;
}

/* Key 0 is inner_b, key 1 inner_a, key 3 is absent: the same element of
 * inner_b is bumped through both outer maps, so the second read sees the
 * first write. Returns 64 + (64 + 5) + 10 * (-1) = 123. */
SEC("tc")
int mim_hash_lookup(struct __sk_buff *skb)
{
	long a = bump(&outer_hash, 0, skb->len);
	long b = bump(&outer_arr, 2, 5);
	long c = bump(&outer_hash, 3, 1);

	return a + b + 10 * c;
}

char LICENSE[] SEC("license") = "GPL";
