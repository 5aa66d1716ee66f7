// SPDX-License-Identifier: GPL-2.0-only
/* .kconfig externs, which the loader fills in from the running kernel as
 * libbpf does: LINUX_KERNEL_VERSION from uname, CONFIG_* values from the
 * kernel's config (/proc/config.gz or /boot/config-RELEASE): a bool, an
 * integer, and a weak unknown option as 0. They live in a read-only .kconfig
 * map the program reads through ld_imm64 map_value loads. (The kfunc __ksym
 * externs are in every allocator example; typed __ksym variables need a
 * kernel with CONFIG_KALLSYMS_ALL, see test/unit/kernel/errors.test.ts.) */
#include "bpfscope.h"

extern unsigned int LINUX_KERNEL_VERSION __kconfig;
extern bool CONFIG_BPF_SYSCALL __kconfig;
extern unsigned long CONFIG_HZ __kconfig;
extern bool CONFIG_BPFSCOPE_NOT_AN_OPTION __kconfig __weak;

/* Major version + 1 (BPF_SYSCALL=y) + HZ/50 + 0 (the weak unknown option):
 * 12 on a 6.x kernel with HZ=250. */
SEC("tc")
int kconfig_values(struct __sk_buff *skb)
{
	return (LINUX_KERNEL_VERSION >> 16) + CONFIG_BPF_SYSCALL + CONFIG_HZ / 50 + CONFIG_BPFSCOPE_NOT_AN_OPTION;
}

char LICENSE[] SEC("license") = "GPL";
