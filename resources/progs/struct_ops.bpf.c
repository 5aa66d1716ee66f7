// SPDX-License-Identifier: GPL-2.0-only
/* struct_ops programs: each implements one member of a kernel struct of
 * function pointers, here bpf_dummy_ops (the kernel's own test ops, in
 * vmlinux whenever BPF and networking are built). The `.struct_ops.link`
 * variable names which program fills which member; the loader tells the
 * kernel the struct (attach_btf_id) and the member's index
 * (expected_attach_type), and the verifier checks each program against that
 * member's prototype. The variable is never registered: loading is enough
 * for the verdict. */
#include "bpfscope.h"

/* test_1(struct bpf_dummy_ops_state *state): a constant, state unused. */
SEC("struct_ops/test_1")
int test_1(unsigned long long *ctx)
{
	return 0x5a;
}

/* test_2(state, int a1, unsigned short a2, char a3, unsigned long a4): the
 * arguments are read from ctx, one u64 slot each, narrowed to their C types;
 * their sum is stored in state->val when there is a state. */
SEC("struct_ops/test_2")
int test_2(unsigned long long *ctx)
{
	struct bpf_dummy_ops_state *state = (void *)ctx[0];
	int a1 = (int)ctx[1];
	unsigned short a2 = (unsigned short)ctx[2];
	char a3 = (char)ctx[3];
	unsigned long a4 = ctx[4];
	int sum = a1 + a2 + a3 + (int)a4;

	if (state)
		state->val = sum;
	return sum;
}

SEC(".struct_ops")
struct bpf_dummy_ops dummy_ops = {
	.test_1 = (void *)test_1,
	.test_2 = (void *)test_2,
};

char LICENSE[] SEC("license") = "GPL";
