// SPDX-License-Identifier: GPL-2.0-only
/* Per-CPU objects: bpf_percpu_obj_new allocates one copy per CPU (from the
 * per-CPU allocator, no special fields allowed), kept in a map value through
 * a __percpu_kptr field. The program reaches this CPU's copy with
 * bpf_this_cpu_ptr inside an RCU read section. */
#include "bpfscope.h"

struct pcpu_val {
	long count;
	long sum;
};

struct pslot {
	struct pcpu_val __percpu_kptr *pc;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct pslot);
	__uint(max_entries, 1);
} pcpu_stash SEC(".maps");

/* Stashes a new per-CPU object (dropping any it replaces), then counts the
 * packet in this CPU's copy. bpf_percpu_obj_new does not zero the copies
 * (6.18 hands out per-CPU units as the allocator recycled them), and a test
 * run may land on any CPU, so the copy's totals are not predictable: the
 * program returns what this run added to them, count and length together
 * (1 + skb->len: 65 on the default packet). */
SEC("tc")
int percpu_count(struct __sk_buff *skb)
{
	struct pcpu_val __percpu_kptr *p, *old;
	struct pcpu_val *v;
	struct pslot *s;
	__u32 key = 0;
	long added = -1;

	s = bpf_map_lookup_elem(&pcpu_stash, &key);
	if (!s)
		return TC_ACT_SHOT;
	if (!s->pc) {
		p = bpf_percpu_obj_new(struct pcpu_val);
		if (!p)
			return TC_ACT_SHOT;
		old = bpf_kptr_xchg(&s->pc, p);
		if (old)
			bpf_percpu_obj_drop(old);
	}
	bpf_rcu_read_lock();
	p = s->pc;
	if (p) {
		long count, sum;

		v = bpf_this_cpu_ptr(p);
		count = v->count;
		sum = v->sum;
		v->count = count + 1;
		v->sum = sum + skb->len;
		added = (v->count - count) + (v->sum - sum);
	}
	bpf_rcu_read_unlock();
	return added;
}

/* Allocates and drops a per-CPU object without storing it. */
SEC("tc")
int percpu_new_drop(struct __sk_buff *skb)
{
	struct pcpu_val __percpu_kptr *p;

	p = bpf_percpu_obj_new(struct pcpu_val);
	if (!p)
		return TC_ACT_SHOT;
	bpf_percpu_obj_drop(p);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
