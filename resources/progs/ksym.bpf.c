// SPDX-License-Identifier: GPL-2.0-only
/* Typeless __ksym externs: `extern const void NAME __ksym` has no BTF type
 * (void), so libbpf resolves it by name through /proc/kallsyms, not through
 * kernel BTF, and rewrites the ld_imm64 that takes its address into a plain
 * 64-bit constant (src_reg 0, the address's low and high halves in the two
 * imm fields). bpf_prog_put is an exported function of kernel/bpf/syscall.c
 * (6.1 through 6.18): a text symbol, so it is in kallsyms even without
 * CONFIG_KALLSYMS_ALL, and its name is unique there. A weak one kallsyms
 * does not list loads 0. */
#include "bpfscope.h"

extern const void bpf_prog_put __ksym;
extern const void bpfscope_not_a_kernel_symbol __ksym __weak;

/* The address as the program saw it: test runs compare it with the one the
 * kernel's loader wrote (same boot, same address). */
__u64 prog_put_addr;

/* 1 when the address is a kernel one (top 16 bits set, x86-64 and arm64),
 * plus 2 when the weak missing symbol loaded 0: 3 as root. Where kallsyms
 * hides addresses (not root, kernel.kptr_restrict) the address is 0: 2. */
SEC("tc")
int ksym_addrs(struct __sk_buff *skb)
{
	__u64 put = (__u64)&bpf_prog_put;
	__u64 missing = (__u64)&bpfscope_not_a_kernel_symbol;

	prog_put_addr = put;
	return (put >> 48 == 0xffff) + 2 * (missing == 0);
}

char LICENSE[] SEC("license") = "GPL";
