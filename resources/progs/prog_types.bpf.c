// SPDX-License-Identifier: GPL-2.0-only
/* Program types other than tc that BPF_PROG_TEST_RUN runs with a packet:
 * XDP (struct xdp_md, the packet in data/data_end, verdict XDP_*). A socket
 * filter and a syscall program wait in pending/ (see README.md). */
#include "bpfscope.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 2);
} seen SEC(".maps");

/* Passes UDP to port 8080 and drops everything else; stores the packet
 * length in seen[0]. Returns XDP_PASS (2) for the default packet. */
SEC("xdp")
int xdp_filter(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct udphdr *udp = (void *)(ip + 1);
	__u64 len = end - data;
	__u32 key = 0;

	bpf_map_update_elem(&seen, &key, &len, BPF_ANY);
	if ((void *)(udp + 1) > end)
		return XDP_DROP;
	if (eth->h_proto != bpf_htons(ETH_P_IP) || ip->protocol != IPPROTO_UDP)
		return XDP_DROP;
	return udp->dest == bpf_htons(8080) ? XDP_PASS : XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
