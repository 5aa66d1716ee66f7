// SPDX-License-Identifier: GPL-2.0-only
/* Instructions the example programs do not have, for comparing bpfscope's
 * listing with the verifier log: -mcpu=v4 forms (sign-extending loads and
 * moves, sdiv/smod, bswap), kconfig externs (map-value loads of .kconfig),
 * a weak kfunc this kernel lacks, a bpf_loop callback, a global
 * subprogram and CO-RE relocations against this kernel's struct rq. Built by test/unit/insn/externs.test.ts
 * (clang-19 -mcpu=v4). */
#include "bpfscope.h"

extern int LINUX_KERNEL_VERSION __kconfig;
extern bool CONFIG_BPF_SYSCALL __kconfig __weak;
extern unsigned long CONFIG_HZ __kconfig __weak;
extern void bpfscope_no_such_kfunc(void) __ksym __weak;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} acc SEC(".maps");

long seen;

static int add_idx(__u32 idx, void *ctx)
{
	*(long *)ctx += idx;
	return 0;
}

__noinline int add_len(int a, struct __sk_buff *skb)
{
	if (!skb)
		return 0;
	return a + skb->len;
}

SEC("tc")
int externs(struct __sk_buff *skb)
{
	long sum = 0;

	bpf_loop(10, add_idx, &sum, 0);
	if (bpfscope_no_such_kfunc)
		bpfscope_no_such_kfunc();
	seen = sum;
	return sum + add_len(3, skb) + LINUX_KERNEL_VERSION + CONFIG_HZ + (CONFIG_BPF_SYSCALL ? 1 : 0);
}

SEC("tc")
int v4_insns(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	signed char *p = data;
	long s;
	__u32 k = 0;
	__u64 *v;

	if (data + 16 > end)
		return 0;
	s = p[3];
	s += *(short *)(p + 4);
	s += *(int *)(p + 8);
	s = s / (long)(skb->len | 1);
	s += (long)(int)skb->mark % -7;
	s += __builtin_bswap64(s);
	s += __builtin_bswap32((int)s);
	s += __builtin_bswap16((short)s);
	v = bpf_map_lookup_elem(&acc, &k);
	if (v)
		__sync_fetch_and_add(v, s);
	return s + (long)(signed char)skb->priority + (short)skb->mark;
}

char LICENSE[] SEC("license") = "GPL";

/* CO-RE against the running kernel: a local flavour of struct rq whose
 * layout is not the kernel's, so the offsets libbpf patches in differ from
 * the ones clang wrote. */
struct rq___local {
	int pad;
	unsigned int cpu;
	char name[3];
} __attribute__((preserve_access_index));

SEC("tc")
int core_offsets(struct __sk_buff *skb)
{
	return bpf_core_field_offset(struct rq___local, cpu) + bpf_core_type_size(struct rq___local) +
	       bpf_core_field_exists(struct rq___local, name);
}
