// SPDX-License-Identifier: GPL-2.0-only
/* Benchmark input: a bounded loop with a data-dependent branch inside, so
 * the verifier walks every iteration and prints a state for each at log
 * level 2. LOOP_ITERS=6000 gives a log of about 114 MB on 6.18. Not built
 * by default: make -C resources/progs bench-loop ITERS=N OUT=FILE. */
#include "bpfscope.h"

#ifndef LOOP_ITERS
#define LOOP_ITERS 16
#endif

SEC("tc")
int bench_loop(struct __sk_buff *skb)
{
	__u32 acc = skb->len, odd = 0, even = 0, mix = 0;
	int i;

#pragma clang loop unroll(disable)
	for (i = 0; i < LOOP_ITERS; i++) {
		if (acc & 1) {
			acc = acc * 3 + 1;
			odd++;
		} else {
			acc >>= 1;
			even += i;
		}
		mix ^= acc + i;
	}
	return acc + odd * 7 + even + mix;
}

char LICENSE[] SEC("license") = "GPL";
