// SPDX-License-Identifier: GPL-2.0-only
/* Global data: libbpf turns each data section into a one-entry array map
 * (.data, .rodata frozen read-only, .bss zeroed) and custom sections
 * .data.NAME / .rodata.NAME / .bss.NAME into maps of their own; the program
 * reaches them through ld_imm64 map_value pseudo loads. */
#include "bpfscope.h"

int counter = 7;				/* .data */
const volatile int limit = 100;			/* .rodata */
long scratch[4];				/* .bss */
SEC(".data.counters") long hits = 1;		/* custom .data.* */
SEC(".bss.seen") __u32 seen_len;		/* custom .bss.* */
SEC(".rodata.table") const volatile __u32 weights[4] = { 3, 5, 7, 11 };

/* One run: counter 7 -> 8, hits 1 -> 65, scratch[0] = 8, seen_len = 64;
 * returns 8 + 100 + weights[0] = 111. */
SEC("tc")
int globals_update(struct __sk_buff *skb)
{
	__u32 i = skb->len & 3;

	counter++;
	hits += skb->len;
	scratch[i] = counter;
	seen_len = skb->len;
	return counter + limit + weights[i];
}

/* Reads only: the sum of the read-only table and the initial .data value. */
SEC("tc")
int globals_read(struct __sk_buff *skb)
{
	return weights[0] + weights[1] + weights[2] + weights[3] + counter;
}

char LICENSE[] SEC("license") = "GPL";
