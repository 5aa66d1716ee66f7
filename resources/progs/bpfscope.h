/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * bpfscope example programs: the kfuncs of the BPF object allocator and the
 * annotations that tell the verifier what a list head or rb root holds.
 *
 * Declarations follow the prototypes in this kernel's BTF
 * (bpftool btf dump file /sys/kernel/btf/vmlinux): on 6.18 only the _impl
 * names exist for new/drop/refcount/push/add, so the convenience names below
 * are macros that pass the hidden arguments the verifier fills in itself.
 */
#ifndef BPFSCOPE_H
#define BPFSCOPE_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

/* The verifier reads "contains:TYPE:FIELD" from a decl tag on the head/root
 * to learn which struct the container links and through which node field. */
#define __contains(name, node) \
	__attribute__((btf_decl_tag("contains:" #name ":" #node)))

#ifndef __kptr
#define __kptr __attribute__((btf_type_tag("kptr")))
#endif
#define __percpu_kptr __attribute__((btf_type_tag("percpu_kptr")))

/* Globals in their own section become their own array map (libbpf), so a
 * lock and the head it protects can live side by side outside any map. */
#define private(name) SEC(".data." #name) __hidden __attribute__((aligned(8)))

/* Allocation: the first argument is the program-BTF id of the type; the
 * verifier rewrites it to the size and the second to the type's meta. */
extern void *bpf_obj_new_impl(__u64 local_type_id, void *meta) __ksym;
extern void bpf_obj_drop_impl(void *kptr, void *meta) __ksym;
extern void *bpf_percpu_obj_new_impl(__u64 local_type_id, void *meta) __ksym;
extern void bpf_percpu_obj_drop_impl(void *kptr, void *meta) __ksym;
extern void *bpf_refcount_acquire_impl(void *kptr, void *meta) __ksym;

#define bpf_obj_new(type) \
	((type *)bpf_obj_new_impl(bpf_core_type_id_local(type), NULL))
#define bpf_obj_drop(kptr) bpf_obj_drop_impl(kptr, NULL)
#define bpf_percpu_obj_new(type) \
	((type *)bpf_percpu_obj_new_impl(bpf_core_type_id_local(type), NULL))
#define bpf_percpu_obj_drop(kptr) bpf_percpu_obj_drop_impl(kptr, NULL)
#define bpf_refcount_acquire(kptr) bpf_refcount_acquire_impl(kptr, NULL)

/* Lists: push takes ownership of the node (returns 0, or -EINVAL when the
 * node already has an owner, in which case the object is dropped). */
extern int bpf_list_push_front_impl(struct bpf_list_head *head,
				    struct bpf_list_node *node,
				    void *meta, __u64 off) __ksym;
extern int bpf_list_push_back_impl(struct bpf_list_head *head,
				   struct bpf_list_node *node,
				   void *meta, __u64 off) __ksym;
extern struct bpf_list_node *bpf_list_pop_front(struct bpf_list_head *head) __ksym;
extern struct bpf_list_node *bpf_list_pop_back(struct bpf_list_head *head) __ksym;

#define bpf_list_push_front(head, node) bpf_list_push_front_impl(head, node, NULL, 0)
#define bpf_list_push_back(head, node) bpf_list_push_back_impl(head, node, NULL, 0)

/* Red-black trees: add calls the program's less() to place the node. */
extern int bpf_rbtree_add_impl(struct bpf_rb_root *root, struct bpf_rb_node *node,
			       bool (less)(struct bpf_rb_node *a,
					   const struct bpf_rb_node *b),
			       void *meta, __u64 off) __ksym;
extern struct bpf_rb_node *bpf_rbtree_first(struct bpf_rb_root *root) __ksym;
extern struct bpf_rb_node *bpf_rbtree_remove(struct bpf_rb_root *root,
					     struct bpf_rb_node *node) __ksym;

#define bpf_rbtree_add(root, node, less) bpf_rbtree_add_impl(root, node, less, NULL, 0)

/* RCU read sections, for loading a percpu kptr out of a map value. */
extern void bpf_rcu_read_lock(void) __ksym;
extern void bpf_rcu_read_unlock(void) __ksym;

#ifndef container_of
#define container_of(ptr, type, member) \
	((type *)((void *)(ptr) - __builtin_offsetof(type, member)))
#endif

/* tc verdicts (linux/pkt_cls.h is not in vmlinux.h). */
#define TC_ACT_OK 0
#define TC_ACT_SHOT 2

#define ETH_P_IP 0x0800

#endif /* BPFSCOPE_H */
