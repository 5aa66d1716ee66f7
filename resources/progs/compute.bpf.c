// SPDX-License-Identifier: GPL-2.0-only
/* Programs whose results BPF_PROG_TEST_RUN can check: values derived from
 * the packet (direct packet access and bpf_skb_load_bytes), bounded loops
 * and map contents. No allocator here; these exercise the interpreter. */
#include "bpfscope.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 16);
} byte_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 8);
} totals SEC(".maps");

/* The UDP destination port of an Ethernet/IPv4/UDP packet, -1 otherwise. */
SEC("tc")
int parse_udp(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip;
	struct udphdr *udp;

	if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return -1;
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > end || ip->ihl != 5 || ip->protocol != IPPROTO_UDP)
		return -1;
	udp = (void *)(ip + 1);
	if ((void *)(udp + 1) > end)
		return -1;
	return bpf_ntohs(udp->dest);
}

/* The Internet checksum of the IPv4 header, summed in a bounded loop: 0 for
 * a header whose checksum field is right. */
SEC("tc")
int ip_checksum(struct __sk_buff *skb)
{
	__u16 words[10];
	__u32 sum = 0;
	int i;

	if (bpf_skb_load_bytes(skb, 14, words, sizeof(words)))
		return -1;
	for (i = 0; i < 10; i++)
		sum += words[i];
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* Counts the first 8 payload bytes (after the 42-byte Ethernet/IPv4/UDP
 * headers) by value class (byte >> 4) into a hash map, stores the total in
 * the array `totals`, and returns the number of distinct classes seen
 * (2 for the default packet, "bpfscope": 0x6_ and 0x7_). */
SEC("tc")
int count_bytes(struct __sk_buff *skb)
{
	__u8 buf[8];
	__u64 one = 1, *v, sum = 0;
	__u32 i, k, distinct = 0;

	if (bpf_skb_load_bytes(skb, 42, buf, sizeof(buf)))
		return -1;
	for (i = 0; i < sizeof(buf); i++) {
		k = buf[i] >> 4;
		v = bpf_map_lookup_elem(&byte_counts, &k);
		if (v) {
			*v += 1;
		} else {
			bpf_map_update_elem(&byte_counts, &k, &one, BPF_NOEXIST);
			distinct++;
		}
		sum++;
	}
	k = 0;
	bpf_map_update_elem(&totals, &k, &sum, BPF_ANY);
	return distinct;
}

static long fold_step(__u64 index, void *ctx)
{
	__u64 *acc = ctx;

	*acc = *acc * 33 + index;
	return 0;
}

/* bpf_loop with a callback: acc = acc * 33 + i for i in 0..skb->len & 15. */
SEC("tc")
int loop_callback(struct __sk_buff *skb)
{
	__u64 acc = 5;

	bpf_loop((skb->len & 15) + 4, fold_step, &acc, 0);
	return acc & 0x7fffffff;
}

char LICENSE[] SEC("license") = "GPL";
